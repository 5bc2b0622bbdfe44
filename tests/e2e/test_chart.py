"""The Helm chart, through the real Helm library: lint, render, schema-valid manifests, least privilege, bad values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from tests.helm import (
    ADMISSION_KINDS,
    CHART,
    CLIENT,
    RBAC_KINDS,
    ROOT,
    TENANT,
    VALUE_SETS,
    minimal,
    of_kind,
    operator_rbac,
    render,
    render_files,
    rules_of,
    values_of,
)

from acs_smtp_operator.sandbox.kube.schema import apply_defaults, check, prune, unknown_fields
from acs_smtp_operator.settings import Settings

KUBERNETES = "1.37.0"
NO_SCHEMA = {"ServiceMonitor"}  # the Prometheus Operator's CRD: not among Kubernetes' own schemas


def deployment(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = of_kind(manifests, "Deployment")
    return found


def container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = deployment(manifests)["spec"]["template"]["spec"]["containers"]
    return dict(found)


def env_of(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(manifests)["env"]}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_strict_lint_is_clean(name: str) -> None:
    report = helm_python.lint(CHART, values_of(name), strict=True, kube_version=f"v{KUBERNETES}")
    assert report["errors"] == [] and report["messages"] == [], report


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_manifest_validates_against_the_kubernetes_schemas(name: str) -> None:
    manifests = render(values_of(name))
    assert of_kind(manifests, "Deployment", "ServiceAccount")
    for manifest in manifests:
        if manifest["kind"] not in NO_SCHEMA:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def test_the_charts_crd_is_the_crd() -> None:
    chart_crds = sorted(p.name for p in (CHART / "files" / "crds").iterdir())
    assert chart_crds == sorted(p.name for p in (ROOT / "crds").iterdir())
    for name in chart_crds:
        assert (CHART / "files" / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), (
            f"charts/acs-smtp-operator/files/crds/{name} differs from crds/{name}: copy crds/ into the chart"
        )


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_the_charts_crd_accepts_the_examples(example: Path) -> None:
    crds = [yaml.safe_load(p.read_text()) for p in sorted((CHART / "files" / "crds").glob("*.yaml"))]
    for obj in yaml.safe_load_all(example.read_text()):
        [crd] = [c for c in crds if c["spec"]["names"]["kind"] == obj["kind"]]
        kubernetes_validate.validate(crd, KUBERNETES, strict=True)
        [version] = crd["spec"]["versions"]
        schema = version["schema"]["openAPIV3Schema"]
        assert obj["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
        assert unknown_fields(obj, prune(schema, obj)) == []
        assert check(schema, apply_defaults(schema, obj), None) == []


def test_the_charts_crd_refuses_what_the_api_server_refuses() -> None:
    [crd] = yaml.safe_load_all((CHART / "files" / "crds" / "acssmtp.io_acssmtpcredentials.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    [example] = yaml.safe_load_all((ROOT / "examples" / "shop-mailer.yaml").read_text())
    example["spec"]["entraApplication"]["clientId"] = "not-a-guid"
    assert check(schema, apply_defaults(schema, example), None)


def test_all_namespaces_mode_is_one_cluster_role_and_no_namespaced_secret_access() -> None:
    manifests = render(minimal())
    roles = {r["metadata"]["name"] for r in of_kind(operator_rbac(manifests), "ClusterRole")}
    assert roles == {"acs-smtp-operator", "acs-smtp-operator-tenancy"}
    bindings = of_kind(manifests, "ClusterRoleBinding")
    assert {b["roleRef"]["name"] for b in bindings} == roles
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "acs-smtp-operator", "namespace": "acs-smtp-system"}
        ]
    [lease_role] = of_kind(manifests, "Role")
    assert lease_role["metadata"]["namespace"] == "acs-smtp-system"
    assert {r for rule in lease_role["rules"] for r in rule["resources"]} == {"leases"}
    assert container(manifests)["args"] == ["--all-namespaces"]


def test_namespace_list_mode_has_nothing_cluster_wide() -> None:
    manifests = render(minimal(watchNamespaces=["shop", "billing"]))
    # Cluster-wide, only what tenancy needs: policies and namespaces read, the policies' status written.
    [tenancy] = of_kind(operator_rbac(manifests), "ClusterRole")
    assert [(r["resources"], r["verbs"]) for r in tenancy["rules"]] == [
        (["acssmtppolicies"], ["list", "watch"]),
        (["acssmtppolicies/status"], ["patch"]),
        (["namespaces"], ["list", "watch"]),
    ]
    secret_rules = {(kind, ns) for kind, ns, rule in rules_of(manifests) if "secrets" in rule["resources"]}
    assert secret_rules == {("Role", "shop"), ("Role", "billing")}  # not the release namespace, not cluster-wide
    assert container(manifests)["args"] == ["--namespace=shop", "--namespace=billing"]
    bindings = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in of_kind(manifests, "RoleBinding")}
    assert bindings == {
        ("shop", "acs-smtp-operator"),
        ("billing", "acs-smtp-operator"),
        ("acs-smtp-system", "acs-smtp-operator-leader-election"),
    }


def test_namespaced_roles_grant_exactly_what_the_cluster_role_grants() -> None:
    cluster = [
        rule
        for role in of_kind(render(minimal()), "ClusterRole")
        if role["metadata"]["name"] == "acs-smtp-operator"
        for rule in role["rules"]
    ]
    for ns in ("shop", "billing"):
        namespaced = [r for kind, n, r in rules_of(render(minimal(watchNamespaces=["shop", "billing"]))) if n == ns]
        assert namespaced == cluster


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_no_wildcards_and_no_rule_beyond_the_operators_needs(name: str) -> None:
    allowed = {
        "acssmtp.io": {
            "acssmtpcredentials",
            "acssmtpcredentials/status",
            "acssmtpcredentials/finalizers",  # blockOwnerDeletion, where OwnerReferencesPermissionEnforcement runs
            "acssmtppolicies",
            "acssmtppolicies/status",
        },
        "": {"secrets", "events", "namespaces"},
        "apps": {"deployments", "statefulsets", "daemonsets"},
        "coordination.k8s.io": {"leases"},
    }
    for _, _, rule in rules_of(render(values_of(name))):
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), rule
        assert "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            assert set(rule["resources"]) <= allowed[group], rule
        assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
        if {"acssmtppolicies", "namespaces"} & set(rule["resources"]):
            assert set(rule["verbs"]) <= {"list", "watch"}, rule  # the operator never writes a policy's spec
        if "leases" in rule["resources"]:
            assert rule["verbs"] == ["create"] or rule.get("resourceNames") == ["acs-smtp-operator"], rule


def test_the_pod_runs_locked_down_with_probes_on_the_health_endpoint() -> None:
    manifests = render(minimal())
    pod = deployment(manifests)["spec"]["template"]["spec"]
    main = container(manifests)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert main["resources"]["requests"] and main["resources"]["limits"]
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    env = env_of(manifests)
    assert (ports["health"], ports["metrics"]) == (int(env["ACSSMTP_HEALTH_PORT"]), int(env["ACSSMTP_METRICS_PORT"]))
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    # Each replica is its own Lease holder; the Lease lives in the release namespace.
    assert env["ACSSMTP_IDENTITY"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["ACSSMTP_LEASE_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    [service] = of_kind(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_workload_identity_marks_the_service_account_and_the_pods() -> None:
    manifests = render(minimal())
    [account] = of_kind(manifests, "ServiceAccount")
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"] == CLIENT
    labels = deployment(manifests)["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    assert "AZURE_CLIENT_SECRET" not in env_of(manifests)


def test_a_client_secret_comes_from_a_secret_reference_never_from_values() -> None:
    manifests = render(values_of("client-secret"))
    env = env_of(manifests)
    assert env["AZURE_CLIENT_ID"] == CLIENT
    assert env["AZURE_CLIENT_SECRET"] == {"secretKeyRef": {"name": "acs-smtp-operator-azure", "key": "client-secret"}}
    assert "azure.workload.identity/use" not in deployment(manifests)["spec"]["template"]["metadata"]["labels"]
    assert of_kind(manifests, "Secret") == []


def test_high_availability_adds_a_disruption_budget_and_spreads_replicas() -> None:
    assert of_kind(render(minimal()), "PodDisruptionBudget") == []
    manifests = render(values_of("ha"))
    [budget] = of_kind(manifests, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == deployment(manifests)["spec"]["selector"]["matchLabels"]
    assert deployment(manifests)["spec"]["replicas"] == 3
    assert "podAntiAffinity" in deployment(manifests)["spec"]["template"]["spec"]["affinity"]
    [monitor] = of_kind(manifests, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_a_network_policy_lets_only_the_chosen_peers_scrape_and_limits_egress_when_asked() -> None:
    assert of_kind(render(minimal()), "NetworkPolicy") == []
    manifests = render(values_of("ha"))
    [policy] = of_kind(manifests, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == deployment(manifests)["spec"]["selector"]["matchLabels"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    [scrape] = spec["ingress"]
    assert scrape["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert scrape["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    ports = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP"), (587, "TCP")}
    assert env_of(manifests)["ACSSMTP_BIND_ADDRESS"] == "0.0.0.0"
    assert not any("to" in rule for rule in spec["egress"]), "IMDS is for managed identities only"
    managed = {**values_of("managed-identity"), "networkPolicy": {"enabled": True, "egress": {"enabled": True}}}
    [imds] = [r for r in of_kind(render(managed), "NetworkPolicy")[0]["spec"]["egress"] if "to" in r]
    assert imds == {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"port": 80, "protocol": "TCP"}]}
    closed = render(minimal(networkPolicy={"enabled": True}))
    [ingress_only] = of_kind(closed, "NetworkPolicy")
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"] and ingress_only["spec"]["ingress"] is None


@pytest.mark.parametrize(
    ("name", "arm", "graph", "authority"),
    [
        ("all-namespaces", "https://management.azure.com", "https://graph.microsoft.com/v1.0",
         "https://login.microsoftonline.com"),
        ("us-government", "https://management.usgovcloudapi.net", "https://graph.microsoft.us/v1.0",
         "https://login.microsoftonline.us"),
        ("china", "https://management.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0",
         "https://login.chinacloudapi.cn"),
        ("custom-endpoints", "https://arm.proxy.example.com", "https://graph.proxy.example.com/v1.0",
         "https://login.proxy.example.com"),
    ],
)  # fmt: skip
def test_the_rendered_environment_gives_the_operator_its_clouds_endpoints(
    monkeypatch: pytest.MonkeyPatch, name: str, arm: str, graph: str, authority: str
) -> None:
    """The chart's env names are the operator's settings: the pod would see these endpoints."""
    for key, value in env_of(render(values_of(name))).items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert (settings.arm_endpoint, settings.graph_endpoint, settings.authority_host) == (arm, graph, authority)
    assert settings.tenant_id == TENANT


def test_a_ca_bundle_is_mounted_and_named_to_the_operator() -> None:
    manifests = render(values_of("custom-endpoints"))
    env = env_of(manifests)
    mounts = {m["name"]: m["mountPath"] for m in container(manifests)["volumeMounts"]}
    assert env["ACSSMTP_CA_BUNDLE"] == f"{mounts['ca-bundle']}/ca.pem"
    volumes = {v["name"]: v for v in deployment(manifests)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["ca-bundle"]["configMap"]["name"] == "proxy-ca"
    assert env["ACSSMTP_DRIFT_PERIOD"] == "900"


def test_notes_tell_the_user_what_to_apply_next() -> None:
    notes = render_files(minimal(watchNamespaces=["shop"]))["acs-smtp-operator/templates/NOTES.txt"]
    assert "kind: AcsSmtpCredential" in notes and "namespace: shop" in notes
    assert "kubectl wait acssmtp/mailer --for=condition=Ready" in notes


def _with(path: str, value: Any) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(json.dumps(minimal()))
    *parents, leaf = path.split(".")
    node = values
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return values


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (_with("azure.tenantId", ""), "/azure/tenantId"),
        (_with("azure.tenantId", "contoso.onmicrosoft.com"), "/azure/tenantId"),
        (_with("azure.cloud", "AzureGermany"), "/azure/cloud"),
        (_with("replicaCount", 0), "/replicaCount"),
        (_with("watchNamespaces", ["Shop_NS"]), "/watchNamespaces/0"),
        (_with("watchNamespaces", ["shop", "shop"]), "/watchNamespaces"),
        (_with("logFormat", "xml"), "/logFormat"),
        (_with("azure.identity", {"type": "WorkloadIdentity"}), "clientId"),
        (_with("azure.identity", {"type": "ClientSecret", "clientId": CLIENT, "secretName": ""}), "secretName"),
        (_with("azure.identity", {"type": "Password"}), "/azure/identity/type"),
        (_with("azure.endpoints", {"resourceManager": "http://arm.example.com"}), "resourceManager"),
        (_with("driftPeriodSeconds", 5), "/driftPeriodSeconds"),
        (_with("replicas", 2), "replicas"),  # a typo of replicaCount: refused, not ignored
        (_with("metrics.port", 70000), "/metrics/port"),
    ],
)
def test_bad_values_are_refused_with_the_offending_path(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render(values)
    assert complaint in str(refused.value)


def test_nothing_is_rendered_without_the_tenant() -> None:
    with pytest.raises(helm_python.HelmValuesError, match="tenantId"):
        render({})


def test_chart_version_follows_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject


def test_only_rbac_objects_are_cluster_scoped() -> None:
    for name in VALUE_SETS:
        for manifest in render(values_of(name)):
            if "namespace" not in manifest["metadata"]:
                assert manifest["kind"] in (*RBAC_KINDS, *ADMISSION_KINDS, "CustomResourceDefinition"), manifest["kind"]


def test_tenants_get_credentials_never_policies_through_aggregated_roles() -> None:
    manifests = render(minimal())
    roles = {r["metadata"]["name"]: r for r in of_kind(manifests, "ClusterRole")}
    editor, viewer = roles["acs-smtp-credential-editor"], roles["acs-smtp-credential-viewer"]
    for role in (editor, viewer):
        assert [rule["resources"] for rule in role["rules"]] == [["acssmtpcredentials"]]  # not policies, not status
    assert {"create", "update", "patch", "delete"} <= set(editor["rules"][0]["verbs"])
    assert set(viewer["rules"][0]["verbs"]) == {"get", "list", "watch"}
    labels = editor["metadata"]["labels"]
    assert labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    # Bound to nothing by the chart: the administrator decides who is a tenant where.
    bound = {b["roleRef"]["name"] for b in of_kind(manifests, "ClusterRoleBinding", "RoleBinding")}
    assert not bound & {"acs-smtp-credential-editor", "acs-smtp-credential-viewer"}
    assert "acs-smtp-credential-editor" not in {
        r["metadata"]["name"] for r in of_kind(render(minimal(tenantRoles={"create": False})), "ClusterRole")
    }


def test_policies_from_values_are_installed_and_checked_by_their_crd() -> None:
    spec = {
        "namespaces": {"names": ["shop"]},
        "applications": [CLIENT],
        "communicationServices": [f"/subscriptions/{TENANT}/resourceGroups/rg-mail/*"],
    }
    [policy] = of_kind(render(minimal(policies=[{"name": "shop", "spec": spec}])), "AcsSmtpPolicy")
    assert policy["metadata"]["name"] == "shop" and policy["spec"] == spec
    [crd] = yaml.safe_load_all((CHART / "files" / "crds" / "acssmtp.io_acssmtppolicies.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert check(schema, apply_defaults(schema, policy), None) == []
    bare = {**policy, "spec": {**spec, "communicationServices": [f"/subscriptions/{TENANT}/resourceGroups/rg-mail"]}}
    assert check(schema, apply_defaults(schema, bare), None)  # a bare prefix is not a pattern
    assert of_kind(render(minimal()), "AcsSmtpPolicy") == []
