"""The sandbox's control API: request log, fault injection, timing knobs, delivered mail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from acs_smtp_operator.sandbox.azure.context import Context
from acs_smtp_operator.sandbox.azure.faults import FaultSpec

__all__ = ["CONTROL_PREFIX", "KnobsSpec", "routes"]

CONTROL_PREFIX = "/_sandbox"


class KnobsSpec(BaseModel):
    """What `POST {control}/settings` accepts (each field optional)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    secret_propagation_seconds: float | None = Field(default=None, alias="secretPropagationSeconds", ge=0)
    principal_replication_seconds: float | None = Field(default=None, alias="principalReplicationSeconds", ge=0)
    assignment_propagation_seconds: float | None = Field(default=None, alias="assignmentPropagationSeconds", ge=0)
    role_assignment_limit: int | None = Field(default=None, alias="roleAssignmentLimit", ge=0)
    rollout_seconds: float | None = Field(default=None, alias="rolloutSeconds", ge=0)


def _bad_request(exc: Exception) -> web.Response:
    return web.json_response({"error": str(exc)}, status=400)


def routes(ctx: Context) -> list[web.RouteDef]:
    async def requests(request: web.Request) -> web.Response:
        return web.json_response([entry.to_json() for entry in ctx.log])

    async def add_fault(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            specs = [FaultSpec.model_validate(item) for item in (body if isinstance(body, list) else [body])]
        except (ValueError, ValidationError) as exc:
            return _bad_request(exc)
        for spec in specs:
            ctx.faults.add(spec)
        return web.json_response({"faults": len(ctx.faults.faults)}, status=201)

    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response(
            [{**f.spec.model_dump(by_alias=True), "remaining": f.remaining, "hits": f.hits} for f in ctx.faults.faults]
        )

    async def settings(request: web.Request) -> web.Response:
        knobs = ctx.cloud.knobs
        if request.method == "POST":
            try:
                spec = KnobsSpec.model_validate(await request.json())
            except (ValueError, ValidationError) as exc:
                return _bad_request(exc)
            if spec.secret_propagation_seconds is not None:
                knobs.secret_propagation_seconds = spec.secret_propagation_seconds
            if spec.assignment_propagation_seconds is not None:
                knobs.assignment_propagation_seconds = spec.assignment_propagation_seconds
            if spec.principal_replication_seconds is not None:
                knobs.principal_replication_until = ctx.now() + timedelta(seconds=spec.principal_replication_seconds)
            if spec.role_assignment_limit is not None:
                knobs.role_assignment_limit = spec.role_assignment_limit
            if spec.rollout_seconds is not None:
                knobs.rollout_seconds = spec.rollout_seconds
        until = knobs.principal_replication_until
        return web.json_response(
            {
                "secretPropagationSeconds": knobs.secret_propagation_seconds,
                "assignmentPropagationSeconds": knobs.assignment_propagation_seconds,
                "principalReplicationUntil": until.isoformat() if until else None,
                "roleAssignmentLimit": knobs.role_assignment_limit,
                "rolloutSeconds": knobs.rollout_seconds,
            }
        )

    async def reset(request: web.Request) -> web.Response:
        ctx.faults.clear()
        ctx.log.clear()
        ctx.messages.clear()
        return web.json_response({"reset": True})

    async def messages(request: web.Request) -> web.Response:
        return web.json_response(ctx.messages)

    async def state(request: web.Request) -> web.Response:
        cloud = ctx.cloud
        body: dict[str, Any] = {
            "applications": [a.to_graph() for a in cloud.applications.values()],
            "roleDefinitions": [r.to_arm() for r in cloud.role_definitions.values() if r.role_type == "CustomRole"],
            "roleAssignments": [a.to_arm() for a in cloud.role_assignments.values()],
            "smtpUsernames": [u.to_arm() for u in cloud.smtp_usernames.values()],
        }
        return web.json_response(body)

    p = CONTROL_PREFIX
    return [
        web.get(f"{p}/requests", requests),
        web.get(f"{p}/faults", list_faults),
        web.post(f"{p}/faults", add_fault),
        web.get(f"{p}/settings", settings),
        web.post(f"{p}/settings", settings),
        web.post(f"{p}/reset", reset),
        web.get(f"{p}/messages", messages),
        web.get(f"{p}/state", state),
    ]
