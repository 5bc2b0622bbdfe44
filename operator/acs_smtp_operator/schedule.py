"""Pure timing: how long to back off after failures, and when a credential next needs a look."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from acs_smtp_operator.plan import ledger_of, next_wake
from acs_smtp_operator.status import Status

__all__ = ["MAX_BACKOFF", "MIN_INTERVAL", "ROLLOUT_POLL", "Wake", "backoff", "wake"]

MAX_BACKOFF = 600.0
ROLLOUT_POLL = timedelta(seconds=2)
MIN_INTERVAL = timedelta(seconds=1)


def backoff(failures: int, retry_after: float | None = None) -> float:
    """Seconds to wait: Azure's Retry-After when it sent one, else 5 s doubling; never above 10 min."""
    if retry_after:
        return min(retry_after, MAX_BACKOFF)
    return min(5.0 * float(2 ** min(failures, 7)), MAX_BACKOFF)


@dataclass(frozen=True)
class Wake:
    due: datetime  # the next full pass
    look: datetime  # when to wake next: `due`, or sooner to read a pending rollout's progress

    @property
    def rollout_check(self) -> bool:
        """Waking at `look` only reads the restarted workloads (Kubernetes reads, no Azure call)."""
        return self.look < self.due


def wake(
    status: Status,
    last_pass: datetime,
    now: datetime,
    drift: timedelta,
    failures: int,
    rollout_timeout: timedelta,
) -> Wake:
    """When the scheduler wakes next, from what the last pass left in status."""
    ledger = ledger_of(status)
    due = next_wake(status.renewal_time, ledger, last_pass + drift, status.orphan_check_at, rollout_timeout)
    if failures:  # failing: the change handlers retry with backoff; look again no sooner
        due = max(due, now + timedelta(seconds=backoff(failures)))
    due = max(due, last_pass + MIN_INTERVAL)  # never a tight loop, whatever status says
    look = min(due, now + ROLLOUT_POLL) if ledger.pending else due
    return Wake(due=due, look=look)
