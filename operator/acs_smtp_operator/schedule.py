"""Pure timing: how long to back off after failures, and when a credential next needs a look."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from acs_smtp_operator.failure import After, Failure, UntilSpecChanges
from acs_smtp_operator.ledger import ledger_of, next_wake
from acs_smtp_operator.status import Status

__all__ = [
    "MAX_BACKOFF",
    "MIN_INTERVAL",
    "ROLLOUT_POLL",
    "Streak",
    "Wake",
    "backoff",
    "drift_due",
    "natural_due",
    "next_streak",
    "phase",
    "wake",
]

MAX_BACKOFF = 600.0
ROLLOUT_POLL = timedelta(seconds=2)
MIN_INTERVAL = timedelta(seconds=1)


def backoff(failures: int, retry_after: float | None = None, spread: float = 0.5) -> float:
    """Seconds to wait: Azure's Retry-After when it sent one, else 5 s doubling, never above 10 min.

    `spread` in [0, 1): where in ±25 % of the doubling this wait lands (callers pass a random number, so that
    credentials failing together do not retry together; 0.5 is the doubling itself).
    """
    if retry_after:
        return min(retry_after, MAX_BACKOFF)
    return min(5.0 * float(2 ** min(failures, 7)) * (0.75 + 0.5 * spread), MAX_BACKOFF)


@dataclass(frozen=True)
class Wake:
    due: datetime  # the next full pass
    look: datetime  # when to wake next: `due`, or sooner to read a pending rollout's progress

    @property
    def rollout_check(self) -> bool:
        """Waking at `look` only reads the restarted workloads (Kubernetes reads, no Azure call)."""
        return self.look < self.due


@dataclass(frozen=True, kw_only=True)
class Streak:
    """How the credential's last passes went, as far as the schedule cares."""

    failures: int = 0  # failed passes in a row
    retry_after: float | None = None  # the last failure's Retry-After
    retried_by_kopf: bool = False  # kopf retries the last failed pass itself (a change handler's, or bad input)
    behind: int = 0  # successful passes in a row that left a due time in the past (they could not act on it)
    at: datetime | None = None  # when the last of those passes ended: the backoff counts from then
    spread: float = 0.5  # where in its range this streak's backoff lands (random per failure: no herd)


def _retry_in(streak: Streak) -> timedelta:
    """The scheduler's wait after the streak's last pass: 5 s doubling (as kopf's), at least any Retry-After."""
    count = streak.failures or streak.behind
    return timedelta(seconds=min(max(streak.retry_after or 0.0, backoff(count - 1, spread=streak.spread)), MAX_BACKOFF))


def drift_due(last_pass: datetime, drift: timedelta, phase: float) -> datetime:
    """The next drift check: on the credential's own grid, the moments (k + `phase`) * `drift` since the epoch,
    the first at least half a period after `last_pass`.

    Checks of many credentials spread over the period by their phase and stay spread whatever passes came
    between (a burst of provisioning, a restart): one per period in the steady state, never in lockstep.
    """
    period = drift.total_seconds()
    if period <= 0:
        return last_pass + drift
    k = math.ceil((last_pass.timestamp() + period / 2) / period - phase)
    return datetime.fromtimestamp((k + phase) * period, UTC)


def natural_due(
    status: Status, last_pass: datetime, drift: timedelta, rollout_timeout: timedelta, lag: timedelta = timedelta(0)
) -> datetime:
    """The earliest moment status names (renewal, a grace period's end, a rollout timeout, settling) or drift.

    `lag`: Graph's; once a new key has had it, one pass confirms the key is listed (a key removed out of band
    meanwhile was tolerated as not listed yet: it is caught then, not at the next drift check).
    """
    settling = [
        status.orphan_check_at,
        *(r.remove_after for r in status.replaced_role_assignments),
        # Only a time still ahead: one that has passed was tried by the pass after it, and what that pass could
        # not clean up (a Secret conflict, an application no longer ours) is tried again at each drift check.
        *(r.remove_after for r in status.retired if r.remove_after > last_pass),
    ]
    if lag and status.issued_at is not None and status.issued_at + lag > last_pass:
        settling.append(status.issued_at + lag)
    earliest = min((t for t in settling if t is not None), default=None)
    return next_wake(status.renewal_time, ledger_of(status), last_pass + drift, earliest, rollout_timeout)


def wake(
    status: Status,
    last_pass: datetime,
    now: datetime,
    drift: timedelta,
    rollout_timeout: timedelta,
    streak: Streak = Streak(),
    asked: bool = False,
    recheck: bool = False,
    deferred: datetime | None = None,
    lag: timedelta = timedelta(0),
    cooldown: datetime | None = None,
) -> Wake:
    """When the scheduler wakes next, from what the last pass left in status and how the last passes went.

    `asked`: a rotation was requested (acssmtp.io/rotate) and not yet answered: now, unless passes fail.
    `recheck`: a policy or namespace change altered whether the credential is permitted: now, failing or not
    (an administrator's change, not the tenant's, so no loop to guard against).
    `deferred`: when a rotation request the policy's minRotationInterval held back may be served (once: a
    moment at or before the last pass is spent).
    `lag`: Graph's (see `natural_due`).
    `cooldown`: until when an ask waits after this process last issued a key (a tenant deleting or blanking
    the Secret again and again gets one new key per ACSSMTP_MIN_MANUAL_INTERVAL, not one per edit).
    """
    due = natural_due(status, last_pass, drift, rollout_timeout, lag)
    if deferred is not None and deferred > last_pass:
        due = min(due, deferred)
    troubled = bool(streak.failures or streak.behind)
    if asked and not troubled:
        due = min(due, max(now, cooldown) if cooldown is not None else now)
    if troubled:
        again = (streak.at or now) + _retry_in(streak)
        # Nobody else retries a failure of a pass kopf did not start: here, when the backoff ends. Otherwise
        # (kopf retries it, or what is due cannot be done, as in a Secret conflict): no sooner than that.
        alone = streak.failures and not streak.retried_by_kopf
        due = again if alone else max(due, again)
    if recheck:
        due = min(due, now)
    due = max(due, last_pass + MIN_INTERVAL)  # never a tight loop, whatever status says
    # A pending rollout is watched every 2 s (Kubernetes reads), but not while passes fail: then it waits too.
    look = min(due, now + ROLLOUT_POLL) if status.pending_rollout is not None and not troubled else due
    return Wake(due=due, look=look)


def phase(uid: str) -> float:
    """A fraction in [0, 1) fixed by the credential's uid (the same after a restart)."""
    digest = hashlib.sha256(uid.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def next_streak(
    before: Streak,
    failure: Failure | None,
    status: Status,
    now: datetime,
    *,
    retried_by_kopf: bool,
    spread: float,
    periods: tuple[float, float, float],
) -> Streak:
    """The failures (or late passes) in a row after a pass: a failure counts one more, with its retry rule; a
    success clears them, unless the pass left the credential due again at once (then it is behind).
    `periods`: the drift period, the rollout timeout and Graph's lag, in seconds."""
    if failure is not None:
        return Streak(
            failures=before.failures + 1,
            retry_after=failure.retry.seconds if isinstance(failure.retry, After) else None,
            retried_by_kopf=retried_by_kopf or isinstance(failure.retry, UntilSpecChanges),
            at=now,
            spread=spread,
        )
    drift, rollout, lag = (timedelta(seconds=p) for p in periods)
    due = natural_due(status, now, drift, rollout, lag)
    return Streak(behind=before.behind + 1, at=now) if due <= now else Streak()
