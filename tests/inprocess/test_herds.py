"""Many credentials at once: passes in flight are capped, and drift checks do not run in lockstep."""

from __future__ import annotations

import asyncio
import time
import uuid

from kubernetes import config

from acs_smtp_operator.coordinator import Coordinator, phase
from acs_smtp_operator.sandbox.azure.faults import FaultSpec
from tests.inprocess.conftest import Bench, operator_ports


async def test_no_more_passes_call_azure_at_once_than_the_cap(bench: Bench, ns: str) -> None:
    """Three credentials woken together with a cap of one: their passes run one after another."""
    # Three targets (application, resource) of their own: passes on one target are serialised anyway.
    targets = {
        "herd-a": ("shop-mailer", None),
        "herd-b": ("billing-mailer", None),
        "herd-c": ("shop-mailer", "unverified-acs"),
    }
    names = list(targets)
    for name, (app, acs) in targets.items():
        await bench.apply(ns, name, app=app, acs=acs)
    uids = {name: str((await bench.read(ns, name) or {})["metadata"]["uid"]) for name in names}
    api = config.new_client_from_config(config_file=bench.sandbox.env["KUBECONFIG"])  # type: ignore[no-untyped-call]
    slow = FaultSpec(path="/communicationServices/[^/]+$", method="GET", latencyMs=1500)
    bench.sandbox.ctx.faults.add(slow)
    try:
        async with operator_ports(bench.sandbox, api, max_concurrent_passes=1) as ports:
            coordinator = Coordinator(ports, lambda body: lambda *e: None, lambda: bench.tenancy)
            started = time.monotonic()
            outcomes = await asyncio.gather(*(coordinator.run(ns, n, uids[n]) for n in names))
            took = time.monotonic() - started
    finally:
        hits = bench.sandbox.ctx.faults.faults[0].hits
        bench.sandbox.ctx.faults.clear()
        api.close()  # type: ignore[no-untyped-call]
    assert all(o is not None and o.failure is None for o in outcomes), [o.failure for o in outcomes if o]
    assert hits == 3, "each pass reads its resource once"
    # 1.5 s each, one at a time: at least 4.5 s (together, they would take about 1.5 s and the rest of a pass).
    assert took >= 4.5, f"{took:.2f} s: the passes overlapped"


def test_drift_checks_of_credentials_started_together_are_spread_over_the_period() -> None:
    phases = sorted(phase(str(uuid.uuid4())) for _ in range(1000))
    assert phases[0] < 0.01 and phases[-1] > 0.99
    deciles = [sum(1 for p in phases if k / 10 <= p < (k + 1) / 10) for k in range(10)]
    assert min(deciles) > 60, deciles  # about 100 in each tenth of the period, not a lockstep
    assert phase("the same uid") == phase("the same uid"), "the same after a restart"
