"""Many credentials at once: passes in flight are capped, and drift checks do not run in lockstep."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

from kubernetes import config

from acs_smtp_operator.azure.shared import Shared
from acs_smtp_operator.coordinator import Coordinator
from acs_smtp_operator.sandbox.azure.faults import FaultSpec
from acs_smtp_operator.schedule import phase
from tests.inprocess.conftest import Bench, PassResult, operator_ports


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
            coordinator = Coordinator(
                ports, lambda body: lambda *e: None, lambda: bench.tenancy, clock=lambda: bench.clock.now
            )
            started = time.monotonic()
            outcomes = await asyncio.gather(*(coordinator.run(ns, n, uids[n]) for n in names))
            took = time.monotonic() - started
    finally:
        hits = next(f.hits for f in bench.sandbox.ctx.faults.faults if f.spec is slow)
        bench.sandbox.ctx.faults.clear()
        api.close()
    assert all(o is not None and o.failure is None for o in outcomes), [o.failure for o in outcomes if o]
    assert hits == 3, "each pass reads its resource once"
    # 1.5 s each, one at a time: at least 4.5 s (together, they would take about 1.5 s and the rest of a pass).
    assert took >= 4.5, f"{took:.2f} s: the passes overlapped"


def test_drift_checks_of_credentials_started_together_are_spread_over_the_period() -> None:
    phases = sorted(phase(str(uuid.uuid4())) for _ in range(1000))
    assert phases[0] < 0.01 and phases[-1] > 0.99
    deciles = [sum(1 for p in phases if k / 10 <= p < (k + 1) / 10) for k in range(10)]
    assert min(deciles) > 60, deciles  # about 100 in each tenth of the period, not a lockstep
    # Fixed by the uid alone (sha256), computed once: the same in any process, so the same after a restart.
    assert phase("the same uid") == 0.6102624940685928


def _arm_reads(result: PassResult) -> list[str]:
    return [c.path for c in result.calls if c.api == "arm" and c.method == "GET"]


def _graph_reads(result: PassResult) -> list[str]:
    return [c.path for c in result.calls if c.api == "graph" and c.method == "GET"]


async def test_credentials_on_one_resource_share_its_reads(bench: Bench, ns: str) -> None:
    """The resource, its domains, the role and the assignments at it are read by the first pass only; each
    pass reads its own application; a pass that fails makes what it used stale, and the next reads it again."""
    ports = dataclasses.replace(bench.ports, shared=Shared(ttl=600))
    for name, app in (("share-a", "shop-mailer"), ("share-b", "billing-mailer"), ("share-c", "shop-mailer")):
        await bench.apply(ns, name, app=app)
    first = await bench.run(ns, "share-a", ports)
    assert first.outcome.failure is None, first.outcome.failure
    assert len(_arm_reads(first)) >= 4, "the resource, its domains, the role and the assignments, read once"
    second, third = await bench.run(ns, "share-b", ports), await bench.run(ns, "share-c", ports)
    assert second.outcome.failure is None and third.outcome.failure is None
    assert _arm_reads(second) == [] and _arm_reads(third) == [], "shared with the first pass"
    assert [p for p in _graph_reads(second) if "applications" in p] != [], "its own application, read"
    assert not [p for p in _graph_reads(third) if "servicePrincipals" in p], "the application's principal, shared"
    again = await bench.run(ns, "share-c", ports)
    assert again.outcome.failure is None and not [c for c in again.calls if c.method != "GET"], "nothing to do"

    bench.sandbox.ctx.faults.add(FaultSpec(path="/v1.0/applications", method="GET", status=403, times=1))
    failed = await bench.run(ns, "share-a", ports)
    assert failed.outcome.failure is not None
    after = await bench.run(ns, "share-a", ports)
    assert after.outcome.failure is None
    # the failed pass got as far as the application: the resource and its domains are read afresh
    assert sum("/communicationServices/" in p or "/domains/" in p for p in _arm_reads(after)) == 3


async def test_a_restart_re_checks_a_credential_without_reading_its_principal(bench: Bench, ns: str) -> None:
    """A fresh process (nothing shared yet): the principal comes from the assignment status records, as ARM
    lists it; the only Graph reads are the credential's application and its owners (ownership, before any write;
    shared by the application's credentials afterwards)."""
    await bench.apply(ns, "restarted", app="billing-mailer")
    assert (await bench.run(ns, "restarted")).outcome.failure is None
    fresh = dataclasses.replace(bench.ports, shared=Shared(ttl=600))
    result = await bench.run(ns, "restarted", fresh)
    assert result.outcome.failure is None and not [c for c in result.calls if c.method != "GET"]
    assert [p.rsplit("/", 1)[-1] for p in _graph_reads(result)] == [
        f"applications(appId='{bench.app('billing-mailer')['clientId']}')",
        "owners",
    ]
    again = await bench.run(ns, "restarted", fresh)
    assert "owners" not in [p.rsplit("/", 1)[-1] for p in _graph_reads(again)], "shared: not read again while fresh"
