"""Deleting a credential: racing a pass in flight, within a grace period, under a strict policy, and two
credentials whose entries could be confused. Nothing the credential made outlives it, nothing else is touched."""

from __future__ import annotations

import asyncio
from typing import Any

from acs_smtp_operator.coordinator import Coordinator
from acs_smtp_operator.policy import policy_view
from acs_smtp_operator.sandbox.seed import AZURE_MANAGED_DOMAIN
from acs_smtp_operator.tenancy import Tenancy
from tests.inprocess.conftest import Bench


async def _provisioned(bench: Bench, ns: str, **spec: Any) -> None:
    """`victim` provisioned and working."""
    await bench.apply(ns, "victim", **spec)
    first = await bench.run(ns, "victim")
    assert first.outcome.failure is None, first.outcome.failure


async def test_deletion_racing_a_pass_that_is_adding_a_key_waits_for_it_and_leaves_no_key(
    bench: Bench, ns: str
) -> None:
    """The finalizer takes the credential's lock: the key the pass in flight adds is removed too, not orphaned."""
    events: list[tuple[str, str, str]] = []
    coordinator = Coordinator(
        bench.ports, lambda body: lambda *e: events.append(e), lambda: bench.tenancy, clock=lambda: bench.clock.now
    )
    await bench.apply(ns, "raced")
    stored = await bench.read(ns, "raced")
    assert stored is not None
    marker = f" {ns}/raced "
    knobs = bench.sandbox.ctx.cloud.knobs
    knobs.secret_propagation_seconds = 1.5  # verification waits for the new key: the pass stays in flight
    try:
        passing = asyncio.create_task(coordinator.run(ns, "raced", str(stored["metadata"]["uid"])))
        while not [k for k, name in bench.keys("shop-mailer").items() if marker in name]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # until addPassword has answered (the emulated tenant lists the key)
        finalizing = asyncio.create_task(coordinator.finalize(stored))  # as kopf would, with the object it saw
        await asyncio.sleep(0.3)
        assert not finalizing.done(), "the deletion did not wait for the pass in flight"
        outcome = await passing
        assert outcome is not None and outcome.failure is None, outcome
        await finalizing
    finally:
        knobs.secret_propagation_seconds = 0.0
    assert not [k for k, name in bench.keys("shop-mailer").items() if marker in name], "a key outlived its credential"
    assert ("Normal", "Deleted") in [e[:2] for e in events]


async def test_deleting_within_the_grace_after_leaving_the_smtp_username_format_removes_the_entry(
    bench: Bench, ns: str
) -> None:
    acs = bench.acs
    sender = acs["senderDomains"][acs["linkedDomains"].index(AZURE_MANAGED_DOMAIN)]
    await bench.apply(ns, "brief", username={"format": "SmtpUsername", "smtpUsername": f"brief@{sender}"})
    await bench.run(ns, "brief")
    ours = (await bench.status(ns, "brief"))["smtpUsernameResource"]
    await bench.apply(ns, "brief")  # the Dot format: the entry is retired, its grace period running
    await bench.run(ns, "brief")
    stored = await bench.read(ns, "brief")
    assert stored is not None and stored["status"]["retired"]
    await bench.finalize(stored)
    assert not any(name == ours for _, name in bench.sandbox.ctx.cloud.smtp_usernames), "the entry outlived it"


async def test_deletion_under_a_strict_policy_removes_the_role_assignment(bench: Bench, ns: str) -> None:
    """Limits tighter than the spec's defaults (the Pipe format only, 720h at most) do not keep the
    deletion from removing what the credential made: the target alone decides that."""
    body = {
        "metadata": {"name": "strict", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "namespaces": {"names": [ns]},
            "applications": [bench.app("shop-mailer")["clientId"]],
            "communicationServices": [bench.acs["resourceId"]],
            "limits": {"usernameFormats": ["Pipe"], "maxSecretLifetime": "720h", "maxGracePeriod": "1h"},
        },
    }
    bench.tenancy = Tenancy((policy_view(body),), {ns: {}})
    rotation = {"secretLifetime": "720h", "renewBefore": "48h", "gracePeriod": "1h"}
    await _provisioned(bench, ns, rotation=rotation, username={"format": "Pipe"})
    stored = await bench.read(ns, "victim")
    assert stored is not None
    assignment = str(stored["status"]["roleAssignmentId"]).lower()
    events: list[tuple[str, str, str]] = []
    coordinator = Coordinator(
        bench.ports,
        lambda _: lambda *e: events.append(e),
        lambda: bench.tenancy,
        clock=lambda: bench.clock.now,
        shared=lambda a, u, f: False,
    )
    await coordinator.finalize(stored)
    assert assignment not in {a.id.lower() for a in bench.sandbox.ctx.cloud.role_assignments.values()}
    assert "RoleAssignmentLeft" not in [e[1] for e in events]


async def test_two_credentials_whose_names_share_40_characters_own_separate_entries_and_delete_only_their_own(
    bench: Bench, ns: str
) -> None:
    """The entry's name is Azure's only record of whose it is: 128 bits of it hash the uid the API server chose."""
    acs = bench.acs
    sender = acs["senderDomains"][acs["linkedDomains"].index(AZURE_MANAGED_DOMAIN)]
    shared = "x" * 40
    names = (f"{shared}-first", f"{shared}-second")
    for name in names:
        await bench.apply(ns, name, username={"format": "SmtpUsername", "smtpUsername": f"{name[-6:]}-{ns}@{sender}"})
        assert (await bench.run(ns, name)).outcome.failure is None
    first, second = [(await bench.status(ns, n))["smtpUsernameResource"] for n in names]
    assert first != second and first[:49] == second[:49]  # only the uid-derived tail tells them apart
    stored = await bench.read(ns, names[0])
    assert stored is not None
    await bench.finalize(stored)
    entries = {name for _, name in bench.sandbox.ctx.cloud.smtp_usernames}
    assert first not in entries and second in entries
