"""Deleting an AcsSmtpCredential leaves Azure as its deletionPolicy promises."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.conftest import Cloud
from tests.integration.operator_helpers import apply, eventually, get, permit, wait_ready

pytestmark = pytest.mark.usefixtures("operator")


def marked_keys(cloud: Cloud, app: str, ns: str, name: str) -> list[dict[str, Any]]:
    state = next(a for a in cloud.state()["applications"] if a["appId"] == cloud.app(app)["clientId"])
    return [p for p in state["passwordCredentials"] if f" {ns}/{name} " in p["displayName"]]


def provisioned(cloud: Cloud, ns: str, policy: str) -> tuple[str, dict[str, Any]]:
    name = f"gone-{policy.lower()}"
    role = {"customRoleName": f"Deletion test {uuid.uuid4().hex[:6]}", "definitionScope": "Resource"}
    permit(cloud, ns, names=[ns], role=role)
    apply(cloud, ns, name, app="billing-mailer", deletionPolicy=policy)
    wait_ready(cloud, ns, name)
    status = (get(cloud, ns, "acssmtp", name) or {})["status"]
    assert marked_keys(cloud, "billing-mailer", ns, name)
    return name, status


def test_delete_removes_our_keys_assignment_and_unused_role(cloud: Cloud, ns: str) -> None:
    name, status = provisioned(cloud, ns, "Delete")
    cloud.kubectl("delete", "acssmtp", name, "-n", ns, "--timeout=30s")
    assert get(cloud, ns, "acssmtp", name) is None
    eventually(
        lambda: get(cloud, ns, "secret", f"{name}-smtp") is None,
        120,
        "the Secret to go with its owner (garbage collection is asynchronous)",
    )
    assert marked_keys(cloud, "billing-mailer", ns, name) == []
    state = cloud.state()
    assert status["roleAssignmentId"] not in [a["id"] for a in state["roleAssignments"]]
    assert status["roleDefinitionId"] not in [r["id"] for r in state["roleDefinitions"]]


def test_retain_leaves_azure_untouched(cloud: Cloud, ns: str) -> None:
    name, status = provisioned(cloud, ns, "Retain")
    cloud.kubectl("delete", "acssmtp", name, "-n", ns, "--timeout=30s")
    eventually(lambda: get(cloud, ns, "acssmtp", name) is None, 30, "the CR to go")
    assert marked_keys(cloud, "billing-mailer", ns, name)
    state = cloud.state()
    assert status["roleAssignmentId"] in [a["id"] for a in state["roleAssignments"]]
    assert status["roleDefinitionId"] in [r["id"] for r in state["roleDefinitions"]]
