"""The comparison the replay rests on finds what a user of the emulator would trip over."""

from __future__ import annotations

from tests.conformance.cases import ENUMS, MAPS
from tests.conformance.replay import Known, unexplained
from tests.conformance.shapes import Difference, compare


def test_a_renamed_retyped_or_missing_property_is_found() -> None:
    example = {"properties": {"linkedDomains": ["a"], "disableLocalAuth": False, "hostName": "h"}, "id": "x"}
    emulated = {"properties": {"linked_domains": ["a"], "disableLocalAuth": "false"}, "id": "y"}
    assert compare(example, emulated) == [
        Difference("$.properties.disableLocalAuth", "type", "boolean in the example, string here"),
        Difference("$.properties.hostName", "missing"),
        Difference("$.properties.linkedDomains", "missing"),
        Difference("$.properties.linked_domains", "extra"),
    ]


def test_array_elements_nesting_and_enum_values_are_compared() -> None:
    example = {"value": [{"properties": {"principalType": "User", "scope": "/s"}}]}
    assert (
        compare(example, {"value": [{"properties": {"principalType": "ServicePrincipal", "scope": "/t"}}]}, ENUMS) == []
    )
    wrong = {"value": [{"properties": {"principalType": "App", "scope": ["/t"]}}]}
    found = compare(example, wrong, ENUMS)
    assert [(d.path, d.kind) for d in found] == [
        ("$.value[].properties.principalType", "enum"),
        ("$.value[].properties.scope", "type"),
    ]
    assert compare(example, {"value": []}) == [
        Difference("$.value[]", "empty", "the example has elements, the answer none")
    ]


def test_a_null_in_the_example_says_nothing_of_the_type() -> None:
    assert compare({"customKeyIdentifier": None}, {"customKeyIdentifier": "abc"}) == []


def test_a_listed_difference_that_no_longer_occurs_is_reported() -> None:
    known = Known("domains/get", "$.properties.verificationStates.SPF", "extra", "spec defines it")
    assert known.covers("domains/get", Difference("$.properties.verificationStates.SPF", "extra"))
    assert not known.covers("domains/get", Difference("$.properties.verificationStates.SPF", "missing"))
    # The real list: an entry of a case whose difference is gone is stale.
    loose, stale = unexplained("smtpUsername/getAll", [])
    assert not loose and {k.path for k in stale} == {"$.nextLink"}


def test_entries_of_a_map_take_the_shape_of_the_examples_entry() -> None:
    """verificationStates shows `Domain` only: the emulator's SPF, DKIM... are checked against it, enum included."""
    example = {"properties": {"verificationStates": {"Domain": {"status": "Verified", "errorCode": ""}}}}
    good = {"properties": {"verificationStates": {"Domain": {"status": "Verified", "errorCode": ""},
                                                   "SPF": {"status": "NotStarted", "errorCode": ""}}}}  # fmt: skip
    assert compare(example, good, ENUMS, maps=MAPS) == []
    bad = {"properties": {"verificationStates": {"Domain": {"status": "Verified", "errorCode": ""},
                                                  "SPF": {"status": "Fine", "error": ""}}}}  # fmt: skip
    assert [(d.path, d.kind) for d in compare(example, bad, ENUMS, maps=MAPS)] == [
        ("$.properties.verificationStates.SPF.error", "extra"),
        ("$.properties.verificationStates.SPF.errorCode", "missing"),
        ("$.properties.verificationStates.SPF.status", "enum"),
    ]
    # Outside a map, an extra is listed, and the enums inside it are still checked.
    assert [(d.path, d.kind) for d in compare({"properties": {}}, bad, ENUMS)] == [
        ("$.properties.verificationStates", "extra"),
        ("$.properties.verificationStates.SPF.status", "enum"),
    ]
