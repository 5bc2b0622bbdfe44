"""One reconciliation of an AcsSmtpCredential: validate → permit → observe → decide → act → status.

Level-triggered and idempotent: everything is recomputed from Azure and Kubernetes on each pass; a pass
that finds nothing to change writes nothing, not even status.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from acs_smtp_operator.act import Job, act
from acs_smtp_operator.credential import Credential
from acs_smtp_operator.decide import Target, decide
from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.identity import key_marker, legacy_smtp_username_resource, smtp_username_entry
from acs_smtp_operator.ids import same_id
from acs_smtp_operator.kube_secret import Content, owner_reference
from acs_smtp_operator.ledger import ledger_of
from acs_smtp_operator.model import ConditionType, Reason, Spec
from acs_smtp_operator.observe import observe
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.report import Done, report
from acs_smtp_operator.smtp import sender_address
from acs_smtp_operator.status import LEDGER, Status
from acs_smtp_operator.tenancy import Grant, Tenancy, permit, permits_target
from acs_smtp_operator.timestamps import stamp
from acs_smtp_operator.validate import validate, validate_names
from acs_smtp_operator.vocabulary import REVOKE, ROTATE

__all__ = ["Outcome", "reconcile"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: Status
    failure: Failure | None = None
    wrote_status: bool = False
    secret_version: str | None = None  # the resourceVersion of the Secret this pass wrote
    permission: Grant | str | None = (
        None  # what the policies said: permitted by, refused because, or (bad spec) nothing
    )


async def _carry_out(
    ports: Ports,
    cr: Credential,
    spec: Spec,
    grant: Grant,
    previous: Status,
    now: datetime,
    done: Done,
    emit: Emit,
    shared: Callable[[str], bool],
    tenancy: Tenancy,
) -> None:
    ledger = ledger_of(previous)
    pending = ledger.pending is not None
    same_target = (previous.client_id or "").lower() == spec.entra_application.client_id.lower() and same_id(
        previous.communication_service_id, spec.communication_service.resource_id
    )
    recorded = previous.role_assignment_id if same_target else None
    entry = smtp_username_entry(cr.namespace, cr.name, cr.uid, previous.smtp_username_resource)
    done.observed = observed = await observe(
        ports, cr.namespace, cr.name, cr.uid, spec, grant.role, pending, done, recorded, entry, previous.secret_name
    )
    rotate, revoke = cr.annotations.get(ROTATE), cr.annotations.get(REVOKE)
    settings = ports.settings
    # The applications it used: an smtpUsernames entry holding one of them is its own to overwrite or delete.
    apps = (spec.entra_application.client_id, previous.client_id, *(r.client_id for r in previous.retired))
    target = Target(
        namespace=cr.namespace,
        name=cr.name,
        uid=cr.uid,
        tenant_id=ports.tenant_id,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        role=grant.role,
        rotate_requested=rotate,
        rotate_handled=previous.rotate_request_handled,
        last_rotation=previous.last_rotation_time,
        min_rotation_interval=max(grant.min_rotation_interval, timedelta(seconds=settings.min_manual_interval)),
        issued_key=previous.issued_key_id,
        issued_at=previous.issued_at,
        graph_lag=timedelta(seconds=settings.graph_lag),
        smtp_entry=entry,
        apps=frozenset(a.lower() for a in apps if a),
        retarget=previous.client_id is not None and not same_target,
        revoke_requested=revoke,
        revoke_handled=previous.revoke_request_handled,
        revoke_refused=previous.revoke_request_refused.request if previous.revoke_request_refused else None,
        revocations=previous.revocations,
        max_revocations=grant.max_revocations_per_day,
        policy=grant.policy,
    )
    done.plan = plan = decide(spec, target, observed, now)
    if plan.revocation_refused is not None:
        emit("Warning", "RevocationRefused", f"emergency revocation refused: {plan.revocation_refused}")
    if plan.rotation_waits is not None:
        message = (
            "rotation request waits for the least time between rotations (the policy's minRotationInterval, "
            f"at least ACSSMTP_MIN_MANUAL_INTERVAL), until {stamp(plan.rotation_waits)}"
        )
        emit("Normal", "RotationDeferred", message)
    # Recorded before any write, so that deletion cleans up after a pass cut short too.
    done.acted_on = (spec.entra_application.client_id, spec.communication_service.resource_id)
    if plan.smtp_username is not None or observed.smtp_username is not None:
        done.smtp_username = entry
    content = Content(
        namespace=cr.namespace,
        name=plan.secret_name,
        owner=owner_reference(cr.name, cr.uid),
        template=spec.secret.template,
        client_id=spec.entra_application.client_id,
        resource_id=spec.communication_service.resource_id,
        username=plan.username,
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=sender_address(observed.domains),
    )
    marker = key_marker(cr.namespace, cr.name, cr.uid)
    job = Job(
        ports=ports,
        spec=spec,
        observed=observed,
        content=content,
        marker=marker,
        entry=entry,
        now=now,
        done=done,
        emit=emit,
        replaced=previous.replaced_role_assignments,
        shared=shared,
        retired=previous.retired,
        covers=lambda resource_id: permits_target(tenancy, cr.namespace, spec.entra_application.client_id, resource_id),
        apps=frozenset(a.lower() for a in apps if a),
        legacy_entry=legacy_smtp_username_resource(cr.namespace, cr.name),
        revoked=frozenset(previous.revoked_keys),
        working=previous.current_key_id is not None,
    )
    await act(job, plan, ledger)


def _unexpected(exc: Exception, cr: Credential) -> Failure:
    """An exception that is not a `Failure`: its type and where it was raised go to the log (not its text,
    which could quote anything it was handed), a plain message to status."""
    where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    log.error("pass over %s/%s failed: %s raised at\n%s", cr.namespace, cr.name, type(exc).__name__, where)
    return Failure(
        Reason.OPERATOR_ERROR,
        f"the pass failed unexpectedly ({type(exc).__name__}); the operator's log has where; retried with backoff",
    )


def _standing(previous: Status, warning: tuple[str, str]) -> bool:
    """Is this Warning what status already says (the same failure, again)? Then it is not posted again."""
    return any(
        c is not None and c.status == "False" and (c.reason, c.message) == warning
        for c in (previous.condition(ConditionType.SYNCED), previous.condition(ConditionType.READY))
    )


async def reconcile(
    ports: Ports,
    cr: Credential,
    now: datetime,
    emit: Emit,
    tenancy: Tenancy,
    shared: Callable[[str], bool] = lambda _: False,
) -> Outcome:
    """One pass. `tenancy`: the policies and namespace labels that decide, before any Azure call, if it may act;
    `shared`: does another credential record this role assignment as its own (then it is never removed)?"""
    previous, unreadable = Status.parse(cr.status)
    if set(unreadable) & set(LEDGER):  # nothing is written or removed: its keys could be taken for orphans
        message = (
            f"status fields {list(unreadable)} do not parse; fix or remove them (kubectl edit --subresource=status)"
        )
        emit("Warning", Reason.STATUS_UNREADABLE, message)
        return Outcome(status=previous, failure=Failure(Reason.STATUS_UNREADABLE, message))
    done = Done()
    failure: Failure | None = None
    spec: Spec | None = None
    said: Grant | str | None = None
    try:
        spec = validate(cr.spec, ports.tenant_id, ports.settings.smtp_host, ports.settings.smtp_port)
        validate_names(spec, cr.name)
        try:
            said = grant = permit(spec, cr.namespace, tenancy)
        except Failure as refused:
            said = refused.message
            raise
        done.policy = grant.policy
        await _carry_out(ports, cr, spec, grant, previous, now, done, emit, shared, tenancy)
    except Failure as exc:
        if exc.reason == Reason.OBJECT_CHANGED:
            raise  # someone wrote first: a fresh pass in a second, nothing to report
        failure = exc
    except Exception as exc:  # a bug of ours: told in status like any failure, backed off, never a silent loop
        failure = _unexpected(exc, cr)
    if failure is not None:  # never decided twice on a shared read: the next pass reads what it used afresh
        ports.shared.expire(done.shared_keys)
    acs_name = spec.communication_service.name if spec is not None else ""
    renew = spec.rotation.renew if spec is not None else None
    settle = timedelta(seconds=ports.settings.orphan_settle)
    grace = spec.rotation.grace if spec is not None else timedelta(0)
    rotate, revoke = cr.annotations.get(ROTATE), cr.annotations.get(REVOKE)
    result = report(previous, cr.generation, now, acs_name, done, failure, renew, rotate, settle, grace, revoke)
    patch = result.status.to_patch(cr.status)
    # Bad input and a refusal by the policies are told once, when they first land in status: every later pass
    # would say the same until the spec or a policy changes.
    settled = failure is not None and isinstance(failure.retry, UntilSpecChanges)
    if result.warning is not None and (not settled or patch is not None) and not _standing(previous, result.warning):
        emit("Warning", *result.warning)
    try:
        if patch is not None:
            await ports.kube.patch_status(cr.namespace, cr.name, patch)
    except Failure as unwritten:  # what stands in status is what Kubernetes holds: nothing moved
        return Outcome(
            status=previous, failure=failure or unwritten, secret_version=done.secret_version, permission=said
        )
    ports.metrics.credential(cr.namespace, cr.name, result.status)
    return Outcome(
        status=result.status,
        failure=failure,
        wrote_status=patch is not None,
        secret_version=done.secret_version,
        permission=said,
    )
