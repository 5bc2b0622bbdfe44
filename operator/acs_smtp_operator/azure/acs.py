"""ACS resource reads, its linked email domains, and its smtpUsernames child resource (ARM,
azure-mgmt-communication)."""

from __future__ import annotations

import re
from collections.abc import Callable

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.communication.aio import CommunicationServiceManagementClient
from azure.mgmt.communication.models import DomainResource, SmtpUsernameProperties, SmtpUsernameResource

from acs_smtp_operator.azure.errors import AZURE_ERRORS, translate
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.model import AcsRef, Reason
from acs_smtp_operator.observed import SenderDomain, SmtpUsernameView

__all__ = ["delete_smtp_username", "linked_domain_ids", "read_domain", "read_smtp_username", "write_smtp_username"]

# A linked domain's id (the spec's examples spell the segments `EmailServices`/`Domains`, the docs lower case).
_DOMAIN_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Communication"
    r"/emailServices/(?P<service>[^/]+)/domains/(?P<name>[^/]+)\Z",
    re.IGNORECASE,
)
# The records a domain needs verified to send: (SDK attribute, record name as `VerificationType` spells it).
# DMARC is advised, not required.
_SENDING_RECORDS = (("domain", "Domain"), ("spf", "SPF"), ("dkim", "DKIM"), ("dkim2", "DKIM2"))


async def linked_domain_ids(client: CommunicationServiceManagementClient, acs: AcsRef) -> tuple[str, ...]:
    """The ids of the email domain resources linked to the ACS resource (empty when none is)."""
    try:
        found = await client.communication_services.get(acs.resource_group, acs.name)
    except AZURE_ERRORS as exc:
        failure = translate(exc, f"reading {acs.resource_id}", Reason.ACS_NOT_FOUND)
        if failure.reason == Reason.FORBIDDEN:  # ARM authorises before it looks up
            failure = Failure(
                Reason.FORBIDDEN,
                f"{failure.message}; ARM gives the same answer for a resource that does not exist (or lies where "
                "the identity holds no role): check spec.communicationService.resourceId",
                status=failure.status,
                code=failure.code,
            )
        raise failure from None
    ids = (found.properties.linked_domains if found.properties else None) or []
    return tuple(str(d).rstrip("/") for d in ids)


def _sender_domain(domain_id: str, found: DomainResource) -> SenderDomain:
    props = found.properties
    sender = (props.mail_from_sender_domain or props.from_sender_domain) if props else None
    states = props.verification_states if props else None
    unverified = []
    for attribute, record in _SENDING_RECORDS:
        state = getattr(states, attribute, None) if states is not None else None
        status = str(getattr(state.status, "value", state.status)) if state is not None and state.status else None
        if status is not None and status.lower() != "verified":
            unverified.append((record, status))
    header = (props.from_sender_domain or props.mail_from_sender_domain) if props else None
    return SenderDomain(
        name=str(found.name or domain_id.rsplit("/", 1)[-1]), sender=sender, unverified=tuple(unverified), header=header
    )


async def read_domain(
    communication: Callable[[str], CommunicationServiceManagementClient], domain_id: str
) -> SenderDomain:
    """A linked domain as its resource describes it: what it sends as (`mailFromSenderDomain`), verified or not.

    `communication` gives the client of a subscription: a linked domain may live in another one than the ACS
    resource.
    """
    match = _DOMAIN_ID.match(domain_id)
    if match is None:
        raise Failure(Reason.AZURE_ERROR, f"linked domain id {domain_id!r} is not an email domain resource id")
    client = communication(match.group("sub"))
    try:
        found = await client.domains.get(match.group("rg"), match.group("service"), match.group("name"))
    except AZURE_ERRORS as exc:
        raise translate(exc, f"reading linked domain {domain_id}") from None
    return _sender_domain(domain_id, found)


async def read_smtp_username(
    client: CommunicationServiceManagementClient, acs: AcsRef, resource_name: str
) -> SmtpUsernameView | None:
    try:
        current = await client.smtp_usernames.get(acs.resource_group, acs.name, resource_name)
    except ResourceNotFoundError:
        return None
    except AZURE_ERRORS as exc:
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
    except AZURE_ERRORS as exc:
        raise translate(exc, f"writing smtpUsername {resource_name!r} of {acs.name}", Reason.ACS_NOT_FOUND) from None


async def delete_smtp_username(client: CommunicationServiceManagementClient, acs: AcsRef, resource_name: str) -> None:
    try:
        await client.smtp_usernames.delete(acs.resource_group, acs.name, resource_name)
    except ResourceNotFoundError:
        return
    except AZURE_ERRORS as exc:
        raise translate(exc, f"deleting smtpUsername {resource_name!r} of {acs.name}") from None
