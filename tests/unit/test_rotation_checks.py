"""The rotation policy: when to issue a new client secret, and how old keys retire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from acs_smtp_operator.ledger import (
    Ledger,
    advance,
    due_retirements,
    next_wake,
    orphans,
    plan_keys,
    standing_after_failure,
)
from acs_smtp_operator.observed import Application, CredentialState, KeyInfo
from acs_smtp_operator.rotation import SecretFacts, needs_new_secret
from acs_smtp_operator.status import Retired

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
APP, ACS = "app-id", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Communication/communicationServices/a"
DAY = timedelta(days=1)


def secret(**over: object) -> CredentialState:
    base = dict(key_id="k1", not_after=NOW + 60 * DAY, client_id=APP, resource_id=ACS, username="u", has_password=True)
    return CredentialState(**{**base, **over})  # type: ignore[arg-type]


def observed(
    state: CredentialState | None = None, keys: dict[str, datetime | None] | None = None, **over: object
) -> SecretFacts:
    base: dict[str, object] = dict(
        secret=state if state is not None else secret(),
        app_keys={"k1": NOW + 60 * DAY} if keys is None else keys,
        want_client_id=APP,
        want_resource_id=ACS,
        renew_before=30 * DAY,
    )
    return SecretFacts(**{**base, **over})  # type: ignore[arg-type]


CASES = [
    ("a working Secret well before renewal needs nothing", observed(), None),
    ("no Secret at all needs one", observed(secret=None), "SecretMissing"),
    ("a Secret without a password needs a new one", observed(secret(has_password=False)), "SecretIncomplete"),
    ("a Secret without a key id needs a new one", observed(secret(key_id=None)), "SecretIncomplete"),
    (
        "a key removed from the application out of band needs a new one",
        observed(keys={"k2": None}),
        "KeyNotOnApplication",
    ),
    ("a Secret for another application needs a new one", observed(secret(client_id="other")), "ApplicationChanged"),
    (
        "a Secret for another ACS resource needs a new one",
        observed(secret(resource_id="/other")),
        "CommunicationServiceChanged",
    ),
    ("an expired key needs a new one", observed(keys={"k1": NOW - DAY}), "Expired"),
    ("a key inside renewBefore of its end is renewed", observed(keys={"k1": NOW + 29 * DAY}), "RenewalDue"),
    ("the renewal moment itself is due", observed(keys={"k1": NOW + 30 * DAY}), "RenewalDue"),
    (
        "a new rotate annotation value asks for a rotation",
        observed(rotate_requested="2", rotate_handled="1"),
        "ManualRotation",
    ),
    (
        "an already answered rotate annotation asks for nothing",
        observed(rotate_requested="2", rotate_handled="2"),
        None,
    ),
    (
        "a key issued moments ago that Graph does not list yet is not taken for removed",
        observed(keys={}, fresh_key="k1"),
        None,
    ),
    (
        "a key missing from Graph that was not just issued was removed out of band",
        observed(keys={}, fresh_key="k0"),
        "KeyNotOnApplication",
    ),
]


@pytest.mark.parametrize(("name", "state", "reason"), CASES, ids=[c[0] for c in CASES])
def test_when_to_issue_a_new_secret(name: str, state: SecretFacts, reason: str | None) -> None:
    assert needs_new_secret(state, NOW) == reason


KEYS: dict[str, datetime | None] = {"old": NOW + DAY, "new": NOW + 60 * DAY}
GRACE, TIMEOUT = timedelta(hours=1), timedelta(minutes=10)


def test_without_restart_targets_the_replaced_key_enters_its_grace_period_at_once() -> None:
    ledger, due = advance(Ledger(current="old"), "new", NOW, GRACE, False, False, TIMEOUT)
    assert ledger == Ledger(current="new", retiring=(("old", NOW + GRACE),)) and due == []


def test_with_restart_targets_the_grace_period_waits_for_the_rollout() -> None:
    ledger, _ = advance(Ledger(current="old"), "new", NOW, GRACE, True, False, TIMEOUT)
    assert ledger.pending == ("old", NOW) and ledger.retiring == ()
    later = NOW + timedelta(minutes=1)
    ledger, _ = advance(ledger, "new", later, GRACE, True, True, TIMEOUT)
    assert ledger.pending is None and ledger.retiring == (("old", later + GRACE),)


def test_a_new_rollout_is_not_taken_for_done_by_the_previous_ones_state() -> None:
    """Nothing was pending, so 'rollouts done' is trivially true; the new rollout must still be waited for."""
    ledger, _ = advance(Ledger(current="old"), "new", NOW, GRACE, True, True, TIMEOUT)
    assert ledger.pending == ("old", NOW) and ledger.retiring == ()


def test_a_rollout_that_never_completes_starts_the_grace_period_at_the_timeout() -> None:
    ledger, _ = advance(Ledger(current="old"), "new", NOW, GRACE, True, False, TIMEOUT)
    ledger, _ = advance(ledger, "new", NOW + TIMEOUT, GRACE, True, False, TIMEOUT)
    assert ledger.retiring == (("old", NOW + TIMEOUT + GRACE),)


def test_a_key_is_removed_only_once_its_grace_period_has_passed() -> None:
    ledger = Ledger(current="new", retiring=(("old", NOW + GRACE),))
    assert advance(ledger, "new", NOW + GRACE - timedelta(seconds=1), GRACE, False, False, TIMEOUT)[1] == []
    after, due = advance(ledger, "new", NOW + GRACE, GRACE, False, False, TIMEOUT)
    assert due == ["old"] and after.retiring == ()


def test_a_crash_before_the_status_write_still_retires_the_replaced_key() -> None:
    """The Secret holds `new`, status still says `old`: `old` must go through grace, not leak."""
    ledger, _ = advance(Ledger(current="old"), "new", NOW, GRACE, False, False, TIMEOUT)
    assert "old" in ledger.referenced() and ledger.current == "new"


def test_a_retiring_key_graph_does_not_list_still_waits_out_its_grace_and_is_never_removed() -> None:
    """Not listed may mean removed out of band or added moments ago (Graph lags): either way it keeps its grace
    period, and then leaves the ledger without a removal, since only a listed key of ours is removed."""
    app = _app(("new", "ours", 60 * DAY))
    ledger = Ledger(current="new", retiring=(("unlisted", NOW + GRACE),))
    kept = plan_keys(ledger, "new", app, "ours", NOW, GRACE, False, True, TIMEOUT, SETTLE)
    assert kept.ledger.retiring == (("unlisted", NOW + GRACE),) and kept.due == ()
    ended = plan_keys(kept.ledger, "new", app, "ours", NOW + GRACE, GRACE, False, True, TIMEOUT, SETTLE)
    assert ended.ledger.retiring == () and ended.due == ()


def test_unreferenced_keys_of_ours_are_removed_after_the_settling_window() -> None:
    settle = timedelta(minutes=2)
    marked: dict[str, datetime | None] = {
        "cur": NOW - DAY,
        "young": NOW - timedelta(minutes=1),
        "old": NOW - timedelta(minutes=3),
    }
    due, later = orphans(marked, {"cur"}, NOW, settle)
    assert due == ["old"] and later == NOW + timedelta(minutes=1)


def test_the_next_wake_is_the_earliest_due_moment() -> None:
    hour = NOW + timedelta(hours=1)
    retiring = Ledger(current="k", retiring=(("r", NOW + timedelta(minutes=5)),))
    assert next_wake(NOW + DAY, retiring, hour, None, TIMEOUT) == NOW + timedelta(minutes=5)
    assert next_wake(NOW + DAY, Ledger(), hour, None, TIMEOUT) == hour
    assert next_wake(NOW + DAY, Ledger(current="k", pending=("p", NOW)), hour, None, TIMEOUT) == NOW + TIMEOUT
    assert next_wake(NOW + DAY, Ledger(), hour, NOW + timedelta(minutes=2), TIMEOUT) == NOW + timedelta(minutes=2)


STANDING = [
    ("a failure before any secret was issued leaves nothing standing", False, None, None, "none"),
    ("a failure past notAfter finds the secret expired", True, NOW - DAY, NOW - 2 * DAY, "expired"),
    ("a failure past renewalTime warns that a human must act", True, NOW + DAY, NOW - DAY, "expiring"),
    ("a failure before renewalTime leaves the secret working", True, NOW + 2 * DAY, NOW + DAY, "working"),
]


@pytest.mark.parametrize(
    ("name", "has_key", "not_after", "renewal", "standing"), STANDING, ids=[c[0] for c in STANDING]
)
def test_what_a_failed_pass_leaves_standing(
    name: str, has_key: bool, not_after: datetime | None, renewal: datetime | None, standing: str
) -> None:
    assert standing_after_failure(has_key, not_after, renewal, NOW) == standing


def test_a_retarget_is_reported_as_such_though_the_old_key_is_not_on_the_new_application() -> None:
    state = observed(secret(client_id="old-app"), keys={"other": NOW + 60 * DAY})
    assert needs_new_secret(state, NOW) == "ApplicationChanged"


SETTLE = timedelta(minutes=2)


def _app(*keys: tuple[str, str, timedelta]) -> Application:
    """An application with keys (id, display name, lifetime left), all created a day ago."""
    return Application(
        "obj",
        "app",
        tuple(KeyInfo(key_id=k, display_name=name, end=NOW + left, start=NOW - DAY) for k, name, left in keys),
    )


def test_a_new_rollout_restarts_the_workloads_once_and_leaves_foreign_keys_alone() -> None:
    app = _app(
        ("old", "ours", DAY), ("new", "ours", 60 * DAY), ("stray", "ours", DAY), ("foreign", "someone else's", DAY)
    )
    first = plan_keys(Ledger(current="old"), "new", app, "ours", NOW, GRACE, True, True, TIMEOUT, SETTLE)
    assert first.restart and first.ledger.pending == ("old", NOW)
    assert first.loose == ("stray",) and first.due == ()
    again = plan_keys(first.ledger, "new", app, "ours", NOW, GRACE, True, False, TIMEOUT, SETTLE)
    assert not again.restart


def test_a_key_the_secret_names_that_is_not_ours_leaves_the_ledger_but_is_never_removed() -> None:
    """The tenant can edit its Secret's key-id: naming another credential's key must not get it retired."""
    app = _app(("theirs", "acs-smtp-operator billing/mailer 1234", DAY), ("new", "ours", 60 * DAY))
    retiring = Ledger(current="new", retiring=(("theirs", NOW - timedelta(seconds=1)),))
    keys = plan_keys(retiring, "new", app, "ours", NOW, GRACE, False, True, TIMEOUT, SETTLE)
    assert keys.due == () and keys.loose == ()
    assert "theirs" not in keys.ledger.referenced()


def test_a_second_rotation_inside_graphs_lag_takes_the_unlisted_key_through_rollout_and_grace() -> None:
    """Graph does not list key `b` yet (added moments ago); `c` replaces it, then `d`: `b` is never forgotten."""
    app = _app(("c", "ours", 60 * DAY))
    first = plan_keys(Ledger(current="b"), "c", app, "ours", NOW, GRACE, True, True, TIMEOUT, SETTLE)
    assert first.restart and first.ledger.pending == ("b", NOW)
    later = NOW + timedelta(seconds=10)
    second = plan_keys(first.ledger, "d", app, "ours", later, GRACE, True, False, TIMEOUT, SETTLE)
    assert ("b", later + GRACE) in second.ledger.retiring and second.ledger.pending == ("c", later)
    assert "b" in second.ledger.referenced() and second.loose == ()


def test_retirements_wait_for_their_time_and_for_the_switch_and_never_remove_the_current_target() -> None:
    app_a, app_b = "0b1f3a52-5c37-4fd2-9f44-3d2c6b1b6f0e", "1c2f3a52-5c37-4fd2-9f44-3d2c6b1b6f0e"
    acs = (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg"
        "/providers/Microsoft.Communication/communicationServices/shop"
    )
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    left_app = Retired(clientId=app_a, removeAfter=now)
    back_app = Retired(clientId=app_b, removeAfter=now)
    entry = Retired(smtpUsernameAt=acs, removeAfter=now)
    later = Retired(clientId=app_a, removeAfter=now + timedelta(seconds=1))
    retired = (left_app, back_app, entry, later)
    assert due_retirements(retired, now, app_b, acs, False, settling=True) == ()
    assert due_retirements(retired, now, app_b, acs, True, settling=False) == (
        (left_app, True),  # the application left: its keys go
        (back_app, False),  # the current application again: nothing to remove, the entry just goes
        (entry, False),  # the current resource still needs the smtpUsernames entry
    )
    assert due_retirements((entry,), now, app_b, acs, False, settling=False) == ((entry, True),)


def test_revoked_keys_wait_for_the_rollout_and_then_go_with_no_grace_period() -> None:
    """An emergency revocation: the leaked key stays until the restarted workloads rolled out (no login of theirs
    fails), then goes at once; an older key still in its grace period goes at once too."""
    before = Ledger(current="leaked", retiring=(("older", NOW + GRACE),))
    revoked = frozenset({"leaked", "older"})
    ledger, due = advance(before, "new", NOW, GRACE, True, False, TIMEOUT, revoked)
    assert ledger.pending == ("leaked", NOW) and due == ["older"] and ledger.retiring == ()
    later = NOW + timedelta(seconds=30)
    ledger, due = advance(ledger, "new", later, GRACE, True, False, TIMEOUT, revoked)
    assert due == [] and ledger.pending == ("leaked", NOW)  # still rolling out: the workloads still use it
    ledger, due = advance(ledger, "new", later, GRACE, True, True, TIMEOUT, revoked)
    assert due == ["leaked"] and ledger == Ledger(current="new")
    # Without restart targets nothing is waited for: the leaked key goes in the pass that switched the Secret.
    ledger, due = advance(Ledger(current="leaked"), "new", NOW, GRACE, False, False, TIMEOUT, frozenset({"leaked"}))
    assert due == ["leaked"] and ledger == Ledger(current="new")
