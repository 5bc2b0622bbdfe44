"""Azure's request throttling, emulated: ARM's token buckets and Microsoft Graph's budget per app and tenant.

ARM ("Understand how Azure Resource Manager throttles requests"): each security principal has, per
subscription, a bucket of reads (250, refilled 25/s), of writes (200, 10/s) and of deletes (200, 10/s). A
request takes one token; with none left the answer is 429 `SubscriptionRequestsThrottled` with Retry-After.
An answer carries `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` for its own kind, and
`x-ms-ratelimit-remaining-subscription-global-{kind}` for the subscription's global bucket (15 times a
principal's, shared by all of them).

Graph (service-specific limits, identity and access): a budget of resource units per app and tenant per
10 seconds, shared by every request the app makes there; with none left, 429 `TooManyRequests` and
Retry-After. The sizes are knobs (the control API's `throttling`), off unless asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["GLOBAL_FACTOR", "ArmLimits", "Bucket", "GraphLimits", "Throttle"]

GLOBAL_FACTOR = 15  # ARM: the subscription's global bucket is 15 times a principal's


@dataclass
class Bucket:
    size: float
    refill: float  # tokens per second
    tokens: float = -1.0  # -1: full (set on first use)
    at: float = 0.0  # monotonic seconds of the last update

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens: 0 if they were there, else the seconds until they will be (nothing taken)."""
        if self.tokens < 0:
            self.tokens, self.at = self.size, now
        self.tokens = min(self.size, self.tokens + (now - self.at) * self.refill)
        self.at = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.refill if self.refill > 0 else math.inf

    def remaining(self) -> int:
        return max(int(self.tokens), 0)


@dataclass(frozen=True)
class ArmLimits:
    """Bucket size and refill rate per second, per subscription and principal (Microsoft's documented values)."""

    reads: tuple[float, float] = (250, 25)
    writes: tuple[float, float] = (200, 10)
    deletes: tuple[float, float] = (200, 10)


@dataclass(frozen=True)
class GraphLimits:
    """Resource units per app and tenant per `window` seconds (a GET on applications costs 2, any other
    identity request 1), and writes per app and tenant per `write_window` seconds."""

    units: float = 8000  # a large tenant's (more than 500 users)
    window: float = 10.0
    writes: float = 3000
    write_window: float = 150.0


def graph_cost(method: str, path: str) -> float:
    tail = path.split("/v1.0/", 1)[-1].lower()
    return 2.0 if method.upper() == "GET" and tail.startswith("applications") else 1.0


def _kind(method: str) -> str:
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


@dataclass
class Throttle:
    """The buckets in use: per (subscription, principal, kind) for ARM, per (tenant, app) for Graph."""

    arm: ArmLimits | None = None
    graph: GraphLimits | None = None
    _arm: dict[tuple[str, str, str], Bucket] = field(default_factory=dict)
    _graph: dict[tuple[str, str, str], Bucket] = field(default_factory=dict)
    throttled: int = 0  # 429s answered

    def configure(self, arm: ArmLimits | None, graph: GraphLimits | None) -> None:
        """New limits; every bucket starts full again, and the count of 429s from zero."""
        self.arm, self.graph, self.throttled = arm, graph, 0
        self._arm.clear()
        self._graph.clear()

    def arm_take(self, subscription: str, principal: str, method: str, now: float) -> tuple[float, dict[str, str]]:
        """(seconds to wait, 0 if admitted; the remaining-requests headers to send).

        The principal's bucket and the subscription's global one (15 times its size and refill, shared by every
        principal: "a global subscription limit that's 15 times the individual service principal limit"); a
        request needs a token of both. Without limits configured, an idle subscription's counts: what ARM sends
        when nobody is near a limit (the operator's header sync runs all the same).
        """
        kind = _kind(method)
        if self.arm is None:
            size, _ = getattr(ArmLimits(), kind)
            return 0.0, {
                f"x-ms-ratelimit-remaining-subscription-{kind}": str(int(size) - 1),
                f"x-ms-ratelimit-remaining-subscription-global-{kind}": str(int(size) * GLOBAL_FACTOR - 1),
            }
        size, refill = getattr(self.arm, kind)
        bucket = self._arm.setdefault((subscription.lower(), principal, kind), Bucket(size, refill))
        shared = self._arm.setdefault(
            (subscription.lower(), "*", kind), Bucket(size * GLOBAL_FACTOR, refill * GLOBAL_FACTOR)
        )
        wait = bucket.take(now)
        if not wait:
            wait = shared.take(now)
            if wait:
                bucket.tokens += 1  # refused by the global bucket: the principal's token is not spent
        if wait:
            self.throttled += 1
        return wait, {
            f"x-ms-ratelimit-remaining-subscription-{kind}": str(bucket.remaining()),
            f"x-ms-ratelimit-remaining-subscription-global-{kind}": str(shared.remaining()),
        }

    def graph_take(self, tenant: str, app: str, method: str, path: str, now: float) -> float:
        if self.graph is None:
            return 0.0
        limits = self.graph
        units = self._graph.setdefault((tenant, app, "units"), Bucket(limits.units, limits.units / limits.window))
        wait = units.take(now, graph_cost(method, path))
        if not wait and _kind(method) != "reads":
            writes = self._graph.setdefault(
                (tenant, app, "writes"), Bucket(limits.writes, limits.writes / limits.write_window)
            )
            wait = writes.take(now)
            if wait:
                units.tokens += graph_cost(method, path)  # refused: it spent nothing
        if wait:
            self.throttled += 1
        return wait
