"""The readiness chain: what Ready, Synced and the Warning Event say after a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from acs_smtp_operator.conditions import PassResult, judge, set_condition
from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.model import ConditionType, Reason, Standing
from acs_smtp_operator.status import Condition

THROTTLED = Failure(Reason.THROTTLED, "ARM said 429")
INVALID = Failure(Reason.INVALID_SPEC, "spec.role.actions: bad", retry=UntilSpecChanges())


def result(**over: object) -> PassResult:
    base: dict[str, object] = dict(
        failure=None,
        standing=Standing.WORKING,
        not_after="2027-01-01T00:00:00Z",
        conflict=None,
        domain_linked=True,
        acs_name="shop",
        secret_name="shop-smtp",
    )
    return PassResult(**{**base, **over})  # type: ignore[arg-type]


CASES = [
    ("a clean pass is ready", result(), (True, "Ready"), (True, "Ready"), None),
    (
        "a clean pass without a linked domain is not ready",
        result(domain_linked=False),
        (False, "NoLinkedDomain"),
        (True, "Ready"),
        None,
    ),
    (
        "a Secret that is not ours is not ready",
        result(conflict="taken"),
        (False, "SecretConflict"),
        (True, "Ready"),
        None,
    ),
    (
        "bad input is not ready and is not a sync",
        result(failure=INVALID, standing=Standing.NONE),
        (False, "InvalidSpec"),
        None,
        "InvalidSpec",
    ),
    (
        "a failure before the first secret is why it is not ready",
        result(failure=THROTTLED, standing=Standing.NONE),
        (False, "Throttled"),
        (False, "Throttled"),
        "Throttled",
    ),
    (
        "a failure with an expired secret says so",
        result(failure=THROTTLED, standing=Standing.EXPIRED),
        (False, "Expired"),
        (False, "Throttled"),
        "Expired",
    ),
    (
        "a failure past renewal stays ready and warns",
        result(failure=THROTTLED, standing=Standing.EXPIRING),
        (True, "ExpiringSoon"),
        (False, "Throttled"),
        "ExpiringSoon",
    ),
    (
        "a failure well before renewal leaves Ready as it was",
        result(failure=THROTTLED),
        None,
        (False, "Throttled"),
        "Throttled",
    ),
]


@pytest.mark.parametrize(("case", "given", "ready", "synced", "warning"), CASES, ids=[c[0] for c in CASES])
def test_the_verdict(
    case: str, given: PassResult, ready: tuple[bool, str] | None, synced: tuple[bool, str] | None, warning: str | None
) -> None:
    verdict = judge(given)
    assert (verdict.ready[:2] if verdict.ready else None) == ready
    assert (verdict.synced[:2] if verdict.synced else None) == synced
    assert (verdict.warning[0] if verdict.warning else None) == warning


def test_an_expiring_secret_names_its_expiry_and_the_error() -> None:
    verdict = judge(result(failure=THROTTLED, standing=Standing.EXPIRING))
    assert verdict.ready is not None and "2027-01-01T00:00:00Z" in verdict.ready[2] and "429" in verdict.ready[2]


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    t0 = datetime(2026, 11, 28, tzinfo=UTC)
    first = set_condition((), ConditionType.READY, True, "Ready", "a", t0, 1)
    later = set_condition(first, ConditionType.READY, True, "Ready", "b", t0 + timedelta(hours=1), 2)
    flipped = set_condition(later, ConditionType.READY, False, "Expired", "c", t0 + timedelta(hours=2), 2)
    assert later[0].last_transition_time == t0 and later[0].message == "b"
    assert flipped[0].last_transition_time == t0 + timedelta(hours=2)


def test_conditions_are_listed_in_a_fixed_order() -> None:
    t0 = datetime(2026, 11, 28, tzinfo=UTC)
    conditions: tuple[Condition, ...] = ()
    for type_ in (ConditionType.SECRET_READY, ConditionType.READY, ConditionType.DOMAIN_LINKED):
        conditions = set_condition(conditions, type_, True, "x", "y", t0)
    assert [c.type for c in conditions] == ["Ready", "DomainLinked", "SecretReady"]
