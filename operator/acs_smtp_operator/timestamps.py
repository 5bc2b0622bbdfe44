"""The one time format of status and annotations: whole seconds, UTC, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_stamp", "stamp"]


def stamp(moment: datetime) -> str:
    """`2026-11-28T10:00:00Z`: how every time in status and annotations is written (and then compared)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_stamp(text: object) -> datetime | None:
    """A time as `stamp` writes it (any ISO 8601 form is read), or None for nothing or garbage."""
    if not text or not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
