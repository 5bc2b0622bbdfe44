"""Pure condition bookkeeping: set a condition, keeping its transition time when its status holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["CONDITION_TYPES", "set_condition", "stamp"]

CONDITION_TYPES = ("Ready", "Synced", "DomainLinked", "RoleReady", "SecretReady")


def stamp(moment: datetime) -> str:
    """Whole seconds, UTC, `Z` — how every time in status is written (and then compared)."""
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """A new list with `type_` set; lastTransitionTime moves only when the status changes."""
    text = "Unknown" if status is None else "True" if status else "False"
    previous = next((c for c in conditions if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != text
    condition: dict[str, Any] = {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp(now) if changed or previous is None else previous.get("lastTransitionTime"),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [c for c in conditions if c.get("type") != type_]
    rank = {name: n for n, name in enumerate(CONDITION_TYPES)}
    return sorted([*others, condition], key=lambda c: rank.get(c["type"], len(rank)))
