"""The shape of a JSON document and how two shapes differ: property names, JSON types, nesting, enum values.

Values are not compared (an example's ids, names and dates are the example's own), except where a property is
an enum: there the value must be one the spec allows.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Difference", "compare", "json_type"]


@dataclass(frozen=True, order=True)
class Difference:
    path: str  # `$.properties.verificationStates.SPF`; `[]` stands for every element of an array
    kind: str  # missing | extra | type | enum | empty
    detail: str = ""

    def key(self) -> tuple[str, str]:
        return self.path, self.kind


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _enum_of(path: str, enums: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    for pattern, allowed in enums.items():
        if fnmatch.fnmatchcase(path, pattern):
            return allowed
    return None


def _enums_within(value: Any, enums: Mapping[str, frozenset[str]], path: str) -> list[Difference]:
    """The enum values anywhere under a property the example does not show (an extra is still checked there)."""
    if isinstance(value, dict):
        return [d for k, v in value.items() for d in _enums_within(v, enums, f"{path}.{k}")]
    if isinstance(value, list):
        return [d for v in value for d in _enums_within(v, enums, f"{path}[]")]
    allowed = _enum_of(path, enums)
    if allowed is not None and isinstance(value, str) and value not in allowed:
        return [Difference(path, "enum", f"the emulator's {value!r} is not one of {sorted(allowed)}")]
    return []


def compare(
    expected: Any,
    actual: Any,
    enums: Mapping[str, frozenset[str]] | None = None,
    path: str = "$",
    maps: frozenset[str] = frozenset(),
) -> list[Difference]:
    """How `actual` (the emulator's answer) differs in shape from `expected` (Azure's example).

    An array's elements are each compared with the example's first element; an example's empty array says
    nothing of its elements' shape. `enums` maps a path pattern (fnmatch, e.g. `$.properties.principalType`
    or `$.value[].properties.verificationStates.*.status`) to the values the spec allows there; both the
    example's and the emulator's values are checked against it, inside properties the example does not show as
    well. A `null` in the example says nothing (the property is nullable, or the example leaves it unset).
    `maps`: path patterns of objects whose keys are entries of one shape (e.g. `verificationStates`, keyed by
    record): a key the example does not show is compared with the shape of the example's first entry.
    """
    enums = enums or {}
    found: list[Difference] = []
    expected_type, actual_type = json_type(expected), json_type(actual)
    if expected_type == "null":  # nullable, or its type unknown: the example says nothing of it
        return []
    if expected_type != actual_type:
        return [Difference(path, "type", f"{expected_type} in the example, {actual_type} here")]
    allowed = _enum_of(path, enums)
    if allowed is not None and expected_type == "string":
        for who, value in (("example", expected), ("emulator", actual)):
            if value and value not in allowed:  # '' is a blanked value (the Graph shapes)
                found.append(Difference(path, "enum", f"the {who}'s {value!r} is not one of {sorted(allowed)}"))
    if expected_type == "object":
        for name in expected:
            if name not in actual:
                found.append(Difference(f"{path}.{name}", "missing"))
            else:
                found.extend(compare(expected[name], actual[name], enums, f"{path}.{name}", maps))
        in_map = _enum_of(path, {p: frozenset() for p in maps}) is not None
        entry = next(iter(expected.values()), None) if in_map else None
        for name in (n for n in actual if n not in expected):
            if entry is not None:  # another entry of the map: the example's entries show its shape
                found.extend(compare(entry, actual[name], enums, f"{path}.{name}", maps))
            else:
                found.append(Difference(f"{path}.{name}", "extra"))
                found.extend(_enums_within(actual[name], enums, f"{path}.{name}"))
    elif expected_type == "array" and expected:
        if not actual:
            found.append(Difference(f"{path}[]", "empty", "the example has elements, the answer none"))
        for element in actual:
            found.extend(compare(expected[0], element, enums, f"{path}[]", maps))
    return sorted(set(found))
