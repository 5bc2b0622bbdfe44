"""The control API's knobs change what the real clients see."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from tests.conftest import Cloud

from acs_smtp_operator.azure.clients import AzureClients


def acs_args(cloud: Cloud) -> tuple[str, str]:
    parts = cloud.acs["resourceId"].split("/")
    return parts[4], parts[8]


@pytest.fixture(autouse=True)
def clean_afterwards(cloud: Cloud) -> Iterator[None]:
    """Faults and throttling end with the test that set them: the next file's scenarios (whatever the order)
    must not meet a 4-unit Graph budget left on."""
    yield
    cloud.reset()


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


async def test_arm_throttling_is_a_token_bucket_per_subscription_and_principal(
    cloud: Cloud, azure: AzureClients
) -> None:
    """A bucket of 2 reads refilled at 0.5/s: the third read at once is answered 429 with Retry-After (and
    the SDK, waiting it out, gets its answer); writes draw on their own bucket."""
    cloud.throttling(arm=True, armReads=[2, 0.5])
    client = azure.communication(cloud.manifest["subscriptionId"])
    started = time.monotonic()
    for _ in range(3):
        await client.communication_services.get(*acs_args(cloud))
    assert statuses(cloud, "communicationServices") == [200, 200, 429, 200]
    assert time.monotonic() - started >= 1.9, "Retry-After (2 s) was waited out"
    assert cloud.throttling()["throttled"] == 1


async def test_the_operator_paces_itself_inside_the_documented_arm_limits(cloud: Cloud, azure: AzureClients) -> None:
    """300 reads asked for at once against ARM's documented bucket (250, 25/s): none is throttled, the last
    ones wait for the refill."""
    cloud.throttling(arm=True)
    client = azure.communication(cloud.manifest["subscriptionId"])
    started = time.monotonic()
    await asyncio.gather(*(client.communication_services.get(*acs_args(cloud)) for _ in range(300)))
    assert statuses(cloud, "communicationServices") == [200] * 300
    assert time.monotonic() - started >= (300 - 250) / 25 * 0.9, "paced by the refill"
    assert azure.budgets.waited >= 1.0, "the waits are counted (acssmtp_azure_pacing_wait_seconds)"
    assert cloud.throttling()["throttled"] == 0


async def test_graph_throttling_is_a_budget_of_resource_units_per_app(cloud: Cloud, azure: AzureClients) -> None:
    """4 units per 10 s: two application reads (2 units each) pass, the third is answered 429 TooManyRequests
    with Retry-After, which msgraph-sdk waits out."""
    cloud.throttling(graph=True, graphUnits=4)
    app = cloud.app("shop-mailer")["clientId"]
    for _ in range(3):
        assert await azure.graph.applications_with_app_id(app).get() is not None
    assert statuses(cloud, "/v1.0/applications") == [200, 200, 429, 200]
