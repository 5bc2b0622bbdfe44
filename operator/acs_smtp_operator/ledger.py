"""Pure key bookkeeping: the ledger of the keys a credential answers for (current, pending rollout, retiring),
what becomes of old keys after a new one, orphans, retirements, and when the credential next needs a look."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from acs_smtp_operator.identity import marks
from acs_smtp_operator.model import Standing
from acs_smtp_operator.observed import Application
from acs_smtp_operator.status import PendingRollout, Retired, RetiringKey, Status

__all__ = [
    "KeyPlan",
    "Ledger",
    "advance",
    "due_retirements",
    "ledger_of",
    "next_wake",
    "orphans",
    "plan_keys",
    "standing_after_failure",
    "whole_second_after",
    "with_ledger",
]


@dataclass(frozen=True)
class Ledger:
    """What status records about the application's keys that this credential answers for."""

    current: str | None = None  # the key in the Secret, as last recorded
    pending: tuple[str, datetime] | None = None  # (old key, since) while restarted workloads roll out
    retiring: tuple[tuple[str, datetime], ...] = ()  # (old key, remove after) in their grace period

    def referenced(self) -> set[str]:
        keys = {k for k, _ in self.retiring}
        if self.current:
            keys.add(self.current)
        if self.pending:
            keys.add(self.pending[0])
        return keys


def standing_after_failure(
    has_key: bool, not_after: datetime | None, renewal: datetime | None, now: datetime
) -> Standing:
    """What a failed pass leaves of the credential in the Secret."""
    if not has_key or not_after is None:
        return Standing.NONE
    if not_after <= now:
        return Standing.EXPIRED
    if renewal is not None and renewal <= now:
        return Standing.EXPIRING
    return Standing.WORKING


def ledger_of(status: Status) -> Ledger:
    """The key ledger that status records."""
    pending = status.pending_rollout
    return Ledger(
        current=status.current_key_id,
        pending=(pending.key_id, pending.since) if pending else None,
        retiring=tuple((r.key_id, r.remove_after) for r in status.retiring_keys),
    )


def with_ledger(status: Status, ledger: Ledger, settling: datetime | None) -> Status:
    """Status recording `ledger` and the end of the orphans' settling window."""
    pending = PendingRollout(keyId=ledger.pending[0], since=ledger.pending[1]) if ledger.pending else None
    return status.model_copy(
        update={
            "current_key_id": ledger.current,
            "pending_rollout": pending,
            "retiring_keys": tuple(RetiringKey(keyId=k, removeAfter=t) for k, t in ledger.retiring),
            "orphan_check_at": settling,
        }
    )


def advance(
    ledger: Ledger,
    secret_key: str,
    now: datetime,
    grace: timedelta,
    has_restart_targets: bool,
    rollout_done: bool,
    rollout_timeout: timedelta,
    revoked: frozenset[str] = frozenset(),
) -> tuple[Ledger, list[str]]:
    """Move keys along current -> (rollout) -> grace -> due; return the new ledger and the keys due now.

    A `revoked` key (an emergency revocation) has no grace period: due as soon as the rollout is done.

    A key the Secret no longer holds is never due before the workloads restarted (or the rollout timed out)
    and its grace period passed. Whether Graph lists it is not asked here: a key it does not list may be one
    added moments ago (Graph is eventually consistent) as well as one removed out of band, and either way the
    workloads must move off it. `plan_keys` removes a due key only if it is listed as ours.
    """

    def end(key: str) -> datetime:
        return now if key in revoked else now + grace

    retiring = [(k, min(t, now) if k in revoked else t) for k, t in ledger.retiring if k != secret_key]
    pending = ledger.pending
    if pending is not None and (rollout_done or now >= pending[1] + rollout_timeout):
        retiring.append((pending[0], end(pending[0])))  # the workloads have moved: the grace period starts now
        pending = None
    replaced = ledger.current if ledger.current and ledger.current != secret_key else None
    known = {k for k, _ in retiring} | ({pending[0]} if pending else set())
    if replaced and replaced not in known:
        if has_restart_targets:
            if pending is not None:  # a second rotation before the first rollout finished
                retiring.append((pending[0], end(pending[0])))
            pending = (replaced, now)  # `rollout_done` speaks of the previous rollout, not of this one
        else:
            retiring.append((replaced, end(replaced)))
    due = [k for k, t in retiring if t <= now]
    kept = tuple((k, t) for k, t in retiring if t > now)
    return Ledger(current=secret_key, pending=pending, retiring=kept), due


def orphans(
    marked: dict[str, datetime | None], referenced: set[str], now: datetime, settle: timedelta
) -> tuple[list[str], datetime | None]:
    """Our keys nothing references (a crash between addPassword and the Secret write).

    Returns the ones past the settling window, and when the next one will be. A key whose start Graph
    does not report counts as settled: every pass of a credential holds its lock, so no key of ours is
    ever unreferenced for a reason other than an interrupted pass.
    """
    loose = {
        k: (start or datetime.min.replace(tzinfo=now.tzinfo)) for k, start in marked.items() if k not in referenced
    }
    due = [k for k, start in loose.items() if start + settle <= now]
    later = [start + settle for k, start in loose.items() if k not in due]
    return due, whole_second_after(min(later)) if later else None


def whole_second_after(moment: datetime) -> datetime:
    """Status keeps whole seconds: a due time is rounded up, so that waking at it finds it due."""
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


def next_wake(
    renewal: datetime | None, ledger: Ledger, drift_due: datetime, settling: datetime | None, rollout_timeout: timedelta
) -> datetime:
    """When the credential next needs a full pass: no Azure call at all happens before then.

    A pending rollout is watched meanwhile with Kubernetes reads only; its timeout is a due time here.
    """
    moments = [drift_due]
    if renewal is not None:
        moments.append(renewal)
    moments += [t for _, t in ledger.retiring]
    if ledger.pending is not None:
        moments.append(ledger.pending[1] + rollout_timeout)
    if settling is not None:
        moments.append(settling)
    return min(moments)


@dataclass(frozen=True, kw_only=True)
class KeyPlan:
    """What happens to the application's keys once the Secret holds `ledger.current`."""

    ledger: Ledger
    restart: bool  # restart the workloads now (a key just went pending)
    due: tuple[str, ...]  # old keys past their grace period: remove
    loose: tuple[str, ...]  # our keys nothing references, settled: remove
    settling: datetime | None  # when the next unreferenced key of ours settles


def plan_keys(
    before: Ledger,
    secret_key: str,
    application: Application,
    marker: str,
    now: datetime,
    grace: timedelta,
    has_restart_targets: bool,
    rollout_done: bool,
    rollout_timeout: timedelta,
    settle: timedelta,
    revoked: frozenset[str] = frozenset(),
) -> KeyPlan:
    """The ledger moved along, the restarts and removals that takes, and the orphans to clean up.

    Only keys carrying this credential's marker are ever removed: the key id the ledger starts from comes
    from the Secret, which the tenant can edit, and must not name another credential's key to retire.
    """
    after, ended = advance(before, secret_key, now, grace, has_restart_targets, rollout_done, rollout_timeout, revoked)
    ours = {k.key_id for k in application.keys if marks(k.display_name, marker)}
    due = [k for k in ended if k in ours]  # another's key leaves the ledger, never the application
    marked = {k.key_id: k.start for k in application.keys if k.key_id in ours and k.key_id not in due}
    loose, settling = orphans(marked, after.referenced(), now, settle)
    return KeyPlan(
        ledger=after,
        restart=after.pending is not None and after.pending != before.pending,
        due=tuple(due),
        loose=tuple(loose),
        settling=settling,
    )


def due_retirements(
    retired: tuple[Retired, ...],
    now: datetime,
    client_id: str,
    resource_id: str,
    smtp_username_kept: bool,
    settling: bool,
) -> tuple[tuple[Retired, bool], ...]:
    """What a retarget left behind that this pass takes care of: (entry, act on it), where False means there
    is nothing to remove (the application or resource is the current target again) and the entry just goes.

    None while the Secret switched just now or the workloads still roll out (`settling`): the grace period
    counts from after that. `smtp_username_kept`: the current resource still needs the credential's entry.
    """
    if settling:
        return ()
    app, resource = client_id.lower(), resource_id.lower()
    due: list[tuple[Retired, bool]] = []
    for old in retired:
        if old.remove_after > now:
            continue
        if old.client_id:
            due.append((old, old.client_id.lower() != app))
        else:
            current = (old.smtp_username_at or "").lower() == resource
            due.append((old, not (current and smtp_username_kept)))
    return tuple(due)
