"""`kubectl acssmtp list`: every credential on one line each, as `kubectl get` shows objects.

Pure: the command lists the credentials (`kube/inspect.py`); this module makes the rows, the table and the JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from acs_smtp_operator.describe import printable
from acs_smtp_operator.model import ConditionType
from acs_smtp_operator.status import Status
from acs_smtp_operator.timestamps import parse_stamp, stamp

__all__ = ["COLUMNS", "Row", "as_json", "human_duration", "row", "table"]

COLUMNS = ("NAMESPACE", "NAME", "READY", "REASON", "EXPIRES", "NEXT-ROTATION", "AGE")


class Row(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str
    name: str
    ready: str  # True | False | Unknown (Unknown: the operator has not reported yet)
    reason: str
    message: str
    expires: datetime | None  # the current key's notAfter
    next_rotation: datetime | None  # renewalTime
    created: datetime | None


def row(credential: dict[str, Any]) -> Row:
    meta = credential.get("metadata") or {}
    status = Status.read(credential.get("status"))
    ready = status.condition(ConditionType.READY)
    return Row(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        ready=ready.status if ready else "Unknown",
        reason=ready.reason if ready else "",
        message=ready.message if ready else "",
        expires=status.not_after,
        next_rotation=status.renewal_time,
        created=parse_stamp(meta.get("creationTimestamp")),
    )


def human_duration(seconds: int) -> str:
    """kubectl's rendering of an age (apimachinery's `duration.HumanDuration`): `45s`, `5m3s`, `4h12m`, `89d`."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        years, rest = divmod(days, 365)
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{days // 365}y"


def _until(moment: datetime | None, now: datetime, past: str) -> str:
    if moment is None:
        return "<none>"
    left = int((moment - now).total_seconds())
    return past if left <= 0 else human_duration(left)


def _cells(found: Row, now: datetime, namespaces: bool) -> list[str]:
    cells = [
        found.name,
        found.ready,
        found.reason or "<none>",
        _until(found.expires, now, "expired"),
        _until(found.next_rotation, now, "due"),
        "<unknown>" if found.created is None else human_duration(int((now - found.created).total_seconds())),
    ]
    return [printable(c) for c in ([found.namespace, *cells] if namespaces else cells)]


def table(rows: list[Row], now: datetime, namespaces: bool) -> list[str]:
    """The rows under their headings, in columns three spaces apart; the NAMESPACE column only for
    `--all-namespaces`, as `kubectl get` does. EXPIRES and NEXT-ROTATION count down (`expired`, `due` once
    passed), AGE counts up."""
    heads = list(COLUMNS if namespaces else COLUMNS[1:])
    body = [_cells(r, now, namespaces) for r in sorted(rows, key=lambda r: (r.namespace, r.name))]
    widths = [max(len(line[i]) for line in [heads, *body]) for i in range(len(heads))]
    return ["   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [heads, *body]]


def as_json(rows: list[Row], now: datetime) -> dict[str, Any]:
    """`-o json`: the same rows, times as status writes them, with the seconds left until each."""

    def moment(at: datetime | None) -> dict[str, Any] | None:
        return None if at is None else {"at": stamp(at), "inSeconds": int((at - now).total_seconds())}

    return {
        "items": [
            {
                "namespace": r.namespace,
                "name": r.name,
                "ready": r.ready,
                "reason": r.reason,
                "message": r.message,
                "expires": moment(r.expires),
                "nextRotation": moment(r.next_rotation),
                "created": stamp(r.created) if r.created else None,
            }
            for r in sorted(rows, key=lambda r: (r.namespace, r.name))
        ]
    }
