"""Pure patch semantics: JSON merge patch, a strategic-merge subset, and JSON patch."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

__all__ = ["PatchError", "apply_patch", "merge_patch", "strategic_merge_patch"]

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class PatchError(Exception):
    """A patch that cannot apply; `test_failed` for a failed JSON-patch test op."""

    def __init__(self, message: str, test_failed: bool = False) -> None:
        super().__init__(message)
        self.test_failed = test_failed


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Merge patch, except lists of named objects (containers, env, volumes...) merge by `name`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and _named(value) and _named(result.get(key)):
            result[key] = _merge_named(result[key], value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _named(items: Any) -> bool:
    return isinstance(items, list) and bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _merge_named(current: list[dict[str, Any]], patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = [dict(i) for i in current]
    for item in patch:
        index = next((n for n, c in enumerate(merged) if c.get("name") == item["name"]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(strategic_merge_patch({}, item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a patch of the given media type; raise PatchError when it cannot apply."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise PatchError("json patch must be a list of operations")
        try:
            result = jsonpatch.apply_patch(target, patch)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchError(
                f"the server rejected our request due to an error in our request: {exc}", test_failed=True
            ) from exc
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise PatchError(str(exc)) from exc
        if not isinstance(result, dict):
            raise PatchError("the patch replaced the whole object with a non-object")
        return result
    if not isinstance(patch, dict):
        raise PatchError("the patch must be a JSON object")
    if kind == MERGE:
        return dict(merge_patch(target, patch))
    if kind == STRATEGIC:
        return dict(strategic_merge_patch(target, patch))
    raise PatchError(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE}, {STRATEGIC}"
    )
