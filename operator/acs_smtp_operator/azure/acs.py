"""ACS resource reads and its smtpUsernames child resource (ARM, azure-mgmt-communication)."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.communication.aio import CommunicationServiceManagementClient
from azure.mgmt.communication.models import SmtpUsernameProperties, SmtpUsernameResource

from acs_smtp_operator.azure.errors import translate
from acs_smtp_operator.model import AcsRef, Reason

__all__ = ["delete_smtp_username", "ensure_smtp_username", "linked_domains"]


async def linked_domains(client: CommunicationServiceManagementClient, acs: AcsRef) -> list[str]:
    """The domain names linked to the ACS resource (empty when none is)."""
    try:
        found = await client.communication_services.get(acs.resource_group, acs.name)
    except HttpResponseError as exc:
        raise translate(exc, f"reading {acs.resource_id}", Reason.ACS_NOT_FOUND) from None
    ids = (found.properties.linked_domains if found.properties else None) or []
    return [str(d).rstrip("/").rsplit("/", 1)[-1] for d in ids]


async def ensure_smtp_username(
    client: CommunicationServiceManagementClient,
    acs: AcsRef,
    resource_name: str,
    username: str,
    app_id: str,
    tenant_id: str,
) -> bool:
    """Create or correct the smtpUsernames entry; True when it wrote."""
    ops = client.smtp_usernames
    try:
        try:
            current = await ops.get(acs.resource_group, acs.name, resource_name)
        except ResourceNotFoundError:
            current = None
        props = current.properties if current is not None else None
        if props is not None and (props.username, props.entra_application_id, props.tenant_id) == (
            username,
            app_id,
            tenant_id,
        ):
            return False
        await ops.create_or_update(
            acs.resource_group,
            acs.name,
            resource_name,
            SmtpUsernameResource(
                properties=SmtpUsernameProperties(username=username, entra_application_id=app_id, tenant_id=tenant_id)
            ),
        )
    except HttpResponseError as exc:
        raise translate(exc, f"writing smtpUsername {resource_name!r} of {acs.name}", Reason.ACS_NOT_FOUND) from None
    return True


async def delete_smtp_username(client: CommunicationServiceManagementClient, acs: AcsRef, resource_name: str) -> None:
    try:
        await client.smtp_usernames.delete(acs.resource_group, acs.name, resource_name)
    except ResourceNotFoundError:
        return
    except HttpResponseError as exc:
        raise translate(exc, f"deleting smtpUsername {resource_name!r} of {acs.name}") from None
