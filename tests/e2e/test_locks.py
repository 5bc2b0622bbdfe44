"""The locks: every installed package pinned and hashed, within pyproject's ranges, the image's pins the tests' pins.
Whether a lock is complete (nothing resolved at install time) is proved where it is installed with --no-deps and
checked with `pip check`: tests/e2e/test_image.py, the image build, the Makefile's venv."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME, BUILD, DEV = (ROOT / n for n in ("requirements.lock", "requirements-build.lock", "requirements-dev.lock"))
SELF = canonicalize_name(PYPROJECT["project"]["name"])


def requirement_lines(lock: Path) -> list[str]:
    """A lock's requirements, each with its continuation lines joined."""
    text = lock.read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if line.strip() and not line.startswith(("#", " "))]


def pins(lock: Path) -> dict[NormalizedName, Version]:
    """name -> the exact version a lock installs; every line must be `==` and carry hashes."""
    found: dict[NormalizedName, Version] = {}
    for line in requirement_lines(lock):
        requirement = Requirement(line.split(" --hash")[0].strip())
        [spec] = requirement.specifier
        assert spec.operator == "==", f"{lock.name}: {line[:80]} is not pinned exactly"
        assert " --hash=sha256:" in line, f"{lock.name}: {requirement.name} carries no hash"
        assert requirement.marker is None, f"{lock.name}: {requirement.name} is locked for some platforms only"
        found[canonicalize_name(requirement.name)] = Version(spec.version)
    return found


def declared(*groups: str) -> list[Requirement]:
    """pyproject's requirements: `dependencies`, `build-system`, or an extra's name (its self-references left out)."""
    texts: list[str] = []
    for group in groups:
        if group == "dependencies":
            texts += PYPROJECT["project"]["dependencies"]
        elif group == "build-system":
            texts += PYPROJECT["build-system"]["requires"]
        else:
            texts += PYPROJECT["project"]["optional-dependencies"][group]
    return [r for r in map(Requirement, texts) if canonicalize_name(r.name) != SELF]


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        pytest.param(RUNTIME, ("dependencies", "operator"), id="the image's lock holds the operator's dependencies"),
        pytest.param(BUILD, ("build-system",), id="the build lock holds the build backend"),
        pytest.param(
            DEV, ("dependencies", "operator", "build-system", "sandbox", "test"), id="the dev lock holds everything"
        ),
    ],
)
def test_every_declared_requirement_is_locked_within_its_range(lock: Path, groups: tuple[str, ...]) -> None:
    locked = pins(lock)
    for wanted in declared(*groups):
        name = canonicalize_name(wanted.name)
        assert name in locked, f"{name} is in pyproject.toml but not in {lock.name}: run `make lock`"
        assert locked[name] in wanted.specifier, f"{name} {locked[name]} is outside {wanted.specifier}: `make lock`"


def test_the_tests_run_the_very_versions_the_image_ships_and_builds_with() -> None:
    dev = pins(DEV)
    for lock in (RUNTIME, BUILD):
        differing = {n: (str(v), str(dev.get(n))) for n, v in pins(lock).items() if dev.get(n) != v}
        assert differing == {}, f"requirements-dev.lock differs from {lock.name} (locked, dev): run `make lock`"


def test_the_image_lock_holds_no_test_tool_no_emulator_and_no_build_backend() -> None:
    tools = {"pytest", "mypy", "ruff", "kmock", "aiosmtpd", "trustme", "helm-python-sdk", "cyclonedx-bom"}
    assert set(pins(RUNTIME)) & {canonicalize_name(n) for n in (*tools, "setuptools", "wheel", "pip")} == set()
