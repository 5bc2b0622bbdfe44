"""On a real API server: the operator works with exactly the chart's RBAC, in each mode, and no rule is surplus.

Each variant installs the chart's RBAC under a release name of its own (its own ServiceAccount, Roles and
Lease) with one rule taken out, runs the operator with that ServiceAccount's token, and plays one scenario:
a policy that selects the namespace by label, provisioning (Secret, Ready, an Event, the policy's count of
credentials) and a rotation that restarts two Deployments, one named, one selected by label. With every rule the
scenario passes; without any one of them it fails.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.conftest import Cloud, Operator, account_kubeconfig, install
from tests.helm import ADMISSION_KINDS, NAMESPACE, RBAC_KINDS, minimal, of_kind, operator_rbac, render
from tests.integration.operator_helpers import apply, condition, eventually, get, namespace, permit, secret_data

STEP = 12.0  # seconds each step of the scenario may take before it counts as failed


def rbac(release: str, watch: list[str]) -> list[dict[str, Any]]:
    values = minimal(watchNamespaces=watch) if watch else minimal()
    return operator_rbac(of_kind(render(values, name=release, namespace=NAMESPACE), *RBAC_KINDS, *ADMISSION_KINDS))


def family(role: dict[str, Any]) -> str:
    """`lease` for the leader-election Role, `tenancy` for the cluster-wide policy and namespace reads, `watch`
    for the (Cluster)Role(s) on the watched namespaces."""
    name = role["metadata"]["name"]
    return "lease" if name.endswith("-leader-election") else "tenancy" if name.endswith("-tenancy") else "watch"


def rule_names(manifests: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Each rule the chart grants, once: (role family, index). Namespaced copies of one rule count once."""
    seen: list[tuple[str, int]] = []
    for role in of_kind(manifests, "Role", "ClusterRole"):
        seen += [(family(role), i) for i in range(len(role["rules"])) if (family(role), i) not in seen]
    return seen


def without(manifests: list[dict[str, Any]], rule: tuple[str, int]) -> list[dict[str, Any]]:
    result = copy.deepcopy(manifests)
    for role in of_kind(result, "Role", "ClusterRole"):
        if family(role) == rule[0]:
            del role["rules"][rule[1]]
    return result


def describe(manifests: list[dict[str, Any]], rule: tuple[str, int]) -> str:
    role = next(r for r in of_kind(manifests, "Role", "ClusterRole") if family(r) == rule[0])
    found = role["rules"][rule[1]]
    return f"{','.join(found['resources'])}:{','.join(found['verbs'])}"


def wait(probe: Callable[[], object], within: float = STEP) -> bool:
    """Whether `probe` comes true within one step."""
    try:
        eventually(probe, within)
    except AssertionError:
        return False
    return True


def scenario(cloud: Cloud, ns: str, operator: Operator) -> str | None:
    """None when the operator did its whole job in `ns`; else the first step it failed."""
    cloud.kubectl(
        "apply", "-f", "-",
        stdin=f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: app, image: mailer:1}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: worker, namespace: {ns}, labels: {{mail: sender}}}}
spec:
  selector: {{matchLabels: {{app: worker}}}}
  template:
    metadata: {{labels: {{app: worker}}}}
    spec: {{containers: [{{name: app, image: mailer:1}}]}}
""",
    )  # fmt: skip
    # Selected by label: without the namespaces' labels the operator could not tell that the policy covers it.
    cloud.kubectl("label", "namespace", ns, f"rbac-probe={ns}")
    permit(cloud, ns, namespaces={"selector": {"matchLabels": {"rbac-probe": ns}}})
    # An application of its own: a variant that cannot finalize leaves its role assignment and keys behind.
    # One target by name, one by label selector (listed: the `list` rule).
    targets = [
        {"kind": "Deployment", "name": "web"},
        {"kind": "Deployment", "selector": {"matchLabels": {"mail": "sender"}}},
    ]
    apply(cloud, ns, "mailer", app="probe-mailer", restartTargets=targets)

    def status() -> dict[str, Any]:
        return dict((get(cloud, ns, "acssmtp", "mailer") or {}).get("status") or {})

    def restarted() -> bool:
        templates = [(get(cloud, ns, "deployment", name) or {})["spec"]["template"] for name in ("web", "worker")]
        return all("acssmtp.io/restartedAt" in (t["metadata"].get("annotations") or {}) for t in templates)

    if not wait(lambda: secret_data(cloud, ns, "mailer-smtp")):
        return "the Secret"
    if not wait(lambda: (found := condition(cloud, ns, "mailer")) is not None and found["status"] == "True"):
        return "Ready"
    if not wait(lambda: "mailer" in _event_objects(cloud, ns)):
        return "an Event"
    if not wait(lambda: ((get(cloud, "", "acssmtppolicy", ns) or {}).get("status") or {}).get("credentials") == 1):
        return "the policy's status"
    key = status()["currentKeyId"]
    cloud.kubectl("annotate", "acssmtp", "mailer", "-n", ns, f"acssmtp.io/rotate={uuid.uuid4().hex}", "--overwrite")
    if not wait(lambda: status().get("currentKeyId") != key):
        return "the rotation"
    if not wait(restarted):
        return "the restart"
    if operator.process is None or operator.process.poll() is not None or operator.role() != "leader":
        return "staying the leader"
    return None


def _event_objects(cloud: Cloud, ns: str) -> list[str]:
    result = cloud.kubectl(
        "get", "events", "-n", ns, "-o", "jsonpath={range .items[*]}{.involvedObject.name}{'\\n'}{end}", check=False
    )
    return result.stdout.splitlines()


def run_variant(
    cloud: Cloud, directory: Path, release: str, manifests: list[dict[str, Any]], watch: list[str], ns: str
) -> str | None:
    install(cloud.manifest["kubeconfig"], manifests)
    [account] = of_kind(manifests, "ServiceAccount")
    fullname = account["metadata"]["name"]  # the chart names the ServiceAccount and the Lease alike
    kubeconfig = account_kubeconfig(cloud.manifest["kubeconfig"], fullname, NAMESPACE, directory)
    args = [f"--namespace={n}" for n in watch] if watch else ["--all-namespaces"]
    operator = Operator(
        cloud, directory, *args, KUBECONFIG=str(kubeconfig), ACSSMTP_LEASE_NAME=fullname, ACSSMTP_ROLLOUT_TIMEOUT="5"
    )
    try:
        operator.start(role=None)  # answering; whether it comes to lead is part of the scenario
    except (AssertionError, RuntimeError):
        return "starting"
    try:
        # Operators start side by side on a small machine: starting takes longer than a step.
        if not wait(lambda: operator.role() == "leader", 4 * STEP):
            return "leading"
        return scenario(cloud, ns, operator)
    finally:
        operator.stop()
        # Gone without the finalizer (a variant may not be able to remove it): later variants see none of it.
        cloud.kubectl("patch", "acssmtp", "mailer", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                      check=False)  # fmt: skip
        cloud.kubectl("delete", "acssmtp", "mailer", "-n", ns, "--wait=false", check=False)


def test_namespace_list_mode_every_rule_is_needed(real: Cloud, tmp_path: Path) -> None:
    cloud = real
    """Variants run side by side: each watches its own namespaces and holds its own Lease."""
    base = rbac("probe", ["a", "b"])
    rules = rule_names(base)
    variants: list[tuple[str, tuple[str, int] | None]] = [("all rules", None)] + [
        (describe(base, rule), rule) for rule in rules
    ]

    def play(item: tuple[int, tuple[str, tuple[str, int] | None]]) -> tuple[str, str | None]:
        number, (label, rule) = item
        release = f"ns-{number}-{uuid.uuid4().hex[:4]}"
        watch = [namespace(cloud), namespace(cloud)]
        manifests = rbac(release, watch)
        if rule is not None:
            manifests = without(manifests, rule)
        return label, run_variant(cloud, tmp_path / release, release, manifests, watch, watch[1])

    # Six at a time: eleven operators side by side on a two-core machine take longer than a step to provision.
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = dict(pool.map(play, enumerate(variants)))
    print("namespace-list mode, the step each removal broke:", results)  # shown with -s
    assert results.pop("all rules") is None, "the chart's namespaced RBAC is not enough"
    surplus = [label for label, failed in results.items() if failed is None]
    assert surplus == [], f"the scenario passed without these rules: {surplus}"
    assert len(results) == len(rules) == 12


def test_all_namespaces_mode_every_rule_is_needed(real: Cloud, tmp_path: Path) -> None:
    cloud = real
    """One variant at a time: operators watching every namespace would all act on each other's credentials."""
    base = rbac("probe", [])
    failures: dict[str, str | None] = {}
    for number, rule in enumerate([None, *rule_names(base)]):
        release = f"all-{number}-{uuid.uuid4().hex[:4]}"
        manifests = rbac(release, [])
        label = "all rules" if rule is None else describe(base, rule)
        if rule is not None:
            manifests = without(manifests, rule)
        failures[label] = run_variant(cloud, tmp_path / release, release, manifests, [], namespace(cloud))
        if rule is None:
            assert failures[label] is None, f"the chart's ClusterRole is not enough: failed at {failures[label]}"
    print("all-namespaces mode, the step each removal broke:", failures)  # shown with -s
    surplus = [label for label, failed in failures.items() if label != "all rules" and failed is None]
    assert surplus == [], f"the scenario passed without these rules: {surplus}"
    assert len(failures) == 13


def test_a_variant_differs_from_the_charts_rbac_by_exactly_one_rule() -> None:
    base = rbac("probe", ["a", "b"])
    count = sum(len(r["rules"]) for r in of_kind(base, "Role", "ClusterRole"))
    for rule in rule_names(base):
        trimmed = without(base, rule)
        removed = 2 if rule[0] == "watch" else 1  # a watch rule is taken out of each watched namespace's Role
        assert sum(len(r["rules"]) for r in of_kind(trimmed, "Role", "ClusterRole")) == count - removed
