"""One spelling of an ARM id for every comparison: case, dashes, percent-encoding and a trailing slash."""

from __future__ import annotations

import pytest

from acs_smtp_operator.identity import assignment_parts
from acs_smtp_operator.ids import canonical, dashed_guid, same_id

SUB = "0b7d2c55-4a5c-4f7e-9d56-acd5a1f0c0de"
ACS = f"/subscriptions/{SUB}/resourceGroups/rg-mail/providers/Microsoft.Communication/communicationServices/shop"
ASSIGNMENT = f"{ACS}/providers/Microsoft.Authorization/roleAssignments/8ff0a550-5137-5a8f-9f2d-747b1e8c5565"

SPELLINGS = [
    ("upper case", ASSIGNMENT.upper()),
    (
        "the GUID without dashes, as RoleAssignmentExists names it",
        ASSIGNMENT.replace("-5137-5a8f-9f2d-", "51375a8f9f2d"),
    ),
    ("percent-encoded", ASSIGNMENT.replace("/providers/", "/%70roviders/")),
    ("a trailing slash", ASSIGNMENT + "/"),
    ("the subscription without dashes", ASSIGNMENT.replace(SUB, SUB.replace("-", ""))),
]


@pytest.mark.parametrize(("case", "spelled"), SPELLINGS, ids=[c[0] for c in SPELLINGS])
def test_every_spelling_arm_accepts_is_the_same_id(case: str, spelled: str) -> None:
    assert spelled != ASSIGNMENT
    assert canonical(spelled) == canonical(ASSIGNMENT) and same_id(spelled, ASSIGNMENT)
    subscription, scope, guid = assignment_parts(spelled)
    assert (subscription.lower().replace("-", ""), canonical(scope), guid) == (
        SUB.replace("-", ""),
        canonical(ACS),
        "8ff0a550-5137-5a8f-9f2d-747b1e8c5565",
    )


def test_other_ids_stay_apart() -> None:
    assert not same_id(ASSIGNMENT, ASSIGNMENT.replace("shop", "shop2"))
    assert not same_id(ASSIGNMENT, None) and not same_id(None, None)
    assert dashed_guid("8FF0A55051375A8F9F2D747B1E8C5565") == "8ff0a550-5137-5a8f-9f2d-747b1e8c5565"
    assert dashed_guid("not-a-guid") == "not-a-guid"


def test_a_resource_named_with_32_hex_digits_is_not_taken_for_a_guid() -> None:
    hexname = "0123456789abcdef0123456789abcdef"
    dashed = "01234567-89ab-cdef-0123-456789abcdef"
    assert not same_id(ACS.replace("rg-mail", hexname), ACS.replace("rg-mail", dashed))


@pytest.mark.parametrize("climb", ["/../", "/%2E%2E/", "//", "/./"])
def test_an_assignment_id_whose_scope_climbs_is_not_an_assignment_id(climb: str) -> None:
    """A status edit must not point a deletion at a scope the namespace may not use by walking up from one."""
    walking = ASSIGNMENT.replace("/resourceGroups/", f"/resourceGroups/x{climb}", 1)
    with pytest.raises(ValueError, match="not the id of a role assignment"):
        assignment_parts(walking)
