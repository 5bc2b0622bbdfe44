"""Fixtures for the operator scenarios."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.conftest import ROOT, Cloud
from tests.integration.operator_helpers import namespace


@pytest.fixture
def ns(cloud: Cloud) -> Iterator[str]:
    """A fresh namespace; its credentials are deleted afterwards so they stop calling Azure, and the faults and
    throttling the scenario set end with it (the next scenario, in whatever order, meets a clean sandbox)."""
    name = namespace(cloud)
    yield name
    cloud.reset()
    cloud.kubectl("delete", "acssmtp", "--all", "-n", name, "--wait=false", check=False)
    cloud.kubectl("delete", "acssmtppolicy", name, "--wait=false", check=False)


@pytest.fixture
def real(request: pytest.FixtureRequest) -> Cloud:
    """The cloud with a real API server, the CRDs applied (only a real one enforces RBAC and admission policies);
    skipped on the emulator."""
    if request.config.getoption("--cluster") != "real":
        pytest.skip("enforced only by a real API server (pytest --cluster=real)")
    cloud: Cloud = request.getfixturevalue("cloud")
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    return cloud
