"""`list`: one line per credential, as `kubectl get` shows objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acs_smtp_operator.listing import as_json, human_duration, row, table

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def credential(namespace: str, name: str, created: datetime, **status: Any) -> dict[str, Any]:
    meta = {"namespace": namespace, "name": name, "creationTimestamp": created.isoformat().replace("+00:00", "Z")}
    return {"metadata": meta, "status": status}


READY = {"type": "Ready", "status": "True", "reason": "Ready", "message": "in Secret x"}


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (5 * 60 + 3, "5m3s"),
        (9 * 60, "9m"),
        (150 * 60, "150m"),
        (4 * 3600 + 12 * 60, "4h12m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (89 * 86400 + 3600, "89d"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_durations_read_as_kubectl_writes_ages(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_the_table_has_kubectls_columns_and_the_namespace_only_across_namespaces() -> None:
    rows = [
        row(
            credential(
                "shop",
                "shop-mailer",
                NOW - timedelta(days=3),
                conditions=[READY],
                notAfter=(NOW + timedelta(days=89, hours=1)).isoformat(),
                renewalTime=(NOW + timedelta(days=59)).isoformat(),
            )
        ),
        row(credential("billing", "invoices", NOW - timedelta(minutes=5))),
        row(
            credential(
                "billing",
                "late",
                NOW - timedelta(days=400),
                conditions=[{"type": "Ready", "status": "False", "reason": "Expired", "message": "gone"}],
                notAfter=(NOW - timedelta(hours=1)).isoformat(),
                renewalTime=(NOW - timedelta(days=30)).isoformat(),
            )
        ),
    ]
    assert table(rows, NOW, namespaces=True) == [
        "NAMESPACE   NAME          READY     REASON    EXPIRES   NEXT-ROTATION   AGE",
        "billing     invoices      Unknown   <none>    <none>    <none>          5m",
        "billing     late          False     Expired   expired   due             400d",
        "shop        shop-mailer   True      Ready     89d       59d             3d",
    ]
    assert table(rows[:1], NOW, namespaces=False) == [
        "NAME          READY   REASON   EXPIRES   NEXT-ROTATION   AGE",
        "shop-mailer   True    Ready    89d       59d             3d",
    ]


def test_json_keeps_the_times_and_the_seconds_left() -> None:
    body = credential("shop", "m", NOW - timedelta(days=1), conditions=[READY], notAfter="2026-11-30T12:00:00Z")
    [item] = as_json([row(body)], NOW)["items"]
    assert item == {
        "namespace": "shop",
        "name": "m",
        "ready": "True",
        "reason": "Ready",
        "message": "in Secret x",
        "expires": {"at": "2026-11-30T12:00:00Z", "inSeconds": 86400},
        "nextRotation": None,
        "created": "2026-11-28T12:00:00Z",
    }


def test_a_reason_written_into_status_cannot_move_the_terminal() -> None:
    body = credential("shop", "m", NOW, conditions=[{**READY, "status": "False", "reason": "Bad\x1b[2Jreason"}])
    [_, line] = table([row(body)], NOW, namespaces=False)
    assert "\x1b" not in line and "Bad [2Jreason" in line
