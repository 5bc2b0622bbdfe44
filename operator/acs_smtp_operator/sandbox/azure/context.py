"""What every emulated Azure endpoint shares: the tenant, the token issuer, faults and the request log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from acs_smtp_operator.sandbox.azure.faults import FaultBook
from acs_smtp_operator.sandbox.azure.federation import Federation
from acs_smtp_operator.sandbox.azure.state import Cloud
from acs_smtp_operator.sandbox.azure.throttle import Throttle
from acs_smtp_operator.sandbox.azure.tokens import Claims, TokenIssuer

__all__ = ["ARM_AUDIENCE", "COMMUNICATION_AUDIENCE", "GRAPH_AUDIENCE", "Context", "Logged", "json_error"]

ARM_AUDIENCE = "https://management.azure.com/"
GRAPH_AUDIENCE = "https://graph.microsoft.com/"
COMMUNICATION_AUDIENCE = "https://communication.azure.com/"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Logged:
    api: str  # arm | graph | entra
    method: str
    path: str
    status: int
    time: str

    def to_json(self) -> dict[str, Any]:
        return {"api": self.api, "method": self.method, "path": self.path, "status": self.status, "time": self.time}


@dataclass
class Context:
    cloud: Cloud
    issuer: TokenIssuer
    base_url: str = ""
    faults: FaultBook = field(default_factory=FaultBook)
    log: list[Logged] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    # The body of every ARM and Graph write, kept for the leak audit (not cleared by /reset). Not the token
    # endpoint's: a client secret belongs there.
    bodies: list[dict[str, str]] = field(default_factory=list)
    clock: Callable[[], datetime] = _utcnow
    throttle: Throttle = field(default_factory=Throttle)  # ARM's and Graph's request limits (off by default)
    federation: Federation = field(default_factory=Federation)  # judges client assertions (workload identity)

    def now(self) -> datetime:
        return self.clock()

    def caller(self, request: web.Request, audience: str) -> Claims | None:
        """The claims of the request's bearer token, if it is ours, unexpired and issued for `audience`."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        claims = self.issuer.verify(header.removeprefix("Bearer "), self.now())
        return claims if claims is not None and claims.audience == audience else None


def json_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)
