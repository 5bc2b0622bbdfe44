"""The emulated Microsoft Graph v1.0: applications, service principals, addPassword, removePassword."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from acs_smtp_operator.sandbox.azure.context import GRAPH_AUDIENCE, Context, json_error
from acs_smtp_operator.sandbox.azure.state import Application
from acs_smtp_operator.sandbox.azure.tokens import Claims

__all__ = ["routes"]

_READ_ALL = {"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
_WRITE_ALL = {"Application.ReadWrite.All", "Directory.ReadWrite.All"}
_OWNED_BY = "Application.ReadWrite.OwnedBy"

_APP_KEY = r"applications(?:/(?P<oid>[0-9a-fA-F-]{36})|\(appId='(?P<appid>[^']+)'\))"
_SP_KEY = r"servicePrincipals(?:/(?P<oid>[0-9a-fA-F-]{36})|\(appId='(?P<appid>[^']+)'\))"


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def graph_error(
    status: int, code: str, message: str, now: datetime, headers: dict[str, str] | None = None
) -> web.Response:
    return json_error(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        },
        headers,
    )


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphError(400, "Request_BadRequest", f"Invalid value for a DateTimeOffset: {value!r}.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def routes(ctx: Context) -> list[web.RouteDef]:
    cloud = ctx.cloud
    Handler = Callable[[web.Request, Claims, re.Match[str]], Awaitable[web.Response]]

    def lagging() -> tuple[datetime, timedelta]:
        """A read's view: now, through a replica the lag knob behind."""
        return ctx.now(), timedelta(seconds=cloud.knobs.graph_lag_seconds)

    def find_app(match: re.Match[str]) -> Application:
        oid, appid = match.group("oid"), match.group("appid")
        app = cloud.applications.get(oid.lower()) if oid else cloud.app_by_app_id(appid or "")
        if app is None:
            key = oid or appid
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
            )
        return app

    def require(claims: Claims, app: Application | None, write: bool) -> None:
        """Application.ReadWrite.OwnedBy reads every application and service principal of the tenant (the
        permissions reference: "allows an app to call GET /applications and GET /servicePrincipals endpoints to
        list all applications and service principals in the tenant"); it writes only those it owns."""
        granted = set(claims.roles)
        if granted & (_WRITE_ALL if write else _READ_ALL | _WRITE_ALL):
            return
        if _OWNED_BY in granted and (not write or app is None or claims.object_id in app.owners):
            return
        raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    def readable(claims: Claims) -> bool:
        return bool(set(claims.roles) & (_READ_ALL | _WRITE_ALL | {_OWNED_BY}))

    async def get_app(request: web.Request, claims: Claims, match: re.Match[str]) -> web.Response:
        app = find_app(match)
        require(claims, app, write=False)
        return web.json_response(
            {"@odata.context": f"{ctx.base_url}/v1.0/$metadata#applications/$entity", **app.to_graph(*lagging())}
        )

    async def list_apps(request: web.Request, claims: Claims, match: re.Match[str]) -> web.Response:
        require(claims, None, write=False)
        wanted = _filter_app_id(request)
        visible = [
            a
            for a in cloud.applications.values()
            if (wanted is None or a.app_id.lower() == wanted.lower()) and readable(claims)
        ]
        return web.json_response(
            {
                "@odata.context": f"{ctx.base_url}/v1.0/$metadata#applications",
                "value": [a.to_graph(*lagging()) for a in visible],
            }
        )

    async def get_sp(request: web.Request, claims: Claims, match: re.Match[str]) -> web.Response:
        oid, appid = match.group("oid"), match.group("appid")
        sp = cloud.service_principals.get(oid.lower()) if oid else cloud.sp_by_app_id(appid or "")
        if sp is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{oid or appid}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        require(claims, cloud.app_by_app_id(sp.app_id), write=False)
        return web.json_response(
            {"@odata.context": f"{ctx.base_url}/v1.0/$metadata#servicePrincipals/$entity", **sp.to_graph()}
        )

    async def list_sps(request: web.Request, claims: Claims, match: re.Match[str]) -> web.Response:
        require(claims, None, write=False)
        wanted = _filter_app_id(request)
        found = [s for s in cloud.service_principals.values() if wanted is None or s.app_id.lower() == wanted.lower()]
        visible = [s for s in found if readable(claims)]
        return web.json_response(
            {
                "@odata.context": f"{ctx.base_url}/v1.0/$metadata#servicePrincipals",
                "value": [s.to_graph() for s in visible],
            }
        )

    async def list_owners(request: web.Request, claims: Claims, match: re.Match[str]) -> web.Response:
        """`GET /applications/{id}/owners` (List owners of an application: Application.ReadWrite.OwnedBy is its
        least privileged application permission): directoryObjects, here the owning service principals."""
        app = find_app(match)
        require(claims, app, write=False)
        owners = [cloud.service_principals.get(o) for o in sorted(app.owners)]
        return web.json_response(
            {
                "@odata.context": f"{ctx.base_url}/v1.0/$metadata#directoryObjects",
                "value": [{"@odata.type": "#microsoft.graph.servicePrincipal", **sp.to_graph()} for sp in owners if sp],
            }
        )

    async def add_password(request: web.Request, claims: Claims, match: re.Match[str]) -> web.Response:
        now = ctx.now()
        app = find_app(match)
        require(claims, app, write=True)
        body = await _json(request)
        credential = body.get("passwordCredential") or {}
        if not isinstance(credential, dict):
            raise GraphError(400, "Request_BadRequest", "Invalid passwordCredential.")
        start = _parse_time(credential.get("startDateTime")) or now
        end = _parse_time(credential.get("endDateTime")) or start.replace(year=start.year + 2)
        if end <= start:
            raise GraphError(400, "Request_BadRequest", "The end date must be after the start date.")
        if not app.passwords_allowed:
            raise GraphError(
                400, "CredentialTypeNotAllowedAsPerAppPolicy", "Credential type not allowed as per assigned policy."
            )
        if app.max_password_lifetime is not None and end - start > app.max_password_lifetime:
            raise GraphError(
                400,
                "CredentialInvalidLifetimeAsPerAppPolicy",
                "Credential lifetime exceeds the max value allowed as per assigned policy.",
            )
        if app.personal_accounts and len(app.live) >= 2:
            raise GraphError(
                400, "TooManyAppPasswords", "The application allows personal accounts and may hold at most 2 passwords."
            )
        password, value = cloud.add_password(app, str(credential.get("displayName") or ""), start, end, now)
        return web.json_response(
            {
                "@odata.context": f"{ctx.base_url}/v1.0/$metadata#microsoft.graph.passwordCredential",
                **password.to_graph(),
                "secretText": value,
            }
        )

    async def remove_password(request: web.Request, claims: Claims, match: re.Match[str]) -> web.Response:
        app = find_app(match)
        require(claims, app, write=True)
        key_id = str((await _json(request)).get("keyId") or "")
        if not cloud.remove_password(app, key_id, ctx.now()):
            raise GraphError(400, "Request_BadRequest", f"No password credential found with keyId {key_id}.")
        return web.Response(status=204)

    table: list[tuple[str, re.Pattern[str], Handler]] = [
        ("GET", re.compile(rf"^{_APP_KEY}$"), get_app),
        ("GET", re.compile(rf"^{_APP_KEY}/owners$"), list_owners),
        ("GET", re.compile(r"^applications$"), list_apps),
        ("GET", re.compile(rf"^{_SP_KEY}$"), get_sp),
        ("GET", re.compile(r"^servicePrincipals$"), list_sps),
        ("POST", re.compile(rf"^{_APP_KEY}/addPassword$"), add_password),
        ("POST", re.compile(rf"^{_APP_KEY}/removePassword$"), remove_password),
    ]

    async def dispatch(request: web.Request) -> web.Response:
        now = ctx.now()
        tail = request.match_info["tail"]
        claims = ctx.caller(request, GRAPH_AUDIENCE)
        if claims is None:
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.", now)
        for method, pattern, handler in table:
            match = pattern.match(tail)
            if match and method == request.method:
                try:
                    return await handler(request, claims, match)
                except GraphError as exc:
                    return graph_error(exc.status, exc.code, exc.message, now)
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{tail.split('/')[0]}'.", now)

    return [web.route("*", "/v1.0/{tail:.*}", dispatch)]


def _filter_app_id(request: web.Request) -> str | None:
    match = re.search(r"appId eq '([^']+)'", request.query.get("$filter", ""), re.IGNORECASE)
    return match.group(1) if match else None


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.")
    return body
