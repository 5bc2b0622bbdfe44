"""Installed as released, on a real control plane of its own (etcd, kube-apiserver with its PodSecurity admission,
kube-controller-manager's Deployment and ReplicaSet controllers): the built image and the packaged chart pushed to a
local OCI registry (go-containerregistry's, built from its Go module), `helm install oci://…` with the image by
digest into a namespace that enforces Pod Security `restricted`, the upgrade from chart 0.1.0 as docs/install.md
says, and uninstall keeping the CRDs. No kubelet: the pods are created and admitted, never run."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from tests.conftest import BIN, ROOT, namespace_manifest
from tests.helm import minimal
from tests.image import ARCHIVE, build
from tests.integration.operator_helpers import eventually

CRANE = ROOT / "tests" / ".bin" / "crane"
PREVIOUS = ROOT / "tests" / "data" / "charts" / "acs-smtp-operator-0.1.0.tgz"
VERSION = yaml.safe_load((ROOT / "charts" / "acs-smtp-operator" / "Chart.yaml").read_text())["version"]
RELEASE, NAMESPACE = "acs-smtp-operator", "acs-smtp-system"
CRDS = ("acssmtpcredentials.acssmtp.io", "acssmtppolicies.acssmtp.io")


@pytest.fixture(scope="module")
def plane(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A control plane of this module's own (the suite's has CRDs and RBAC applied without Helm); its kubeconfig."""
    if request.config.getoption("--cluster") != "real":
        pytest.skip("the chart is installed on the real control plane (--cluster=real)")
    from tests.controlplane.controlplane import ControlPlane

    with ControlPlane(tmp_path_factory.mktemp("release-plane")) as control:
        yield control.kubeconfig


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`crane registry serve` on 127.0.0.1; its host:port."""
    assert CRANE.is_file(), "crane is not built: make registry"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("registry") / "registry.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([str(CRANE), "registry", "serve", "--address", f"127.0.0.1:{port}"], stderr=out)
    try:
        eventually(lambda: _listening(port), timeout=20, what="the registry")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _listening(port: int) -> bool | None:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0 or None


@pytest.fixture(scope="module")
def published(registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The image and both charts pushed; the image's repository and digest, the charts' oci:// reference."""
    build()
    layout = tmp_path_factory.mktemp("oci-layout")
    subprocess.run(["tar", "-xf", str(ARCHIVE), "-C", str(layout)], check=True)
    pushed = subprocess.run(
        [str(CRANE), "push", "--insecure", str(layout), f"{registry}/acs-smtp-operator:{VERSION}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    repository, digest = pushed.split("@")
    charts = f"oci://{registry}/charts"
    done = subprocess.run(
        [str(BIN / "python"), "scripts/chart.py", "package", str(tmp_path_factory.mktemp("chart"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for archive in (PREVIOUS, Path(done.stdout.strip())):
        helm_python.push(archive, charts, plain_http=True)
    return {"repository": repository, "digest": digest, "charts": f"{charts}/acs-smtp-operator"}


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def get(kubeconfig: Path, *args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(kubeconfig, "get", *args, "-o", "json").stdout))


def values(published: dict[str, str] | None = None) -> dict[str, Any]:
    chosen = minimal()
    if published is not None:
        chosen["image"] = {"repository": published["repository"], "digest": published["digest"]}
    return chosen


def pods_admitted(kubeconfig: Path, image: str) -> list[dict[str, Any]] | None:
    """The release's pods with `image`, once the ReplicaSet controller created them (no kubelet runs them)."""
    pods = get(kubeconfig, "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]
    return [p for p in pods if p["spec"]["containers"][0]["image"] == image] or None


def refused_by_pod_security(kubeconfig: Path) -> str | None:
    """The ReplicaSet controller's complaint when PodSecurity admission refused a pod."""
    for rs in get(kubeconfig, "replicasets", "-n", NAMESPACE)["items"]:
        for condition in rs.get("status", {}).get("conditions", []):
            if condition["type"] == "ReplicaFailure" and "violates PodSecurity" in condition["message"]:
                return str(condition["message"])
    return None


def test_the_release_installs_from_the_registry_upgrades_from_0_1_0_and_keeps_the_crds(
    plane: Path, published: dict[str, str]
) -> None:
    restricted = namespace_manifest(NAMESPACE)
    restricted["metadata"]["labels"] = {"pod-security.kubernetes.io/enforce": "restricted"}
    subprocess.run(
        [str(BIN / "kubectl"), f"--kubeconfig={plane}", "apply", "-f", "-"],
        input=yaml.safe_dump(restricted),
        check=True,
        capture_output=True,
        text=True,
    )
    helm = helm_python.Config(kubeconfig_path=plane, namespace=NAMESPACE)
    charts = published["charts"]
    tag = f"{published['repository']}:{VERSION}"  # the registry serves the image under the digest the chart names
    served = subprocess.run([str(CRANE), "digest", "--insecure", tag], capture_output=True, text=True, check=True)
    assert served.stdout.strip() == published["digest"]

    # 0.1.0, as its users installed it: the CRDs from Helm's crds/ directory, the release's own objects.
    helm.install(charts, RELEASE, values(), namespace=NAMESPACE, chart_version="0.1.0", plain_http=True)
    assert all(kubectl(plane, "get", "crd", crd).returncode == 0 for crd in CRDS)

    # Straight to 0.2.0, Helm refuses CRDs it did not install: what docs/install.md's upgrade step is for.
    with pytest.raises(helm_python.HelmError, match="cannot be imported into the current release"):
        helm.upgrade(charts, RELEASE, values(published), namespace=NAMESPACE, chart_version=VERSION, plain_http=True)
    for crd in CRDS:  # docs/install.md, "Upgrading", from chart 0.1.0 to 0.2.0
        kubectl(plane, "label", "crd", crd, "app.kubernetes.io/managed-by=Helm", "--overwrite")
        kubectl(plane, "annotate", "crd", crd, f"meta.helm.sh/release-name={RELEASE}",
                f"meta.helm.sh/release-namespace={NAMESPACE}", "--overwrite")  # fmt: skip
    helm.upgrade(charts, RELEASE, values(published), namespace=NAMESPACE, chart_version=VERSION, plain_http=True)

    for crd in CRDS:  # upgraded by the release: its labels and the keep policy
        metadata = get(plane, "crd", crd)["metadata"]
        assert metadata["labels"]["helm.sh/chart"] == f"acs-smtp-operator-{VERSION}"
        assert metadata["annotations"]["helm.sh/resource-policy"] == "keep"
    image = f"{published['repository']}@{published['digest']}"
    [deployment] = get(plane, "deployments", "-n", NAMESPACE)["items"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    pods = eventually(lambda: pods_admitted(plane, image), timeout=60, what="the 0.2.0 pods, admitted")
    assert pods[0]["spec"]["securityContext"]["runAsUser"] == 65532
    assert refused_by_pod_security(plane) is None

    # A pod that breaks the profile is refused: the namespace enforces, the test can fail.
    patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
              "value": True}]  # fmt: skip
    kubectl(plane, "patch", "deployment", deployment["metadata"]["name"], "-n", NAMESPACE, "--type=json",
            f"-p={json.dumps(patch)}")  # fmt: skip
    complaint = eventually(lambda: refused_by_pod_security(plane), timeout=60, what="PodSecurity's refusal")
    assert "allowPrivilegeEscalation != false" in complaint

    # Uninstalled: the release's objects go, the CRDs (and so every credential and policy) stay.
    helm.uninstall(RELEASE)
    assert get(plane, "deployments", "-n", NAMESPACE)["items"] == []
    assert all(kubectl(plane, "get", "crd", crd).returncode == 0 for crd in CRDS)

    # Installed afresh from the registry, the kept CRDs are the release's again.
    helm.install(charts, RELEASE, values(published), namespace=NAMESPACE, chart_version=VERSION, plain_http=True)
    eventually(lambda: pods_admitted(plane, image), timeout=60, what="the reinstalled pods")
    status = helm.status(RELEASE)
    assert (status["status"], status["revision"]) == ("deployed", 1)
