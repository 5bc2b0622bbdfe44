"""Pure label- and field-selector matching, as `?labelSelector=` and `?fieldSelector=` take them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SelectorError", "field_matcher", "label_matcher"]

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)([\w./-]+)\s*$")


class SelectorError(ValueError):
    pass


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside a set's parentheses."""
    parts: list[str] = []
    depth, current = 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


Labels = Mapping[str, str]


def _label_test(term: str) -> Callable[[Labels], bool]:
    if m := _SET.match(term):
        key, values = m.group(1), {v.strip() for v in m.group(3).split(",")}
        wanted = m.group(2) == "in"
        return lambda labels: (labels.get(key) in values) is wanted
    if m := _EQ.match(term):
        key, value = m.group(1), m.group(3)
        equal = m.group(2) != "!="
        return lambda labels: (labels.get(key) == value) is equal
    if m := _EXISTS.match(term):
        key, present = m.group(2), m.group(1) != "!"
        return lambda labels: (key in labels) is present
    raise SelectorError(f"unable to parse requirement: {term!r}")


def label_matcher(selector: str) -> Callable[[Labels], bool]:
    tests = [_label_test(term) for term in _split(selector)]
    return lambda labels: all(test(labels) for test in tests)


def _lookup(obj: Mapping[str, Any], path: list[str]) -> str:
    current: Any = obj
    for part in path:
        current = current.get(part) if isinstance(current, Mapping) else None
    return "" if current is None else str(current)


def _field_test(term: str) -> Callable[[Mapping[str, Any]], bool]:
    m = _EQ.match(term)
    if m is None:
        raise SelectorError(f"invalid field selector: {term!r}")
    path, value, equal = m.group(1).split("."), m.group(3), m.group(2) != "!="
    return lambda obj: (_lookup(obj, path) == value) is equal


def field_matcher(selector: str) -> Callable[[Mapping[str, Any]], bool]:
    tests = [_field_test(term) for term in _split(selector)]
    return lambda obj: all(test(obj) for test in tests)
