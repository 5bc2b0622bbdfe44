"""Restart targets by label selector, against the real operator (the sandbox, or `--cluster=real` under the chart's
RBAC and admission policies): exactly the selected workloads restart, the old key stays until every one of them
has rolled out, and a selector over the bound restarts nothing while the old key keeps working."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import config
from tests.conftest import ROOT, Cloud, Operator
from tests.integration.operator_helpers import apply, condition, eventually, get, login, secret_data, wait_ready

from acs_smtp_operator.kube import inspect

QUICK = {"secretLifetime": "2h", "renewBefore": "1h", "gracePeriod": "3s"}
BOUND = 3


@pytest.fixture(scope="module")
def operator(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    running = Operator(
        cloud,
        tmp_path_factory.mktemp("selectors"),
        ACSSMTP_ROLLOUT_TIMEOUT="600",  # the old key is released by the rollouts here, never by the timeout
        ACSSMTP_MAX_RESTART_TARGETS=str(BOUND),
        ACSSMTP_ORPHAN_SETTLE="3",
        ACSSMTP_GRAPH_LAG="3",
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def held_rollouts(cloud: Cloud, operator: Operator) -> Iterator[None]:
    """Rollouts finish only when a test says so: the emulator's stand-in controllers wait an hour (a real control
    plane has no kubelet: its pods never become ready)."""
    cloud.settings(rolloutSeconds=3600)
    try:
        yield
    finally:
        cloud.settings(rolloutSeconds=1)


def deployment(cloud: Cloud, ns: str, name: str, labels: dict[str, str]) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"pod": name}},
            "template": {
                "metadata": {"labels": {"pod": name}},
                "spec": {"containers": [{"name": "app", "image": "mailer:1"}]},
            },
        },
    }
    cloud.kubectl("apply", "-f", "-", stdin=json.dumps(body))


def finish_rollout(cloud: Cloud, ns: str, name: str) -> None:
    """What a healthy cluster does by itself: the restarted workload's rollout completes. Scaled to zero, so that a
    real deployment controller (no kubelet) completes it; the emulator gets the status its controller would write."""
    cloud.kubectl("patch", "deployment", name, "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":0}}')
    if cloud.manifest.get("controlPlane"):
        return
    generation = (get(cloud, ns, "deployment", name) or {})["metadata"]["generation"]
    status = {"observedGeneration": generation, "replicas": 0, "updatedReplicas": 0, "readyReplicas": 0}
    cloud.kubectl("patch", "deployment", name, "-n", ns, "--subresource=status", "--type=merge",
                  "-p", json.dumps({"status": status}))  # fmt: skip


def restarted(cloud: Cloud, ns: str, name: str) -> str | None:
    template = (get(cloud, ns, "deployment", name) or {})["spec"]["template"]
    return (template["metadata"].get("annotations") or {}).get("acssmtp.io/restartedAt")


def status(cloud: Cloud, ns: str, name: str) -> dict[str, Any]:
    return dict((get(cloud, ns, "acssmtp", name) or {}).get("status") or {})


def rotate(cloud: Cloud, ns: str, name: str) -> None:
    cloud.kubectl("annotate", "acssmtp", name, "-n", ns, f"acssmtp.io/rotate={uuid.uuid4().hex}", "--overwrite")


def event_messages(cloud: Cloud, ns: str, reason: str) -> list[str]:
    found = json.loads(cloud.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    return [e["message"] for e in found if e["reason"] == reason]


def test_a_selector_restarts_exactly_the_matching_workloads_and_the_old_key_waits_for_all_of_them(
    cloud: Cloud, ns: str
) -> None:
    deployment(cloud, ns, "mailer-a", {"app": "mailer"})
    deployment(cloud, ns, "mailer-b", {"app": "mailer"})
    deployment(cloud, ns, "billing", {"app": "billing"})
    selector = {"kind": "Deployment", "selector": {"matchLabels": {"app": "mailer"}}}
    apply(cloud, ns, "picked", rotation=QUICK, restartTargets=[selector])
    wait_ready(cloud, ns, "picked")
    old = secret_data(cloud, ns, "picked-smtp")
    assert old is not None
    old_key = status(cloud, ns, "picked")["currentKeyId"]

    rotate(cloud, ns, "picked")
    eventually(lambda: (status(cloud, ns, "picked").get("pendingRollout") or {}).get("keyId") == old_key, 30,
               "the old key to wait for the rollout")  # fmt: skip
    assert restarted(cloud, ns, "mailer-a") and restarted(cloud, ns, "mailer-b")
    assert restarted(cloud, ns, "billing") is None, "a workload the selector does not match is left alone"
    assert sorted(event_messages(cloud, ns, "RolloutRestarted")) == [
        "Deployment mailer-a restarted to pick up the new secret",
        "Deployment mailer-b restarted to pick up the new secret",
    ]
    api = config.new_client_from_config(config_file=cloud.manifest["kubeconfig"])  # type: ignore[no-untyped-call]
    try:
        shown = inspect.targets(api, ns, [selector])  # what `acs-smtp-operator status` lists
    finally:
        api.close()
    assert [(w.name, w.state, w.selector) for w in shown] == [
        ("mailer-a", "rolling-out", "app=mailer"),
        ("mailer-b", "rolling-out", "app=mailer"),
    ]

    finish_rollout(cloud, ns, "mailer-a")
    time.sleep(8)  # several of the operator's rollout checks (every 2 s) and past the grace period
    assert (status(cloud, ns, "picked").get("pendingRollout") or {}).get("keyId") == old_key
    assert login(cloud, old["username"], old["password"]) == 235, "one selected workload still runs the old key"

    finish_rollout(cloud, ns, "mailer-b")
    eventually(lambda: login(cloud, old["username"], old["password"]) == 535, 30,
               "the old key to go once both have rolled out and its grace period passed")  # fmt: skip
    new = secret_data(cloud, ns, "picked-smtp")
    assert new is not None and login(cloud, new["username"], new["password"]) == 235
    assert restarted(cloud, ns, "billing") is None


def test_a_selector_over_the_bound_restarts_nothing_and_the_old_key_keeps_working(cloud: Cloud, ns: str) -> None:
    for number in range(BOUND + 1):
        deployment(cloud, ns, f"bulk-{number}", {"app": "bulk"})
    apply(cloud, ns, "bulky", rotation=QUICK,
          restartTargets=[{"kind": "Deployment", "selector": {"matchLabels": {"app": "bulk"}}}])  # fmt: skip
    wait_ready(cloud, ns, "bulky")  # the first key replaces none: nothing to restart yet
    old = secret_data(cloud, ns, "bulky-smtp")
    assert old is not None

    rotate(cloud, ns, "bulky")

    def refused() -> dict[str, Any] | None:
        found = condition(cloud, ns, "bulky", "Synced")
        return found if found is not None and found["reason"] == "InvalidSpec" else None

    synced = eventually(refused, 30, "the bound to be reported")
    assert synced["status"] == "False"
    assert f"resolve to {BOUND + 1} workloads (Deployments matching app=bulk)" in synced["message"]
    assert f"at most {BOUND} are restarted" in synced["message"]
    assert any("at most" in m for m in event_messages(cloud, ns, "InvalidSpec")), "a Warning Event says it too"
    new = secret_data(cloud, ns, "bulky-smtp")
    assert new is not None and new["password"] != old["password"], "the Secret was rotated"
    time.sleep(5)  # past the grace period: the old key would be gone had the workloads been taken as restarted
    assert all(restarted(cloud, ns, f"bulk-{n}") is None for n in range(BOUND + 1)), "no partial set is restarted"
    assert login(cloud, old["username"], old["password"]) == 235, "the workloads not restarted keep working"
    assert login(cloud, new["username"], new["password"]) == 235
    assert (condition(cloud, ns, "bulky") or {}).get("status") == "True", "the Secret still works: Ready stays"

    cloud.kubectl("label", "deployment", f"bulk-{BOUND}", "-n", ns, "app-")  # back within the bound
    eventually(lambda: all(restarted(cloud, ns, f"bulk-{n}") for n in range(BOUND)), 60,
               "the retry to restart the workloads within the bound")  # fmt: skip
    assert restarted(cloud, ns, f"bulk-{BOUND}") is None
    eventually(lambda: (condition(cloud, ns, "bulky", "Synced") or {}).get("status") == "True", 30, "Synced again")
    assert login(cloud, old["username"], old["password"]) == 235, "the old key waits for their rollout"


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ({"kind": "Deployment", "selector": {}}, "an empty selector would match every workload in the namespace"),
        ({"kind": "Deployment", "name": "web", "selector": {"matchLabels": {"app": "web"}}}, "exactly one of name"),
        ({"kind": "Deployment", "selector": {"matchLabels": {"app": "a,b"}}}, "should match"),
    ],
    ids=["empty selector", "name and selector", "a value that is not a label"],
)
def test_the_api_server_refuses_a_target_that_is_not_one_non_empty_selector_or_name(
    cloud: Cloud, ns: str, target: dict[str, Any], said: str
) -> None:
    body = {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpCredential",
        "metadata": {"name": "refused", "namespace": ns},
        "spec": {
            "communicationService": {"resourceId": cloud.acs["resourceId"]},
            "entraApplication": {"clientId": cloud.app("shop-mailer")["clientId"]},
            "restartTargets": [target],
        },
    }
    result = cloud.kubectl("apply", "-f", "-", stdin=json.dumps(body), check=False)
    assert result.returncode != 0 and said in result.stderr, result.stderr
    assert get(cloud, ns, "acssmtp", "refused") is None
