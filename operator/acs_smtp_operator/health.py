"""The probe endpoints: /healthz (the process works) and /readyz (leading and watching, or standing by)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
    elector_alive: Callable[[], bool] = field(default=lambda: True)

    def live(self) -> bool:
        return self.elector_alive()

    def ready(self) -> bool:
        return self.role is not Role.STARTING and self.live()


async def serve_health(health: Health, port: int) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"live": health.live()}, status=200 if health.live() else 503)

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"role": str(health.role)}, status=200 if health.ready() else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104 - probes come from the kubelet
    return runner
