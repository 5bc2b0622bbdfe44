"""The emulated Entra token endpoint (client credentials: a secret, or a federated assertion) and its discovery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiohttp import web

from acs_smtp_operator.sandbox.azure.context import ARM_AUDIENCE, COMMUNICATION_AUDIENCE, GRAPH_AUDIENCE, Context
from acs_smtp_operator.sandbox.azure.federation import ASSERTION_TYPE
from acs_smtp_operator.sandbox.azure.tokens import TOKEN_LIFETIME, Claims

__all__ = ["routes"]

_AUDIENCES = {a.rstrip("/"): a for a in (ARM_AUDIENCE, GRAPH_AUDIENCE, COMMUNICATION_AUDIENCE)}

_FEDERATION_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
_NO_MATCH = (
    "No matching federated identity record found for presented assertion {what} '{value}'. Please check your "
    "federated identity credential Subject, Audience and Issuer against the presented assertion. " + _FEDERATION_DOCS
)

_DESCRIPTIONS = {
    "7000215": (
        "invalid_client",
        401,
        "Invalid client secret provided. Ensure the secret being sent in the "
        "request is the client secret value, not the client secret ID, for a secret added to app '{app}'.",
    ),
    "7000222": ("invalid_client", 401, "The provided client secret keys for app '{app}' are expired."),
    "700016": (
        "unauthorized_client",
        400,
        "Application with identifier '{app}' was not found in the directory "
        "'{tenant}'. This can happen if the application has not been installed by the administrator "
        "of the tenant or consented to by any user in the tenant.",
    ),
    "7000229": (
        "invalid_client",
        401,
        "The client application {app} is missing service principal in the tenant {tenant}. See instructions "
        "here: https://go.microsoft.com/fwlink/?linkid=2225119",
    ),
    "90002": ("invalid_request", 400, "Tenant '{tenant}' not found."),
    "500011": ("invalid_resource", 400, "The resource principal named {scope} was not found in the tenant."),
    "900144": ("invalid_request", 400, "The request body must contain the following parameter: '{missing}'."),
    # Workload identity federation (client assertions); docs/sandbox.md cites where each is documented.
    "70025": ("invalid_client", 401, "Client application has no configured federated identity credentials."),
    "700211": ("invalid_client", 401, _NO_MATCH.format(what="issuer", value="{issuer}")),
    "700212": ("invalid_client", 401, _NO_MATCH.format(what="audience", value="{audience}")),
    "700213": (
        "invalid_client",
        401,
        "No matching federated identity record found for presented assertion subject '{subject}'. Please note "
        "that matching is done using a case-sensitive comparison. Check your federated identity credential "
        "Subject, Audience, and Issuer against the presented assertion. " + _FEDERATION_DOCS,
    ),
    "700024": (
        "invalid_client",
        401,
        "Client assertion is not within its valid time range. Current time: {current}, assertion valid from "
        "{start}, expiry time of assertion {expiry}. Review the documentation at "
        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    ),
    "7000272": (
        "invalid_client",
        401,
        "The certificate with identifier {kid} used to sign the federated credential could not be found in the "
        "metadata of identity provider {issuer}. Please validate that your Identity Provider's metadata exposes "
        "the key used to sign the incoming token.",
    ),
    "700027": ("invalid_client", 401, "Client assertion failed signature validation."),
    "700222": ("invalid_client", 401, "AAD-issued tokens may not be used for federated identity flows."),
    "90061": ("invalid_request", 400, "Request to External OIDC endpoint failed."),
    "50027": ("invalid_request", 400, "JWT token is invalid or malformed."),
    "90011": ("invalid_request", 400, "Unexpected client assertion type."),
    "70011": (
        "invalid_scope",
        400,
        "The provided value for scope {scope} is not valid. Client credential "
        "flows must have a scope value with /.default suffixed to the resource identifier.",
    ),
}


def _aadsts(code: str, now: datetime, **fields: str) -> web.Response:
    error, status, template = _DESCRIPTIONS[code]
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    description = (
        f"AADSTS{code}: {template.format(**fields)} Trace ID: {trace} Correlation ID: {correlation} "
        f"Timestamp: {now.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}"
    )
    return web.json_response(
        {
            "error": error,
            "error_description": description,
            "error_codes": [int(code)],
            "timestamp": f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}",
            "trace_id": trace,
            "correlation_id": correlation,
        },
        status=status,
    )


def routes(ctx: Context) -> list[web.RouteDef]:
    async def openid_configuration(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        base = ctx.base_url
        return web.json_response(
            {
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "issuer": f"{base}/{tenant}/v2.0",
                "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "token"],
                "tenant_region_scope": "EU",
            }
        )

    async def token(request: web.Request) -> web.Response:
        now = ctx.now()
        cloud = ctx.cloud
        tenant = request.match_info["tenant"]
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        for required in ("grant_type", "client_id", "scope"):
            if not fields.get(required):
                return _aadsts("900144", now, missing=required)
        if tenant.lower() != cloud.tenant_id:
            return _aadsts("90002", now, tenant=tenant)
        scope = fields["scope"].split()[0]
        if not scope.endswith("/.default"):
            return _aadsts("70011", now, scope=scope)
        audience = _AUDIENCES.get(scope.removesuffix("/.default").rstrip("/"))
        if audience is None:
            return _aadsts("500011", now, scope=scope)
        app_id = fields["client_id"]
        secret, assertion = fields.get("client_secret", ""), fields.get("client_assertion", "")
        if assertion:
            kind = fields.get("client_assertion_type", "")
            if not kind:
                return _aadsts("900144", now, missing="client_assertion_type")
            if kind != ASSERTION_TYPE:
                return _aadsts("90011", now)
            holder = cloud.signs_in_as(app_id)
            if holder is None:
                return _aadsts("700016", now, app=app_id, tenant=tenant)
            judged = await ctx.federation.check(assertion, holder.federated, now)
            if judged is not None:
                return _aadsts(judged.code, now, **judged.fields)
        elif not secret:
            return _aadsts("900144", now, missing="client_assertion' or 'client_secret")
        else:
            refusal = cloud.check_secret(app_id, secret, now)
            if refusal is not None:
                return _aadsts(refusal, now, app=app_id, tenant=tenant)
        sp = cloud.sp_by_app_id(app_id)
        if sp is None:
            return _aadsts("7000229", now, app=app_id, tenant=cloud.tenant_id)
        claims = Claims(
            object_id=sp.object_id,
            app_id=app_id,
            tenant_id=cloud.tenant_id,
            audience=audience,
            roles=tuple(sorted(sp.graph_permissions)) if audience == GRAPH_AUDIENCE else (),
        )
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": int(TOKEN_LIFETIME.total_seconds()),
                "ext_expires_in": int(TOKEN_LIFETIME.total_seconds()),
                "access_token": ctx.issuer.issue(claims, now),
            }
        )

    return [
        web.get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        web.post("/{tenant}/oauth2/v2.0/token", token),
    ]
