"""The control API's knobs change what the real clients see."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError
from tests.conftest import Cloud

from acs_smtp_operator.azure.clients import AzureClients


def acs_args(cloud: Cloud) -> tuple[str, str]:
    parts = cloud.acs["resourceId"].split("/")
    return parts[4], parts[8]


def statuses(cloud: Cloud, fragment: str) -> list[int]:
    return [r["status"] for r in cloud.requests() if fragment in r["path"]]


async def test_a_429_with_retry_after_is_waited_out_by_the_sdk(cloud: Cloud, azure: AzureClients) -> None:
    cloud.fault(path="communicationServices/[^/]+$", method="GET", status=429, retryAfter=1, times=1)
    started = time.monotonic()
    found = await azure.communication(cloud.manifest["subscriptionId"]).communication_services.get(*acs_args(cloud))
    assert found.name == cloud.acs["name"]
    assert time.monotonic() - started >= 0.9, "the SDK honoured Retry-After"
    assert statuses(cloud, "communicationServices") == [429, 200]


async def test_a_503_is_retried_and_every_attempt_is_logged(cloud: Cloud, azure: AzureClients) -> None:
    cloud.fault(path="communicationServices/[^/]+$", status=503, times=2)
    await azure.communication(cloud.manifest["subscriptionId"]).communication_services.get(*acs_args(cloud))
    assert statuses(cloud, "communicationServices") == [503, 503, 200]


async def test_a_persistent_fault_surfaces_as_the_documented_error(cloud: Cloud, azure: AzureClients) -> None:
    cloud.fault(path="roleDefinitions", status=403, times=1)
    scope = "/".join(cloud.acs["resourceId"].split("/")[:5])
    with pytest.raises(HttpResponseError) as info:
        await azure.authorization(cloud.manifest["subscriptionId"]).role_definitions.get(
            scope, "acdd72a7-3385-48ef-bd42-f606fba81ae7"
        )
    assert info.value.status_code == 403


async def test_graph_throttling_is_retried_by_the_graph_client(cloud: Cloud, azure: AzureClients) -> None:
    cloud.fault(path="/v1.0/applications", status=429, retryAfter=1, times=1)
    found = await azure.graph.applications_with_app_id(cloud.app("shop-mailer")["clientId"]).get()
    assert found is not None
    assert statuses(cloud, "/v1.0/applications") == [429, 200]


async def test_latency_is_added_to_each_matching_call(cloud: Cloud, azure: AzureClients) -> None:
    cloud.fault(path="communicationServices", latencyMs=300)
    started = time.monotonic()
    await azure.communication(cloud.manifest["subscriptionId"]).communication_services.get(*acs_args(cloud))
    assert time.monotonic() - started >= 0.3


def test_reset_clears_faults_and_the_log(cloud: Cloud) -> None:
    cloud.fault(path="anything", status=500)
    cloud.reset()
    assert cloud.control.get("/faults").json() == []
    assert cloud.requests() == []


def test_a_malformed_fault_is_refused(cloud: Cloud) -> None:
    response = cloud.control.post("/faults", json={"path": "x", "status": 200})
    assert response.status_code == 400
