"""Each failure the reference documents becomes a condition a user can act on; none crashes the operator."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.conftest import Cloud, Operator
from tests.integration.operator_helpers import apply, azure_writes, eventually, permit, wait_ready, wait_reason

pytestmark = pytest.mark.usefixtures("operator")


def events(cloud: Cloud, ns: str) -> list[dict[str, str]]:
    listed = json.loads(cloud.kubectl("get", "events", "-n", ns, "-o", "json").stdout)
    return [
        {"type": e.get("type", ""), "reason": e.get("reason", ""), "message": e.get("message", "")}
        for e in listed["items"]
    ]


def test_bad_input_is_refused_with_invalid_spec_and_no_azure_write(cloud: Cloud, ns: str) -> None:
    other_tenant = str(uuid.uuid4())
    apply(cloud, ns, "bad", app="restricted-mailer", entraApplication={
        "clientId": cloud.app("restricted-mailer")["clientId"], "tenantId": other_tenant
    })  # fmt: skip
    found = wait_reason(cloud, ns, "bad", "InvalidSpec")
    assert "spec.entraApplication.tenantId" in found["message"] and other_tenant in found["message"]
    restricted = cloud.app("restricted-mailer")["objectId"]
    assert not [w for w in azure_writes(cloud) if restricted in w["path"]]
    eventually(
        lambda: any(e["reason"] == "InvalidSpec" and e["type"] == "Warning" for e in events(cloud, ns)),
        10,
        "the Warning Event",
    )


@pytest.mark.parametrize(
    ("case", "reason", "needle"),
    [
        # ARM authorises before it looks: the operator's least privilege holds nothing on a missing resource.
        ("a missing ACS resource", "Forbidden", "a resource that does not exist"),
        ("an unknown application", "ApplicationNotFound", "Request_ResourceNotFound"),
        ("an application the operator does not own", "Forbidden", "is not an owner of application"),
        ("a lifetime the app's policy refuses", "CredentialPolicyRefused", "max value allowed as per assigned policy"),
    ],
)
def test_azure_refusals_become_conditions(cloud: Cloud, ns: str, case: str, reason: str, needle: str) -> None:
    if case == "a missing ACS resource":
        apply(cloud, ns, "x", acs=cloud.acs["resourceId"].rsplit("/", 1)[0] + "/missing-acs")
    elif case == "an unknown application":
        unknown = str(uuid.uuid4())
        permit(cloud, ns, names=[ns], applications=[unknown])  # the policy permits it: Graph does not know it
        apply(cloud, ns, "x", app=unknown)
    elif case == "an application the operator does not own":
        apply(cloud, ns, "x", app="not-owned-app")
    else:
        apply(cloud, ns, "x", app="restricted-mailer")
    found = wait_reason(cloud, ns, "x", reason)
    assert found["status"] == "False" and needle in found["message"]
    eventually(
        lambda: any(e["reason"] == reason and e["type"] == "Warning" for e in events(cloud, ns)),
        10,
        "the Warning Event",
    )


def test_a_resource_without_a_linked_domain_is_provisioned_but_not_ready(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "nodomain", app="billing-mailer", acs=cloud.acs_without_domain["resourceId"])
    ready = wait_reason(cloud, ns, "nodomain", "NoLinkedDomain")
    assert ready["status"] == "False"
    linked = wait_reason(cloud, ns, "nodomain", "NoLinkedDomain", type_="DomainLinked")
    assert "no linked email domain" in linked["message"]


def test_throttling_is_waited_out_and_provisioning_completes(cloud: Cloud, ns: str) -> None:
    billing = cloud.app("billing-mailer")["objectId"]
    cloud.fault(path=f"/v1.0/applications/{billing}/addPassword", status=429, retryAfter=1, times=5)
    apply(cloud, ns, "throttled", app="billing-mailer")
    wait_ready(cloud, ns, "throttled", timeout=60)
    throttled = [r for r in cloud.requests() if r["path"].endswith(f"{billing}/addPassword") and r["status"] == 429]
    assert len(throttled) == 5
    eventually(lambda: any(e["reason"] == "Throttled" for e in events(cloud, ns)), 10, "the Throttled Event")


def test_server_errors_are_retried_with_backoff_and_the_operator_survives(
    cloud: Cloud, ns: str, operator: Operator
) -> None:
    cloud.fault(path="communicationServices/no-domain-acs$", status=503, times=6)
    apply(cloud, ns, "unavailable", app="billing-mailer", acs=cloud.acs_without_domain["resourceId"])
    wait_reason(cloud, ns, "unavailable", "AzureUnavailable")
    wait_reason(cloud, ns, "unavailable", "NoLinkedDomain", timeout=60)
    assert operator.process is not None and operator.process.poll() is None
