"""The sandbox's control API: request log, fault injection, timing knobs, federated credentials, delivered mail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from acs_smtp_operator.sandbox.azure.context import Context
from acs_smtp_operator.sandbox.azure.faults import FaultSpec
from acs_smtp_operator.sandbox.azure.state import Application, ManagedIdentity
from acs_smtp_operator.sandbox.azure.throttle import ArmLimits, GraphLimits
from acs_smtp_operator.sandbox.seed import (
    OPERATOR_ARM_ACTIONS,
    OPERATOR_ARM_GRANTS,
    OPERATOR_GRAPH_PERMISSIONS,
    TOKEN_EXCHANGE_AUDIENCE,
)

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
    graph_lag_seconds: float | None = Field(default=None, alias="graphLagSeconds", ge=0)
    smtp_role_actions: Literal["Current", "Legacy"] | None = Field(default=None, alias="smtpRoleActions")


class FederatedCredentialSpec(BaseModel):
    """What `POST {control}/federated-credentials` accepts: a federated credential on an application.

    `application`: its appId or display name. `issuerCa`: a PEM certificate the issuer's https endpoints are
    trusted with (Entra trusts the public roots; a local issuer needs its CA named).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    application: str
    name: str
    issuer: str
    subject: str
    audiences: list[str] = Field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])
    description: str = ""
    issuer_ca: str | None = Field(default=None, alias="issuerCa")


class ThrottlingSpec(BaseModel):
    """What `POST {control}/throttling` accepts: each API's limits on (true: the documented sizes), or off."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    arm: bool = False
    graph: bool = False
    arm_reads: tuple[float, float] | None = Field(default=None, alias="armReads", description="(bucket, refill/s)")
    arm_writes: tuple[float, float] | None = Field(default=None, alias="armWrites")
    arm_deletes: tuple[float, float] | None = Field(default=None, alias="armDeletes")
    graph_units: float | None = Field(default=None, alias="graphUnits", gt=0, description="per app and tenant")

    @field_validator("arm_reads", "arm_writes", "arm_deletes")
    @classmethod
    def _positive(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and (value[0] < 1 or value[1] <= 0):
            raise ValueError("a bucket holds at least 1 and refills at more than 0 per second")
        return value

    def limits(self) -> tuple[ArmLimits | None, GraphLimits | None]:
        arm_default, graph_default = ArmLimits(), GraphLimits()
        arm = ArmLimits(
            reads=self.arm_reads or arm_default.reads,
            writes=self.arm_writes or arm_default.writes,
            deletes=self.arm_deletes or arm_default.deletes,
        )
        graph = GraphLimits(units=self.graph_units or graph_default.units)
        return (arm if self.arm else None), (graph if self.graph else None)


class OperatorSpec(BaseModel):
    """What `POST {control}/operator` accepts: break (or mend) the operator's own identity."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    secret_expired: bool | None = Field(default=None, alias="secretExpired")
    revoke: list[str] = Field(
        default_factory=list, description="ARM actions or Graph permissions taken from its documented grants"
    )
    restore: bool = Field(default=False, description="give back every documented ARM action and Graph permission")


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
            if spec.graph_lag_seconds is not None:
                knobs.graph_lag_seconds = spec.graph_lag_seconds
            if spec.smtp_role_actions is not None:
                knobs.smtp_role_actions = spec.smtp_role_actions
        until = knobs.principal_replication_until
        return web.json_response(
            {
                "secretPropagationSeconds": knobs.secret_propagation_seconds,
                "assignmentPropagationSeconds": knobs.assignment_propagation_seconds,
                "principalReplicationUntil": until.isoformat() if until else None,
                "roleAssignmentLimit": knobs.role_assignment_limit,
                "rolloutSeconds": knobs.rollout_seconds,
                "graphLagSeconds": knobs.graph_lag_seconds,
                "smtpRoleActions": knobs.smtp_role_actions,
            }
        )

    async def throttling(request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                spec = ThrottlingSpec.model_validate(await request.json())
            except (ValueError, ValidationError) as exc:
                return _bad_request(exc)
            ctx.throttle.configure(*spec.limits())
        throttle = ctx.throttle
        return web.json_response(
            {
                "arm": None if throttle.arm is None else {k: list(v) for k, v in vars(throttle.arm).items()},
                "graph": None if throttle.graph is None else vars(throttle.graph),
                "throttled": throttle.throttled,
            }
        )

    async def operator(request: web.Request) -> web.Response:
        cloud = ctx.cloud
        try:
            spec = OperatorSpec.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return _bad_request(exc)
        app = cloud.app_by_app_id(cloud.operator_app_id)
        assert app is not None
        if spec.secret_expired is not None:
            for password in app.live:
                password.end = (
                    ctx.now() - timedelta(seconds=1) if spec.secret_expired else ctx.now() + timedelta(days=730)
                )
        unknown = [a for a in spec.revoke if a not in OPERATOR_ARM_ACTIONS + OPERATOR_GRAPH_PERMISSIONS]
        if unknown:
            return _bad_request(ValueError(f"not a documented operator permission: {unknown}"))
        principal = cloud.sp_by_app_id(cloud.operator_app_id)
        assert principal is not None
        if spec.restore:  # application permissions reach the operator in its next token's roles claim
            principal.graph_permissions.update(OPERATOR_GRAPH_PERMISSIONS)
        principal.graph_permissions.difference_update(spec.revoke)
        for kind, actions in OPERATOR_ARM_GRANTS.items():
            role = cloud.operator_role(kind)
            if spec.restore:
                role.actions = list(actions)
            role.actions = [a for a in role.actions if a not in spec.revoke]
        return web.json_response(
            {"actions": sorted(a for kind in OPERATOR_ARM_GRANTS for a in cloud.operator_role(kind).actions)}
        )

    def _application(key: str) -> Application | ManagedIdentity | None:
        """An application or a user-assigned managed identity, by client id or name."""
        cloud = ctx.cloud
        return cloud.signs_in_as(key) or next((h for h in cloud.federation_holders if h.display_name == key), None)

    async def federated_credentials(request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.json_response(
                [{"application": h.app_id, **f.to_graph()} for h in ctx.cloud.federation_holders for f in h.federated]
            )
        try:
            spec = FederatedCredentialSpec.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return _bad_request(exc)
        app = _application(spec.application)
        if app is None:
            return web.json_response({"error": f"no application {spec.application!r}"}, status=404)
        try:
            if spec.issuer_ca:
                ctx.federation.check_roots(spec.issuer_ca)
            created = ctx.cloud.add_federated_credential(
                app, spec.name, spec.issuer, spec.subject, tuple(spec.audiences), spec.description
            )
        except ValueError as exc:
            return _bad_request(exc)
        if spec.issuer_ca:
            ctx.federation.trust(spec.issuer, spec.issuer_ca)
        return web.json_response({"application": app.app_id, **created.to_graph()}, status=201)

    async def delete_federated_credential(request: web.Request) -> web.Response:
        app = _application(request.match_info["application"])
        name = request.match_info["name"]
        if app is None or not any(f.name == name for f in app.federated):
            return web.json_response({"error": "no such federated credential"}, status=404)
        app.federated = [f for f in app.federated if f.name != name]
        return web.Response(status=204)

    async def reset(request: web.Request) -> web.Response:
        ctx.faults.clear()
        ctx.log.clear()
        ctx.messages.clear()
        ctx.throttle.configure(None, None)
        return web.json_response({"reset": True})

    async def messages(request: web.Request) -> web.Response:
        return web.json_response(ctx.messages)

    async def state(request: web.Request) -> web.Response:
        cloud = ctx.cloud
        body: dict[str, Any] = {
            "applications": [a.to_graph() for a in cloud.applications.values()],
            "roleDefinitions": [r.to_arm() for r in cloud.role_definitions.values() if r.role_type == "CustomRole"],
            "domains": [d.to_arm() for d in cloud.domains.values()],
            "roleAssignments": [a.to_arm() for a in cloud.role_assignments.values()],
            "smtpUsernames": [u.to_arm() for u in cloud.smtp_usernames.values()],
            "federatedIdentityCredentials": [
                {"application": h.app_id, **f.to_graph()} for h in cloud.federation_holders for f in h.federated
            ],
            "managedIdentities": [m.to_arm() for m in cloud.managed_identities.values()],
        }
        return web.json_response(body)

    async def audit(request: web.Request) -> web.Response:
        """For the tests' leak audit: every secret value handed out, and every ARM and Graph write's body."""
        return web.json_response({"issued": list(ctx.cloud.issued_secrets), "bodies": list(ctx.bodies)})

    p = CONTROL_PREFIX
    return [
        web.get(f"{p}/audit", audit),
        web.get(f"{p}/requests", requests),
        web.get(f"{p}/faults", list_faults),
        web.post(f"{p}/faults", add_fault),
        web.get(f"{p}/settings", settings),
        web.post(f"{p}/settings", settings),
        web.post(f"{p}/reset", reset),
        web.get(f"{p}/messages", messages),
        web.get(f"{p}/state", state),
        web.post(f"{p}/operator", operator),
        web.get(f"{p}/federated-credentials", federated_credentials),
        web.post(f"{p}/federated-credentials", federated_credentials),
        web.delete(f"{p}/federated-credentials/{{application}}/{{name}}", delete_federated_credential),
        web.get(f"{p}/throttling", throttling),
        web.post(f"{p}/throttling", throttling),
    ]
