"""The krew manifest: valid by krew's own rules (internal/index/validation's ValidatePlugin, ported), naming the
archive scripts/krew.py builds (its sha256) and this version, and that archive's launcher found by kubectl."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml
from tests.conftest import BIN, ROOT
from tests.e2e.test_locks import PYPROJECT

MANIFEST = ROOT / "plugins" / "krew" / "acssmtp.yaml"
VERSION = PYPROJECT["project"]["version"]
SEMVER = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
WINDOWS_FORBIDDEN = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def krew_errors(name: str, plugin: dict[str, Any]) -> list[str]:
    """krew's ValidatePlugin(name, plugin): the reasons krew would refuse the manifest."""
    errors = []
    spec = plugin.get("spec") or {}
    if plugin.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2":
        errors.append("apiVersion")
    if plugin.get("kind") != "Plugin":
        errors.append("kind")
    if not re.fullmatch(r"[\w-]+", name) or name.upper() in WINDOWS_FORBIDDEN:
        errors.append("unsafe name")
    if (plugin.get("metadata") or {}).get("name") != name:
        errors.append("metadata.name is not the file's name")
    short = spec.get("shortDescription") or ""
    if not short or "\n" in short or "\r" in short:
        errors.append("shortDescription")
    if not SEMVER.match(str(spec.get("version") or "")):
        errors.append("version is not v-prefixed semver")
    if not spec.get("platforms"):
        errors.append("no platform")
    for platform in spec.get("platforms") or []:
        if not platform.get("uri") or not re.fullmatch(r"[a-f0-9]{64}", str(platform.get("sha256") or "")):
            errors.append("uri or sha256")
        if not platform.get("bin"):
            errors.append("bin")
        files = platform.get("files")
        if files is not None and (not files or any(not f.get("from") or not f.get("to") for f in files)):
            errors.append("files")
        selector = platform.get("selector") or {}
        keys = [*(selector.get("matchLabels") or {}), *(e.get("key") for e in selector.get("matchExpressions") or [])]
        if not keys or set(keys) - {"os", "arch"}:
            errors.append("selector")
    return errors


def test_the_manifest_passes_krews_validation_and_names_this_version() -> None:
    plugin = yaml.safe_load(MANIFEST.read_text())
    assert krew_errors(MANIFEST.stem, plugin) == []
    assert krew_errors("other", plugin) == ["metadata.name is not the file's name"], "the port can fail"
    spec = plugin["spec"]
    assert spec["version"] == f"v{VERSION}"
    [platform] = spec["platforms"]
    assert platform["uri"].endswith(f"/v{VERSION}/kubectl-acssmtp.tar.gz") and platform["bin"] == "kubectl-acssmtp"
    assert f"acs-smtp-operator=={VERSION}" in spec["caveats"]
    assert f"acs-smtp-operator=={VERSION}" in (ROOT / "plugins" / "krew" / "kubectl-acssmtp").read_text()


def test_the_manifest_names_the_archive_the_script_builds_and_kubectl_runs_its_launcher(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "krew.py"), str(tmp_path)], capture_output=True, text=True, check=True
    )
    archive = tmp_path / "kubectl-acssmtp.tar.gz"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert built.stdout.split()[-1] == digest
    [platform] = yaml.safe_load(MANIFEST.read_text())["spec"]["platforms"]
    assert platform["sha256"] == digest, "the launcher changed: run scripts/krew.py and put its sha256 in the manifest"

    installed = tmp_path / "krew-bin"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(f["from"] for f in platform["files"])
        tar.extractall(installed, filter="data")
    path = f"{installed}:/usr/bin:/bin"  # as krew puts its bin first; the venv's own kubectl-acssmtp is not on it
    ran = subprocess.run(
        [str(BIN / "kubectl"), "acssmtp", "version"],
        env={"PATH": path, "ACSSMTP_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ran.returncode, ran.stdout.strip()) == (0, VERSION), ran.stderr

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    missing = subprocess.run(
        [str(BIN / "kubectl"), "acssmtp", "version"],
        env={"PATH": path, "ACSSMTP_PYTHON": str(bare / "bin" / "python")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1 and f"-m pip install --user 'acs-smtp-operator=={VERSION}'" in missing.stderr
