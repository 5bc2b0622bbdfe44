"""Pure server-side printing: the `Table` kubectl asks for, with a CRD's additionalPrinterColumns."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["humanize_age", "jsonpath", "to_table"]

_FILTER = re.compile(r'^\?\(@\.([\w.]+)\s*==\s*["\']([^"\']*)["\']\)$')


def _segments(path: str) -> list[str]:
    """Split `.a.b[?(@.x=="y")].c[0]` into ['a', 'b', '?(@.x=="y")', 'c', '0']."""
    out, current, depth = [], "", 0
    for char in path.lstrip("."):
        if char == "[" and depth == 0:
            if current:
                out.append(current)
            current, depth = "", 1
        elif char == "]" and depth == 1:
            out.append(current)
            current, depth = "", 0
        elif char == "." and depth == 0:
            if current:
                out.append(current)
            current = ""
        else:
            current += char
    if current:
        out.append(current)
    return out


def jsonpath(obj: Any, path: str) -> Any:
    """The value at a (simple) JSONPath, or None: fields, [N] and [?(@.field=="value")]."""
    values = [obj]
    for segment in _segments(path):
        nxt: list[Any] = []
        for value in values:
            if (m := _FILTER.match(segment)) and isinstance(value, list):
                nxt += [i for i in value if str(jsonpath(i, m.group(1))) == m.group(2)]
            elif segment.isdigit() and isinstance(value, list):
                nxt += [value[int(segment)]] if int(segment) < len(value) else []
            elif isinstance(value, dict) and segment in value:
                nxt.append(value[segment])
        values = nxt
    return values[0] if values else None


def humanize_age(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def to_table(
    objects: list[dict[str, Any]], columns: list[dict[str, Any]], resource_version: str, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    columns = columns or [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}] + [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in columns
    ]
    rows = []
    for obj in objects:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in columns:
            value = jsonpath(obj, column["jsonPath"])
            if column.get("type") == "date":
                value = humanize_age(value, now) if value else "<none>"
            cells.append("<none>" if value is None else value)
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
