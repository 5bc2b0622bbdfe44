"""Act: carry out a plan through the adapters, and record what was done as it is done.

Nothing here decides; each step does what `decide.py` (or, for the keys, `ledger.plan_keys`) said. `Done`
is filled step by step so that a failure half-way still reports what stands (and what to clean up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from acs_smtp_operator.azure import acs as acs_api
from acs_smtp_operator.azure import passwords, roles, verify
from acs_smtp_operator.azure.shared import note_assignment
from acs_smtp_operator.decide import Held, Issue, Keep, Plan, SecretConflict
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import issued_marker
from acs_smtp_operator.kube import workloads
from acs_smtp_operator.kube_secret import Content, decode, same_secret
from acs_smtp_operator.ledger import Ledger, due_retirements, plan_keys, whole_second_after
from acs_smtp_operator.model import AcsRef, Reason, RotationReason, Spec
from acs_smtp_operator.observed import Application, AssignmentView, Observed
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.removals import remove_keys, retire_application, retire_replaced, retire_smtp_username
from acs_smtp_operator.report import Done
from acs_smtp_operator.retention import as_own, predecessor_keys
from acs_smtp_operator.smtp import envelope_sender
from acs_smtp_operator.status import ReplacedAssignment, Retired
from acs_smtp_operator.template import TemplateError
from acs_smtp_operator.timestamps import stamp

__all__ = ["Job", "act", "issue"]


@dataclass(frozen=True, kw_only=True)
class Job:
    """What every step of one pass acts with: the ports, the spec, what was observed, the clock, the record."""

    ports: Ports
    spec: Spec
    observed: Observed
    content: Content  # what the Secret must hold, but for the password
    marker: str  # the display name of this credential's client secrets
    entry: str  # the name of this credential's smtpUsernames entry (derived from its uid; `identity`)
    now: datetime
    done: Done
    emit: Emit
    replaced: tuple[ReplacedAssignment, ...] = ()  # role assignments of ours the policy's role replaced
    shared: Callable[[str], bool] = lambda _: False  # does another credential record this assignment as its own?
    retired: tuple[Retired, ...] = ()  # what a retarget left behind (status.retired)
    covers: Callable[[str], bool] = lambda _: False  # may this namespace use that ACS resource (by the policies)?
    apps: frozenset[str] = frozenset()  # the applications (lower case) this credential used: its entries hold them
    legacy_entry: str | None = None  # its entry's name before 0.2.0: one a retarget left may be named so
    revoked: frozenset[str] = frozenset()  # old keys an emergency revocation removes once rolled out (status)
    working: bool = False  # status records a key: workloads may hold a password that works today


async def _role(job: Job, plan: Plan) -> None:
    acs, write = job.spec.communication_service, plan.role.write
    role_id = plan.role.role_id  # as this resource's subscription spells it (a write may answer through another's)
    if write is not None:
        client = job.ports.azure.authorization(acs.subscription_id)
        await roles.write_role(client, write.guid, write.name, write.actions, write.assignable_scopes)
        job.ports.shared.forget(kind="role")  # every credential's view of the role reads it again
        job.emit("Normal", "RoleDefinitionWritten", f"role {write.name!r} assignable at {write.scope}")
    job.done.role = (role_id, plan.role.owned)


async def _assignment(job: Job, plan: Plan) -> None:
    acs, wanted = job.spec.communication_service, plan.assignment
    if wanted.existing_id is not None:
        job.done.assignment = (wanted.existing_id, True)
        return
    job.done.assignment = made = await roles.create_role_assignment(
        job.ports.azure.authorization(acs.subscription_id),
        acs.resource_id,
        wanted.guid,
        wanted.role_id,
        wanted.principal_id,
    )
    if made[1]:
        note_assignment(
            job.ports.shared, acs.resource_id, wanted.guid, AssignmentView(id=made[0], principal_id=wanted.principal_id)
        )
        job.emit("Normal", "RoleAssigned", f"role assigned to service principal {wanted.principal_id} on {acs.name}")


async def _retire_assignments(job: Job) -> None:
    """Remove the role assignments a new role replaced, once settled (`removals.retire_replaced`)."""
    current = job.done.assignment[0] if job.done.assignment is not None else None
    job.done.removed_assignments += await retire_replaced(
        job.ports, job.replaced, current, job.now, job.shared, job.covers, job.emit
    )


async def _smtp_username(job: Job, plan: Plan) -> None:
    write, acs = plan.smtp_username, job.spec.communication_service
    if write is None:
        return
    client = job.ports.azure.communication(acs.subscription_id)
    await acs_api.write_smtp_username(client, acs, write.resource_name, write.username, write.app_id, write.tenant_id)
    job.emit("Normal", "SmtpUsernameWritten", f"smtpUsername {write.username!r} on {acs.name}")


async def _write(job: Job, current: dict[str, Any] | None, password: str, key_id: str, end: datetime | None) -> None:
    """Write the Secret when anything in it differs from what it should hold; note the version written."""
    try:
        body = job.content.body(password, key_id, end)
    except TemplateError as exc:  # its message names the key and the template's own text, never a value
        raise Failure(Reason.INVALID_SPEC, f"spec.{exc}") from None
    if current is not None and same_secret(current, body):
        return
    version = (current.get("metadata") or {}).get("resourceVersion") if current is not None else None
    job.done.secret_version = await job.ports.kube.write_secret(
        job.content.namespace, body, str(version) if version else None
    )
    if job.observed.secret is not None and job.observed.secret.adopted:
        job.emit("Normal", "SecretAdopted", f"Secret {job.content.name}, left by a deleted credential, adopted")


async def _verified(job: Job, secret: str) -> str | None:
    """None when the new client secret works (as `rotation.verify` asks), else why not."""
    ports, client_id = job.ports, job.observed.application.client_id
    bound = timedelta(seconds=ports.settings.verify_timeout)
    try:
        if job.spec.rotation.verify == "Token":
            return await verify.verify_token(
                ports.settings, ports.tenant_id, client_id, secret, bound, hook=ports.metrics.azure_call
            )
        if job.spec.rotation.verify == "Smtp":
            sender = envelope_sender(job.observed.domains)
            return await verify.verify_smtp(ports.settings, job.content.username, secret, sender, bound)
    except Exception as exc:  # the check itself broke (network, TLS): the key is unproven
        return f"the verification could not run ({type(exc).__name__})"
    return None


async def _take_back(job: Job, key_id: str) -> str:
    """Remove a key just added (Graph may not list it yet: its "not found" is retried a while); what became of it.

    A key that cannot be removed now carries this credential's marker and no reference: the orphan cleanup
    removes it once settled, so it is told, not raised over the failure that made it unwanted.
    """
    ports = job.ports
    try:
        await passwords.remove_password(
            ports.azure.graph, job.observed.application.object_id, key_id, fresh_for=ports.settings.graph_lag
        )
    except Failure as exc:
        return f"it could not be removed yet ({exc.message}) and goes as an orphan once settled"
    # Gone again: it does not count against the least interval between client secrets (a first issue that
    # failed its verification while Azure propagates is retried at the backoff's pace, as before).
    job.done.added = None
    return "it was removed"


def _refused(failure: Failure) -> bool:
    """The write certainly did not happen: the API server said no, or nothing was sent.

    Not a 409: the client resends a PUT whose answer was lost, and the resend of an applied write conflicts.
    """
    if failure.reason == Reason.INVALID_SPEC:
        return True
    return failure.status is not None and 400 <= failure.status < 500 and failure.status != 409


async def issue(job: Job, reason: RotationReason) -> None:
    """Add a client secret, prove it works, then (and only then) put it in the Secret; else take it back."""
    ports, app, content = job.ports, job.observed.application, job.content
    namespace, name = content.namespace, str(content.owner["name"])
    try:
        new = await passwords.add_password(
            ports.azure.graph,
            app.object_id,
            issued_marker(job.marker, ports.cluster),
            job.now + job.spec.rotation.lifetime,
        )
    except Failure:
        ports.metrics.rotation(namespace, name, reason, "failed")
        raise
    job.done.added = (new.key_id, whole_second_after(max(job.now, datetime.now(UTC))))
    secret = new.value.get_secret_value()
    why = await _verified(job, secret)
    if why is not None:
        fate = await _take_back(job, new.key_id)
        ports.metrics.rotation(namespace, name, reason, "verification_failed")
        bound = timedelta(seconds=ports.settings.verify_timeout)
        raise Failure(
            Reason.VERIFICATION_FAILED,
            f"the new client secret did not work within {bound}: {why}; {fate}, and the Secret was left as it was",
        )
    current = job.observed.secret.raw if job.observed.secret is not None else None
    try:
        await _write(job, current, secret, new.key_id, new.end)
    except Failure as exc:
        ports.metrics.rotation(namespace, name, reason, "failed")
        if _refused(exc):  # certainly not written: take the key back now
            await _take_back(job, new.key_id)
        # Otherwise (a timeout, a 5xx) the Secret may hold the new key: the next pass finds out, and the
        # marked key is either adopted from the Secret or removed as an orphan once settled.
        raise
    job.done.held, job.done.issued = (new.key_id, new.end), reason
    ports.metrics.rotation(namespace, name, reason, "success")
    job.emit("Normal", "SecretIssued", f"new client secret {new.key_id} in Secret {content.name} ({reason})")


async def _keep(job: Job, keep: Keep) -> None:
    """The key stands: in the Secret, or in the one written before spec.secret.name changed (it moves along)."""
    current, source = job.observed.secret, job.observed.secret or job.observed.moved_from
    assert source is not None  # Keep is decided only for a Secret that holds a key
    raw = current.raw if current is not None else None
    await _write(job, raw, decode(source.raw)["password"], keep.key_id, keep.not_after)
    job.done.held = (keep.key_id, keep.not_after)


async def _restart(job: Job) -> None:
    """Restart every workload the targets name or select, each once; none if they come to more than the bound
    (`resolve` raises before any patch: the ledger stays as it was, so the old key stays until they restart)."""
    ports, namespace, bound = job.ports, job.content.namespace, job.ports.settings.max_restart_targets
    resolved = await workloads.resolve(ports.kube, namespace, job.spec.restart_targets, bound)
    for target in resolved.unmatched:
        job.emit("Warning", "RestartTargetMissing", f"no {target.describe()} in namespace {namespace}")
    for kind, name in resolved.workloads:
        if await ports.metrics.restarted(kind, workloads.restart(ports.kube, kind, namespace, name, stamp(job.now))):
            job.emit("Normal", "RolloutRestarted", f"{kind} {name} restarted to pick up the new secret")
        else:
            job.emit("Warning", "RestartTargetMissing", f"{kind} {name} does not exist")


def _adopted(job: Job, before: Ledger) -> tuple[Ledger, Application]:
    """The ledger and the application's keys as the key plan sees them once a Secret a deleted credential of this
    name left (Orphan) was adopted: its key is this credential's current one (replaced, it is retired after the
    grace period, not dropped at once), and such a key it references is retired like its own (`retention`)."""
    assert job.done.held is not None
    secret = job.observed.secret
    if secret is not None and secret.adopted and secret.state.key_id and before.current is None:
        before = replace(before, current=secret.state.key_id)
    owner = job.content.owner
    inherited = predecessor_keys(
        job.observed.application,
        job.content.namespace,
        str(owner["name"]),
        str(owner["uid"]),
        job.ports.cluster,
        before.referenced() | {job.done.held[0]},
    )
    return before, as_own(job.observed.application, inherited, job.marker)


async def _keys(job: Job, before: Ledger) -> None:
    """Old keys: restart the workloads, wait for the rollout, keep them through the grace period, then remove."""
    assert job.done.held is not None
    ports, spec = job.ports, job.spec
    before, application = _adopted(job, before)
    revoked = set(job.revoked)
    if job.done.issued == RotationReason.REVOKED:  # every key this credential answers for but the new one
        revoked |= before.referenced() - {job.done.held[0]}
    # In status even if a step below fails: the next pass still removes them with no grace period.
    job.done.revoked = tuple(sorted(revoked))
    keys = plan_keys(
        before,
        job.done.held[0],
        application,
        job.marker,
        job.now,
        spec.rotation.grace,
        bool(spec.restart_targets),
        job.observed.rollout_done,
        timedelta(seconds=ports.settings.rollout_timeout),
        timedelta(seconds=ports.settings.orphan_settle),
        frozenset(revoked),
    )
    if keys.restart:
        await _restart(job)
    object_id = job.observed.application.object_id
    for key_id in keys.due:
        await remove_keys(ports, object_id, (key_id,))
        if key_id in revoked:
            job.emit("Normal", "KeyRevoked", f"old client secret {key_id} removed: revoked, the rollout is done")
        else:
            job.emit("Normal", "KeyRetired", f"old client secret {key_id} removed after its grace period")
    for key_id in keys.loose:
        await remove_keys(ports, object_id, (key_id,))
        job.emit(
            "Normal",
            "OrphanKeyRemoved",
            f"client secret {key_id} of ours was referenced by nothing (an interrupted rotation) and was removed",
        )
    job.done.keys = keys
    job.done.revoked = tuple(sorted(revoked & keys.ledger.referenced()))


async def act(job: Job, plan: Plan, before: Ledger) -> None:
    """Role, assignment, smtpUsername, the Secret (keep or issue), then the old keys; a conflict stops early.

    A Secret that is not this credential's stops a credential that never had a key before any Azure write
    (nothing it wrote could reach a workload). One that had a key still gets its role, assignment and entry
    repaired and the policy's role applied first: pods may hold its password, and a tenant must not keep an old
    role by putting a Secret of their own in the way."""
    done = job.done
    if isinstance(plan.secret, SecretConflict) and not job.working:
        return
    done.acting = "role"
    await _role(job, plan)
    done.acting = "assignment"
    await _assignment(job, plan)
    await _retire_assignments(job)
    done.acting = "smtpUsername"
    await _smtp_username(job, plan)
    if isinstance(plan.secret, SecretConflict):
        return
    if isinstance(plan.secret, Held):  # role, assignment and entry are repaired; the Secret waits
        raise plan.secret.failure(job.now)
    done.acting = "secret"
    if isinstance(plan.secret, Issue):
        await issue(job, plan.secret.reason)
    else:
        await _keep(job, plan.secret)
    done.acting = "keys"
    await _keys(job, before)
    done.acting = "retired"
    await _retire(job)


async def _retire(job: Job) -> None:
    """Once the Secret holds the new target's key and the grace period is over, remove what a retarget left
    behind: this credential's client secrets on the application it left (by their marker), its smtpUsernames
    entry on a resource it left or no longer needs (by its derived name). A failure is told and retried later:
    it must not stop the Secret's renewal."""
    spec, done = job.spec, job.done
    settling = done.issued is not None or (done.keys is not None and done.keys.ledger.pending is not None)
    kept = spec.username.format == "SmtpUsername"
    client_id, resource_id = spec.entra_application.client_id, spec.communication_service.resource_id
    for old, remove in due_retirements(job.retired, job.now, client_id, resource_id, kept, settling):
        try:
            if remove and old.client_id:
                await retire_application(job.ports, old.client_id, job.marker, job.emit)
            elif remove and old.smtp_username_at:
                acs = AcsRef(resourceId=old.smtp_username_at)
                named = old.smtp_username_resource  # a name status gives counts only if it is one of its own
                entry = named if named is not None and named in (job.entry, job.legacy_entry) else job.entry
                await retire_smtp_username(job.ports, acs, entry, job.apps, job.emit)
        except Failure as exc:
            job.emit("Warning", "RetiredTargetNotCleaned", f"{old.key}: {exc.message}; tried again later")
            continue
        done.retired_done += (old.key,)
