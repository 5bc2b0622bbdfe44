"""Retargeting a credential: another application, or leaving the smtpUsername format. What it used before
is retired after the grace period, not at once (the workloads may still hold the old password)."""

from __future__ import annotations

from datetime import timedelta

from acs_smtp_operator.sandbox.seed import AZURE_MANAGED_DOMAIN
from tests.inprocess.conftest import Bench


async def test_retargeting_another_application_retires_the_old_keys_and_assignment_after_the_grace_period(
    bench: Bench, ns: str
) -> None:
    grace = {"secretLifetime": "240h", "renewBefore": "48h", "gracePeriod": "1h"}
    await bench.apply(ns, "moving", rotation=grace)
    await bench.run(ns, "moving")
    before = await bench.status(ns, "moving")
    stored = await bench.read(ns, "moving")
    assert stored is not None
    marker = f" {ns}/moving "
    assert [k for k, name in bench.keys("shop-mailer").items() if marker in name]
    await bench.apply(ns, "moving", app="billing-mailer", rotation=grace)
    moved = await bench.run(ns, "moving")
    status = await bench.status(ns, "moving")
    assert status["lastRotationReason"] == "ApplicationChanged"
    assert status["retired"] == [
        {"clientId": bench.app("shop-mailer")["clientId"], "removeAfter": status["retired"][0]["removeAfter"]}
    ]
    assert [k for k, name in bench.keys("shop-mailer").items() if marker in name], "kept through the grace period"
    assert not [e for e in moved.events if e[1] == "RetiredKeysRemoved"]
    bench.clock.step(timedelta(hours=1, seconds=bench.ports.settings.orphan_settle))
    done = await bench.run(ns, "moving")
    assert not [k for k, name in bench.keys("shop-mailer").items() if marker in name], "the old keys are gone"
    assert [k for k, name in bench.keys("billing-mailer").items() if marker in name], "the new one stays"
    assert "RetiredKeysRemoved" in [e[1] for e in done.events]
    after = await bench.status(ns, "moving")
    assert "retired" not in after and "replacedRoleAssignments" not in after
    assignments = {a.id.lower() for a in bench.sandbox.ctx.cloud.role_assignments.values()}
    assert after["roleAssignmentId"].lower() in assignments
    assert before["roleAssignmentId"].lower() not in assignments, "the old application's assignment is gone"


async def test_leaving_the_smtp_username_format_retires_the_entry_after_the_grace_period(bench: Bench, ns: str) -> None:
    acs = bench.acs
    sender = acs["senderDomains"][acs["linkedDomains"].index(AZURE_MANAGED_DOMAIN)]
    grace = {"secretLifetime": "240h", "renewBefore": "48h", "gracePeriod": "1h"}
    await bench.apply(
        ns, "named", rotation=grace, username={"format": "SmtpUsername", "smtpUsername": f"mailer@{sender}"}
    )
    first = await bench.run(ns, "named")
    assert first.outcome.failure is None, first.outcome.failure
    entries = bench.sandbox.ctx.cloud.smtp_usernames
    ours = (await bench.status(ns, "named"))["smtpUsernameResource"]
    assert any(name == ours for _, name in entries)
    await bench.apply(ns, "named", rotation=grace)  # back to the Dot format
    await bench.run(ns, "named")
    status = await bench.status(ns, "named")
    assert [r["smtpUsernameAt"] for r in status["retired"]] == [acs["resourceId"]]
    assert "smtpUsernameResource" not in status
    assert any(name == ours for _, name in entries), "kept through the grace period"
    bench.clock.step(timedelta(hours=1, seconds=1))
    done = await bench.run(ns, "named")
    assert not any(name == ours for _, name in entries), "the entry is gone"
    assert "RetiredSmtpUsernameRemoved" in [e[1] for e in done.events]
    assert "retired" not in await bench.status(ns, "named")
