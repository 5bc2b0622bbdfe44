"""When the scheduler wakes, how long failures back off, and how kopf is told to retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import kopf
import pytest

from acs_smtp_operator.failure import After, Backoff, Failure, UntilSpecChanges
from acs_smtp_operator.handlers import kopf_error
from acs_smtp_operator.model import Reason
from acs_smtp_operator.schedule import backoff, wake
from acs_smtp_operator.status import PendingRollout, RetiringKey, Status

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DRIFT, TIMEOUT = timedelta(hours=1), timedelta(minutes=10)
MINUTE = timedelta(minutes=1)

WAKES = [
    ("a quiet credential wakes for the drift check", Status(), 0, NOW + DRIFT, NOW + DRIFT),
    (
        "renewal before the drift check comes first",
        Status(renewalTime=NOW + 5 * MINUTE),
        0,
        NOW + 5 * MINUTE,
        NOW + 5 * MINUTE,
    ),
    (
        "a key's grace period end comes first",
        Status(retiringKeys=(RetiringKey(keyId="k", removeAfter=NOW + 2 * MINUTE),)),
        0,
        NOW + 2 * MINUTE,
        NOW + 2 * MINUTE,
    ),
    (
        "a pending rollout is looked at every two seconds until its timeout",
        Status(pendingRollout=PendingRollout(keyId="k", since=NOW)),
        0,
        NOW + TIMEOUT,
        NOW + timedelta(seconds=2),
    ),
    (
        "a failing credential waits out its backoff",
        Status(renewalTime=NOW - MINUTE),
        2,
        NOW + timedelta(seconds=20),
        NOW + timedelta(seconds=20),
    ),
    (
        "a due time in the past never makes a tight loop",
        Status(renewalTime=NOW - DRIFT),
        0,
        NOW + timedelta(seconds=1),
        NOW + timedelta(seconds=1),
    ),
]


@pytest.mark.parametrize(("case", "status", "failures", "due", "look"), WAKES, ids=[c[0] for c in WAKES])
def test_when_the_scheduler_wakes(case: str, status: Status, failures: int, due: datetime, look: datetime) -> None:
    when = wake(status, NOW, NOW, DRIFT, failures, TIMEOUT)
    assert (when.due, when.look) == (due, look)
    assert when.rollout_check == (look < due)


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
    error = kopf_error(Failure(Reason.THROTTLED, "x", retry=retry), attempt)
    assert isinstance(error, kopf.TemporaryError) and error.delay == delay
