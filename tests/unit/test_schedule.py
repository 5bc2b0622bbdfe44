"""When the scheduler wakes, how long failures back off, and how kopf is told to retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import kopf
import pytest

from acs_smtp_operator.failure import After, Backoff, Failure, UntilSpecChanges
from acs_smtp_operator.handlers import kopf_error
from acs_smtp_operator.model import Reason
from acs_smtp_operator.schedule import Streak, backoff, drift_due, wake
from acs_smtp_operator.status import PendingRollout, RetiringKey, Status

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DRIFT, TIMEOUT = timedelta(hours=1), timedelta(minutes=10)
MINUTE = timedelta(minutes=1)

SECONDS = timedelta(seconds=1)
WAKES = [
    ("a quiet credential wakes for the drift check", Status(), Streak(), NOW + DRIFT, NOW + DRIFT),
    (
        "renewal before the drift check comes first",
        Status(renewalTime=NOW + 5 * MINUTE),
        Streak(),
        NOW + 5 * MINUTE,
        NOW + 5 * MINUTE,
    ),
    (
        "a key's grace period end comes first",
        Status(retiringKeys=(RetiringKey(keyId="k", removeAfter=NOW + 2 * MINUTE),)),
        Streak(),
        NOW + 2 * MINUTE,
        NOW + 2 * MINUTE,
    ),
    (
        "a pending rollout is looked at every two seconds until its timeout",
        Status(pendingRollout=PendingRollout(keyId="k", since=NOW)),
        Streak(),
        NOW + TIMEOUT,
        NOW + 2 * SECONDS,
    ),
    (
        "a failure kopf retries is looked at again no sooner than its backoff",
        Status(renewalTime=NOW - MINUTE),
        Streak(failures=2, retried_by_kopf=True, at=NOW),
        NOW + 10 * SECONDS,
        NOW + 10 * SECONDS,
    ),
    (
        "a failure nobody else retries is retried here after its backoff, not at the next drift check",
        Status(),
        Streak(failures=1, at=NOW),
        NOW + 5 * SECONDS,
        NOW + 5 * SECONDS,
    ),
    (
        "a failure with Retry-After is retried when Azure said",
        Status(),
        Streak(failures=1, retry_after=300, at=NOW),
        NOW + 300 * SECONDS,
        NOW + 300 * SECONDS,
    ),
    (
        "a due time passes that cannot be acted on (a Secret conflict) backs off instead of spinning",
        Status(renewalTime=NOW - DRIFT),
        Streak(behind=3, at=NOW),
        NOW + 20 * SECONDS,
        NOW + 20 * SECONDS,
    ),
    (
        "a pending rollout is not polled while passes fail: the backoff holds",
        Status(pendingRollout=PendingRollout(keyId="k", since=NOW - TIMEOUT)),
        Streak(failures=1, retry_after=300, at=NOW),
        NOW + 300 * SECONDS,
        NOW + 300 * SECONDS,
    ),
    (
        "a due time in the past never makes a tight loop",
        Status(renewalTime=NOW - DRIFT),
        Streak(),
        NOW + SECONDS,
        NOW + SECONDS,
    ),
]


@pytest.mark.parametrize(("case", "status", "streak", "due", "look"), WAKES, ids=[c[0] for c in WAKES])
def test_when_the_scheduler_wakes(case: str, status: Status, streak: Streak, due: datetime, look: datetime) -> None:
    when = wake(status, NOW, NOW, DRIFT, TIMEOUT, streak)
    assert (when.due, when.look) == (due, look)
    assert when.rollout_check == (look < due)


def test_the_backoff_counts_from_the_failure_not_from_each_look_so_it_ends() -> None:
    streak = Streak(failures=1, at=NOW)
    later = wake(Status(), NOW, NOW + 4 * SECONDS, DRIFT, TIMEOUT, streak)
    assert later.due == NOW + 5 * SECONDS


def test_an_ask_right_after_a_key_was_issued_waits_for_the_cooldown() -> None:
    """A tenant deleting the Secret again and again gets one new key per interval, not one per deletion."""
    cooling = NOW + 40 * SECONDS
    assert wake(Status(), NOW, NOW, DRIFT, TIMEOUT, Streak(), asked=True, cooldown=cooling).due == cooling
    assert wake(Status(), NOW, NOW, DRIFT, TIMEOUT, Streak(), asked=True, cooldown=NOW - SECONDS).due == NOW + SECONDS


def test_an_unanswered_rotation_request_is_served_now_unless_passes_fail() -> None:
    assert wake(Status(), NOW - DRIFT / 2, NOW, DRIFT, TIMEOUT, Streak(), asked=True).due == NOW
    failing = wake(Status(), NOW, NOW, DRIFT, TIMEOUT, Streak(failures=1, at=NOW), asked=True)
    assert failing.due == NOW + 5 * SECONDS


def test_backoff_doubles_from_five_seconds_to_ten_minutes_and_obeys_retry_after() -> None:
    assert [backoff(n) for n in (0, 1, 2, 7, 20)] == [5.0, 10.0, 20.0, 600.0, 600.0]
    assert backoff(3, retry_after=30) == 30 and backoff(3, retry_after=9999) == 600


def test_bad_input_is_a_permanent_error_for_kopf() -> None:
    error = kopf_error(Failure(Reason.INVALID_SPEC, "bad", retry=UntilSpecChanges()), 0)
    assert isinstance(error, kopf.PermanentError)


@pytest.mark.parametrize(
    ("retry", "attempt", "delay"),
    [(After(42), 0, 42), (After(10_000), 0, 600), (Backoff(), 0, 5), (Backoff(), 3, 40)],
    ids=["Retry-After is obeyed", "Retry-After is capped", "a first failure backs off 5 s", "the fourth 40 s"],
)
def test_other_failures_are_retried_after_a_delay(retry: After | Backoff, attempt: int, delay: float) -> None:
    """Within ±25 % of the doubling (spread at random, so that failures together do not retry together)."""
    delays = set()
    for _ in range(50):
        error = kopf_error(Failure(Reason.THROTTLED, "x", retry=retry), attempt)
        assert isinstance(error, kopf.TemporaryError) and error.delay is not None
        delays.add(error.delay)
    if isinstance(retry, After):
        assert delays == {delay}
    else:
        assert all(0.75 * delay <= d <= 1.25 * delay for d in delays) and len(delays) > 1, delays


def test_backoff_spread_covers_a_quarter_either_side() -> None:
    assert (backoff(2, spread=0.0), backoff(2, spread=0.5)) == (15.0, 20.0) and 24.9 < backoff(2, spread=0.999) < 25


def test_a_new_key_is_confirmed_once_graphs_lag_has_passed_then_drift_rules_again() -> None:
    """A key Graph did not list yet was tolerated: one pass once the lag is over catches a removal meanwhile."""
    rotated = Status(issuedKeyId="k1", issuedAt=NOW)
    lag = 60 * SECONDS
    assert wake(rotated, NOW, NOW, DRIFT, TIMEOUT, lag=lag).due == NOW + lag
    assert wake(rotated, NOW + lag, NOW + lag, DRIFT, TIMEOUT, lag=lag).due == NOW + lag + DRIFT
    assert wake(rotated, NOW, NOW, DRIFT, TIMEOUT).due == NOW + DRIFT, "without a lag, nothing extra"


def test_drift_checks_keep_to_the_credentials_phase_whatever_passes_came_between() -> None:
    drift = timedelta(hours=1)
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    # a pass at an arbitrary moment: the next check is on the grid, at least half a period later
    for minutes in (0, 7, 29, 31, 59):
        last = epoch + timedelta(minutes=minutes)
        due = drift_due(last, drift, 0.25)
        assert due - last >= drift / 2 and due - last < drift * 1.5
        assert due.minute == 15 and due.second == 0
    # in the steady state, one check per period exactly
    due = drift_due(epoch, drift, 0.25)
    assert drift_due(due, drift, 0.25) - due == drift


def test_credentials_provisioned_together_are_checked_spread_over_the_period() -> None:
    drift = timedelta(hours=1)
    burst = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    minutes = sorted(drift_due(burst, drift, n / 1000).minute for n in range(1000))
    per_minute = [minutes.count(m) for m in range(60)]
    assert max(per_minute) <= 2 * min(per_minute) + 2, per_minute
