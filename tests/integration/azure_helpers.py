"""Small helpers for driving the emulated Azure through the real SDKs in tests."""

from __future__ import annotations

import uuid
from datetime import datetime

from azure.mgmt.authorization.v2022_04_01.models import Permission, RoleAssignmentCreateParameters, RoleDefinition
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody,
)
from msgraph.generated.models.password_credential import PasswordCredential

from acs_smtp_operator.azure.clients import AzureClients
from acs_smtp_operator.model import DEFAULT_ACTIONS

SEND_ACTIONS = list(DEFAULT_ACTIONS)


def resource_group_of(resource_id: str) -> str:
    return "/".join(resource_id.split("/")[:5])


async def add_password(
    azure: AzureClients, object_id: str, name: str = "test", start: datetime | None = None, end: datetime | None = None
) -> PasswordCredential:
    body = AddPasswordPostRequestBody(
        password_credential=PasswordCredential(display_name=name, start_date_time=start, end_date_time=end)
    )
    created = await azure.graph.applications.by_application_id(object_id).add_password.post(body)
    assert created is not None
    return created


async def remove_password(azure: AzureClients, object_id: str, key_id: uuid.UUID) -> None:
    await azure.graph.applications.by_application_id(object_id).remove_password.post(
        RemovePasswordPostRequestBody(key_id=key_id)
    )


async def grant_send(azure: AzureClients, acs_id: str, principal_id: str, role_name: str | None = None) -> str:
    """Create a sending role at the resource group and assign it on the ACS resource; return the assignment id."""
    scope = resource_group_of(acs_id)
    role = await azure.authorization(acs_id.split("/")[2]).role_definitions.create_or_update(
        scope,
        str(uuid.uuid4()),
        RoleDefinition(
            role_name=role_name or f"test sender {uuid.uuid4()}",
            role_type="CustomRole",
            permissions=[Permission(actions=SEND_ACTIONS)],
            assignable_scopes=[scope],
        ),
    )
    assignment = await azure.authorization(acs_id.split("/")[2]).role_assignments.create(
        acs_id,
        str(uuid.uuid4()),
        RoleAssignmentCreateParameters(
            role_definition_id=role.id, principal_id=principal_id, principal_type="ServicePrincipal"
        ),
    )
    return str(assignment.id)
