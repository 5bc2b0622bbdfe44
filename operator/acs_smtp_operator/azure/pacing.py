"""The operator's own request budgets, kept below Azure's throttling so that it is paced, never throttled.

Azure Resource Manager gives each security principal, per subscription, a bucket of reads (250, refilled
25 per second), of writes (200, 10/s) and of deletes (200, 10/s), and says in every answer how many remain
(`x-ms-ratelimit-remaining-subscription-reads` and so on). Microsoft Graph gives each application, per
tenant, a budget of resource units per 10 seconds (3,500 in a small tenant; a GET on an application costs
2) and 3,000 writes per 150 seconds. The operator keeps the same buckets on its side: a request waits for
its token before it is sent, a 429's Retry-After pauses every request of that bucket, and ARM's remaining
counts correct ours (the principal's budget is what ARM says it is, whoever else spent it): the principal's,
the subscription's global bucket (15 times a principal's, shared by all of them: others may have spent it) and
the tenant's, whichever is lowest.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy

__all__ = [
    "ARM_LIMITS",
    "GRAPH_UNITS",
    "GRAPH_WRITES",
    "MAX_PAUSE",
    "ArmPacing",
    "Bucket",
    "Budgets",
    "GraphPacing",
    "graph_cost",
    "kind_of",
    "remaining_count",
    "retry_after",
]

Clock = Callable[[], float]

# (bucket size, refill per second) per subscription and principal, as Microsoft documents them.
ARM_LIMITS: dict[str, tuple[float, float]] = {"reads": (250, 25), "writes": (200, 10), "deletes": (200, 10)}
# Graph, per application and tenant: a small tenant's resource units per 10 s (the size of the tenant is
# not known here: the smallest budget is the safe one), and the writes per 150 s.
GRAPH_UNITS = (3500.0, 350.0)
GRAPH_WRITES = (3000.0, 20.0)


def kind_of(method: str) -> str:
    """ARM's name for the bucket a request draws on."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


def graph_cost(method: str, path: str) -> float:
    """Resource units a Graph request costs (identity and access): a GET on applications 2, anything else 1."""
    tail = path.split("/v1.0/", 1)[-1].lower()
    return 2.0 if method.upper() == "GET" and tail.startswith("applications") else 1.0


@dataclass(kw_only=True)
class Bucket:
    """A token bucket that waits (first come, first served) instead of refusing."""

    size: float
    refill: float  # tokens per second
    tokens: float = 1.0  # one request may go at once; the rest is learnt from Azure's answers or refilled
    clock: Clock = time.monotonic
    _at: float = -1.0
    _paused_until: float = 0.0
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _refilled(self) -> float:
        now = self.clock()
        if self._at >= 0:
            self.tokens = min(self.size, self.tokens + (now - self._at) * self.refill)
        self._at = now
        return now

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` tokens may be taken (0: now)."""
        now = self._refilled()
        pause = max(self._paused_until - now, 0.0)
        short = max(cost - self.tokens, 0.0) / self.refill if self.refill > 0 else 0.0
        return max(pause, short)

    async def take(self, cost: float = 1.0) -> float:
        """Wait for `cost` tokens and take them; the seconds waited."""
        waited = 0.0
        async with self._turn:
            while (wait := self.wait_for(cost)) > 0:
                waited += wait
                await asyncio.sleep(wait)
            self.tokens -= cost
        return waited

    def remaining(self, count: float, in_flight: int = 0) -> None:
        """Azure says `count` remain: ours are that, less what requests already sent will still take."""
        self._refilled()
        self.tokens = min(self.size, max(count - in_flight, 0.0))

    def pause(self, seconds: float) -> None:
        """A 429's Retry-After: nothing of this bucket goes before then."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)


@dataclass(kw_only=True)
class Budgets:
    """Every bucket the operator draws on, and the bound on requests in flight per API."""

    concurrency: int
    clock: Clock = time.monotonic
    _arm: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    _graph: dict[str, Bucket] = field(default_factory=dict)
    _slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    in_flight: dict[tuple[str, str], int] = field(default_factory=dict)
    waited: float = 0.0  # seconds requests spent waiting for a token, in total
    on_wait: Callable[[str, float], None] | None = None  # told (api, seconds) of each wait: a metric

    def paced(self, api: str, seconds: float) -> None:
        self.waited += seconds
        if seconds and self.on_wait is not None:
            self.on_wait(api, seconds)

    def arm(self, subscription: str, kind: str) -> Bucket:
        key = (subscription.lower(), kind)
        if key not in self._arm:
            size, refill = ARM_LIMITS[kind]
            self._arm[key] = Bucket(size=size, refill=refill, clock=self.clock)
        return self._arm[key]

    def graph(self, kind: str) -> Bucket:
        if kind not in self._graph:
            size, refill = GRAPH_WRITES if kind == "writes" else GRAPH_UNITS
            # Half full at first: Graph's window may be fixed, not a bucket; a full bucket and its refill
            # could then spend twice the budget in the first window.
            self._graph[kind] = Bucket(size=size, refill=refill, tokens=size / 2, clock=self.clock)
        return self._graph[kind]

    def slots(self, api: str) -> asyncio.Semaphore:
        return self._slots.setdefault(api, asyncio.Semaphore(self.concurrency))


MAX_PAUSE = 600.0  # a Retry-After beyond this (or unreadable, or not finite) is read as this at most


def retry_after(headers: Mapping[str, str]) -> float:
    """A 429's Retry-After in seconds (Azure sends seconds; 1 s when absent or unreadable, 10 min at most)."""
    try:
        seconds = float(headers.get("Retry-After") or headers.get("retry-after") or 1.0)
    except ValueError:
        return 1.0
    return min(max(seconds, 0.0), MAX_PAUSE) if math.isfinite(seconds) else 1.0


GLOBAL_FACTOR = 15  # the subscription's global bucket, shared by every principal: 15 times a principal's


def remaining_count(headers: Mapping[str, str], kind: str, size: float) -> float | None:
    """What this principal may still send, by ARM's own counts: the least of the subscription's (per principal),
    the subscription's global one (all principals; `-global-`) and the tenant's, each read only when it is a
    token bucket's count (above the bucket it is the older hourly limit's, as sovereign clouds still send: not
    ours to sync). None when no header says anything usable."""
    counts = []
    for header, bound in (
        (f"x-ms-ratelimit-remaining-subscription-{kind}", size),
        (f"x-ms-ratelimit-remaining-subscription-global-{kind}", size * GLOBAL_FACTOR),
        (f"x-ms-ratelimit-remaining-tenant-{kind}", size),
    ):
        value = headers.get(header)
        if value is not None and value.isdigit() and float(value) <= bound:
            counts.append(float(value))
        elif not counts:
            return None  # the principal's own count is unknown: the others may only lower it, never set it
    return min(counts) if counts else None


def _subscription(path: str) -> str:
    parts = path.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""


class ArmPacing(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """azure-core policy, after the retry policy: every attempt waits for its token and a slot."""

    def __init__(self, budgets: Budgets) -> None:
        super().__init__()
        self._budgets = budgets

    async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http = request.http_request
        subscription, kind = _subscription(urlsplit(http.url).path), kind_of(http.method)
        budgets, key = self._budgets, (subscription.lower(), kind)
        bucket = budgets.arm(subscription, kind)
        budgets.paced("arm", await bucket.take())  # before a slot: a paused bucket holds no other subscription's
        budgets.in_flight[key] = budgets.in_flight.get(key, 0) + 1  # its token is spent, whatever it waits for
        try:
            async with budgets.slots("arm"):
                response = await self.next.send(request)
        finally:
            budgets.in_flight[key] -= 1
        headers = response.http_response.headers
        remaining = remaining_count(headers, kind, bucket.size)
        if remaining is not None:
            bucket.remaining(remaining, budgets.in_flight[key])
        if response.http_response.status_code == 429:
            bucket.pause(retry_after(headers))
        return response


class GraphPacing(httpx.AsyncBaseTransport):
    """httpx transport under msgraph-sdk's middleware (its retries included): every attempt is paced."""

    def __init__(self, inner: httpx.AsyncBaseTransport, budgets: Budgets) -> None:
        self._inner, self._budgets = inner, budgets

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        budgets = self._budgets
        buckets = [(budgets.graph("units"), graph_cost(request.method, request.url.path))]
        if kind_of(request.method) != "reads":
            buckets.append((budgets.graph("writes"), 1.0))
        for bucket, cost in buckets:
            budgets.paced("graph", await bucket.take(cost))
        async with budgets.slots("graph"):
            response = await self._inner.handle_async_request(request)
        if response.status_code == 429:
            for bucket, _ in buckets:
                bucket.pause(retry_after(response.headers))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
