"""What the coordinator remembers of a pass for the schedule, and when a new key is taken back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from acs_smtp_operator.act import _refused
from acs_smtp_operator.coordinator import Coordinator
from acs_smtp_operator.failure import After, Failure, UntilSpecChanges
from acs_smtp_operator.model import Reason
from acs_smtp_operator.ports import Ports
from acs_smtp_operator.reconcile import Outcome
from acs_smtp_operator.schedule import Streak
from acs_smtp_operator.settings import Settings
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Tenancy

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class _Only:
    """The one port the streak reads: the settings."""

    settings = Settings(tenant_id="t")


def _streak(before: Streak, outcome: Outcome, retried_by_kopf: bool = False) -> Streak:
    coordinator = Coordinator(cast(Ports, _Only()), lambda body: lambda *event: None, Tenancy, clock=lambda: NOW)
    return coordinator._streak(before, outcome, NOW, retried_by_kopf)


def test_failures_count_up_and_keep_the_retry_after_azure_sent() -> None:
    throttled = Outcome(status=Status(), failure=Failure(Reason.THROTTLED, "429", retry=After(30)))
    after = _streak(Streak(failures=2), throttled)
    assert (after.failures, after.retry_after, after.retried_by_kopf, after.at) == (3, 30, False, NOW)


def test_bad_input_is_left_to_a_spec_change_as_if_kopf_retried_it() -> None:
    invalid = Outcome(status=Status(), failure=Failure(Reason.INVALID_SPEC, "bad", retry=UntilSpecChanges()))
    assert _streak(Streak(), invalid).retried_by_kopf


def test_a_success_that_leaves_a_due_time_behind_counts_as_behind_and_a_clean_one_resets() -> None:
    stuck = Outcome(status=Status(renewalTime=NOW - timedelta(days=1)))
    assert _streak(Streak(behind=1), stuck) == Streak(behind=2, at=NOW)
    clean = Outcome(status=Status(renewalTime=NOW + timedelta(days=1)))
    assert _streak(Streak(failures=4, behind=2), clean) == Streak()


@pytest.mark.parametrize(
    ("failure", "taken_back"),
    [
        (Failure(Reason.KUBERNETES_FORBIDDEN, "403", status=403), True),
        (Failure(Reason.OBJECT_CHANGED, "409", status=409), False),
        (Failure(Reason.INVALID_SPEC, "template"), True),
        (Failure(Reason.KUBERNETES_ERROR, "503", status=503), False),
        (Failure(Reason.KUBERNETES_ERROR, "unreachable"), False),
    ],
    ids=[
        "a refused write certainly did not happen",
        "a conflict may answer the resend of an applied write",
        "a template that broke on the value was never sent",
        "a 5xx may have been written",
        "an unreachable API server may have written it",
    ],
)
def test_a_new_key_is_taken_back_only_when_the_secret_write_certainly_failed(
    failure: Failure, taken_back: bool
) -> None:
    assert _refused(failure) == taken_back
