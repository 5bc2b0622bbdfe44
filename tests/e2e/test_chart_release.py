"""The chart as users of cert-manager's, ESO's and VSO's charts expect it: CRDs that upgrade, the usual extension
points, security contexts that cannot leave Pod Security `restricted`, a README listing every value, NOTES that
give a safe and working path, and one version everywhere."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from tests.conftest import BIN
from tests.e2e.test_locks import PYPROJECT
from tests.helm import CHART, CLIENT, ROOT, minimal, of_kind, render, render_files

VERSION = str(PYPROJECT["project"]["version"])
CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())


def deployment(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = of_kind(manifests, "Deployment")
    return found


def test_the_crds_are_rendered_from_crds_kept_on_uninstall_and_can_be_left_to_others() -> None:
    crds = {c["metadata"]["name"]: c for c in of_kind(render(minimal()), "CustomResourceDefinition")}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        source = yaml.safe_load(path.read_text())
        rendered = crds.pop(source["metadata"]["name"])
        assert rendered["spec"] == source["spec"], f"{path.name}: the chart renders another schema"
        assert rendered["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert rendered["metadata"]["labels"]["app.kubernetes.io/version"] == VERSION
    assert crds == {}
    [kept_not] = of_kind(render(minimal(crds={"keep": False})), "CustomResourceDefinition")[:1]
    assert "helm.sh/resource-policy" not in kept_not["metadata"].get("annotations", {})
    assert of_kind(render(minimal(crds={"enabled": False})), "CustomResourceDefinition") == []
    assert not (CHART / "crds").exists(), "Helm's crds/ directory is installed once and never upgraded"


def test_extra_env_volumes_and_spread_reach_the_pod() -> None:
    proxy = [{"name": "HTTPS_PROXY", "value": "http://proxy.example:3128"}, {"name": "NO_PROXY", "value": ".svc"}]
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}]
    pod = deployment(
        render(
            minimal(
                extraEnv=proxy,
                extraEnvFrom=[{"configMapRef": {"name": "proxy"}}],
                extraVolumes=[{"name": "extra-ca", "secret": {"secretName": "ca"}}],
                extraVolumeMounts=[{"name": "extra-ca", "mountPath": "/etc/extra-ca", "readOnly": True}],
                topologySpreadConstraints=spread,
                revisionHistoryLimit=3,
            )
        )
    )
    spec = pod["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["env"][-2:] == proxy and container["env"][0]["name"] == "AZURE_TENANT_ID"
    assert container["envFrom"] == [{"configMapRef": {"name": "proxy"}}]
    assert {"name": "extra-ca", "secret": {"secretName": "ca"}} in spec["volumes"]
    assert {v["mountPath"] for v in container["volumeMounts"]} == {"/tmp", "/etc/extra-ca"}
    selector = {"matchLabels": pod["spec"]["selector"]["matchLabels"]}
    assert spec["topologySpreadConstraints"] == [{**spread[0], "labelSelector": selector}]
    assert pod["spec"]["revisionHistoryLimit"] == 3
    own = [{**spread[0], "labelSelector": {"matchLabels": {"tier": "mail"}}}]
    assert (
        deployment(render(minimal(topologySpreadConstraints=own)))["spec"]["template"]["spec"][
            "topologySpreadConstraints"
        ]
        == own
    )


def test_names_and_common_labels_follow_the_overrides_on_every_object() -> None:
    manifests = render(minimal(fullnameOverride="mail-op", commonLabels={"team": "platform"}))
    for manifest in manifests:
        assert manifest["metadata"]["labels"]["team"] == "platform", manifest["kind"]
    assert deployment(manifests)["metadata"]["name"] == "mail-op"
    [sa] = of_kind(manifests, "ServiceAccount")
    assert sa["metadata"]["name"] == "mail-op"
    renamed = deployment(render(minimal(nameOverride="mailer-operator")))
    assert renamed["metadata"]["name"] == "acs-smtp-operator-mailer-operator"
    assert renamed["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "mailer-operator"


SECCOMP = {"seccompProfile": {"type": "RuntimeDefault"}}
POD = {"runAsNonRoot": True, **SECCOMP}
CONTAINER = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}, **SECCOMP}
RESTRICTED_BREAKS = [
    pytest.param("podSecurityContext", {"runAsNonRoot": False}, "/runAsNonRoot", id="root allowed"),
    pytest.param("podSecurityContext", {"runAsUser": 0}, "/runAsUser", id="UID 0"),
    pytest.param("podSecurityContext", {"seccompProfile": {"type": "Unconfined"}}, "/seccompProfile/type",
                 id="no seccomp"),
    pytest.param("securityContext", {"allowPrivilegeEscalation": True}, "/allowPrivilegeEscalation", id="escalation"),
    pytest.param("securityContext", {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}, "/capabilities/add/0",
                 id="a capability"),
    pytest.param("securityContext", {"capabilities": {"drop": ["NET_RAW"]}}, "/capabilities/drop",
                 id="not ALL dropped"),
    pytest.param("securityContext", {"privileged": True}, "/privileged", id="privileged"),


    pytest.param("securityContext", {"seccompProfile": {"type": "Localhost"}}, "/seccompProfile",
                 id="Localhost without its profile"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "change", "path"), RESTRICTED_BREAKS)
def test_security_contexts_that_break_pod_security_restricted_are_refused(
    key: str, change: dict[str, Any], path: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render(minimal(**{key: {**(POD if key == "podSecurityContext" else CONTAINER), **change}}))
    assert f"/{key}{path}" in str(refused.value)


@pytest.mark.parametrize(
    ("values", "path"),
    [
        pytest.param({"securityContext": None}, "securityContext", id="no container security context"),
        pytest.param({"podSecurityContext": None}, "podSecurityContext", id="no pod security context"),
        pytest.param({"extraVolumes": [{"name": "host", "hostPath": {"path": "/"}}]}, "/extraVolumes/0", id="hostPath"),
        pytest.param({"extraEnv": [{"name": "ACSSMTP_IDENTITY", "value": "one"}]}, "/extraEnv/0/name",
                     id="the Lease identity redefined"),
        pytest.param({"extraEnv": [{"name": "AZURE_CLIENT_SECRET", "value": "x"}]}, "/extraEnv/0/name",
                     id="a secret as a plain value"),
        pytest.param({"commonLabels": {"app.kubernetes.io/managed-by": "me"}}, "app.kubernetes.io/managed-by",
                     id="Helm's ownership label replaced"),
    ],
)  # fmt: skip
def test_values_that_would_escape_the_profile_or_the_charts_own_settings_are_refused(
    values: dict[str, Any], path: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render(minimal(**values))
    assert path in str(refused.value)


def test_settings_the_chart_does_not_set_pass_through_extra_env() -> None:
    extra = [{"name": "ACSSMTP_VERIFY_TIMEOUT", "value": "120"}, {"name": "HTTPS_PROXY", "value": "http://p:3128"}]
    [container] = deployment(render(minimal(extraEnv=extra)))["spec"]["template"]["spec"]["containers"]
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)) and container["env"][-2:] == extra


def test_a_security_context_within_restricted_is_taken_as_given() -> None:
    own = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 10001, "readOnlyRootFilesystem": True,
           "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    [container] = deployment(render(minimal(securityContext=own)))["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"] == own


def _leaves(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        found |= _leaves(value, f"{path}.") if isinstance(value, dict) and value else {path: value}
    return found


def test_the_chart_readme_lists_every_value_with_its_default() -> None:
    """Every row `| \\`path\\` | \\`default\\` | … |` names a value and its default; every value has a row (or an
    ancestor's row, for a value documented whole, such as resources)."""
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]*)` \|", (CHART / "README.md").read_text(), re.MULTILINE)
    documented = dict(rows)
    assert len(documented) == len(rows), "a value with two rows"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    leaves = _leaves(values)
    for path in leaves:
        parts = path.split(".")
        assert any(".".join(parts[:n]) in documented for n in range(1, len(parts) + 1)), f"{path}: no README row"
    for path, default in documented.items():
        node: Any = values
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"README documents {path}, which values.yaml lacks"
            node = node[key]
        assert json.loads(default) == node, f"README says {path} defaults to {default}; values.yaml: {node!r}"


def test_the_icon_is_a_file_of_the_repository() -> None:
    icon = CHART_META["icon"]
    assert icon.startswith(CHART_META["home"].replace("github.com", "raw.githubusercontent.com") + "/main/")
    assert (ROOT / icon.split("/main/", 1)[1]).is_file()


PERMISSION = re.compile(
    r"(?<!providers/)Microsoft\.[A-Za-z]+/[A-Za-z/]+(?:/\{[a-z,]+\})?|Application\.ReadWrite\.[A-Za-z]+"
)


def notes(**values: Any) -> str:
    return render_files(minimal(**values))["acs-smtp-operator/templates/NOTES.txt"]


def test_notes_name_every_permission_the_install_guide_names_and_only_owned_by() -> None:
    install = (ROOT / "docs" / "install.md").read_text()
    table = install[install.index("| scope | actions |") : install.index("A policy that names")]
    needed = set(PERMISSION.findall(table)) | {"Application.ReadWrite.OwnedBy"}
    said = notes()
    named = set(PERMISSION.findall(said))
    assert needed <= named, f"NOTES omit {needed - named}"
    assert named - needed == {"Application.ReadWrite.All"}, named - needed
    assert "Never Application.ReadWrite.All" in said  # named only to be refused


def test_notes_render_whatever_watch_namespaces_holds() -> None:
    for watched in (None, [], ["shop", "billing"]):
        assert "kind: AcsSmtpCredential" in notes(watchNamespaces=watched)


def test_notes_put_a_policy_before_the_first_credential() -> None:
    said = notes(watchNamespaces=["shop"])
    assert said.index("kind: AcsSmtpPolicy") < said.index("kind: AcsSmtpCredential")
    assert "names: [shop]" in said and "namespace: shop" in said
    spec = {"namespaces": {"names": ["shop"]}, "applications": [CLIENT], "communicationServices": ["/subscriptions/*"]}
    installed = notes(policies=[{"name": "shop", "spec": spec}])
    assert "kind: AcsSmtpPolicy" not in installed and "this release installed 1: shop" in installed


def test_one_version_everywhere() -> None:
    """The package, the chart, the image's label, `acs-smtp-operator version`, the CHANGELOG agree."""
    from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

    assert CHART_META["appVersion"] == CHART_META["version"] == VERSION
    assert DockerfileParser(str(ROOT / "Dockerfile")).labels["org.opencontainers.image.version"] == VERSION
    printed = subprocess.run([str(BIN / "acs-smtp-operator"), "version"], capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == VERSION, "the installed package is stale: pip install -e ."
    [top] = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)[:1]
    assert top == VERSION, "CHANGELOG.md starts with another version"


def test_make_chart_packages_what_helm_installs(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "python"), "scripts/chart.py", "package", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    archive = Path(done.stdout.strip())
    assert archive.name == f"acs-smtp-operator-{VERSION}.tgz"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"acs-smtp-operator/README.md", "acs-smtp-operator/values.schema.json"} <= names
    assert {f"acs-smtp-operator/files/crds/{p.name}" for p in (ROOT / "crds").glob("*.yaml")} <= names
    assert not any(n.startswith("acs-smtp-operator/ci/") for n in names), "the chart's CI values ship"
    packaged = helm_python.Chart.load_archive(archive.read_bytes())
    assert (packaged.name, packaged.version) == ("acs-smtp-operator", VERSION)
