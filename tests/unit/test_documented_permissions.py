"""The permissions docs/install.md asks for are exactly those the sandbox's operator identity holds."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from acs_smtp_operator.sandbox.seed import OPERATOR_ARM_ACTIONS, OPERATOR_ARM_GRANTS, OPERATOR_GRAPH_PERMISSIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "install.md"


def expand(action: str) -> set[str]:
    """`a/{read,write}` -> {`a/read`, `a/write`}."""
    parts = re.split(r"\{([^}]*)\}", action)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return {"".join(combo) for combo in itertools.product(*choices)}


def section() -> str:
    text = DOC.read_text()
    start = text.index("## The operator's Azure identity")
    return text[start : text.index("\n## ", start + 1)]


def test_the_documented_arm_actions_are_the_sandbox_identitys() -> None:
    documented = set().union(*(expand(a) for a in re.findall(r"`(Microsoft\.[A-Za-z/{},]+)`", section())))
    assert documented == set(OPERATOR_ARM_ACTIONS)


def test_the_documented_graph_permission_is_the_sandbox_identitys() -> None:
    assert set(OPERATOR_GRAPH_PERMISSIONS) <= set(re.findall(r"`(Application\.[A-Za-z.]+)`", section()))


# The table's scope column, as the sandbox's grants name the scopes.
SCOPES = {
    "each ACS resource": "communicationService",
    "the email service of each linked domain": "emailService",
    "the policy's `role.definitionScope` around each ACS resource (its resource group by default)": (
        "roleDefinitionScope"
    ),
}


def test_each_documented_action_is_granted_at_the_scope_the_table_names() -> None:
    granted: dict[str, set[str]] = {}
    for row in re.findall(r"^  \| ([^|]+) \| `(Microsoft\.[^`]+)` \|", section(), re.MULTILINE):
        granted.setdefault(SCOPES[row[0].strip()], set()).update(expand(row[1]))
    assert granted == {kind: set(actions) for kind, actions in OPERATOR_ARM_GRANTS.items()}
