"""The chart, through the real Helm library (helm-python-sdk): lint, render, and pick manifests apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "acs-smtp-operator"
VALUE_SETS = {path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*-values.yaml"))}
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
RELEASE, NAMESPACE = "acs-smtp-operator", "acs-smtp-system"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
ADMISSION_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")  # what bounds the operator's RBAC


def values_of(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(VALUE_SETS[name].read_text()))


def minimal(**extra: Any) -> dict[str, Any]:
    """The least a user must give: the tenant and the identity."""
    values: dict[str, Any] = {
        "azure": {"tenantId": TENANT, "identity": {"type": "WorkloadIdentity", "clientId": CLIENT}}
    }
    values.update(extra)
    return values


def render_files(values: dict[str, Any], name: str = RELEASE, namespace: str = NAMESPACE) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` (raises helm_python.HelmValuesError on bad values)."""
    chart = helm_python.Chart.load(CHART)
    return chart.render(values, name=name, namespace=namespace, is_install=True)


def render_with_apis(
    values: dict[str, Any], api_versions: list[str], name: str = RELEASE, namespace: str = NAMESPACE
) -> dict[str, str]:
    """As `render_files`, on a cluster that serves `api_versions` too (`helm template --api-versions`): the
    library's render takes the option, its Python wrapper does not pass it on (private names: the package is
    pinned below 0.3 in pyproject.toml)."""
    chart = helm_python.Chart.load(CHART)
    options = {"name": name, "namespace": namespace, "is_install": True, "api_versions": api_versions}
    rendered = _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
    files: dict[str, str] = json.loads(rendered)
    return files


def render(values: dict[str, Any], name: str = RELEASE, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Every manifest the chart installs for `values`."""
    manifests: list[dict[str, Any]] = []
    for path, text in sorted(render_files(values, name, namespace).items()):
        if path.endswith(".yaml"):
            manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


TENANT_ROLES = ("acs-smtp-credential-editor", "acs-smtp-credential-viewer")  # what admins bind tenants to


def of_kind(manifests: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] in kinds]


def operator_rbac(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The manifests without the tenants' ClusterRoles: what the operator itself is granted."""
    return [m for m in manifests if m["metadata"]["name"] not in TENANT_ROLES]


def rules_of(manifests: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, namespace, rule) for every rule of every Role and ClusterRole the operator is granted."""
    return [
        (m["kind"], m["metadata"].get("namespace", ""), rule)
        for m in of_kind(operator_rbac(manifests), "Role", "ClusterRole")
        for rule in m.get("rules", [])
    ]
