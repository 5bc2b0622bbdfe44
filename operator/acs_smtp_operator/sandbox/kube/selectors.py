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
    parts, depth, current = [], 0, ""
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


def label_matcher(selector: str) -> Callable[[Mapping[str, str]], bool]:
    tests: list[Callable[[Mapping[str, str]], bool]] = []
    for term in _split(selector):
        if m := _SET.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                tests.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                tests.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif m := _EQ.match(term):
            key, op, value = m.group(1), m.group(2), m.group(3)
            if op == "!=":
                tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif m := _EXISTS.match(term):
            negate, key = m.group(1) == "!", m.group(2)
            tests.append(lambda labels, k=key, n=negate: (k in labels) != n)
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")
    return lambda labels: all(test(labels) for test in tests)


def field_matcher(selector: str) -> Callable[[Mapping[str, Any]], bool]:
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    for term in _split(selector):
        m = _EQ.match(term)
        if m is None:
            raise SelectorError(f"invalid field selector: {term!r}")
        path, op, value = m.group(1).split("."), m.group(2), m.group(3)

        def lookup(obj: Mapping[str, Any], path: list[str] = path) -> str:
            current: Any = obj
            for part in path:
                current = current.get(part) if isinstance(current, Mapping) else None
            return "" if current is None else str(current)

        if op == "!=":
            tests.append(lambda obj, f=lookup, v=value: f(obj) != v)
        else:
            tests.append(lambda obj, f=lookup, v=value: f(obj) == v)
    return lambda obj: all(test(obj) for test in tests)
