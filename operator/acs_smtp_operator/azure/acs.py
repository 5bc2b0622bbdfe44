"""ACS resource reads and its smtpUsernames child resource (ARM, azure-mgmt-communication)."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.communication.aio import CommunicationServiceManagementClient
from azure.mgmt.communication.models import SmtpUsernameProperties, SmtpUsernameResource

from acs_smtp_operator.azure.errors import translate
from acs_smtp_operator.model import AcsRef, Reason
from acs_smtp_operator.observed import SmtpUsernameView

__all__ = ["delete_smtp_username", "linked_domains", "read_smtp_username", "write_smtp_username"]


async def linked_domains(client: CommunicationServiceManagementClient, acs: AcsRef) -> tuple[str, ...]:
    """The domain names linked to the ACS resource (empty when none is)."""
    try:
        found = await client.communication_services.get(acs.resource_group, acs.name)
    except HttpResponseError as exc:
        raise translate(exc, f"reading {acs.resource_id}", Reason.ACS_NOT_FOUND) from None
    ids = (found.properties.linked_domains if found.properties else None) or []
    return tuple(str(d).rstrip("/").rsplit("/", 1)[-1] for d in ids)


async def read_smtp_username(
    client: CommunicationServiceManagementClient, acs: AcsRef, resource_name: str
) -> SmtpUsernameView | None:
    try:
        current = await client.smtp_usernames.get(acs.resource_group, acs.name, resource_name)
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        raise translate(exc, f"reading smtpUsername {resource_name!r} of {acs.name}", Reason.ACS_NOT_FOUND) from None
    props = current.properties
    if props is None:
        return SmtpUsernameView(username=None, entra_application_id=None, tenant_id=None)
    return SmtpUsernameView(
        username=props.username, entra_application_id=props.entra_application_id, tenant_id=props.tenant_id
    )


async def write_smtp_username(
    client: CommunicationServiceManagementClient,
    acs: AcsRef,
    resource_name: str,
    username: str,
    app_id: str,
    tenant_id: str,
) -> None:
    try:
        await client.smtp_usernames.create_or_update(
            acs.resource_group,
            acs.name,
            resource_name,
            SmtpUsernameResource(
                properties=SmtpUsernameProperties(username=username, entra_application_id=app_id, tenant_id=tenant_id)
            ),
        )
    except HttpResponseError as exc:
        raise translate(exc, f"writing smtpUsername {resource_name!r} of {acs.name}", Reason.ACS_NOT_FOUND) from None


async def delete_smtp_username(client: CommunicationServiceManagementClient, acs: AcsRef, resource_name: str) -> None:
    try:
        await client.smtp_usernames.delete(acs.resource_group, acs.name, resource_name)
    except ResourceNotFoundError:
        return
    except HttpResponseError as exc:
        raise translate(exc, f"deleting smtpUsername {resource_name!r} of {acs.name}") from None
