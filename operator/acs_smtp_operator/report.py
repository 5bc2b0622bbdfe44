"""Pure reporting: the status a pass leaves, from what it saw, decided and did."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acs_smtp_operator.conditions import PassResult, judge, set_condition
from acs_smtp_operator.decide import Plan, SecretConflict
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.ids import canonical
from acs_smtp_operator.ledger import KeyPlan, standing_after_failure, with_ledger
from acs_smtp_operator.model import ConditionType, Reason, RotationReason, Standing, is_acs_resource_id, is_guid
from acs_smtp_operator.observed import Observed, SenderDomain
from acs_smtp_operator.rotation import recent_revocations
from acs_smtp_operator.status import DeferredRequest, RefusedRequest, ReplacedAssignment, Retired, Status
from acs_smtp_operator.timestamps import stamp

__all__ = ["Done", "Report", "report"]

_ROLE_FAILURES = (Reason.ROLE_NAME_CONFLICT, Reason.ROLE_NOT_FOUND)


def _role_failed(failure: Failure | None, done: Done) -> bool:
    """The role is what failed: a conflict, a role not found, or Azure refusing the role or assignment write."""
    if failure is None:
        return False
    return failure.reason in _ROLE_FAILURES or (
        failure.reason == Reason.FORBIDDEN and done.acting in ("role", "assignment")
    )


@dataclass(kw_only=True)
class Done:
    """How far a pass got, filled step by step: what it observed, decided and carried out."""

    policy: str | None = None  # the AcsSmtpPolicy that permitted the pass
    acted_on: tuple[str, str] | None = None  # (client id, resource id) the pass may write for, once decided
    smtp_username: str | None = None  # the smtpUsernames entry that stands (resource name)
    removed_assignments: tuple[str, ...] = ()  # replaced role assignments this pass removed (or found shared)
    retired_done: tuple[str, ...] = ()  # `Retired.key`s this pass cleaned up (or found nothing to clean up)
    domains: tuple[SenderDomain, ...] | None = None  # the ACS resource's linked domains, once read
    observed: Observed | None = None
    plan: Plan | None = None
    acting: str | None = None  # the step being carried out: role, assignment, smtpUsername, secret, keys
    role: tuple[str, bool] | None = None  # (role definition id, ours)
    assignment: tuple[str, bool] | None = None  # (role assignment id, ours)
    held: tuple[str, datetime | None] | None = None  # (key id, end) the Secret holds now
    issued: RotationReason | None = None  # a new client secret went into the Secret, and why
    added: tuple[str, datetime] | None = None  # (key id, when) addPassword answered, whatever happened next
    keys: KeyPlan | None = None
    revoked: tuple[str, ...] | None = None  # the revoked keys still to remove, once the keys were planned
    secret_version: str | None = None  # the resourceVersion of the Secret this pass wrote
    shared_keys: set[Hashable] = field(default_factory=set)  # the shared reads it used (made stale if it fails)


@dataclass(frozen=True)
class Report:
    status: Status
    warning: tuple[str, str] | None  # (reason, message) of the Warning Event this pass posts


def _linked(domains: tuple[SenderDomain, ...]) -> str:
    """Each linked domain, what it sends as, and which records still stand between it and sending."""
    parts = []
    for d in domains:
        text = f"{d.name} sends as {d.sender}" if d.sender else f"{d.name} (no sender domain reported)"
        if d.unverified:
            text += " but is not verified (" + ", ".join(f"{r} {s}" for r, s in d.unverified) + ")"
        parts.append(text)
    return "linked domains: " + "; ".join(parts)


def _replaced(previous: Status, done: Done, now: datetime, settle: timedelta) -> tuple[ReplacedAssignment, ...]:
    """The role assignments of ours waiting to go: one the policy's new role just replaced joins them (it goes
    once the new one has had `settle` to propagate); those this pass removed leave."""
    new = canonical(done.assignment[0]) if done.assignment is not None else None
    gone = {canonical(g) for g in (*done.removed_assignments, *([new] if new else []))}  # or chosen again
    waiting = [r for r in previous.replaced_role_assignments if canonical(r.id) not in gone]
    old, owned = previous.role_assignment_id, previous.role_assignment_owned
    if new and old and owned and canonical(old) != new and all(canonical(r.id) != canonical(old) for r in waiting):
        waiting.append(ReplacedAssignment(id=old, removeAfter=now + settle))
    return tuple(waiting)


_RETARGETED = (RotationReason.APPLICATION_CHANGED, RotationReason.COMMUNICATION_SERVICE_CHANGED)


def _retired(previous: Status, done: Done, now: datetime, grace: timedelta) -> tuple[Retired, ...]:
    """What a retarget left behind, waiting for its grace period: the application the credential no longer uses
    (its client secrets there), the smtpUsernames entry on a resource it left or no longer needs. Those this
    pass cleaned up leave; a target chosen again is not retired."""
    kept = [r for r in previous.retired if r.key not in set(done.retired_done)]
    if done.issued in _RETARGETED:  # the Secret switched to the new target just now: the grace starts here
        kept = [r.model_copy(update={"remove_after": max(r.remove_after, now + grace)}) for r in kept]
    if done.acted_on is None:
        return tuple(kept)
    app, resource = done.acted_on[0].lower(), canonical(done.acted_on[1])
    kept = [r for r in kept if (r.client_id or "").lower() != app]
    if done.smtp_username is not None:
        kept = [r for r in kept if canonical(r.smtp_username_at or "") != resource]
    keys = {r.key for r in kept}
    old_app, old_at = previous.client_id, previous.communication_service_id
    # Status can be edited: only a well-formed id is retired (anything else is left, not crashed on).
    if old_app and is_guid(old_app) and old_app.lower() != app and f"app:{old_app.lower()}" not in keys:
        kept.append(Retired(clientId=old_app, removeAfter=now + grace))
    # The entry the credential had stays needed only on the same resource, with the SmtpUsername format.
    needed = old_at is not None and canonical(old_at) == resource and done.smtp_username is not None
    retire = bool(previous.smtp_username_resource) and old_at is not None and not needed
    if retire and old_at is not None and is_acs_resource_id(old_at) and f"smtp:{canonical(old_at)}" not in keys:
        name = previous.smtp_username_resource
        kept.append(Retired(smtpUsernameAt=old_at, smtpUsernameResource=name, removeAfter=now + grace))
    return tuple(kept)


def _requests(status: Status, done: Done, rotate: str | None, revoke: str | None, now: datetime) -> dict[str, object]:
    """What status says of the rotation and revocation requests: answered, deferred (until when) or refused (why),
    and the revoked keys still to remove."""
    update: dict[str, object] = {"revocations": recent_revocations(status.revocations, now)}
    plan = done.plan
    if plan is not None:
        waits = plan.rotation_waits
        deferred = DeferredRequest(request=rotate, until=waits) if waits is not None and rotate else None
        update.update(rotate_request_deferred=deferred)
        if plan.revocation_refused is not None and revoke:
            update.update(revoke_request_refused=RefusedRequest(request=revoke, message=plan.revocation_refused))
    if done.issued == RotationReason.REVOKED and revoke:
        update.update(
            revoke_request_handled=revoke,
            revoke_request_refused=None,
            revocations=(*recent_revocations(status.revocations, now), now),
        )
    if done.revoked is not None:
        update.update(revoked_keys=done.revoked)
    return update


def _facts(
    status: Status,
    done: Done,
    renew: timedelta | None,
    rotate: str | None,
    now: datetime,
    settle: timedelta,
    grace: timedelta,
    revoke: str | None = None,
) -> Status:
    retired = _retired(status, done, now, grace)
    if done.issued == RotationReason.REVOKED:  # keys left on an application a retarget left go without grace too
        retired = tuple(r.model_copy(update={"remove_after": min(r.remove_after, now)}) if r.client_id else r
                        for r in retired)  # fmt: skip
    update: dict[str, object] = {
        "replaced_role_assignments": _replaced(status, done, now, settle),
        "retired": retired,
    }
    if done.policy is not None:
        update.update(policy=done.policy)
    if done.acted_on is not None:
        update.update(client_id=done.acted_on[0], communication_service_id=done.acted_on[1])
    if done.acted_on is not None:  # the pass decided: an entry stands, or none is needed (any left is retired)
        update.update(smtp_username_resource=done.smtp_username)
    if done.plan is not None:
        update.update(username=done.plan.username, secret_name=done.plan.secret_name)
    if done.role is not None:
        update.update(role_definition_id=done.role[0], role_definition_owned=done.role[1])
    if done.assignment is not None:
        update.update(role_assignment_id=done.assignment[0], role_assignment_owned=done.assignment[1])
    if done.held is not None and done.held[1] is not None and renew is not None:
        update.update(not_after=done.held[1], renewal_time=done.held[1] - renew)
    if done.added is not None:
        update.update(issued_key_id=done.added[0], issued_at=done.added[1])
    if done.issued is not None:
        update.update(last_rotation_time=now, last_rotation_reason=str(done.issued))
        if rotate:
            update.update(rotate_request_handled=rotate)
    update.update(_requests(status, done, rotate, revoke, now))
    status = status.model_copy(update=update)
    if done.keys is not None:
        status = with_ledger(status, done.keys.ledger, done.keys.settling)
    return status


def report(
    previous: Status,
    generation: int,
    now: datetime,
    acs_name: str,
    done: Done,
    failure: Failure | None,
    renew: timedelta | None = None,
    rotate: str | None = None,
    settle: timedelta = timedelta(minutes=2),
    grace: timedelta = timedelta(0),
    revoke: str | None = None,
) -> Report:
    """The new status and the Warning Event, if any. `renew` is the spec's renewBefore (None: bad spec);
    `settle`: how long a replaced role assignment stays after its successor was made; `grace`: the spec's
    gracePeriod, how long what a retarget left behind stays."""
    status = _facts(previous, done, renew, rotate, now, settle, grace, revoke)
    if failure is not None and failure.reason == Reason.NOT_PERMITTED:
        status = status.model_copy(update={"policy": None})  # no policy permits it any more
    conditions = status.conditions

    def put(type_: ConditionType, ok: bool | None, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(conditions, type_, ok, reason, message, now, generation)

    observed, plan, domains = done.observed, done.plan, done.domains
    if domains is not None:
        if any(d.can_send for d in domains):
            put(ConditionType.DOMAIN_LINKED, True, Reason.DOMAIN_LINKED, _linked(domains))
        elif domains:
            message = f"no domain linked to {acs_name} can send yet: {_linked(domains)}"
            put(ConditionType.DOMAIN_LINKED, False, Reason.DOMAIN_NOT_VERIFIED, message)
        else:
            put(
                ConditionType.DOMAIN_LINKED,
                False,
                Reason.NO_LINKED_DOMAIN,
                f"{acs_name} has no linked email domain: connect an Email Communication Services domain "
                "before mail can be sent",
            )
    if done.assignment is not None and done.role is not None and observed is not None:
        message = f"service principal {observed.principal_id} holds {done.role[0]} on {acs_name}"
        put(ConditionType.ROLE_READY, True, Reason.ROLE_READY, message)
    if failure is not None and _role_failed(failure, done):
        put(ConditionType.ROLE_READY, False, failure.reason, failure.message)
    conflict = plan.secret.message if plan is not None and isinstance(plan.secret, SecretConflict) else None
    if conflict:
        put(ConditionType.SECRET_READY, False, Reason.SECRET_CONFLICT, conflict)
    elif done.held is not None and plan is not None:
        put(
            ConditionType.SECRET_READY, True, Reason.SECRET_READY, f"Secret {plan.secret_name} holds key {done.held[0]}"
        )
    has_key = bool(status.current_key_id) or done.held is not None
    standing = standing_after_failure(has_key, status.not_after, status.renewal_time, now)
    if failure is not None and failure.reason == Reason.ROTATION_HELD:
        standing = Standing.NONE  # held only when the Secret holds no working key (deleted, blanked, key removed)
    verdict = judge(
        PassResult(
            failure=failure,
            standing=standing if failure is not None else Standing.WORKING,
            not_after=stamp(status.not_after) if status.not_after else None,
            conflict=conflict,
            domain_linked=any(d.can_send for d in domains) if domains is not None else None,
            acs_name=acs_name,
            secret_name=status.secret_name,
        )
    )
    if verdict.synced is not None:
        put(ConditionType.SYNCED, *verdict.synced)
    if verdict.ready is not None:
        put(ConditionType.READY, *verdict.ready)
    status = status.model_copy(update={"conditions": conditions, "observed_generation": generation})
    return Report(status=status, warning=verdict.warning)
