"""`status`'s reading of a credential: the lines a person on call reads, from what could be read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from acs_smtp_operator.describe import Found, Workload, lines, summarize
from acs_smtp_operator.kube.workloads import rollout

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def credential(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop-mailer", "namespace": "shop", "uid": "u-1"},
        "spec": {"restartTargets": [{"kind": "Deployment", "name": "shop-web"}]},
        "status": status,
    }


def event(reason: str, at: str, kind: str = "Normal", count: int = 1) -> dict[str, Any]:
    return {"type": kind, "reason": reason, "message": f"{reason} happened", "lastTimestamp": at, "count": count}


ROTATED = {
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "Ready", "message": "SMTP credentials are in Secret s"},
        {"type": "Synced", "status": "False", "reason": "Throttled", "message": "ARM answered 429"},
        {"type": "RoleReady", "status": "True", "reason": "RoleAssigned", "message": "assigned"},
    ],
    "policy": "shop",
    "username": "acs.app.tenant",
    "secretName": "shop-mailer-smtp",
    "currentKeyId": "new-key",
    "notAfter": "2027-02-27T12:00:00Z",
    "renewalTime": "2027-01-28T12:00:00Z",
    "lastRotationTime": "2026-11-29T11:00:00Z",
    "lastRotationReason": "RenewalDue",
    "retiringKeys": [{"keyId": "old-key", "removeAfter": "2026-11-30T11:00:00Z"}],
    "pendingRollout": {"keyId": "older-key", "since": "2026-11-29T11:50:00Z"},
}


def test_a_rotated_credential_shows_its_keys_grace_period_and_rollout() -> None:
    summary = summarize(
        credential(**ROTATED),
        Found(state="found", body={"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        Found(state="found", body={"metadata": {"annotations": {"acssmtp.io/key-id": "new-key"}}}),
        [Workload(kind="Deployment", name="shop-web", state="rolling-out", detail="1/2 updated, 2 ready, 1 old")],
        [event("SecretIssued", "2026-11-29T11:00:00Z"), event("RoleAssigned", "2026-11-29T10:00:00Z")],
        NOW,
    )
    text = "\n".join(lines(summary, NOW))
    assert "Ready:            True (Ready) SMTP credentials are in Secret s" in text
    assert "Synced:           False (Throttled) ARM answered 429" in text, "a failing pass is shown even when Ready"
    assert "RoleReady" not in text, "conditions that are fine are not repeated"
    assert "Policy:           shop: permits it; the policy is in force" in text
    assert "Secret:           shop/shop-mailer-smtp (present, holds key new-key)" in text
    assert "Current key:      new-key, expires 2027-02-27T12:00:00Z (in 90d)" in text
    assert "Next rotation:    2027-01-28T12:00:00Z (in 60d)" in text
    assert "Grace period:     key old-key stays valid until 2026-11-30T11:00:00Z (in 23h)" in text
    assert "Awaiting rollout: old key older-key since 2026-11-29T11:50:00Z" in text
    assert "Restart target:   Deployment shop-web rolling-out: 1/2 updated, 2 ready, 1 old" in text
    events = text.split("Events (last 2):\n", 1)[1].splitlines()
    assert "RoleAssigned" in events[0] and "SecretIssued" in events[1], "oldest first, newest last"
    assert events[1].strip().startswith("1h ago")


def test_what_cannot_be_read_is_said_not_fatal() -> None:
    summary = summarize(
        credential(**{**ROTATED, "retiringKeys": [], "pendingRollout": None}),
        Found(state="unreadable", why="Kubernetes answered 403 Forbidden"),
        Found(state="absent"),
        [Workload(kind="Deployment", name="shop-web", state="absent")],
        [],
        NOW,
    )
    text = "\n".join(lines(summary, NOW))
    assert "shop: recorded; the policy could not be read (Kubernetes answered 403 Forbidden)" in text
    hidden = summarize(
        credential(), Found(state="absent"), Found(state="absent"), [], [], NOW, 5, "Kubernetes answered 403"
    )
    assert "Events: could not be read (Kubernetes answered 403)" in "\n".join(lines(hidden, NOW))
    assert "(missing: the next pass writes it again)" in text
    assert "Restart target:   Deployment shop-web absent" in text
    assert text.rstrip().endswith("Events: none")


def test_a_new_credential_and_an_overdue_rotation() -> None:
    fresh = summarize(
        {"metadata": {"name": "n", "namespace": "ns"}, "spec": {}},
        Found(state="absent"),
        Found(state="absent"),
        [],
        [],
        NOW,
    )
    text = "\n".join(lines(fresh, NOW))
    assert "Ready:" in text and "Unknown: the operator has not reported on it yet" in text
    assert "Secret:" in text and "ns/n-smtp (not written yet)" in text
    assert "none (pods reading the mounted files pick up a new password themselves)" in text
    overdue = summarize(
        credential(**{**ROTATED, "renewalTime": "2026-11-29T10:00:00Z"}),
        Found(state="absent"),
        Found(state="absent"),
        [],
        [],
        NOW,
    )
    assert "Next rotation:    2026-11-29T10:00:00Z (due now)" in "\n".join(lines(overdue, NOW))


def test_the_last_events_only_and_json_holds_no_secret_data() -> None:
    many = [event(f"E{i}", f"2026-11-29T11:{i:02d}:00Z", count=i) for i in range(10)]
    summary = summarize(
        credential(**ROTATED),
        Found(state="absent"),
        Found(state="found", body={"metadata": {}}),
        [],
        many,
        NOW,
        last=3,
    )
    assert [e.reason for e in summary.events] == ["E7", "E8", "E9"]
    assert "(x9)" in "\n".join(lines(summary, NOW))
    dumped = json.loads(json.dumps(summary.model_dump(mode="json")))
    assert dumped["ready"]["status"] == "True" and dumped["grace_period"][0]["key_id"] == "old-key"
    assert dumped["current_key"]["in_seconds"] == 90 * 86400
    assert dumped["next_rotation"]["key_id"] is None and dumped["next_rotation"]["at"] == "2027-01-28T12:00:00Z"


def test_rollout_states_as_kubectl_rollout_status_judges_them() -> None:
    def deployment(generation: int, observed: int, **status: int) -> dict[str, Any]:
        return {
            "metadata": {"generation": generation},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": observed, **status},
        }

    assert not rollout("Deployment", deployment(2, 1, updatedReplicas=2, readyReplicas=2, replicas=2)).complete
    done = rollout("Deployment", deployment(2, 2, updatedReplicas=2, readyReplicas=2, replicas=2))
    assert done.complete and done.detail == "2/2 updated, 2 ready"
    rolling = rollout("Deployment", deployment(2, 2, updatedReplicas=1, readyReplicas=2, replicas=3))
    assert not rolling.complete and rolling.detail == "1/2 updated, 2 ready, 2 old"
    daemons = {
        "metadata": {},
        "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2},
    }
    assert rollout("DaemonSet", daemons).detail == "3/3 updated, 2 available"


def test_what_others_wrote_cannot_drive_the_terminal() -> None:
    """Condition types and messages, Events: anyone who can write them could send escape sequences or forge a
    line; the text output shows them as plain spaces, on their own line."""
    forged = {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "X", "message": "bad\n  Ready:            True (Ready)"},
            {"type": "Evil\x1b[2J", "status": "False", "reason": "Y", "message": "\x1b[31mred"},
        ]
    }
    summary = summarize(
        credential(**forged),
        Found(state="absent"),
        Found(state="absent"),
        [],
        [event("Spoof\x1b]0;title\x07", "2026-11-29T11:00:00Z")],
        NOW,
    )
    out = lines(summary, NOW)
    assert not any(ch in line for line in out for ch in ("\x1b", "\x07", "\n"))
    assert sum(line.strip().startswith("Ready:") for line in out) == 1, "no forged Ready line"
