"""The probe endpoints: /healthz (the event loop answers) and /readyz (leading and watching, or standing by).

A replica whose elector or kopf fails exits (Kubernetes restarts it), so liveness needs no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

__all__ = ["Health", "Role", "serve_health"]


class Role(StrEnum):
    STARTING = "starting"
    STANDBY = "standby"
    LEADER = "leader"


@dataclass
class Health:
    role: Role = Role.STARTING

    def ready(self) -> bool:
        return self.role is not Role.STARTING


async def serve_health(health: Health, port: int) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"role": str(health.role)}, status=200 if health.ready() else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104 - probes come from the kubelet
    return runner
