"""One https server for ARM, Microsoft Graph, the Entra token endpoint and the control API."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from acs_smtp_operator.sandbox.azure import arm, control, entra, graph
from acs_smtp_operator.sandbox.azure.context import Context, Logged

__all__ = ["api_of", "build_app"]


def api_of(path: str) -> str | None:
    """Which emulated API a path belongs to (None for the control API)."""
    if path.startswith(control.CONTROL_PREFIX):
        return None
    if path.startswith("/v1.0/"):
        return "graph"
    if path.startswith("/subscriptions/"):
        return "arm"
    return "entra"


def _fault_response(api: str, status: int, retry_after: int | None, ctx: Context) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if api == "graph":
        code = "TooManyRequests" if status == 429 else "ServiceUnavailable" if status == 503 else "InternalServerError"
        return graph.graph_error(status, code, f"Injected fault: HTTP {status}.", ctx.now(), headers)
    if api == "arm":
        code = (
            "SubscriptionRequestsThrottled"
            if status == 429
            else "ServiceUnavailable"
            if status == 503
            else "InternalServerError"
        )
        message = (
            (
                "Number of requests for subscription exceeded the limit. Please try again after "
                f"{retry_after or 0} seconds."
            )
            if status == 429
            else f"Injected fault: HTTP {status}."
        )
        return arm.arm_error(status, code, message, headers)
    return web.json_response(
        {"error": "temporarily_unavailable", "error_description": f"Injected HTTP {status}", "error_codes": [0]},
        status=status,
        headers=headers,
    )


def _throttled(ctx: Context, api: str, request: web.Request) -> tuple[float, dict[str, str]]:
    """The emulated limits' verdict on a request: (seconds until it would be admitted, 0 if it is; headers).

    Only a request with a valid token counts: the limits are per principal (ARM) or per app (Graph).
    """
    if api not in ("arm", "graph"):
        return 0.0, {}
    header = request.headers.get("Authorization", "")
    claims = ctx.issuer.verify(header.removeprefix("Bearer "), ctx.now()) if header.startswith("Bearer ") else None
    if claims is None:
        return 0.0, {}
    now = time.monotonic()
    if api == "graph":
        return ctx.throttle.graph_take(claims.tenant_id, claims.app_id, request.method, request.path, now), {}
    subscription = request.path.split("/")[2] if request.path.count("/") >= 2 else ""
    return ctx.throttle.arm_take(subscription, claims.object_id, request.method, now)


def build_app(ctx: Context) -> web.Application:
    @web.middleware
    async def observe(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        api = api_of(request.path)
        if api is None:
            return await handler(request)
        if api in ("arm", "graph") and request.method != "GET" and request.can_read_body:
            body = await request.text()  # aiohttp keeps it: the handler reads it again
            ctx.bodies.append({"api": api, "method": request.method, "path": request.path, "body": body})
        faults = ctx.faults.take(request.method, request.path)
        latency = sum(f.latency_ms for f in faults)
        if latency:
            await asyncio.sleep(latency / 1000)
        if any(f.drop for f in faults):
            ctx.log.append(
                Logged(api=api, method=request.method, path=request.path, status=0, time=ctx.now().isoformat())
            )
            if request.transport is not None:
                request.transport.abort()  # no answer at all: the client sees the connection reset
            return web.Response(status=599)  # written to nowhere: the connection is gone
        failing = next((f for f in faults if f.status is not None), None)
        # An injected fault answers before the limits are asked (it spends no token).
        wait, remaining = (0.0, {}) if failing is not None else _throttled(ctx, api, request)
        response: web.StreamResponse
        if failing is not None and failing.status is not None:
            response = _fault_response(api, failing.status, failing.retry_after, ctx)
        elif wait:
            response = _fault_response(api, 429, max(math.ceil(wait), 1), ctx)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = exc
        for header, value in remaining.items():
            response.headers[header] = value
        ctx.log.append(
            Logged(
                api=api, method=request.method, path=request.path, status=response.status, time=ctx.now().isoformat()
            )
        )
        return response

    app = web.Application(middlewares=[observe])
    app.add_routes(control.routes(ctx))
    app.add_routes(arm.routes(ctx))
    app.add_routes(graph.routes(ctx))
    app.add_routes(entra.routes(ctx))
    return app
