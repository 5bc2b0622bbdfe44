"""`rotate`'s reading of the operator's answer to a rotation or revocation request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acs_smtp_operator.answer import answer, deferral, last_seen, request_value
from acs_smtp_operator.vocabulary import REVOKE, ROTATE

NOW = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
ASKED = "2026-11-29T12:00:00.123456Z"


def credential(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "shop-mailer", "namespace": "shop"}, "status": status}


def test_the_request_value_is_fresh_to_the_microsecond() -> None:
    assert request_value(NOW) == ASKED
    assert request_value(NOW + timedelta(microseconds=1)) != ASKED


def test_a_rotation_is_answered_only_when_status_names_this_very_value() -> None:
    assert answer(credential(rotateRequestHandled="earlier", currentKeyId="k1"), ROTATE, ASKED).state == "pending"
    handled = answer(credential(rotateRequestHandled=ASKED, currentKeyId="k2"), ROTATE, ASKED)
    assert (handled.state, handled.key_id) == ("handled", "k2")
    old_deferral = credential(rotateRequestDeferred={"request": "earlier", "until": "2026-11-29T13:00:00Z"})
    assert answer(old_deferral, ROTATE, ASKED).state == "pending"


def test_a_deferred_rotation_says_until_when_and_why() -> None:
    body = credential(
        rotateRequestDeferred={"request": ASKED, "until": "2026-11-29T12:04:10Z"},
        policy="shop",
        lastRotationTime="2026-11-29T11:04:10Z",
    )
    deferred = answer(body, ROTATE, ASKED)
    assert deferred.state == "deferred" and deferred.until == datetime(2026, 11, 29, 12, 4, 10, tzinfo=UTC)
    assert deferral(body, deferred.until, NOW) == (
        "deferred until 2026-11-29T12:04:10Z (in 4m 9s): the least time between rotations (policy shop's "
        "minRotationInterval, at least the operator's ACSSMTP_MIN_MANUAL_INTERVAL) has not passed since the last "
        "rotation at 2026-11-29T11:04:10Z"
    )


def test_a_revocation_is_refused_or_handled_with_the_old_keys_still_to_remove() -> None:
    refused = answer(credential(revokeRequestRefused={"request": ASKED, "message": "limit reached"}), REVOKE, ASKED)
    assert (refused.state, refused.message) == ("refused", "limit reached")
    body = credential(revokeRequestHandled=ASKED, currentKeyId="k3", revokedKeys=["k1", "k2"])
    handled = answer(body, REVOKE, ASKED)
    assert (handled.state, handled.key_id, handled.revoked_keys) == ("handled", "k3", ("k1", "k2"))
    done = answer(credential(revokeRequestHandled=ASKED, currentKeyId="k3"), REVOKE, ASKED)
    assert done.revoked_keys == ()
    # A pass that switched the Secret and then failed: the ledger still names the old key, issuedKeyId the new.
    cut = answer(credential(revokeRequestHandled=ASKED, currentKeyId="k1", issuedKeyId="k3", revokedKeys=["k1"]),
                 REVOKE, ASKED)  # fmt: skip
    assert (cut.key_id, cut.revoked_keys) == ("k3", ("k1",))
    # The rotation's fields answer a rotation only, and a revocation's a revocation.
    assert answer(credential(rotateRequestHandled=ASKED), REVOKE, ASKED).state == "pending"
    assert answer(credential(revokeRequestHandled=ASKED), ROTATE, ASKED).state == "pending"


def test_an_annotation_that_is_no_request_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not a request annotation"):
        answer(credential(), "acssmtp.io/other", ASKED)


def test_what_was_last_seen_names_ready_and_a_failing_sync_without_control_characters() -> None:
    assert "is the operator running" in last_seen(credential())
    body = credential(
        conditions=[
            {"type": "Ready", "status": "True", "reason": "Ready", "message": "fine"},
            {"type": "Synced", "status": "False", "reason": "AzureUnavailable", "message": "ARM 503\x1b[2J"},
        ]
    )
    assert last_seen(body) == "Ready=True (Ready) fine; Synced=False (AzureUnavailable) ARM 503 [2J"
    synced = credential(conditions=[{"type": "Synced", "status": "True", "reason": "Synced", "message": "ok"}])
    assert "is the operator running" in last_seen(synced)
