"""The container image as it ships: the Dockerfile's rules, its install step run with a fresh venv's own pip, the
operator run as the image runs it (a UID with no passwd entry, no HOME, no USER), and the image itself built with
buildah (`make image`), its layers read and its entrypoint run against the sandbox."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]
from packaging.utils import canonicalize_name
from tests.conftest import ROOT, Cloud, Operator
from tests.e2e.test_locks import PYPROJECT, RUNTIME, pins
from tests.helm import minimal, of_kind, render
from tests.image import UID, Image, build, command, environment, stage, uid_of
from tests.integration.operator_helpers import apply, delivered, namespace, secret_data, send_with, wait_ready

PINNED = re.compile(r"^python:\d+\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$")
COMPILERS = ("gcc", "g++", "build-essential", "clang", "make ", "cargo", "rustc")
TEST_ONLY = {"pytest", "kmock", "aiosmtpd", "trustme", "mypy", "ruff", "helm-python-sdk", "cyclonedx-bom"}
VERSION = str(PYPROJECT["project"]["version"])


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


def install_step() -> str:
    """The build stage's one RUN, without its secret mounts."""
    [run] = values(stages()[0], "RUN")
    return " ".join(word for word in shlex.split(run) if not word.startswith("--mount=")).replace(" && ", "\n")


def test_the_default_base_is_a_pinned_slim_python_of_the_tested_version() -> None:
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    for base in parser.parent_images:
        assert PINNED.match(base), f"unpinned or non-slim base image: {base}"
    assert parser.baseimage.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}."), "not tested"


def test_the_image_runs_as_a_numeric_non_root_user_and_starts_the_operator() -> None:
    final = stages()[-1]
    [user] = values(final, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: numeric and not root, so that runAsNonRoot can check it"
    [entrypoint] = values(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["acs-smtp-operator", "run"]
    pod = of_kind(render(minimal()), "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)


def test_the_final_stage_carries_the_venv_only_and_nothing_installs_by_resolving() -> None:
    build_stage, final = stages()[0], stages()[-1]
    assert values(final, "COPY") == ["--from=build /opt/venv /opt/venv"]
    assert values(final, "RUN") == []  # nothing installed or compiled in the final image
    for instruction in build_stage + final:
        assert not any(c in instruction["value"] for c in COMPILERS), instruction
    steps = install_step().splitlines()
    installs = [s for s in steps if " install " in s]
    assert installs and all("--no-deps" in s for s in installs), "every install is exact: no resolution"
    assert all("--require-hashes" in s for s in installs if " -r " in s)
    assert any("-r requirements-build.lock" in s for s in installs), "the build backend comes from its lock"
    assert any("--no-build-isolation" in s for s in steps if " wheel " in s), (
        "the wheel is built with the locked backend"
    )
    assert any("rm -rf /opt/venv/lib/python3.11/site-packages/acs_smtp_operator/sandbox" in s for s in steps)
    assert "[" not in install_step(), "extras (test, sandbox) must not reach the image"


def test_the_version_label_is_the_packages_version() -> None:
    assert DockerfileParser(str(ROOT / "Dockerfile")).labels["org.opencontainers.image.version"] == VERSION


def test_the_exposed_ports_are_the_charts_probe_and_metrics_ports() -> None:
    container = of_kind(render(minimal()), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: str(p["containerPort"]) for p in container["ports"]}
    [exposed] = values(stages()[-1], "EXPOSE")
    assert set(exposed.split()) == {ports["health"], ports["metrics"]}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's build step, run here by a fresh venv's own pip (Python 3.11.7's: 23.2.1, which resolved
    httpx afresh in --require-hashes mode before the locks were installed with --no-deps)."""
    root = tmp_path_factory.mktemp("image")
    script = (
        install_step()
        .replace("/opt/build", str(root / "build"))
        .replace("/opt/venv", str(root / "venv"))
        .replace("/dist", str(root / "dist"))
        .replace("python -m venv", f"{sys.executable} -m venv")
    )
    done = subprocess.run(["bash", "-euc", script], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pip = subprocess.run([str(root / "build" / "bin" / "pip"), "--version"], capture_output=True, text=True)
    assert pip.stdout.split()[1] == bundled_pip(), "the venv's own pip, not an upgraded one"
    return root / "venv"


def bundled_pip() -> str:
    return subprocess.run(
        [sys.executable, "-c", "import ensurepip; print(ensurepip.version())"], capture_output=True, text=True
    ).stdout.strip()


def distributions(python: Path) -> dict[str, str]:
    """name -> version of every distribution a venv holds (the image's has no pip to ask)."""
    listed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json; "
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {canonicalize_name(n): v for n, v in json.loads(listed).items()}


def test_the_venv_holds_exactly_the_locked_set_no_pip_no_extras(installed: Path) -> None:
    held = distributions(installed / "bin" / "python")
    locked: dict[str, str] = {n: str(v) for n, v in pins(RUNTIME).items()}
    assert held == {**locked, "acs-smtp-operator": VERSION}, "the locked set, the operator, and nothing else"
    assert not list(installed.glob("lib/python*/site-packages/acs_smtp_operator/sandbox")), "the sandbox ships"
    refused = subprocess.run(
        [str(installed / "bin" / "acs-smtp-operator"), "demo"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2 and "not part of this installation" in refused.stderr


def without_this_machine(operator: Operator) -> dict[str, str]:
    """The variables the test set for the operator, none of this machine's (no HOME, no USER, no LOGNAME)."""
    return {k: v for k, v in operator.env.items() if os.environ.get(k) != v}


def test_the_operator_runs_as_a_uid_with_no_passwd_entry(installed: Path, cloud: Cloud, tmp_path: Path) -> None:
    """Without the image: the installed venv in a user namespace where the process is UID 65532, unknown to
    /etc/passwd, with no HOME and no USER (kopf asked the OS for a user name, and crashed)."""
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    operator = Operator(cloud, tmp_path)
    operator.env = {"PATH": "/usr/bin:/bin", **without_this_machine(operator)}
    operator.argv = [
        *("unshare", "--user", f"--map-user={UID}", f"--map-group={UID}"),
        *(str(installed / "bin" / "acs-smtp-operator"), "run", "--all-namespaces"),
    ]
    ns = namespace(cloud)
    operator.start()
    try:
        apply(cloud, ns, "no-passwd")
        wait_ready(cloud, ns, "no-passwd")
        assert secret_data(cloud, ns, "no-passwd-smtp")
    finally:
        operator.stop()
        cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--wait=false", check=False)


# The image itself, built by `make image` (buildah): missing buildah fails here with the command that installs it.


@pytest.fixture(scope="module")
def image() -> Image:
    build()
    return Image.load()


def listing(image: Image) -> set[str]:
    return {"/" + m.name.lstrip("./") for layer in image.layers() for m in layer}


def test_the_image_holds_no_compiler_no_source_no_sandbox_no_test_package_no_build_secret(image: Image) -> None:
    files = listing(image)
    site = "/opt/venv/lib/python3.11/site-packages"
    assert f"{site}/acs_smtp_operator/cli.py" in files
    tool = r"(x86_64-linux-gnu-)?(gcc|g\+\+|c\+\+|cc|clang|ld|as|make|rustc|cargo|go)(-[\d.]+)?"
    compilers = {f for f in files if re.search(rf"/s?bin/{tool}$|/cc1(plus)?$|/python3[\d.]*-config$", f)}
    assert compilers == set()
    assert {f for f in files if f.startswith(("/src", "/dist", "/opt/build"))} == set(), "the build stage leaked"
    assert not any(f.startswith(f"{site}/acs_smtp_operator/sandbox") for f in files), "the sandbox ships"
    dists = {canonicalize_name(Path(f).name.split("-")[0]) for f in files if f.endswith(".dist-info")}
    assert dists & {canonicalize_name(n) for n in TEST_ONLY} == set()
    assert not any(f.startswith(f"{site}/pip/") for f in files), "no pip in the runtime venv"
    secrets = {f for f in files if f.startswith("/run/secrets/") or f.endswith(("/pip.conf", "/pip.ini"))}
    assert secrets == set(), "a build secret (the machine's pip settings) in a layer"


def test_the_image_config_runs_the_operator_as_65532_and_labels_its_version(image: Image) -> None:
    config = image.config["config"]
    assert config["User"] == f"{UID}:{UID}"
    assert image.entrypoint() == ["acs-smtp-operator", "run", "--all-namespaces"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert set(config["ExposedPorts"]) == {"8080/tcp", "9090/tcp"}
    assert "HOME" not in image.env() and "USER" not in image.env()


def test_the_sbom_lists_every_distribution_the_image_holds(image: Image) -> None:
    sbom = json.loads((ROOT / "build" / "image" / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    subject = sbom["metadata"]["component"]  # the operator itself, the rest as its components
    assert (subject["name"], subject["version"]) == ("acs-smtp-operator", VERSION)
    listed = {(canonicalize_name(c["name"]), c["version"]) for c in [subject, *sbom["components"]]}
    site = "/opt/venv/lib/python3.11/site-packages/"
    held = set()
    for f in listing(image):
        if f.startswith(site) and f.endswith(".dist-info") and f.count("/") == site.count("/"):
            name, version = f[len(site) : -len(".dist-info")].rsplit("-", 1)
            held.add((canonicalize_name(name), version))
    assert held and listed == held


def test_the_images_entrypoint_as_65532_on_a_read_only_root_makes_a_secret_that_sends_mail(
    image: Image, cloud: Cloud, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = image.unpack(tmp_path_factory.mktemp("rootfs"))
    version = subprocess.run(
        command(root, ["acs-smtp-operator", "version"]), env=environment(image), capture_output=True, text=True
    )
    assert (version.returncode, version.stdout.strip()) == (0, VERSION), version.stderr
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    operator = Operator(cloud, tmp_path_factory.mktemp("image-operator"))
    mounted = stage(
        root, {"KUBECONFIG": Path(cloud.env["KUBECONFIG"]), "ACSSMTP_CA_BUNDLE": Path(cloud.manifest["caBundle"])}
    )
    operator.env = environment(image, **{**without_this_machine(operator), **mounted})
    operator.argv = command(root, image.entrypoint())
    ns = namespace(cloud)
    operator.start()
    try:
        assert operator.process is not None and uid_of(operator.process.pid) == UID
        apply(cloud, ns, "from-image")
        wait_ready(cloud, ns, "from-image")
        data = secret_data(cloud, ns, "from-image-smtp")
        assert data is not None
        subject = f"from the image {uuid.uuid4()}"
        send_with(cloud, data, subject)
        assert delivered(cloud, subject)
    finally:
        operator.stop()
        cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--wait=false", check=False)
