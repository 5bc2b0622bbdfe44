from typing import Any

import pytest

from acs_smtp_operator.sandbox.kube.patching import PatchError, apply_patch

MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
JSONP = "application/json-patch+json"

CASES: list[tuple[str, str, dict[str, Any], Any, dict[str, Any]]] = [
    (
        "a merge patch sets nested keys and keeps the others",
        MERGE,
        {"a": {"b": 1, "c": 2}},
        {"a": {"b": 3}},
        {"a": {"b": 3, "c": 2}},
    ),
    ("a null in a merge patch deletes the key", MERGE, {"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    ("a merge patch replaces lists whole", MERGE, {"l": [1, 2]}, {"l": [3]}, {"l": [3]}),
    (
        "a strategic patch merges containers by name",
        SMP,
        {"c": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
        {"c": [{"name": "b", "image": "z"}]},
        {"c": [{"name": "a", "image": "x"}, {"name": "b", "image": "z"}]},
    ),
    (
        "a strategic patch can delete a named item",
        SMP,
        {"c": [{"name": "a"}, {"name": "b"}]},
        {"c": [{"name": "a", "$patch": "delete"}]},
        {"c": [{"name": "b"}]},
    ),
    (
        "a json patch applies its operations in order",
        JSONP,
        {"m": {"f": ["x"]}},
        [{"op": "add", "path": "/m/f/-", "value": "y"}, {"op": "remove", "path": "/m/f/0"}],
        {"m": {"f": ["y"]}},
    ),
]


@pytest.mark.parametrize(("name", "kind", "target", "patch", "expected"), CASES, ids=[c[0] for c in CASES])
def test_patch_semantics(name: str, kind: str, target: dict[str, Any], patch: Any, expected: dict[str, Any]) -> None:
    assert apply_patch(kind, target, patch) == expected


def test_a_failed_json_patch_test_is_reported_as_such() -> None:
    """kopf's finalizer patches start with a `test` op; a mismatch must read as a test failure."""
    with pytest.raises(PatchError) as info:
        apply_patch(
            JSONP,
            {"metadata": {"resourceVersion": "5"}},
            [{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}],
        )
    assert info.value.test_failed


def test_an_unknown_media_type_is_refused() -> None:
    with pytest.raises(PatchError):
        apply_patch("application/apply-patch+yaml", {}, {})
