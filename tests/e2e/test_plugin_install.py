"""`kubectl acssmtp` installs without kopf and the Azure SDKs: the base distribution's wheel requires neither, a
fresh venv's own pip resolving it (at the dev lock's versions) pulls neither, and the plugin so installed works
through kubectl's plugin discovery against the sandbox. The operator is the `operator` extra. Needs the package
index (the fresh venv resolves from it), as the image's tests do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tests.conftest import BIN, ROOT, Cloud
from tests.e2e.test_locks import DEV, PYPROJECT, pins

VERSION = PYPROJECT["project"]["version"]
OPERATOR_ONLY = ("kopf", "azure", "msgraph", "kiota", "prometheus-client", "pydantic-settings", "aiosmtplib")


def operator_only(name: str) -> bool:
    return canonicalize_name(name).startswith(OPERATOR_ONLY)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The distribution's wheel, built with the locked backend from a copy of what the Dockerfile builds from."""
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "operator", source / "operator", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(
        [str(BIN / "pip"), "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = dist.glob("acs_smtp_operator-*.whl")
    return built


def requires(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    return [Requirement(line.split(":", 1)[1]) for line in text.splitlines() if line.startswith("Requires-Dist:")]


def test_the_base_distribution_requires_no_kopf_and_no_azure_sdk_the_operator_extra_does(wheel: Path) -> None:
    base = [r.name for r in requires(wheel) if r.marker is None]
    extra = [r.name for r in requires(wheel) if r.marker is not None and r.marker.evaluate({"extra": "operator"})]
    assert sorted(map(canonicalize_name, base)) == ["kubernetes", "pydantic", "pyyaml", "typer"]
    assert {"kopf", "azure-identity", "msgraph-sdk"} <= {canonicalize_name(n) for n in extra}
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        assert "kubectl-acssmtp = acs_smtp_operator.plugin:main" in archive.read(entry_points).decode()


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and whatever its own pip resolves for it, at the dev lock's versions."""
    root = tmp_path_factory.mktemp("plugin-venv")
    constraints = root / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins(DEV).items()))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    return root / "venv"


def test_a_fresh_pip_resolves_the_plugin_without_kopf_or_azure_and_kubectl_runs_it(
    wheel: Path, venv: Path, cloud: Cloud
) -> None:
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    constraints = str(venv.parent / "constraints.txt")
    report = venv.parent / "report.json"
    plan = [*pip, "install", "--only-binary=:all:", "-c", constraints, str(wheel)]
    resolved = subprocess.run(
        [*plan[:3], "install", "--dry-run", "--ignore-installed", "--report", str(report), *plan[4:]],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert resolved.returncode == 0, resolved.stdout[-2000:] + resolved.stderr[-2000:]
    names = sorted(i["metadata"]["name"] for i in json.loads(report.read_text())["install"])
    assert [n for n in names if operator_only(n)] == [], names
    assert "kubernetes" in names and "acs-smtp-operator" in names

    done = subprocess.run(plan, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import kopf"], capture_output=True).returncode != 0

    env = {"PATH": str(venv / "bin"), "KUBECONFIG": cloud.manifest["kubeconfig"]}
    kubectl = str(BIN / "kubectl")  # kubectl from the dev venv; the plugin only from the fresh venv's PATH
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    version = subprocess.run([kubectl, "acssmtp", "version"], env=env, capture_output=True, text=True, check=False)
    assert (version.returncode, version.stdout.strip()) == (0, VERSION), version.stderr
    listed = subprocess.run([kubectl, "acssmtp", "list", "-A"], env=env, capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "" or listed.stdout.split()[:2] == ["NAMESPACE", "NAME"]
    run = subprocess.run(
        [str(venv / "bin" / "acs-smtp-operator"), "run", "-A"], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 2 and "pip install 'acs-smtp-operator[operator]'" in run.stderr
