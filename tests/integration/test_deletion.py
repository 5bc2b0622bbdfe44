"""Deleting an AcsSmtpCredential leaves Azure as its deletionPolicy promises."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from tests.conftest import Cloud, Operator
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


def test_credentials_sharing_an_assignment_deleted_together_leave_none_behind(cloud: Cloud, ns: str) -> None:
    """A namespace's teardown deletes its credentials at once. Those that share one role assignment (same
    application and resource) each keep it while another still records it; the last one must still see the
    others as gone, although kopf's index lists them until their deletion's watch event arrives."""
    names = [f"pair-{i}" for i in range(3)]
    for name in names:
        apply(cloud, ns, name, app="billing-mailer")
    assignments: set[str] = set()
    for n in names:
        wait_ready(cloud, ns, n)
        assignments.add((get(cloud, ns, "acssmtp", n) or {})["status"]["roleAssignmentId"])
    assert len(assignments) == 1, "one assignment, shared"
    cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--timeout=60s")
    assert [n for n in names if get(cloud, ns, "acssmtp", n) is not None] == []
    assert assignments.pop() not in [a["id"] for a in cloud.state()["roleAssignments"]], "the assignment was left"


def test_retain_leaves_azure_untouched(cloud: Cloud, ns: str) -> None:
    name, status = provisioned(cloud, ns, "Retain")
    cloud.kubectl("delete", "acssmtp", name, "-n", ns, "--timeout=30s")
    eventually(lambda: get(cloud, ns, "acssmtp", name) is None, 30, "the CR to go")
    assert marked_keys(cloud, "billing-mailer", ns, name)
    state = cloud.state()
    assert status["roleAssignmentId"] in [a["id"] for a in state["roleAssignments"]]
    assert status["roleDefinitionId"] in [r["id"] for r in state["roleDefinitions"]]


def test_deleted_during_a_pass_then_killed_and_restarted_nothing_is_left(
    cloud: Cloud, ns: str, operator: Operator
) -> None:
    """Deletion lands while a pass is verifying the key it just added; the operator is killed; on restart the
    finalizer removes every key of the credential, the one that pass added included."""
    name = "raced"
    permit(cloud, ns, names=[ns])
    cloud.reset()
    cloud.fault(path="oauth2/v2.0/token$", latencyMs=4000, times=2)  # the new key's verification is slow
    apply(cloud, ns, name, app="billing-mailer")
    object_id = cloud.app("billing-mailer")["objectId"]
    eventually(
        lambda: any(r["method"] == "POST" and r["path"].endswith(f"{object_id}/addPassword") for r in cloud.requests()),
        20,
        "the addPassword",
    )
    cloud.kubectl("delete", "acssmtp", name, "-n", ns, "--wait=false")
    time.sleep(0.5)  # the finalizer waits for the pass in flight: kill both
    operator.kill()
    cloud.reset()
    assert marked_keys(cloud, "billing-mailer", ns, name), "the killed pass left its key"
    operator.start()
    eventually(lambda: get(cloud, ns, "acssmtp", name) is None, 60, "the finalizer to finish after the restart")
    eventually(lambda: not marked_keys(cloud, "billing-mailer", ns, name), 20, "no key of the credential left")
