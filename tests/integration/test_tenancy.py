"""Tenancy end to end: an administrator's AcsSmtpPolicy decides what a namespace's credentials may do.

On the emulator kubectl acts as the cluster's administrator throughout; on a real API server (pytest
--cluster=real) the tenant is a ServiceAccount bound only to the chart's acs-smtp-credential-editor role in
its namespace, and RBAC is enforced.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import Cloud, account_kubeconfig, kubectl_as
from tests.integration.operator_helpers import (
    condition,
    eventually,
    get,
    login,
    namespace,
    permit,
    secret_data,
    wait_ready,
    wait_reason,
)

from acs_smtp_operator.model import DEFAULT_ACTIONS

pytestmark = pytest.mark.usefixtures("operator")

QUIET = 6.0  # seconds without any Azure request: longer than ACSSMTP_GRAPH_LAG (5 s), by which an earlier
# test's deletion right after a rotation still calls Azure (it waits for Graph to list the newest key)


@dataclass
class Tenant:
    """Someone who may create credentials in `ns` and nothing else (on a real API server)."""

    cloud: Cloud
    ns: str
    kubeconfig: str

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return kubectl_as(self.kubeconfig, *args, stdin=stdin, check=check)

    def apply(self, name: str, app: str = "shop-mailer", acs: str | None = None, **spec: Any) -> None:
        body = {
            "apiVersion": "acssmtp.io/v1alpha1",
            "kind": "AcsSmtpCredential",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {
                "communicationService": {"resourceId": acs or self.cloud.acs["resourceId"]},
                "entraApplication": {"clientId": self.cloud.app(app)["clientId"]},
                **spec,
            },
        }
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(body))


def real(cloud: Cloud) -> bool:
    return "leaseNamespace" in cloud.manifest  # the real control plane's manifest names the Lease's namespace


@pytest.fixture
def shop(cloud: Cloud, tmp_path: Path) -> Iterator[Tenant]:
    """Namespace `shop-…`, whose policy permits shop-mailer on the seeded resource with the default bounds."""
    ns = namespace(cloud, policy=False)
    permit(
        cloud,
        ns,
        names=[ns],
        applications=[cloud.app("shop-mailer")["clientId"]],
        communicationServices=[cloud.acs["resourceId"]],
        limits={"minRotationInterval": "1s"},  # the defaults otherwise: 2160h lifetime at most, no Retain
    )
    kubeconfig = cloud.manifest["kubeconfig"]
    if real(cloud):
        cloud.kubectl("create", "serviceaccount", "tenant", "-n", ns)
        cloud.kubectl(
            "create", "rolebinding", "tenant", "-n", ns, "--clusterrole=acs-smtp-credential-editor",
            f"--serviceaccount={ns}:tenant",
        )  # fmt: skip
        kubeconfig = str(account_kubeconfig(kubeconfig, "tenant", ns, tmp_path))
    yield Tenant(cloud, ns, kubeconfig)
    cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--wait=false", check=False)
    cloud.kubectl("delete", "acssmtppolicy", ns, "--wait=false", check=False)


def quiet(cloud: Cloud, timeout: float = 60) -> int:
    """Wait until no Azure request arrives for QUIET seconds (earlier tests' deletions settle); the log's length."""
    deadline = time.monotonic() + timeout
    count, since = len(cloud.requests()), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = len(cloud.requests())
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET:
            return count
    raise AssertionError("Azure requests never stopped")


def not_permitted(cloud: Cloud, ns: str, name: str, needle: str) -> None:
    found = wait_reason(cloud, ns, name, "NotPermitted")
    assert needle in found["message"], found["message"]
    assert found["status"] == "False"


def test_a_tenant_gets_what_its_policy_permits_and_nothing_else_without_one_azure_call(
    cloud: Cloud, shop: Tenant
) -> None:
    ns = shop.ns
    other_acs = cloud.acs_without_domain["resourceId"]
    before = quiet(cloud)
    shop.apply("billing-app", app="billing-mailer")
    shop.apply("other-resource", acs=other_acs)
    shop.apply("long-lived", rotation={"secretLifetime": "8760h"})
    shop.apply("retained", deletionPolicy="Retain")
    not_permitted(cloud, ns, "billing-app", f"application {cloud.app('billing-mailer')['clientId']} is not")
    not_permitted(cloud, ns, "other-resource", f"communication service {other_acs} is not")
    not_permitted(cloud, ns, "long-lived", "secretLifetime 8760h is above maxSecretLifetime 2160h")
    not_permitted(cloud, ns, "retained", "deletionPolicy Retain is not allowed")
    time.sleep(QUIET)  # drift passes (every 2 s here) of the refused credentials: still no call
    assert cloud.requests()[before:] == []
    assert all(get(cloud, ns, "secret", f"{n}-smtp") is None for n in ("billing-app", "other-resource"))
    # Deleting a credential that never acted does not call Azure either (not even to read billing's application).
    shop.kubectl("delete", "acssmtp", "billing-app", "other-resource", "-n", ns, "--timeout=30s")
    assert cloud.requests()[before:] == []
    # What the policy permits works, and its status names the policy.
    shop.apply("mailer")
    wait_ready(cloud, ns, "mailer")
    assert (get(cloud, ns, "acssmtp", "mailer") or {})["status"]["policy"] == ns

    def listed() -> list[list[str]] | None:
        printed = cloud.kubectl("get", "acssmtppolicies", ns).stdout
        header, row = (line.split()[:4] for line in printed.splitlines()[:2])
        return [header, row] if row[3] == "1" else None

    assert eventually(listed, 10, "the policy to count its credential") == [
        ["NAME", "READY", "NAMESPACES", "CREDENTIALS"],
        [ns, "True", ns, "1"],
    ]


def test_a_tenant_cannot_write_a_policy(cloud: Cloud, shop: Tenant) -> None:
    if not real(cloud):
        pytest.skip("RBAC is enforced only by a real API server (pytest --cluster=real)")
    attempt = {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpPolicy",
        "metadata": {"name": f"mine-{uuid.uuid4().hex[:6]}"},
        "spec": {"namespaces": {"names": [shop.ns]}, "applications": [cloud.app("billing-mailer")["clientId"]],
                 "communicationServices": [f"/subscriptions/{cloud.manifest['subscriptionId']}/*"]},
    }  # fmt: skip
    created = shop.kubectl("create", "-f", "-", stdin=json.dumps(attempt), check=False)
    assert created.returncode != 0 and "forbidden" in created.stderr.lower(), created.stderr
    edited = shop.kubectl(
        "patch", "acssmtppolicy", shop.ns, "--type=merge", "-p", '{"spec":{"applications":[]}}', check=False
    )
    assert edited.returncode != 0 and "forbidden" in edited.stderr.lower(), edited.stderr
    assert shop.kubectl("auth", "can-i", "create", "acssmtpcredentials", "-n", shop.ns).stdout.strip() == "yes"


def _key(cloud: Cloud, ns: str, name: str) -> str | None:
    return ((get(cloud, ns, "acssmtp", name) or {}).get("status") or {}).get("currentKeyId")


def _withdraw_and_restore(cloud: Cloud, shop: Tenant, withdraw: Any, restore: Any) -> None:
    ns = shop.ns
    shop.apply("mailer")
    wait_ready(cloud, ns, "mailer")
    key, secret = _key(cloud, ns, "mailer"), get(cloud, ns, "secret", "mailer-smtp")
    withdraw()
    started = time.monotonic()
    not_permitted(cloud, ns, "mailer", "")
    assert time.monotonic() - started < 10, "the withdrawal took effect only after the drift check"
    assert (get(cloud, ns, "acssmtp", "mailer") or {})["status"].get("policy") is None
    before = quiet(cloud)
    shop.kubectl("annotate", "acssmtp", "mailer", "-n", ns, f"acssmtp.io/rotate={uuid.uuid4().hex}", "--overwrite")
    time.sleep(QUIET)
    assert cloud.requests()[before:] == []  # no rotation, no read: nothing
    assert _key(cloud, ns, "mailer") == key
    assert (get(cloud, ns, "secret", "mailer-smtp") or {})["data"] == (secret or {})["data"]  # still works
    restore()
    wait_ready(cloud, ns, "mailer", timeout=15)
    eventually(lambda: _key(cloud, ns, "mailer") != key, 15, "the rotation asked for while withdrawn")


def test_deleting_the_policy_stops_the_credentials_writes_and_restoring_it_resumes_them(
    cloud: Cloud, shop: Tenant
) -> None:
    policy = json.loads(cloud.kubectl("get", "acssmtppolicy", shop.ns, "-o", "json").stdout)
    restored = {"apiVersion": policy["apiVersion"], "kind": policy["kind"], "metadata": {"name": shop.ns},
                "spec": policy["spec"]}  # fmt: skip

    _withdraw_and_restore(
        cloud,
        shop,
        lambda: cloud.kubectl("delete", "acssmtppolicy", shop.ns),
        lambda: cloud.kubectl("apply", "-f", "-", stdin=json.dumps(restored)),
    )


def test_relabelling_the_namespace_withdraws_and_restores_permission(cloud: Cloud, shop: Tenant) -> None:
    cloud.kubectl("label", "namespace", shop.ns, "mail=allowed")
    permit(
        cloud,
        shop.ns,
        namespaces={"selector": {"matchLabels": {"mail": "allowed"}, "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [shop.ns]}
        ]}},
        applications=[cloud.app("shop-mailer")["clientId"]],
        communicationServices=[cloud.acs["resourceId"]],
        limits={"minRotationInterval": "1s"},
    )  # fmt: skip
    _withdraw_and_restore(
        cloud,
        shop,
        lambda: cloud.kubectl("label", "namespace", shop.ns, "mail=denied", "--overwrite"),
        lambda: cloud.kubectl("label", "namespace", shop.ns, "mail=allowed", "--overwrite"),
    )


def _role_actions(cloud: Cloud, name: str) -> list[list[str]]:
    return [
        sorted(r["properties"]["permissions"][0]["actions"])
        for r in cloud.state()["roleDefinitions"]
        if r["properties"]["roleName"] == name
    ]


def test_two_policies_naming_one_role_with_other_actions_the_second_is_refused_and_the_role_never_changes(
    cloud: Cloud,
) -> None:
    role = f"Shared {uuid.uuid4().hex[:6]}"
    first, second = namespace(cloud, policy=False), namespace(cloud, policy=False)
    read_only = ["Microsoft.Communication/CommunicationServices/Read"]
    permit(cloud, first, names=[first], role={"customRoleName": role})
    time.sleep(1.1)  # creationTimestamp has whole seconds: the first is the older
    permit(cloud, second, names=[second], role={"customRoleName": role, "actions": read_only})
    for ns in (first, second):
        cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump({
            "apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential",
            "metadata": {"name": "mailer", "namespace": ns},
            "spec": {"communicationService": {"resourceId": cloud.acs["resourceId"]},
                     "entraApplication": {"clientId": cloud.app("shop-mailer")["clientId"]}},
        }))  # fmt: skip
    try:
        wait_ready(cloud, first, "mailer")
        not_permitted(cloud, second, "mailer", f"custom role {role!r} is already defined by policy {first!r}")

        def refused() -> dict[str, Any] | None:
            found = (get(cloud, "", "acssmtppolicy", second) or {}).get("status") or {}
            ready = next((c for c in found.get("conditions", []) if c["type"] == "Ready"), None)
            return ready if ready and ready["reason"] == "RoleConflict" else None

        assert first in eventually(refused, 10, "the second policy's RoleConflict")["message"]
        expected = [sorted(DEFAULT_ACTIONS)]
        for _ in range(3):  # passes of both credentials (drift every 2 s): the role's actions stay the first's
            assert _role_actions(cloud, role) == expected
            time.sleep(2)
        assert (condition(cloud, second, "mailer") or {})["reason"] == "NotPermitted"
    finally:
        for ns in (first, second):
            cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--wait=false", check=False)
            cloud.kubectl("delete", "acssmtppolicy", ns, "--wait=false", check=False)


def test_renaming_the_secret_ten_times_in_20s_adds_no_client_secret_and_a_deleted_one_waits_for_the_interval(
    cloud: Cloud,
) -> None:
    """A spec edit, a Secret event or a restart: at most one new client secret per minRotationInterval. A renamed
    Secret takes its standing key along; a deleted one is not issued again before the policy's interval."""
    ns = namespace(cloud, policy=False)
    permit(cloud, ns, names=[ns], limits={"minRotationInterval": "1h"})
    body = {"apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential",
            "metadata": {"name": "storm", "namespace": ns},
            "spec": {"communicationService": {"resourceId": cloud.acs["resourceId"]},
                     "entraApplication": {"clientId": cloud.app("shop-mailer")["clientId"]}}}  # fmt: skip
    cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(body))
    wait_ready(cloud, ns, "storm")
    object_id = cloud.app("shop-mailer")["objectId"]

    def added() -> int:
        return sum(
            1 for r in cloud.requests() if r["method"] == "POST" and r["path"].endswith(f"{object_id}/addPassword")
        )

    before = added()
    for edit in range(10):
        body["spec"]["secret"] = {"name": f"storm-{edit % 3}"}  # type: ignore[index]
        cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(body))
        time.sleep(2)
    data = eventually(lambda: secret_data(cloud, ns, "storm-0"), 20, "the Secret under its last name")
    assert login(cloud, data["username"], data["password"]) == 235
    wait_ready(cloud, ns, "storm")
    time.sleep(3)  # drift passes every 2 s: any pass still wanting a key has come by
    assert added() == before, "a renamed Secret took its key along: no client secret was added"

    cloud.kubectl("delete", "secret", "storm-0", "-n", ns)
    held = wait_reason(cloud, ns, "storm", "RotationHeld")
    assert "minRotationInterval" in held["message"] and "SecretMissing" in held["message"]
    time.sleep(3)
    assert added() == before, "a deleted Secret is not issued again within the policy's interval"
    cloud.kubectl("delete", "acssmtp", "storm", "-n", ns, "--wait=false")
