"""Fixtures for the operator scenarios."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.conftest import Cloud
from tests.integration.operator_helpers import namespace


@pytest.fixture
def ns(cloud: Cloud) -> Iterator[str]:
    """A fresh namespace; its credentials are deleted afterwards so they stop calling Azure."""
    name = namespace(cloud)
    yield name
    cloud.kubectl("delete", "acssmtp", "--all", "-n", name, "--wait=false", check=False)
    cloud.kubectl("delete", "acssmtppolicy", name, "--wait=false", check=False)
