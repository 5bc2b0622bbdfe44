"""The probe endpoints: /healthz (the event loop answers) and /readyz (leading and watching, or standing by;
not while the API server does not serve the CRDs).

A replica whose elector or kopf fails exits (Kubernetes restarts it), so liveness needs no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

__all__ = ["Health", "Role", "serve_health"]


class Role(StrEnum):
    STARTING = "starting"
    WAITING_FOR_CRDS = "waiting-for-crds"  # the API server does not serve our resources (yet): not ready
    STANDBY = "standby"
    LEADER = "leader"


@dataclass
class Health:
    role: Role = Role.STARTING

    def ready(self) -> bool:
        return self.role not in (Role.STARTING, Role.WAITING_FOR_CRDS)


async def serve_health(health: Health, port: int, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"role": str(health.role)}, status=200 if health.ready() else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()  # the kubelet probes the pod's IP: 0.0.0.0 unless told
    return runner
