"""The custom role definition and the role assignment on the ACS resource (azure-mgmt-authorization)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import Permission, RoleAssignmentCreateParameters, RoleDefinition

from acs_smtp_operator.azure.errors import AzureFailure, translate
from acs_smtp_operator.model import Reason

__all__ = [
    "RoleResult",
    "delete_role_assignment",
    "delete_role_definition",
    "ensure_custom_role",
    "ensure_role_assignment",
    "existing_role",
]


@dataclass(frozen=True)
class RoleResult:
    id: str
    written: bool
    owned: bool = True  # False when an assignment made by someone else already grants the same


def _same_actions(a: list[str] | tuple[str, ...], b: list[str] | tuple[str, ...]) -> bool:
    return sorted(x.lower() for x in a) == sorted(x.lower() for x in b)


def _actions_of(role: RoleDefinition) -> list[str]:
    return [a for p in role.permissions or [] for a in p.actions or []]


async def existing_role(client: AuthorizationManagementClient, scope: str, role_id: str) -> str:
    """The id of a role the user named, after checking that it exists."""
    try:
        role = await client.role_definitions.get(scope, role_id.rstrip("/").rsplit("/", 1)[-1])
    except HttpResponseError as exc:
        raise translate(exc, f"reading role definition {role_id}", Reason.ROLE_NOT_FOUND) from None
    return str(role.id)


async def ensure_custom_role(
    client: AuthorizationManagementClient,
    subscription_scope: str,
    guid: str,
    name: str,
    actions: tuple[str, ...],
    assignable_scope: str,
) -> RoleResult:
    """The tenant-unique role `name` with `actions`, assignable at `assignable_scope` (and wherever it was)."""
    what = f"role definition {name!r}"
    try:
        try:
            current: RoleDefinition | None = await client.role_definitions.get(subscription_scope, guid)
        except ResourceNotFoundError:
            current = None
        if current is None:
            same_name = [
                r
                async for r in client.role_definitions.list(
                    assignable_scope, filter=f"roleName eq '{name.replace(chr(39), chr(39) * 2)}'"
                )
            ]
            if same_name:
                adopted = same_name[0]
                if not _same_actions(_actions_of(adopted), actions):
                    raise AzureFailure(
                        Reason.ROLE_NAME_CONFLICT,
                        f"a role named {name!r} already exists ({adopted.id}) with other actions "
                        f"{sorted(_actions_of(adopted))}; choose another spec.role.customRoleName "
                        "or set spec.role.existingRoleDefinitionId",
                    )
                return RoleResult(id=str(adopted.id), written=False, owned=False)
        scopes = list(current.assignable_scopes or []) if current else []
        in_scope = any(s.lower() == assignable_scope.lower() for s in scopes)
        if (
            current is not None
            and in_scope
            and _same_actions(_actions_of(current), actions)
            and current.role_name == name
        ):
            return RoleResult(id=str(current.id), written=False)
        role = await client.role_definitions.create_or_update(
            subscription_scope,
            guid,
            RoleDefinition(
                role_name=name,
                role_type="CustomRole",
                description="Send mail through Azure Communication Services over SMTP (managed by acs-smtp-operator)",
                permissions=[Permission(actions=list(actions), not_actions=[])],
                assignable_scopes=scopes if in_scope else [*scopes, assignable_scope],
            ),
        )
        return RoleResult(id=str(role.id), written=True)
    except HttpResponseError as exc:
        failure = translate(exc, f"writing {what}")
        if failure.code == "RoleDefinitionWithSameNameExists":
            raise AzureFailure(
                Reason.ROLE_NAME_CONFLICT,
                f"a role named {name!r} already exists elsewhere in the tenant (role names are "
                "tenant-wide); choose another spec.role.customRoleName or set "
                "spec.role.existingRoleDefinitionId",
                status=failure.status,
                code=failure.code,
            ) from None
        raise failure from None


_EXISTING = re.compile(r"existing role assignment is ([0-9a-fA-F]{32})")


async def ensure_role_assignment(
    client: AuthorizationManagementClient, scope: str, guid: str, role_id: str, principal_id: str
) -> RoleResult:
    """The role assigned to the service principal at `scope`; an equivalent existing assignment counts."""
    ops = client.role_assignments
    try:
        try:
            current = await ops.get(scope, guid)
            return RoleResult(id=str(current.id), written=False)
        except ResourceNotFoundError:
            pass
        made = await ops.create(
            scope,
            guid,
            RoleAssignmentCreateParameters(
                role_definition_id=role_id, principal_id=principal_id, principal_type="ServicePrincipal"
            ),
        )
        return RoleResult(id=str(made.id), written=True)
    except HttpResponseError as exc:
        failure = translate(exc, f"assigning {role_id} to {principal_id} at {scope}")
        if failure.code == "RoleAssignmentExists":
            found = _EXISTING.search(failure.message)
            other = found.group(1) if found else "unknown"
            return RoleResult(
                id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{other}", written=False, owned=False
            )
        if failure.code == "PrincipalNotFound":
            failure.transient = True
        raise failure from None


async def delete_role_assignment(client: AuthorizationManagementClient, scope: str, guid: str) -> None:
    try:
        await client.role_assignments.delete(scope, guid)
    except ResourceNotFoundError:
        return
    except HttpResponseError as exc:
        raise translate(exc, f"deleting role assignment {guid}") from None


async def delete_role_definition(client: AuthorizationManagementClient, scope: str, guid: str) -> bool:
    """Delete the role unless something still uses it; True when it is gone."""
    try:
        await client.role_definitions.delete(scope, guid)
    except ResourceNotFoundError:
        return True
    except HttpResponseError as exc:
        failure = translate(exc, f"deleting role definition {guid}")
        if failure.code == "RoleDefinitionHasAssignments":
            return False
        raise failure from None
    return True
