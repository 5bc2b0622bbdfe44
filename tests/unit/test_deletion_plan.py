"""What a deletion removes, keeps and tells, decided from the credential's spec and status alone (no call made)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acs_smtp_operator.deletion import (
    DeleteRole,
    DeletionFacts,
    Kept,
    RemoveAssignment,
    RemoveKeys,
    RetireApplication,
    RetireEntry,
    Step,
    Tell,
    decide_deletion,
    wants_orphan,
)
from acs_smtp_operator.identity import key_marker, smtp_username_resource
from acs_smtp_operator.model import Spec
from acs_smtp_operator.status import Status

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
ACS = f"{RG}/providers/Microsoft.Communication/communicationServices/shop"
OTHER_ACS = f"{RG}/providers/Microsoft.Communication/communicationServices/other"
ASSIGNMENT = f"{ACS}/providers/Microsoft.Authorization/roleAssignments/11111111-1111-1111-1111-111111111111"
REPLACED = f"{ACS}/providers/Microsoft.Authorization/roleAssignments/22222222-2222-2222-2222-222222222222"
ROLE = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/33333333-3333-3333-3333-333333333333"
ENTRY = smtp_username_resource("ns", "cr", "uid-1")
OLD_APP = "44444444-4444-4444-4444-444444444444"


def facts(
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    *,
    permitted: bool = True,
    target: bool = True,
    shared: frozenset[str] = frozenset(),
    covered: bool = True,
    issued_ago: timedelta | None = None,
) -> DeletionFacts:
    raw: dict[str, Any] = {"clientId": "app", "communicationServiceId": ACS} if status is None else status
    if issued_ago is not None:
        raw = {**raw, "issuedKeyId": "k-new", "issuedAt": (NOW - issued_ago).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return DeletionFacts(
        namespace="ns",
        name="cr",
        uid="uid-1",
        spec=Spec.parse(
            {"communicationService": {"resourceId": ACS}, "entraApplication": {"clientId": "app"}, **(spec or {})}
        ),
        status=Status.read(raw),
        permitted=permitted,
        target=target,
        shared=lambda assignment: assignment in shared,
        covers=lambda scope: covered,
        now=NOW,
        graph_lag=10.0,
    )


def kinds(steps: tuple[Step, ...]) -> list[str]:
    return [s.reason if isinstance(s, Tell) else type(s).__name__ for s in steps]


OWNED = {
    "clientId": "app",
    "communicationServiceId": ACS,
    "roleAssignmentId": ASSIGNMENT,
    "roleAssignmentOwned": True,
    "roleDefinitionId": ROLE,
    "roleDefinitionOwned": True,
    "smtpUsernameResource": ENTRY,
}
KEYS = RemoveKeys(client_id="app", kept=None, newest=None, wait=0.0)

CASES: list[tuple[str, DeletionFacts, list[str]]] = [
    ("never permitted, never acted: nothing, and no call", facts(status={}, permitted=False), ["Deleted"]),
    (
        "everything it made goes, in order: keys, entry, assignment, role",
        facts(status=OWNED),
        ["RemoveKeys", "RetireEntry", "RemoveAssignment", "DeleteRole", "Deleted"],
    ),
    (
        "an assignment another credential records stays",
        facts(status=OWNED, shared=frozenset({ASSIGNMENT})),
        ["RemoveKeys", "RetireEntry", "DeleteRole", "Deleted"],
    ),
    (
        "an assignment on a resource the namespace may not use stays, told",
        facts(status=OWNED, covered=False),
        ["RemoveKeys", "RetireEntry", "RoleAssignmentLeft", "DeleteRole", "Deleted"],
    ),
    (
        "without a policy permitting what status records, the assignment and role stay, told",
        facts(status=OWNED, target=False),
        ["RoleAssignmentLeft", "RemoveKeys", "RetireEntry", "Deleted"],
    ),
    (
        "Retain, permitted: only assignments a new role replaced go",
        facts(
            {"deletionPolicy": "Retain"},
            {**OWNED, "replacedRoleAssignments": [{"id": REPLACED, "removeAfter": "2026-12-01T00:00:00Z"}]},
        ),
        ["RemoveAssignment", "Retained"],
    ),
    (
        "Retain without a policy: refused, everything goes",
        facts({"deletionPolicy": "Retain"}, OWNED, permitted=False),
        ["NotPermitted", "RemoveKeys", "RetireEntry", "RemoveAssignment", "DeleteRole", "Deleted"],
    ),
    (
        "targets not recorded and not permitted: the spec may name anything, nothing goes",
        facts(status={"currentKeyId": "k1"}, permitted=False),
        ["NotPermitted"],
    ),
    (
        "Orphan without a policy: refused, the Secret goes with it",
        facts(
            {"secret": {"deletionPolicy": "Orphan"}},
            {"clientId": "app", "communicationServiceId": ACS},
            permitted=False,
        ),
        ["NotPermitted", "RemoveKeys", "Deleted"],
    ),
    (
        "what a retarget left: keys on the application left, the entry on the resource left",
        facts(
            status={
                **OWNED,
                "retired": [
                    {"clientId": OLD_APP, "removeAfter": "2027-01-01T00:00:00Z"},
                    {"smtpUsernameAt": OTHER_ACS, "smtpUsernameResource": ENTRY, "removeAfter": "2027-01-01T00:00:00Z"},
                ],
            }
        ),
        ["RemoveKeys", "RetireEntry", "RetireApplication", "RetireEntry", "RemoveAssignment", "DeleteRole", "Deleted"],
    ),
    (
        "an entry name status gives that is not this credential's stays, told",
        facts(status={**OWNED, "smtpUsernameResource": "someone-elses"}),
        ["RemoveKeys", "SmtpUsernameNotOurs", "RemoveAssignment", "DeleteRole", "Deleted"],
    ),
]


@pytest.mark.parametrize(("case", "seen", "expected"), CASES, ids=[c[0] for c in CASES])
def test_what_deletion_does(case: str, seen: DeletionFacts, expected: list[str]) -> None:
    assert kinds(decide_deletion(seen, None)) == expected


def test_the_steps_name_what_status_records_not_what_the_spec_says_now() -> None:
    seen = facts({"entraApplication": {"clientId": "edited"}}, OWNED)
    steps = decide_deletion(seen, None)
    assert steps[0] == KEYS  # status's application, not the edited spec's
    assert steps[1] == RetireEntry(acs_id=ACS, entry=ENTRY, apps=frozenset({"app"}), forbidden_stops=True)
    assert steps[2] == RemoveAssignment(ASSIGNMENT)
    assert steps[3] == DeleteRole(ROLE, ACS)
    retired = facts(status={**OWNED, "retired": [{"clientId": OLD_APP, "removeAfter": "2027-01-01T00:00:00Z"}]})
    assert RetireApplication(OLD_APP, key_marker("ns", "cr", "uid-1")) in decide_deletion(retired, None)


@pytest.mark.parametrize(
    ("issued_ago", "kept", "wait"),
    [
        (None, None, 0.0),  # nothing issued: nothing to wait for
        (timedelta(seconds=4), None, 6.0),  # Graph may not list it for the rest of the 10 s lag
        (timedelta(seconds=30), None, 0.0),  # long listed
        (timedelta(days=-365), None, 10.0),  # status edited to a time a year ahead: never longer than the lag
        (timedelta(seconds=4), Kept("k-new", "app"), 0.0),  # the newest is the kept one: not waited for
    ],
)
def test_the_wait_for_graph_to_list_the_newest_key(
    issued_ago: timedelta | None, kept: Kept | None, wait: float
) -> None:
    steps = decide_deletion(facts(status=OWNED, issued_ago=issued_ago), kept)
    keys = next(s for s in steps if isinstance(s, RemoveKeys))
    assert keys.wait == wait and keys.kept == kept


def test_an_orphaned_secret_keeps_its_key_entry_assignment_and_role() -> None:
    seen = facts({"secret": {"deletionPolicy": "Orphan"}}, OWNED)
    assert wants_orphan(seen) and not wants_orphan(
        facts({"secret": {"deletionPolicy": "Orphan"}}, OWNED, permitted=False)
    )
    steps = decide_deletion(seen, Kept("k1", "app"))
    assert kinds(steps) == ["RemoveKeys", "Deleted"]
    assert "client secret k1, its role assignment and role stay" in steps[-1].message  # type: ignore[union-attr]
