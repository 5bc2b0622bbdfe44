"""An application the operator's identity does not own: the condition names the owner to add and the exact
command, and running what the command does (the operator's service principal becomes an owner) is enough."""

from __future__ import annotations

import re

from acs_smtp_operator.model import Reason
from tests.inprocess.conftest import Bench

COMMAND = re.compile(r"`az ad app owner add --id (?P<app>[0-9a-f-]{36}) --owner-object-id (?P<owner>[0-9a-f-]{36})`")


async def _ready(bench: Bench, ns: str, name: str) -> dict[str, str]:
    stored = await bench.read(ns, name)
    assert stored is not None
    return dict(next(c for c in stored["status"]["conditions"] if c["type"] == "Ready"))


async def test_the_condition_names_the_missing_owner_and_the_command_that_adds_it(bench: Bench, ns: str) -> None:
    cloud, app = bench.sandbox.ctx.cloud, bench.app("not-owned-app")
    operator = cloud.sp_by_app_id(bench.sandbox.env["AZURE_CLIENT_ID"])
    assert operator is not None and not app["ownedByOperator"]
    await bench.apply(ns, "unowned", app="not-owned-app")

    refused = await bench.run(ns, "unowned")
    assert refused.outcome.failure is not None and refused.outcome.failure.reason == Reason.FORBIDDEN
    # Ownership is read before anything is written: no role, no assignment, no entry, no key (Graph lets
    # Application.ReadWrite.OwnedBy read every application, so only the owners list can tell).
    writes = [(c.api, c.method, c.path) for c in refused.calls if c.method != "GET" and c.api != "entra"]
    assert writes == [], f"Azure writes for an application it does not own: {writes}"
    assert refused.named("/owners"), "the owners were read"
    ready = await _ready(bench, ns, "unowned")
    assert ready["status"] == "False" and ready["reason"] == "Forbidden"
    message = ready["message"]
    assert "Nothing was written in Azure" in message
    assert f"The operator's identity (service principal {operator.object_id}, client id " in message
    assert f"is not an owner of application {app['clientId']}: add it with `az ad app owner add" in message
    command = COMMAND.search(message)
    assert command is not None, message
    assert (command["app"], command["owner"]) == (app["clientId"], operator.object_id)
    assert bench.sandbox.env["AZURE_CLIENT_SECRET"] not in message
    assert ("Warning", "Forbidden") in [e[:2] for e in refused.events], "and the Warning Event says the same"

    # What `az ad app owner add` does, with the ids the message gave.
    owned = cloud.app_by_app_id(command["app"])
    assert owned is not None
    owned.owners.add(command["owner"])
    try:
        fixed = await bench.run(ns, "unowned")
        assert fixed.outcome.failure is None, fixed.outcome.failure
        assert (await _ready(bench, ns, "unowned"))["status"] == "True"
        stored = await bench.read(ns, "unowned")
        assert stored is not None
        await bench.finalize(stored)
    finally:
        owned.owners.discard(command["owner"])  # the seed's state for the tests that come after
