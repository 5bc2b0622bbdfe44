"""Act: carry out a plan through the adapters, and record what was done as it is done.

Nothing here decides; each step does what `decide.py` (or, for the keys, `plan.plan_keys`) said. `Done`
is filled step by step so that a failure half-way still reports what stands (and what to clean up).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from acs_smtp_operator.azure import acs as acs_api
from acs_smtp_operator.azure import passwords, roles, verify
from acs_smtp_operator.decide import Issue, Keep, Plan, SecretConflict
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.kube import workloads
from acs_smtp_operator.kube_secret import Content, decode, same_secret
from acs_smtp_operator.model import Reason, RotationReason, Spec
from acs_smtp_operator.observed import Observed
from acs_smtp_operator.plan import Ledger, plan_keys
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.report import Done
from acs_smtp_operator.smtp import TemplateRenderError
from acs_smtp_operator.timestamps import stamp

__all__ = ["act", "issue"]


async def _role(ports: Ports, spec: Spec, plan: Plan, done: Done, emit: Emit) -> None:
    acs, write = spec.communication_service, plan.role.write
    role_id = plan.role.role_id
    if write is not None:
        client = ports.azure.authorization(acs.subscription_id)
        role_id = await roles.write_role(
            client, acs.subscription_scope, write.guid, write.name, write.actions, write.assignable_scopes
        )
        emit("Normal", "RoleDefinitionWritten", f"role {write.name!r} assignable at {write.scope}")
    done.role = (role_id, plan.role.owned)


async def _assignment(ports: Ports, spec: Spec, plan: Plan, done: Done, emit: Emit) -> None:
    acs, wanted = spec.communication_service, plan.assignment
    if wanted.existing_id is not None:
        done.assignment = (wanted.existing_id, True)
        return
    done.assignment = await roles.create_role_assignment(
        ports.azure.authorization(acs.subscription_id),
        acs.resource_id,
        wanted.guid,
        wanted.role_id,
        wanted.principal_id,
    )
    if done.assignment[1]:
        emit("Normal", "RoleAssigned", f"role assigned to service principal {wanted.principal_id} on {acs.name}")


async def _smtp_username(ports: Ports, spec: Spec, plan: Plan, emit: Emit) -> None:
    write, acs = plan.smtp_username, spec.communication_service
    if write is None:
        return
    client = ports.azure.communication(acs.subscription_id)
    await acs_api.write_smtp_username(client, acs, write.resource_name, write.username, write.app_id, write.tenant_id)
    emit("Normal", "SmtpUsernameWritten", f"smtpUsername {write.username!r} on {acs.name}")


async def _write(
    ports: Ports, content: Content, current: dict[str, Any] | None, password: str, key_id: str, end: datetime | None
) -> str | None:
    """Write the Secret when anything in it differs from what it should hold; the version written, if any."""
    try:
        body = content.body(password, key_id, end)
    except TemplateRenderError as exc:  # it rendered over a placeholder: the real value broke it
        raise Failure(
            Reason.INVALID_SPEC,
            f"spec.secret.template.data[{exc.key!r}] does not render with the client secret's value "
            "(the detail is withheld: it could carry the value)",
        ) from None
    if current is not None and same_secret(current, body):
        return None
    version = (current.get("metadata") or {}).get("resourceVersion") if current is not None else None
    return await ports.kube.write_secret(content.namespace, body, str(version) if version else None)


async def _verified(ports: Ports, spec: Spec, client_id: str, username: str, secret: str) -> str | None:
    """None when the new client secret works (as `rotation.verify` asks), else why not."""
    bound = timedelta(seconds=ports.settings.verify_timeout)
    if spec.rotation.verify == "Token":
        return await verify.verify_token(
            ports.settings, ports.tenant_id, client_id, secret, bound, hook=ports.metrics.azure_call
        )
    if spec.rotation.verify == "Smtp":
        return await verify.verify_smtp(ports.settings, username, secret, bound)
    return None


async def issue(
    ports: Ports,
    spec: Spec,
    observed: Observed,
    content: Content,
    marker: str,
    reason: RotationReason,
    now: datetime,
    done: Done,
    emit: Emit,
) -> None:
    """Add a client secret, prove it works, then (and only then) put it in the Secret; else take it back."""
    app, namespace, name = observed.application, content.namespace, content.owner["name"]
    new = await passwords.add_password(ports.azure.graph, app.object_id, marker, now + spec.rotation.lifetime)
    secret = new.value.get_secret_value()
    try:
        why = await _verified(ports, spec, app.client_id, content.username, secret)
    except Exception as exc:  # the check itself broke (network, TLS): the key is unproven, take it back
        why = f"the verification could not run ({type(exc).__name__})"
    if why is not None:
        await passwords.remove_password(ports.azure.graph, app.object_id, new.key_id)
        ports.metrics.rotation(namespace, name, reason, "verification_failed")
        bound = timedelta(seconds=ports.settings.verify_timeout)
        raise Failure(
            Reason.VERIFICATION_FAILED,
            f"the new client secret did not work within {bound}: {why}; it was removed and the Secret left as it was",
        )
    current = observed.secret.raw if observed.secret is not None else None
    try:
        done.secret_version = await _write(ports, content, current, secret, new.key_id, new.end)
    except Exception:
        await passwords.remove_password(ports.azure.graph, app.object_id, new.key_id)
        raise
    done.held, done.issued = (new.key_id, new.end), reason
    ports.metrics.rotation(namespace, name, reason, "success")
    emit("Normal", "SecretIssued", f"new client secret {new.key_id} in Secret {content.name} ({reason})")


async def _keep(ports: Ports, observed: Observed, content: Content, keep: Keep, done: Done) -> None:
    assert observed.secret is not None  # Keep is decided only for a Secret that holds a key
    current = observed.secret.raw
    done.secret_version = await _write(
        ports, content, current, decode(current)["password"], keep.key_id, keep.not_after
    )
    done.held = (keep.key_id, keep.not_after)


async def _keys(
    ports: Ports,
    spec: Spec,
    observed: Observed,
    namespace: str,
    before: Ledger,
    marker: str,
    now: datetime,
    done: Done,
    emit: Emit,
) -> None:
    """Old keys: restart the workloads, wait for the rollout, keep them through the grace period, then remove."""
    assert done.held is not None
    settings = ports.settings
    keys = plan_keys(
        before,
        done.held[0],
        observed.application,
        marker,
        now,
        spec.rotation.grace,
        bool(spec.restart_targets),
        observed.rollout_done,
        timedelta(seconds=settings.rollout_timeout),
        timedelta(seconds=settings.orphan_settle),
    )
    if keys.restart:
        for target in spec.restart_targets:
            if await workloads.restart(ports.kube, target.kind, namespace, target.name, stamp(now)):
                emit("Normal", "RolloutRestarted", f"{target.kind} {target.name} restarted to pick up the new secret")
            else:
                emit("Warning", "RestartTargetMissing", f"{target.kind} {target.name} does not exist")
    object_id = observed.application.object_id
    for key_id in keys.due:
        await passwords.remove_password(ports.azure.graph, object_id, key_id)
        emit("Normal", "KeyRetired", f"old client secret {key_id} removed after its grace period")
    for key_id in keys.loose:
        await passwords.remove_password(ports.azure.graph, object_id, key_id)
        emit(
            "Normal",
            "OrphanKeyRemoved",
            f"client secret {key_id} of ours was referenced by nothing (an interrupted rotation) and was removed",
        )
    done.keys = keys


async def act(
    ports: Ports,
    spec: Spec,
    plan: Plan,
    observed: Observed,
    content: Content,
    before: Ledger,
    marker: str,
    now: datetime,
    done: Done,
    emit: Emit,
) -> None:
    """Role, assignment, smtpUsername, the Secret (keep or issue), then the old keys; a conflict stops early."""
    done.acting = "role"
    await _role(ports, spec, plan, done, emit)
    done.acting = "assignment"
    await _assignment(ports, spec, plan, done, emit)
    done.acting = "smtpUsername"
    await _smtp_username(ports, spec, plan, emit)
    if isinstance(plan.secret, SecretConflict):
        return
    done.acting = "secret"
    if isinstance(plan.secret, Issue):
        await issue(ports, spec, observed, content, marker, plan.secret.reason, now, done, emit)
    else:
        await _keep(ports, observed, content, plan.secret, done)
    done.acting = "keys"
    await _keys(ports, spec, observed, content.namespace, before, marker, now, done, emit)
