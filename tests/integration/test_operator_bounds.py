"""What the operator's own ServiceAccount may write, on a real API server that enforces the chart's
ValidatingAdmissionPolicies (templates/admission-policy.yaml): RBAC grants it create and update on every Secret
and patch on every workload; the policies let through only its own Secrets and the restart annotation. Every
other scenario of the real control plane runs under them too, so the operator's own writes pass."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml
from tests.conftest import Cloud, kubectl_as
from tests.integration.operator_helpers import apply, eventually, namespace

WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}, annotations: {{other.example/rolled-by: ci}}}}
    spec: {{containers: [{{name: app, image: "mailer:1"}}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec: {{containers: [{{name: agent, image: "agent:1"}}]}}
"""


@pytest.fixture
def ns(real: Cloud) -> Iterator[str]:
    cloud = real
    name = namespace(cloud, policy=False)
    cloud.kubectl("apply", "-f", "-", stdin=WORKLOADS.format(ns=name))
    # A policy is enforced once the API server's admission plugin has loaded it (seconds after it is created).
    probe = secret(name, "probe")
    eventually(lambda: not as_operator(cloud, "create", "--dry-run=server", "-f", "-", stdin=probe)[0] or None)
    yield name
    cloud.kubectl("delete", "namespace", name, "--wait=false", check=False)


def as_operator(cloud: Cloud, *args: str, stdin: str | None = None) -> tuple[bool, str]:
    """kubectl with the operator's own ServiceAccount token: (allowed, what the API server said)."""
    done = kubectl_as(cloud.env["KUBECONFIG"], *args, stdin=stdin, check=False)
    return done.returncode == 0, done.stderr


def secret(
    ns: str, name: str, labels: dict[str, str] | None = None, owner: bool = False, uid: str = "", **more: object
) -> str:
    """A basic-auth Secret; `owner`: controlled by an AcsSmtpCredential (`uid`: a real one's, which the garbage
    collector leaves; a made-up one's goes once the collector looks, so only a request's admission is asked)."""
    metadata: dict[str, object] = {"name": name, "namespace": ns, "labels": labels or {}}
    if owner:
        metadata["ownerReferences"] = [
            {"apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential", "name": "x", "controller": True,
             "uid": uid or "5b3c0d2e-1f4a-4b6c-8d9e-0a1b2c3d4e5f"}
        ]  # fmt: skip
    body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth", "metadata": metadata}
    return yaml.safe_dump({**body, "stringData": {"username": "u", "password": "p"}, **more})


OURS = {"app.kubernetes.io/managed-by": "acs-smtp-operator"}


def test_the_operator_may_create_a_secret_only_as_its_own(cloud: Cloud, ns: str) -> None:
    allowed, said = as_operator(cloud, "create", "-f", "-", stdin=secret(ns, "foreign"))
    assert not allowed and "writes only basic-auth Secrets labelled" in said
    allowed, said = as_operator(cloud, "create", "-f", "-", stdin=secret(ns, "unowned", OURS))
    assert not allowed and "controlled by an AcsSmtpCredential" in said
    allowed, said = as_operator(cloud, "create", "-f", "-", stdin=secret(ns, "ours", OURS, owner=True))
    assert allowed, said


def test_the_operator_may_not_mint_a_service_account_token(cloud: Cloud, ns: str) -> None:
    """A token Secret, even labelled and owned as the operator's, would be filled in by the token controller."""
    token = yaml.safe_load(secret(ns, "token", OURS, owner=True, type="kubernetes.io/service-account-token"))
    token["metadata"]["annotations"] = {"kubernetes.io/service-account.name": "default"}
    allowed, said = as_operator(cloud, "create", "-f", "-", stdin=yaml.safe_dump({**token, "stringData": {}}))
    assert not allowed and "writes only basic-auth Secrets" in said


def test_the_operator_may_not_take_over_another_teams_secret(cloud: Cloud, ns: str) -> None:
    cloud.kubectl("create", "-f", "-", stdin=secret(ns, "team-db"))
    found = json.loads(cloud.kubectl("get", "secret", "team-db", "-n", ns, "-o", "json").stdout)
    found["metadata"]["labels"] = OURS
    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=json.dumps(found))
    assert not allowed and "controlled by an AcsSmtpCredential" in said
    assert json.loads(cloud.kubectl("get", "secret", "team-db", "-n", ns, "-o", "json").stdout)["metadata"].get(
        "labels"
    ) in (None, {})


def test_the_operator_may_heal_its_secret_whose_label_someone_removed(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "x")  # no policy covers the namespace and no operator runs here: it only owns the Secret
    uid = json.loads(cloud.kubectl("get", "acssmtp", "x", "-n", ns, "-o", "json").stdout)["metadata"]["uid"]
    cloud.kubectl("create", "-f", "-", stdin=secret(ns, "healed", owner=True, uid=uid))  # controlled, not labelled
    found = json.loads(cloud.kubectl("get", "secret", "healed", "-n", ns, "-o", "json").stdout)
    found["metadata"]["labels"] = OURS
    allowed, said = as_operator(cloud, "replace", "-f", "-", stdin=json.dumps(found))
    assert allowed, said


def test_the_operator_may_restart_a_workload_and_change_nothing_else(cloud: Cloud, ns: str) -> None:
    restart = {"spec": {"template": {"metadata": {"annotations": {"acssmtp.io/restartedAt": "2026-12-07T00:00:00Z"}}}}}
    allowed, said = as_operator(cloud, "patch", "deployment", "web", "-n", ns, "-p", json.dumps(restart))
    assert allowed, said

    image = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil:1"}]
    allowed, said = as_operator(
        cloud, "patch", "daemonset", "agent", "-n", ns, "--type=json", f"-p={json.dumps(image)}"
    )
    assert not allowed and "may not change their pod spec" in said

    theirs = [{"op": "remove", "path": "/spec/template/metadata/annotations/other.example~1rolled-by"}]
    allowed, said = as_operator(
        cloud, "patch", "deployment", "web", "-n", ns, "--type=json", f"-p={json.dumps(theirs)}"
    )
    assert not allowed and "no pod template label or annotation but acssmtp.io/restartedAt" in said

    allowed, said = as_operator(cloud, "patch", "deployment", "web", "-n", ns, "-p", '{"spec": {"replicas": 0}}')
    assert not allowed and "may not change a workload's spec" in said
    all_at_once = {"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": "100%"}}}}
    allowed, said = as_operator(cloud, "patch", "deployment", "web", "-n", ns, "-p", json.dumps(all_at_once))
    assert not allowed and "may not change a workload's spec" in said
    partition = {"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 5}}}}
    allowed, said = as_operator(cloud, "patch", "daemonset", "agent", "-n", ns, "-p", json.dumps(partition))
    assert not allowed and "may not change a workload's spec" in said

    label = {"metadata": {"labels": {"owner": "me"}}}
    allowed, said = as_operator(cloud, "patch", "deployment", "web", "-n", ns, "-p", json.dumps(label))
    assert not allowed and "labels, annotations, finalizers or owners" in said

    template = json.loads(cloud.kubectl("get", "deployment", "web", "-n", ns, "-o", "json").stdout)["spec"]["template"]
    assert template["metadata"]["annotations"]["other.example/rolled-by"] == "ci"
    assert template["spec"]["containers"][0]["image"] == "mailer:1"
