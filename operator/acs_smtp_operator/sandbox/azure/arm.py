"""The emulated Azure Resource Manager: ACS resources, smtpUsernames, role definitions and assignments."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from acs_smtp_operator.sandbox.azure.context import ARM_AUDIENCE, Context, json_error
from acs_smtp_operator.sandbox.azure.state import (
    RoleAssignment,
    RoleDefinition,
    SmtpUsername,
    scope_contains,
)
from acs_smtp_operator.sandbox.azure.tokens import Claims

__all__ = ["ArmError", "arm_error", "routes"]

_GUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


def _guid(text: str) -> str:
    """A GUID in a URL as ARM reads it (.NET's Guid.Parse): dashed or 32 hex digits, any case; kept dashed."""
    low = text.lower().replace("-", "")
    return f"{low[:8]}-{low[8:12]}-{low[12:16]}-{low[16:20]}-{low[20:]}"


_ACS = (
    r"(?P<acs>/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Communication"
    r"/communicationServices/(?P<name>[^/]+))"
)
_DOMAIN = (
    r"(?P<domain>/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Communication"
    r"/emailServices/(?P<service>[^/]+)/domains/(?P<name>[^/]+))"
)
_AUTHZ = "/providers/Microsoft.Authorization"
_API_VERSIONS = {
    "communication": {"2025-09-01", "2025-05-01", "2023-04-01"},
    # smtpUsernames exist from 2024-09-01-preview; the first stable version with them is 2025-09-01 (the stable
    # 2025-05-01 has none): azure-rest-api-specs specification/communication/resource-manager/Microsoft.Communication.
    "smtpUsernames": {"2024-09-01-preview", "2025-05-01-preview", "2025-09-01", "2026-03-18"},
    "authorization": {"2022-04-01", "2022-05-01-preview", "2020-10-01", "2018-01-01-preview"},
}


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_error(status, {"error": {"code": code, "message": message}}, headers)


Handler = Callable[[web.Request, Claims, re.Match[str]], Awaitable[web.Response]]


def routes(ctx: Context) -> list[web.RouteDef]:
    cloud = ctx.cloud

    def authorize(claims: Claims, action: str, scope: str) -> None:
        if not cloud.is_authorized(claims.object_id, action, scope, ctx.now()):
            raise ArmError(
                403,
                "AuthorizationFailed",
                f"The client '{claims.app_id}' with object id '{claims.object_id}' does not have "
                f"authorization to perform action '{action}' over scope '{scope}' or the scope is "
                "invalid. If access was recently granted, please refresh your credentials.",
            )

    def group_or_404(path: str, rg: str) -> None:
        sub = path.split("/")[2]
        if sub.lower() not in cloud.subscriptions:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if (sub.lower(), rg.lower()) not in cloud.resource_groups:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")

    def acs_or_404(match: re.Match[str]) -> Any:
        group_or_404(match.group("acs"), match.group("rg"))
        acs = cloud.acs(match.group("acs"))
        if acs is None:
            raise _not_found(f"communicationServices/{match.group('name')}", match.group("rg"))
        return acs

    # -- Microsoft.Communication ---------------------------------------------------------------

    async def get_acs(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        authorize(claims, "Microsoft.Communication/CommunicationServices/read", m.group("acs"))
        return web.json_response(acs_or_404(m).to_arm())

    async def get_domain(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        group_or_404(m.group("domain"), m.group("rg"))
        authorize(claims, "Microsoft.Communication/EmailServices/Domains/read", m.group("domain"))
        domain = cloud.domain(m.group("domain"))
        if domain is None:
            raise _not_found(f"EmailServices/{m.group('service')}/Domains/{m.group('name')}", m.group("rg"))
        return web.json_response(domain.to_arm())

    async def smtp_username(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        acs = acs_or_404(m)
        name = m.group("user")
        key = (acs.id.lower(), name.lower())
        verb = {"GET": "read", "PUT": "write", "DELETE": "delete"}[request.method]
        authorize(claims, f"Microsoft.Communication/CommunicationServices/SmtpUsernames/{verb}", acs.id)
        if request.method == "GET":
            if key not in cloud.smtp_usernames:
                raise ArmError(404, "ResourceNotFound", f"SMTP username '{name}' was not found.")
            return web.json_response(cloud.smtp_usernames[key].to_arm())
        if request.method == "DELETE":
            return web.Response(status=200) if cloud.smtp_usernames.pop(key, None) else web.Response(status=204)
        if not re.fullmatch(r"[a-zA-Z0-9-]{1,253}", name):
            raise ArmError(400, "InvalidResourceName", f"The resource name '{name}' is invalid.")
        props = (await _json(request)).get("properties") or {}
        missing = [f for f in ("username", "entraApplicationId", "tenantId") if not props.get(f)]
        if missing:
            raise ArmError(
                400, "InvalidRequestContent", f"The request content is invalid: missing required properties {missing}."
            )
        username = str(props["username"])
        if username.lower() == name.lower():
            # Reported by public infrastructure code, not in the specs: the code is this emulator's choice.
            raise ArmError(400, "InvalidSmtpUsername", f"The username '{username}' must differ from the resource name.")
        senders = {d.sender_domain.lower() for d in cloud.sender_domains(acs)}
        if "@" in username and username.rsplit("@", 1)[1].lower() not in senders:
            raise ArmError(
                400, "InvalidSmtpUsername", f"The username '{username}' is not on a domain linked to '{acs.name}'."
            )
        clash = next(
            (u for k, u in cloud.smtp_usernames.items() if k != key and u.username.lower() == username.lower()), None
        )
        if clash is not None:
            raise ArmError(409, "Conflict", f"The username '{username}' is already in use.")
        created = key not in cloud.smtp_usernames
        entry = SmtpUsername(
            acs_id=acs.id,
            name=name,
            username=username,
            entra_application_id=str(props["entraApplicationId"]),
            tenant_id=str(props["tenantId"]),
        )
        cloud.smtp_usernames[key] = entry
        return web.json_response(entry.to_arm(), status=201 if created else 200)

    async def list_smtp_usernames(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        acs = acs_or_404(m)
        authorize(claims, "Microsoft.Communication/CommunicationServices/SmtpUsernames/read", acs.id)
        items = [u.to_arm() for (a, _), u in cloud.smtp_usernames.items() if a == acs.id.lower()]
        return web.json_response({"value": items})

    # -- Microsoft.Authorization/roleDefinitions -------------------------------------------------

    async def role_definition(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        scope, guid = m.group("scope"), _guid(m.group("guid"))
        check_scope(scope)
        role = cloud.role_definitions.get(guid)
        if role is not None and not role.visible_at(scope):
            role = None
        if request.method == "GET":
            authorize(claims, "Microsoft.Authorization/roleDefinitions/read", scope)
            if role is None:
                raise ArmError(
                    404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{guid}' does not exist."
                )
            return web.json_response(role.to_arm(_subscription(scope)))
        if request.method == "DELETE":
            authorize(claims, "Microsoft.Authorization/roleDefinitions/delete", scope)
            if role is None:
                return web.Response(status=204)
            if any(a.role_definition_id.lower().endswith(guid) for a in cloud.role_assignments.values()):
                raise ArmError(
                    409,
                    "RoleDefinitionHasAssignments",
                    "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments).",
                )
            del cloud.role_definitions[guid]
            return web.json_response(role.to_arm(_subscription(scope)))
        return await put_role_definition(request, claims, scope, guid)

    async def put_role_definition(request: web.Request, claims: Claims, scope: str, guid: str) -> web.Response:
        now = ctx.now()
        props = (await _json(request)).get("properties") or {}
        role_name = str(props.get("roleName") or "").strip()
        if not role_name:
            raise ArmError(400, "InvalidRoleDefinition", "The role definition must have a roleName.")
        scopes = [str(s) for s in props.get("assignableScopes") or []]
        if not scopes:
            raise ArmError(400, "MissingAssignableScopes", "The role definition must have assignable scopes.")
        for index, assignable in enumerate(scopes):
            if assignable.strip() == "/" or "*" in assignable or not cloud.scope_exists(assignable):
                raise ArmError(
                    400,
                    "LinkedInvalidPropertyId",
                    f"Property id '{assignable}' at path 'properties.assignableScopes[{index}]' is "
                    "invalid. Expect fully qualified resource Id that start with "
                    "'/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'.",
                )
            authorize(claims, "Microsoft.Authorization/roleDefinitions/write", assignable)
        existing = cloud.role_definitions.get(guid)
        if existing is not None and existing.role_type == "BuiltInRole":
            raise ArmError(403, "AuthorizationFailed", "Built-in roles cannot be changed.")
        if any(r.role_name.lower() == role_name.lower() and r.guid != guid for r in cloud.role_definitions.values()):
            raise ArmError(
                409,
                "RoleDefinitionWithSameNameExists",
                "A custom role with the same name already exists in this directory. Use a different name.",
            )
        for dropped in existing.assignable_scopes if existing is not None else []:
            if any(scope_contains(dropped, s) for s in scopes):
                continue
            if any(
                a.role_definition_id.lower().endswith(guid) and scope_contains(dropped, a.scope)
                for a in cloud.role_assignments.values()
            ):
                raise ArmError(
                    400,
                    "RoleScopeBeingRemovedContainsAssignments",
                    f"Role assignments found under scope '{dropped}' which is being removed. Removing this scope "
                    "from the role will orphan these assignments. Delete these assignments before removing the "
                    "scope.",
                )
        permissions = props.get("permissions") or [{}]
        actions = [str(a) for p in permissions for a in p.get("actions") or []]
        not_actions = [str(a) for p in permissions for a in p.get("notActions") or []]
        data_actions = [str(a) for p in permissions for a in p.get("dataActions") or []]
        not_data_actions = [str(a) for p in permissions for a in p.get("notDataActions") or []]
        role = RoleDefinition(
            guid=guid,
            id=f"/subscriptions/{_subscription(scope) or cloud.subscription_id}{_AUTHZ}/roleDefinitions/{guid}",
            role_name=role_name,
            description=str(props.get("description") or ""),
            role_type="CustomRole",
            actions=actions,
            not_actions=not_actions,
            assignable_scopes=scopes,
            created=existing.created if existing else now,
            updated=now,
            data_actions=data_actions,
            not_data_actions=not_data_actions,
        )
        cloud.role_definitions[guid] = role
        return web.json_response(role.to_arm(_subscription(scope)), status=201)

    async def list_role_definitions(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        scope = m.group("scope")
        check_scope(scope)
        authorize(claims, "Microsoft.Authorization/roleDefinitions/read", scope)
        query = request.query.get("$filter", "")
        name = re.search(r"roleName eq '([^']*)'", query, re.IGNORECASE)
        kind = re.search(r"type eq '([^']*)'", query, re.IGNORECASE)
        found = [
            r
            for r in cloud.role_definitions.values()
            if any(s == "/" or scope_contains(s, scope) for s in r.assignable_scopes)
            and (name is None or r.role_name.lower() == name.group(1).lower())
            and (kind is None or r.role_type.lower() == kind.group(1).lower())
        ]
        return web.json_response({"value": [r.to_arm(_subscription(scope)) for r in found]})

    # -- Microsoft.Authorization/roleAssignments -------------------------------------------------

    async def role_assignment(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        scope, guid = m.group("scope"), _guid(m.group("guid"))
        check_scope(scope)
        existing = cloud.role_assignments.get(guid)
        if existing is not None and existing.scope.lower() != scope.lower():
            existing = None
        if request.method == "GET":
            authorize(claims, "Microsoft.Authorization/roleAssignments/read", scope)
            if existing is None:
                raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{guid}' is not found.")
            return web.json_response(existing.to_arm())
        if request.method == "DELETE":
            authorize(claims, "Microsoft.Authorization/roleAssignments/delete", scope)
            if existing is None:
                return web.Response(status=204)
            del cloud.role_assignments[guid]
            return web.json_response(existing.to_arm())
        authorize(claims, "Microsoft.Authorization/roleAssignments/write", scope)
        return put_role_assignment(scope, guid, existing, await _json(request))

    def put_role_assignment(
        scope: str, guid: str, existing: RoleAssignment | None, body: dict[str, Any]
    ) -> web.Response:
        now = ctx.now()
        props = body.get("properties") or {}
        role_id = str(props.get("roleDefinitionId") or "")
        principal = str(props.get("principalId") or "").lower()
        principal_type = props.get("principalType")
        role = cloud.role_definitions.get(role_id.rstrip("/").rsplit("/", 1)[-1].lower())
        owner = _subscription(role_id)
        if role is None or (owner is not None and owner not in cloud.subscriptions):
            raise ArmError(
                400, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{role_id}' does not exist."
            )
        if not any(s == "/" or scope_contains(s, scope) for s in role.assignable_scopes):
            raise ArmError(
                400,
                "RoleAssignmentScopeNotAssignableToRoleDefinition",
                f"The role {role.role_name} is not available for assignment at the requested scope.",
            )
        replicating = (
            cloud.knobs.principal_replication_until is not None
            and now < cloud.knobs.principal_replication_until
            and not principal_type
        )
        if principal not in cloud.service_principals or replicating:
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal.replace('-', '')} does not exist in the directory "
                f"{cloud.tenant_id}. Check that you have the correct principal ID. If you are creating "
                "this principal and then immediately assigning a role, this error might be related to "
                "a replication delay. In this case, set the role assignment principalType property to "
                "a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
            )
        if principal_type and str(principal_type) != "ServicePrincipal":
            raise ArmError(
                400,
                "UnmatchedPrincipalType",
                f"The PrincipalId '{principal.replace('-', '')}' has type 'ServicePrincipal' , which is "
                f"different from specified PrincipalType '{principal_type}'.",
            )
        if existing is not None:
            same = (
                existing.role_definition_id.lower() == role.id_in(_subscription(scope)).lower()
                and existing.principal_id == principal
            )
            if not same:
                raise ArmError(
                    400,
                    "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                )
            existing.description = str(props.get("description") or "")  # updatable, as description and condition are
            return web.json_response(existing.to_arm(), status=201)
        duplicate = next(
            (
                a
                for a in cloud.role_assignments.values()
                if a.scope.lower() == scope.lower()
                and a.principal_id == principal
                and a.role_definition_id.lower() == role.id_in(_subscription(scope)).lower()
            ),
            None,
        )
        if duplicate is not None:
            raise ArmError(
                409,
                "RoleAssignmentExists",
                "The role assignment already exists. The ID of the existing role assignment is "
                f"{duplicate.guid.replace('-', '')}.",
            )
        if len(cloud.role_assignments) >= cloud.knobs.role_assignment_limit:
            raise ArmError(
                400, "RoleAssignmentLimitExceeded", "No more role assignments can be created in this subscription."
            )
        assignment = RoleAssignment(
            guid=guid,
            scope=scope,
            role_definition_id=role.id_in(_subscription(scope)),  # ARM stores it in the assignment's subscription
            principal_id=principal,
            principal_type=str(principal_type) if principal_type else None,
            created=now,
            description=str(props.get("description") or ""),
        )
        cloud.role_assignments[guid] = assignment
        return web.json_response(assignment.to_arm(), status=201)

    async def list_role_assignments(request: web.Request, claims: Claims, m: re.Match[str]) -> web.Response:
        scope = m.group("scope")
        check_scope(scope)
        authorize(claims, "Microsoft.Authorization/roleAssignments/read", scope)
        query = request.query.get("$filter", "")
        principal = re.search(r"principalId eq '([^']*)'", query, re.IGNORECASE)
        at_scope = "atscope()" in query.lower()
        found = [
            a
            for a in cloud.role_assignments.values()
            if (scope_contains(a.scope, scope) or (not at_scope and scope_contains(scope, a.scope)))
            and (principal is None or a.principal_id == principal.group(1).lower())
        ]
        return web.json_response({"value": [a.to_arm() for a in found]})

    def check_scope(scope: str) -> None:
        if not cloud.scope_exists(scope):
            raise ArmError(
                404,
                "ResourceNotFound" if "/providers/" in scope.lower() else "InvalidScope",
                f"The scope '{scope}' does not exist.",
            )

    table: list[tuple[set[str], re.Pattern[str], str, Handler]] = [
        ({"GET"}, re.compile(rf"^{_ACS}$", re.I), "communication", get_acs),
        ({"GET"}, re.compile(rf"^{_DOMAIN}$", re.I), "communication", get_domain),
        ({"GET"}, re.compile(rf"^{_ACS}/smtpUsernames$", re.I), "smtpUsernames", list_smtp_usernames),
        (
            {"GET", "PUT", "DELETE"},
            re.compile(rf"^{_ACS}/smtpUsernames/(?P<user>[^/]+)$", re.I),
            "smtpUsernames",
            smtp_username,
        ),
        (
            {"GET"},
            re.compile(rf"^(?P<scope>/.*?){_AUTHZ}/roleDefinitions$", re.I),
            "authorization",
            list_role_definitions,
        ),
        (
            {"GET", "PUT", "DELETE"},
            re.compile(rf"^(?P<scope>/.*?){_AUTHZ}/roleDefinitions/(?P<guid>{_GUID})$", re.I),
            "authorization",
            role_definition,
        ),
        (
            {"GET"},
            re.compile(rf"^(?P<scope>/.*?){_AUTHZ}/roleAssignments$", re.I),
            "authorization",
            list_role_assignments,
        ),
        (
            {"GET", "PUT", "DELETE"},
            re.compile(rf"^(?P<scope>/.*?){_AUTHZ}/roleAssignments/(?P<guid>{_GUID})$", re.I),
            "authorization",
            role_assignment,
        ),
    ]

    async def dispatch(request: web.Request) -> web.Response:
        claims = ctx.caller(request, ARM_AUDIENCE)
        if claims is None:
            return arm_error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid, expired, or not issued for https://management.azure.com/.",
            )
        path = request.path.rstrip("/")
        for methods, pattern, provider, handler in table:
            match = pattern.match(path)
            if match is None:
                continue
            if request.method not in methods:
                return arm_error(405, "MethodNotAllowed", f"The HTTP method '{request.method}' is not supported.")
            version = request.query.get("api-version")
            if not version:
                return arm_error(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            if version not in _API_VERSIONS[provider]:
                return arm_error(
                    400,
                    "InvalidApiVersionParameter",
                    f"The api-version '{version}' is invalid. The supported versions are "
                    f"'{', '.join(sorted(_API_VERSIONS[provider]))}'.",
                )
            try:
                return await handler(request, claims, match)
            except ArmError as exc:
                return arm_error(exc.status, exc.code, exc.message)
        return arm_error(404, "InvalidResourceType", f"The resource type could not be found for '{path}'.")

    return [web.route("*", "/subscriptions/{tail:.*}", dispatch)]


def _not_found(resource: str, group: str) -> ArmError:
    """ARM's 404 for a resource of Microsoft.Communication that does not exist in an existing resource group."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource 'Microsoft.Communication/{resource}' under resource group '{group}' was not found. For "
        "more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def _subscription(path: str) -> str | None:
    """The subscription id a scope or resource id lies in (None: the tenant root)."""
    parts = path.strip("/").split("/")
    return parts[1].lower() if len(parts) >= 2 and parts[0].lower() == "subscriptions" else None


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        ) from exc
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body
