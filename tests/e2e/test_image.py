"""The container image, without a Docker engine: the Dockerfile's rules, and its install step run for real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from tests.conftest import ROOT, Cloud, Operator
from tests.helm import minimal, of_kind, render
from tests.integration.operator_helpers import apply, namespace, secret_data, wait_ready

PINNED = re.compile(r"^python:\d+\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$")
COMPILERS = ("gcc", "g++", "build-essential", "clang", "make ", "cargo", "rustc")


def stages() -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions, stage by stage."""
    result: list[list[dict[str, Any]]] = []
    for instruction in DockerfileParser(str(ROOT / "Dockerfile")).structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result and instruction["instruction"] != "COMMENT":
            result[-1].append(instruction)
    return result


def values(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def test_every_base_image_is_a_pinned_slim_python() -> None:
    for base in DockerfileParser(str(ROOT / "Dockerfile")).parent_images:
        assert PINNED.match(base), f"unpinned or non-slim base image: {base}"
    python = DockerfileParser(str(ROOT / "Dockerfile")).baseimage
    assert python.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}."), "not the tested Python"


def test_the_image_runs_as_a_numeric_non_root_user_and_starts_the_operator() -> None:
    final = stages()[-1]
    [user] = values(final, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: numeric and not root, so that runAsNonRoot can check it"
    [entrypoint] = values(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["acs-smtp-operator", "run"]
    pod = of_kind(render(minimal()), "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)


def test_the_final_stage_carries_the_venv_only_no_sources_no_compilers() -> None:
    build, final = stages()[0], stages()[-1]
    assert values(final, "COPY") == ["--from=build /opt/venv /opt/venv"]
    assert values(final, "RUN") == []  # nothing installed or compiled in the final image
    for instruction in build + final:
        assert not any(c in instruction["value"] for c in COMPILERS), instruction
    [install] = values(build, "RUN")
    assert "pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements.lock" in install, install
    assert re.search(r"pip install --no-cache-dir --no-deps /dist/acs_smtp_operator-\*\.whl( |$)", install), install
    assert "rm -rf /opt/venv/lib/python3.11/site-packages/acs_smtp_operator/sandbox" in install, "the sandbox ships"
    assert "[" not in install, "extras (test, sandbox) must not reach the image"


def _requirement_lines() -> list[str]:
    """The lock's requirements, each with its continuation lines joined."""
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if line and not line.startswith(("#", " "))]


def test_the_lock_pins_every_dependency_within_pyprojects_ranges_with_hashes() -> None:
    pins: dict[str, Version] = {}
    for line in _requirement_lines():
        requirement = Requirement(line.split(" --hash")[0].strip())
        [spec] = requirement.specifier
        assert spec.operator == "==", line
        assert " --hash=sha256:" in line, f"{requirement.name} is not hashed"
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for text in declared:
        wanted = Requirement(text)
        name = canonicalize_name(wanted.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: run `make lock`"
        assert pins[name] in wanted.specifier, f"{name} {pins[name]} is outside {wanted.specifier}: run `make lock`"


def test_the_health_check_and_the_ports_match_the_charts_probes() -> None:
    final = stages()[-1]
    manifests = render(minimal())
    container = of_kind(manifests, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: str(p["containerPort"]) for p in container["ports"]}
    [exposed] = values(final, "EXPOSE")
    assert set(exposed.split()) == {ports["health"], ports["metrics"]}
    [check] = values(final, "HEALTHCHECK")
    assert f"http://127.0.0.1:{ports['health']}{container['livenessProbe']['httpGet']['path']}" in check


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's build step, run here: wheel, fresh venv, install the wheel alone."""
    root = tmp_path_factory.mktemp("image")
    [install] = values(stages()[0], "RUN")
    command = (
        install.replace("/opt/venv", str(root / "venv"))
        .replace("/dist", str(root / "dist"))
        .replace("python -m", f"{sys.executable} -m")
    )
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "venv"


def test_the_wheel_installs_without_test_or_sandbox_extras(installed: Path) -> None:
    listed = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed)}
    names = set(versions)
    assert {"acs-smtp-operator", "kopf", "azure-identity", "msgraph-sdk"} <= names
    assert not names & {"pytest", "kmock", "aiosmtpd", "trustme", "mypy", "ruff", "helm-python-sdk"}
    locked = {canonicalize_name(r.name): str(next(iter(r.specifier)).version) for r in map(_pin, _requirement_lines())}
    assert {n: v for n, v in versions.items() if n in locked} == locked, "the venv holds exactly the locked versions"
    assert not list(installed.glob("lib/python*/site-packages/acs_smtp_operator/sandbox")), "the sandbox ships"
    refused = subprocess.run(
        [str(installed / "bin" / "acs-smtp-operator"), "demo"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2 and "not part of this installation" in refused.stderr


def _pin(line: str) -> Requirement:
    return Requirement(line.split(" --hash")[0].strip())


def test_the_installed_operator_does_its_job(installed: Path, cloud: Cloud, tmp_path: Path) -> None:
    """The image's venv, as the image would run it, against the sandbox."""
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    operator = Operator(cloud, tmp_path)
    operator.command = [str(installed / "bin" / "acs-smtp-operator")]
    ns = namespace(cloud)
    operator.start()
    try:
        apply(cloud, ns, "from-image")
        wait_ready(cloud, ns, "from-image")
        assert secret_data(cloud, ns, "from-image-smtp")
    finally:
        operator.stop()
        cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--wait=false", check=False)
