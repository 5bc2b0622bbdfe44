"""The operator's request budgets: paced to Azure's documented buckets, corrected by ARM's headers."""

from __future__ import annotations

import asyncio

import pytest

from acs_smtp_operator.azure.pacing import (
    ARM_LIMITS,
    Bucket,
    Budgets,
    graph_cost,
    kind_of,
    remaining_count,
    retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_documented_arm_buckets_are_the_operators_own() -> None:
    assert ARM_LIMITS == {"reads": (250, 25), "writes": (200, 10), "deletes": (200, 10)}
    assert [kind_of(m) for m in ("GET", "PUT", "PATCH", "POST", "DELETE")] == [
        "reads",
        "writes",
        "writes",
        "writes",
        "deletes",
    ]


def test_a_bucket_refills_at_its_rate_up_to_its_size() -> None:
    clock = Clock()
    bucket = Bucket(size=250, refill=25, tokens=0, clock=clock)
    assert bucket.wait_for(1) == pytest.approx(0.04)
    clock.now = 2.0
    assert bucket.wait_for(50) == 0.0
    assert bucket.wait_for(51) == pytest.approx(0.04)
    clock.now = 100.0
    assert bucket.wait_for(250) == 0.0 and bucket.wait_for(251) > 0, "never more than its size"


def test_what_arm_says_remains_is_what_the_operator_counts_less_requests_in_flight() -> None:
    clock = Clock()
    bucket = Bucket(size=250, refill=25, tokens=250, clock=clock)
    bucket.remaining(3, in_flight=1)  # another process of the same principal spent the rest
    assert bucket.wait_for(2) == 0.0 and bucket.wait_for(3) == pytest.approx(0.04)
    bucket.remaining(9999)
    assert bucket.tokens == 250, "never above the documented size"


def test_a_retry_after_pauses_the_whole_bucket() -> None:
    clock = Clock()
    bucket = Bucket(size=250, refill=25, tokens=250, clock=clock)
    bucket.pause(7)
    assert bucket.wait_for(1) == pytest.approx(7)
    clock.now = 7.0
    assert bucket.wait_for(1) == 0.0
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({}) == 1.0 and retry_after({"retry-after": "x"}) == 1.0
    assert retry_after({"Retry-After": "inf"}) == 1.0 and retry_after({"Retry-After": "1e9"}) == 600.0


def test_graph_costs_follow_the_identity_limits() -> None:
    assert graph_cost("GET", "/v1.0/applications(appId='x')") == 2.0
    assert graph_cost("GET", "/v1.0/servicePrincipals(appId='x')") == 1.0
    assert graph_cost("POST", "/v1.0/applications/x/addPassword") == 1.0


async def test_waiters_take_turns_and_none_goes_before_its_token() -> None:
    bucket = Bucket(size=5, refill=100, tokens=2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    times: list[float] = []

    async def one() -> None:
        await bucket.take()
        times.append(loop.time() - started)

    await asyncio.gather(*(one() for _ in range(6)))
    # two at once, then one per 10 ms: the sixth no sooner than 40 ms
    assert sorted(times)[1] < 0.01 and sorted(times)[-1] >= 0.035


async def test_requests_in_flight_are_bounded_per_api() -> None:
    budgets = Budgets(concurrency=3)
    slots, running, most = budgets.slots("graph"), 0, 0

    async def request() -> None:
        nonlocal running, most
        async with slots:
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(request() for _ in range(20)))
    assert most == 3


def test_graph_goes_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from acs_smtp_operator.azure.clients import _proxy_for

    for name in ("https_proxy", "no_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert _proxy_for("https://graph.microsoft.com/v1.0") == "http://proxy.corp:3128"
    assert _proxy_for("https://graph.internal.example/v1.0") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert _proxy_for("https://graph.microsoft.com/v1.0") is None


def test_arms_lowest_count_is_the_principals_budget_global_and_tenant_buckets_included() -> None:
    """ARM's token buckets: 250 reads per principal and subscription, a global bucket 15 times that shared by
    every principal of the subscription, and the tenant's; whichever says least is what this principal has."""
    reads = {"x-ms-ratelimit-remaining-subscription-reads": "240"}
    assert remaining_count(reads, "reads", 250) == 240
    crowded = {**reads, "x-ms-ratelimit-remaining-subscription-global-reads": "12"}  # other principals spent it
    assert remaining_count(crowded, "reads", 250) == 12
    assert remaining_count({**reads, "x-ms-ratelimit-remaining-subscription-global-reads": "3600"}, "reads", 250) == 240
    assert remaining_count({**reads, "x-ms-ratelimit-remaining-tenant-reads": "7"}, "reads", 250) == 7
    # The older hourly limits' counts (11999 reads an hour) are no bucket's: nothing to sync.
    assert remaining_count({"x-ms-ratelimit-remaining-subscription-reads": "11999"}, "reads", 250) is None
    assert remaining_count({"x-ms-ratelimit-remaining-subscription-writes": "150"}, "reads", 250) is None
    assert remaining_count({"x-ms-ratelimit-remaining-subscription-reads": "-1"}, "reads", 250) is None


def test_the_global_and_tenant_counts_only_lower_the_principals_never_stand_for_it() -> None:
    """A global count alone (the principal's an hourly one, or absent) says nothing of this principal's bucket:
    taking it would fill ours from a count 15 times larger."""
    hourly = {"x-ms-ratelimit-remaining-subscription-reads": "11999"}
    assert (
        remaining_count({**hourly, "x-ms-ratelimit-remaining-subscription-global-reads": "3000"}, "reads", 250) is None
    )
    assert remaining_count({"x-ms-ratelimit-remaining-tenant-reads": "5"}, "reads", 250) is None
