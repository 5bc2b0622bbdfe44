"""Role definitions and role assignments on the ACS resource (ARM, azure-mgmt-authorization)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import (
    Permission,
    RoleAssignment,
    RoleAssignmentCreateParameters,
    RoleDefinition,
)

from acs_smtp_operator.azure.errors import AZURE_ERRORS, translate
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import assignment_guid
from acs_smtp_operator.ids import dashed_guid
from acs_smtp_operator.model import Reason
from acs_smtp_operator.observed import AssignmentView, RoleView

__all__ = [
    "ASSIGNMENT_DESCRIPTION",
    "ROLE_DESCRIPTION",
    "Removal",
    "assignments_at",
    "built_in_role",
    "create_role_assignment",
    "delete_role_assignment",
    "delete_role_definition",
    "existing_role",
    "read_role",
    "roles_named",
    "write_role",
]


# Azure's own record that the operator made an object: the description it writes on each. Nothing is deleted
# without it (status, annotations and the Secret can be edited by whoever may edit the credential).
ASSIGNMENT_DESCRIPTION = "acs-smtp-operator: lets an AcsSmtpCredential's application send mail over SMTP"
ROLE_DESCRIPTION = "Send mail through Azure Communication Services over SMTP (managed by acs-smtp-operator)"

Removal = Literal["removed", "gone", "in use", "not ours"]
T = TypeVar("T")


def _view(role: RoleDefinition) -> RoleView:
    return RoleView(
        id=str(role.id),
        name=str(role.role_name or ""),
        actions=tuple(a for p in role.permissions or [] for a in p.actions or []),
        assignable_scopes=tuple(role.assignable_scopes or []),
        built_in=str(role.role_type or "").lower() == "builtinrole",
    )


async def existing_role(client: AuthorizationManagementClient, scope: str, role_id: str) -> RoleView:
    """A role the user named, read back to check that it exists."""
    try:
        role = await client.role_definitions.get(scope, role_id.rstrip("/").rsplit("/", 1)[-1])
    except AZURE_ERRORS as exc:
        raise translate(exc, f"reading role definition {role_id}", Reason.ROLE_NOT_FOUND) from None
    return _view(role)


async def built_in_role(client: AuthorizationManagementClient, scope: str, name: str) -> RoleView:
    """The built-in role called `name` (e.g. "Communication and Email Service Owner"), looked up at `scope`."""
    found = [r for r in await roles_named(client, scope, name) if r.built_in]
    if not found:
        raise Failure(
            Reason.ROLE_NOT_FOUND,
            f"no built-in role is named {name!r}; the policy's role.builtInRoleName must be a built-in role's "
            "exact name, such as 'Communication and Email Service Owner'",
        )
    return found[0]


async def read_role(client: AuthorizationManagementClient, scope: str, guid: str) -> RoleView | None:
    try:
        return _view(await client.role_definitions.get(scope, guid))
    except ResourceNotFoundError:
        return None
    except AZURE_ERRORS as exc:
        raise translate(exc, f"reading role definition {guid}") from None


async def roles_named(client: AuthorizationManagementClient, scope: str, name: str) -> tuple[RoleView, ...]:
    """Roles called `name` that are visible at `scope` (role names are tenant-wide)."""
    quoted = name.replace("'", "''")
    try:
        return tuple([_view(r) async for r in client.role_definitions.list(scope, filter=f"roleName eq '{quoted}'")])
    except AZURE_ERRORS as exc:
        raise translate(exc, f"listing role definitions named {name!r}") from None


async def write_role(
    client: AuthorizationManagementClient,
    guid: str,
    name: str,
    actions: tuple[str, ...],
    assignable_scopes: tuple[str, ...],
) -> str:
    """Create or update the custom role at the first of its assignable scopes; its id.

    A role definition is one object for the whole tenant: a credential in another subscription may not see
    where else it is assignable, and writing only its own scope would drop those. ARM refuses to drop a scope
    that holds assignments (`RoleScopeBeingRemovedContainsAssignments`, naming it): that scope is kept and the
    write made again.
    """
    scopes = list(assignable_scopes)
    for _ in range(_KEEP_SCOPES):
        try:
            role = await client.role_definitions.create_or_update(scopes[0], guid, _definition(name, actions, scopes))
        except AZURE_ERRORS as exc:
            failure = translate(exc, f"writing role definition {name!r}")
            kept = _dropped(exc) if failure.code == _SCOPE_IN_USE else None
            if kept is not None and kept.group(1).lower() not in {s.lower() for s in scopes}:
                scopes.append(kept.group(1))
                continue
            if failure.code == "RoleDefinitionWithSameNameExists":
                raise Failure(
                    Reason.ROLE_NAME_CONFLICT,
                    f"a role named {name!r} already exists elsewhere in the tenant (role names are "
                    "tenant-wide); the policy must choose another role.customRoleName or set "
                    "role.existingRoleDefinitionId",
                    status=failure.status,
                    code=failure.code,
                ) from None
            raise failure from None
        return str(role.id)
    raise Failure(Reason.AZURE_ERROR, f"writing role definition {name!r}: its assignable scopes kept changing")


def _definition(name: str, actions: tuple[str, ...], scopes: list[str]) -> RoleDefinition:
    return RoleDefinition(
        role_name=name,
        role_type="CustomRole",
        description=ROLE_DESCRIPTION,
        permissions=[Permission(actions=list(actions), not_actions=[], data_actions=[], not_data_actions=[])],
        assignable_scopes=scopes,
    )


async def assignments_at(client: AuthorizationManagementClient, scope: str) -> dict[str, AssignmentView]:
    """The role assignments at `scope` (not inherited from above), by name: one list for every credential."""
    try:
        return {
            str(a.name).lower(): AssignmentView(id=str(a.id), principal_id=a.principal_id)
            async for a in client.role_assignments.list_for_scope(scope, filter="atScope()")
            if a.name and (a.scope or scope).lower() == scope.lower()
        }
    except AZURE_ERRORS as exc:
        raise translate(exc, f"listing the role assignments at {scope}") from None


_KEEP_SCOPES = 5  # scopes in use elsewhere that one write may learn of
_SCOPE_IN_USE = "RoleScopeBeingRemovedContainsAssignments"
_DROPPED = re.compile(r"^Role assignments found under scope '(/subscriptions/[0-9a-fA-F-]{36}(?:/[^'/]+)*)' which")


def _dropped(exc: BaseException) -> re.Match[str] | None:
    """The scope ARM refuses to drop, read from ARM's own message only (never from text we composed, which
    carries the policy's role name), and only when it is an ARM scope."""
    error = getattr(exc, "error", None)
    return _DROPPED.match(str(getattr(error, "message", "") or ""))


_EXISTING = re.compile(r"existing role assignment is ([0-9a-fA-F]{32})")


async def create_role_assignment(
    client: AuthorizationManagementClient, scope: str, guid: str, role_id: str, principal_id: str
) -> tuple[str, bool]:
    """Assign the role to the service principal at `scope`: (assignment id, ours).

    An equivalent assignment someone else made (`RoleAssignmentExists`) counts, and is not ours.
    """
    try:
        made = await client.role_assignments.create(
            scope,
            guid,
            RoleAssignmentCreateParameters(
                role_definition_id=role_id,
                principal_id=principal_id,
                principal_type="ServicePrincipal",
                description=ASSIGNMENT_DESCRIPTION,
            ),
        )
    except AZURE_ERRORS as exc:
        failure = translate(exc, f"assigning {role_id} to {principal_id} at {scope}")
        if failure.code == "RoleAssignmentExists":
            found = _EXISTING.search(failure.message)
            other = dashed_guid(found.group(1)) if found else "unknown"  # ARM names it without dashes
            return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{other}", False
        raise failure from None
    return str(made.id), True


def _made_by_us(found: RoleAssignment, guid: str) -> bool:
    """Ours by Azure's record: our description, or (made before descriptions) the name we derive from its own
    scope, role and principal. Someone else's assignment of the same role has a name of its own."""
    if (found.description or "") == ASSIGNMENT_DESCRIPTION:
        return True
    scope, role, principal = found.scope or "", found.role_definition_id or "", found.principal_id or ""
    if not (scope and role and principal):
        return False
    # Made from the role's subscription-form id (`/subscriptions/{sub}/providers/...`); Azure's examples answer
    # the tenant form (`/providers/Microsoft.Authorization/roleDefinitions/{guid}`): either names the same role.
    parts = scope.split("/")
    subscription = parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""
    role_guid = role.rstrip("/").rsplit("/", 1)[-1]
    spelled = {role, f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"}
    return any(assignment_guid(scope, r, principal) == guid.lower() for r in spelled)


async def _delete_if_ours(
    what: str,
    read: Callable[[], Awaitable[T]],
    ours: Callable[[T], bool],
    delete: Callable[[], Awaitable[object]],
    in_use: str | None = None,
) -> Removal:
    """Read the object back, and delete it only when Azure's record says the operator made it."""
    try:
        found = await read()
    except ResourceNotFoundError:
        return "gone"
    except AZURE_ERRORS as exc:
        raise translate(exc, f"reading {what}") from None
    if not ours(found):
        return "not ours"
    try:
        await delete()
    except ResourceNotFoundError:
        return "gone"
    except AZURE_ERRORS as exc:
        failure = translate(exc, f"deleting {what}")
        if in_use is not None and failure.code == in_use:
            return "in use"
        raise failure from None
    return "removed"


async def delete_role_assignment(client: AuthorizationManagementClient, scope: str, guid: str) -> Removal:
    """Delete a role assignment the operator made (read back first: one that is not ours stays)."""
    return await _delete_if_ours(
        f"role assignment {guid}",
        lambda: client.role_assignments.get(scope, guid),
        lambda found: _made_by_us(found, guid),
        lambda: client.role_assignments.delete(scope, guid),
    )


async def delete_role_definition(client: AuthorizationManagementClient, scope: str, guid: str) -> Removal:
    """Delete a custom role the operator made (its description says so), unless something still uses it."""
    return await _delete_if_ours(
        f"role definition {guid}",
        lambda: client.role_definitions.get(scope, guid),
        lambda role: str(role.role_type or "").lower() == "customrole" and role.description == ROLE_DESCRIPTION,
        lambda: client.role_definitions.delete(scope, guid),
        in_use="RoleDefinitionHasAssignments",
    )
