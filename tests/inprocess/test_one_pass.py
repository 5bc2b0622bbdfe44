"""One pass, called directly against the sandbox with a stepped clock: what each situation makes it do."""

from __future__ import annotations

import base64
from datetime import timedelta

from acs_smtp_operator.azure import passwords
from acs_smtp_operator.credential import Credential
from acs_smtp_operator.identity import key_marker
from acs_smtp_operator.model import Reason
from acs_smtp_operator.policy import policy_view
from acs_smtp_operator.reconcile import reconcile
from acs_smtp_operator.sandbox.azure.faults import FaultSpec
from acs_smtp_operator.tenancy import Tenancy
from acs_smtp_operator.timestamps import parse_stamp
from acs_smtp_operator.vocabulary import GROUP, PLURAL, VERSION
from tests.inprocess.conftest import Bench, PassResult, off_loop

DAY = timedelta(days=1)


def _condition(status: dict[str, object], type_: str) -> dict[str, str]:
    conditions = status.get("conditions") or []
    assert isinstance(conditions, list)
    return next(c for c in conditions if c["type"] == type_)


async def _ready(bench: Bench, ns: str, name: str) -> dict[str, object]:
    stored = await bench.read(ns, name)
    assert stored is not None
    status: dict[str, object] = stored["status"]
    return status


SHORT = {"secretLifetime": "240h", "renewBefore": "48h", "gracePeriod": "1h"}


async def _rotated_once(bench: Bench, ns: str, name: str) -> tuple[object, PassResult]:
    """A credential with a 10-day key, provisioned and then renewed 9 days later: (the first key, the renewal)."""
    await bench.apply(ns, name, rotation=SHORT)
    await bench.run(ns, name)
    first = (await _ready(bench, ns, name))["currentKeyId"]
    bench.clock.step(9 * DAY)
    return first, await bench.run(ns, name)


async def test_a_first_pass_issues_a_verified_key_and_writes_the_secret(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "shop")
    result = await bench.run(ns, "shop")
    assert result.outcome.failure is None
    assert len(result.named("/addPassword")) == 1
    status = await _ready(bench, ns, "shop")
    assert _condition(status, "Ready")["status"] == "True"
    assert status["lastRotationReason"] == "SecretMissing"
    secret = await bench.secret(ns, "shop-smtp")
    assert secret is not None
    key_id = secret["metadata"]["annotations"]["acssmtp.io/key-id"]
    assert status["currentKeyId"] == key_id and key_id in bench.keys("shop-mailer")
    assert base64.b64decode(secret["data"]["password"])
    assert ("Normal", "SecretIssued") in [(t, r) for t, r, _ in result.events]


async def test_a_second_pass_with_nothing_due_writes_nothing(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "steady")
    await bench.run(ns, "steady")
    again = await bench.run(ns, "steady")
    assert not again.outcome.wrote_status and again.outcome.secret_version is None
    assert [c.method for c in again.calls if c.method != "GET" and c.api != "entra"] == []


async def test_once_renewal_is_due_a_new_key_replaces_the_old_which_enters_its_grace_period(
    bench: Bench, ns: str
) -> None:
    first, result = await _rotated_once(bench, ns, "renew")
    assert len(result.named("/addPassword")) == 1 and not result.named("/removePassword")
    status = await _ready(bench, ns, "renew")
    assert status["lastRotationReason"] == "RenewalDue" and status["currentKeyId"] != first
    retiring = status["retiringKeys"]
    assert isinstance(retiring, list) and [r["keyId"] for r in retiring] == [first]
    assert first in bench.keys("shop-mailer")


async def test_after_the_grace_period_the_old_key_is_removed(bench: Bench, ns: str) -> None:
    first, _ = await _rotated_once(bench, ns, "grace")
    bench.clock.step(timedelta(minutes=59))
    early = await bench.run(ns, "grace")
    assert not early.named("/removePassword") and first in bench.keys("shop-mailer")
    bench.clock.step(timedelta(minutes=1))
    due = await bench.run(ns, "grace")
    assert len(due.named("/removePassword")) == 1 and not due.named("/addPassword")
    assert first not in bench.keys("shop-mailer")
    assert "retiringKeys" not in await _ready(bench, ns, "grace")
    assert ("Normal", "KeyRetired") in [(t, r) for t, r, _ in due.events]


async def test_retargeting_another_application_issues_a_key_there(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "moved")
    await bench.run(ns, "moved")
    await bench.apply(ns, "moved", app="billing-mailer")
    result = await bench.run(ns, "moved")
    status = await _ready(bench, ns, "moved")
    assert status["lastRotationReason"] == "ApplicationChanged"
    assert status["currentKeyId"] in bench.keys("billing-mailer")
    secret = await bench.secret(ns, "moved-smtp")
    assert secret is not None
    assert secret["metadata"]["annotations"]["acssmtp.io/client-id"] == bench.app("billing-mailer")["clientId"]
    assert len(result.named("/addPassword")) == 1


async def test_a_secret_of_that_name_that_is_not_ours_is_left_alone_with_no_key_added(bench: Bench, ns: str) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "taken-smtp", "namespace": ns},
        "stringData": {"password": "someone else's"},
    }
    await off_loop(bench.core.create_namespaced_secret, ns, foreign)
    await bench.apply(ns, "taken")
    result = await bench.run(ns, "taken")
    assert not result.named("/addPassword")
    status = await _ready(bench, ns, "taken")
    ready = _condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", Reason.SECRET_CONFLICT)
    secret = await bench.secret(ns, "taken-smtp")
    assert secret is not None and base64.b64decode(secret["data"]["password"]) == b"someone else's"


async def test_a_template_that_cannot_render_is_refused_before_any_azure_call(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "badtpl", secret={"template": {"data": {"URL": "{{ nosuchvalue }}"}}})
    result = await bench.run(ns, "badtpl")
    assert result.calls == []
    assert result.outcome.failure is not None and result.outcome.failure.reason == Reason.INVALID_SPEC
    ready = _condition(await _ready(bench, ns, "badtpl"), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "secret.template.data['URL']" in ready["message"]
    assert await bench.secret(ns, "badtpl-smtp") is None


async def test_a_key_of_ours_that_nothing_references_is_removed_once_settled(bench: Bench, ns: str) -> None:
    """An interrupted pass (addPassword, then a crash) leaves a marked key behind: it is cleaned up."""
    await bench.apply(ns, "crashed")
    await bench.run(ns, "crashed")
    stored = await bench.read(ns, "crashed")
    assert stored is not None
    marker = key_marker(ns, "crashed", stored["metadata"]["uid"])
    graph, app = bench.ports.azure.graph, bench.app("shop-mailer")
    orphan = await passwords.add_password(graph, app["objectId"], marker, bench.clock.now + 30 * DAY)
    assert orphan.key_id in bench.keys("shop-mailer")
    settling = await bench.run(ns, "crashed")
    assert not settling.named("/removePassword")
    check = parse_stamp((await _ready(bench, ns, "crashed"))["orphanCheckAt"])
    assert check is not None
    bench.clock.step(check - bench.clock.now)
    settled = await bench.run(ns, "crashed")
    assert len(settled.named("/removePassword")) == 1 and orphan.key_id not in bench.keys("shop-mailer")


async def test_a_key_ledger_in_status_that_does_not_parse_stops_the_pass_before_any_write(
    bench: Bench, ns: str
) -> None:
    """Unreadable bookkeeping (an old, unvalidated CRD) must not make the keys it names look like orphans."""
    first, _ = await _rotated_once(bench, ns, "garbled")  # `first` is now in retiringKeys
    stored = await bench.read(ns, "garbled")
    assert stored is not None
    garbled = {**stored, "status": {**stored["status"], "retiringKeys": [{"keyId": first, "removeAfter": "soon"}]}}
    events: list[tuple[str, str, str]] = []
    before = len(bench.sandbox.ctx.log)
    bench.clock.step(2 * DAY)
    outcome = await reconcile(
        bench.ports, Credential.of(garbled), bench.clock.now, lambda *e: events.append(e), bench.tenancy
    )
    assert outcome.failure is not None and outcome.failure.reason == Reason.STATUS_UNREADABLE
    assert bench.sandbox.ctx.log[before:] == [] and first in bench.keys("shop-mailer")
    assert events and events[0][:2] == ("Warning", "StatusUnreadable") and "retiringKeys" in events[0][2]
    assert (await bench.read(ns, "garbled"))["status"] == stored["status"]  # type: ignore[index]


async def test_a_credential_no_policy_covers_is_refused_before_any_azure_call(bench: Bench, ns: str) -> None:
    bench.tenancy = Tenancy()
    await bench.apply(ns, "uncovered")
    result = await bench.run(ns, "uncovered")
    assert result.calls == []  # not one request to ARM, Graph or Entra
    status = await _ready(bench, ns, "uncovered")
    ready = _condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotPermitted")
    assert f"no AcsSmtpPolicy covers namespace {ns}" in ready["message"]
    assert await bench.secret(ns, "uncovered-smtp") is None and "policy" not in status
    assert [e[:2] for e in result.events] == [("Warning", "NotPermitted")]
    again = await bench.run(ns, "uncovered")  # a drift pass: nothing new to say, nothing called
    assert again.calls == [] and again.events == [] and not again.outcome.wrote_status


async def test_withdrawing_the_policy_stops_every_azure_call_and_leaves_the_working_secret(
    bench: Bench, ns: str
) -> None:
    """Already-issued keys are left to expire: the workload keeps sending until the administrator acts."""
    first, _ = await _rotated_once(bench, ns, "withdrawn")  # an old key in its grace period, a new one in use
    status = await _ready(bench, ns, "withdrawn")
    assert status["policy"] == "everything"
    secret = await bench.secret(ns, "withdrawn-smtp")
    keys = bench.keys("shop-mailer")
    bench.tenancy = Tenancy()
    bench.clock.step(30 * DAY)  # the grace period is over and renewal is due: both would write to Azure
    result = await bench.run(ns, "withdrawn")
    assert result.calls == []
    assert bench.keys("shop-mailer") == keys and first in keys  # nothing added, nothing removed
    assert (await bench.secret(ns, "withdrawn-smtp"))["data"] == secret["data"]  # type: ignore[index]
    status = await _ready(bench, ns, "withdrawn")
    assert _condition(status, "Ready")["reason"] == "NotPermitted" and "policy" not in status
    bench.tenancy = bench.open_policy()  # restored: the pass acts again (renewal was due)
    result = await bench.run(ns, "withdrawn")
    assert result.named("/addPassword") and (await _ready(bench, ns, "withdrawn"))["policy"] == "everything"


async def test_the_policy_chooses_the_role_the_credential_is_assigned(bench: Bench, ns: str) -> None:
    name = f"Policy role {ns}"
    body = {
        "metadata": {"name": "shop-role", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "namespaces": {"names": [ns]},
            "applications": [bench.app("billing-mailer")["clientId"]],
            "communicationServices": [bench.acs["resourceId"]],
            "role": {"customRoleName": name, "definitionScope": "Resource"},
        },
    }
    bench.tenancy = Tenancy((policy_view(body),), {ns: {}})
    await bench.apply(ns, "assigned", app="billing-mailer")
    await bench.run(ns, "assigned")
    status = await _ready(bench, ns, "assigned")
    assert _condition(status, "Ready")["status"] == "True" and status["policy"] == "shop-role"
    role = bench.sandbox.ctx.cloud.role_definitions[str(status["roleDefinitionId"]).rsplit("/", 1)[-1]]
    assert role.role_name == name and role.assignable_scopes == [bench.acs["resourceId"]]


def _policy_with_role(bench: Bench, ns: str, role: dict[str, object], **limits: object) -> Tenancy:
    body = {
        "metadata": {"name": "shop-role", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "namespaces": {"names": [ns]},
            "applications": [bench.app("shop-mailer")["clientId"], bench.app("billing-mailer")["clientId"]],
            "communicationServices": [bench.acs["resourceId"]],
            "role": role,
            "limits": {"minRotationInterval": "1s", **limits},
        },
    }
    return Tenancy((policy_view(body),), {ns: {}})


async def _assignment_exists(bench: Bench, assignment_id: str) -> bool:
    subscription = bench.sandbox.manifest["subscriptionId"]
    client = bench.ports.azure.authorization(subscription)
    found = [a.id async for a in client.role_assignments.list_for_scope(bench.acs["resourceId"])]
    return assignment_id.lower() in {str(a).lower() for a in found}


async def test_when_the_policy_changes_the_role_the_old_assignment_goes_once_the_new_one_settled(
    bench: Bench, ns: str
) -> None:
    bench.tenancy = _policy_with_role(bench, ns, {"customRoleName": f"Broad {ns}"})
    await bench.apply(ns, "narrowed")
    await bench.run(ns, "narrowed")
    old = str((await _ready(bench, ns, "narrowed"))["roleAssignmentId"])
    bench.tenancy = _policy_with_role(bench, ns, {"customRoleName": f"Narrow {ns}"})
    await bench.run(ns, "narrowed")
    status = await _ready(bench, ns, "narrowed")
    assert status["roleAssignmentId"] != old and await _assignment_exists(bench, str(status["roleAssignmentId"]))
    assert isinstance(status["replacedRoleAssignments"], list)
    assert [r["id"] for r in status["replacedRoleAssignments"]] == [old]
    assert await _assignment_exists(bench, old)  # both, while the new one propagates
    bench.clock.step(timedelta(seconds=bench.ports.settings.orphan_settle))
    await bench.run(ns, "narrowed")
    assert not await _assignment_exists(bench, old)
    assert "replacedRoleAssignments" not in await _ready(bench, ns, "narrowed")


async def test_deletion_cleans_up_what_was_provisioned_not_what_a_refused_edit_names(bench: Bench, ns: str) -> None:
    bench.tenancy = _policy_with_role(bench, ns, {"customRoleName": f"Cleanup {ns}"})
    await bench.apply(ns, "edited", deletionPolicy="Retain")
    assert (await bench.run(ns, "edited")).outcome.failure is not None  # Retain is not allowed: refused
    await bench.apply(ns, "edited")
    await bench.run(ns, "edited")
    status = await _ready(bench, ns, "edited")
    assert status["clientId"] == bench.app("shop-mailer")["clientId"]
    marker = key_marker(ns, "edited", str((await bench.read(ns, "edited"))["metadata"]["uid"]))  # type: ignore[index]
    assert marker in bench.keys("shop-mailer").values()
    # The tenant points it elsewhere and asks to retain: both refused, nothing called, and then deletes it.
    await bench.apply(ns, "edited", app="restricted-mailer", deletionPolicy="Retain")
    assert (await bench.run(ns, "edited")).calls == []
    stored = await bench.read(ns, "edited")
    assert stored is not None
    events: list[tuple[str, str, str]] = []
    before = len(bench.sandbox.ctx.log)
    await bench.finalize(stored, events)
    assert marker not in bench.keys("shop-mailer").values()  # the provisioned application's key is gone
    assert not await _assignment_exists(bench, str(status["roleAssignmentId"]))
    calls = bench.sandbox.ctx.log[before:]
    assert not [c for c in calls if bench.app("restricted-mailer")["clientId"] in c.path]
    assert ("Warning", "NotPermitted") in [e[:2] for e in events]  # Retain was not honoured, and it says so


async def test_deleting_a_credential_no_policy_ever_permitted_calls_nothing(bench: Bench, ns: str) -> None:
    bench.tenancy = Tenancy()
    await bench.apply(ns, "never", app="restricted-mailer", username={"format": "SmtpUsername", "smtpUsername": "x"})
    stored = await bench.read(ns, "never")  # deleted before any pass (kopf's finalizer is on it already)
    assert stored is not None
    before = len(bench.sandbox.ctx.log)
    await bench.finalize(stored)
    assert bench.sandbox.ctx.log[before:] == []


async def test_a_role_chosen_again_keeps_its_assignment_even_when_its_removal_was_due(bench: Bench, ns: str) -> None:
    first = _policy_with_role(bench, ns, {"customRoleName": f"First {ns}"})
    bench.tenancy = first
    await bench.apply(ns, "back")
    await bench.run(ns, "back")
    kept = str((await _ready(bench, ns, "back"))["roleAssignmentId"])
    bench.tenancy = _policy_with_role(bench, ns, {"customRoleName": f"Second {ns}"})
    await bench.run(ns, "back")
    second = str((await _ready(bench, ns, "back"))["roleAssignmentId"])
    bench.clock.step(timedelta(seconds=bench.ports.settings.orphan_settle + 1))  # `kept` is due, no pass ran
    bench.tenancy = first
    await bench.run(ns, "back")
    status = await _ready(bench, ns, "back")
    assert status["roleAssignmentId"] == kept and await _assignment_exists(bench, kept)
    assert isinstance(status["replacedRoleAssignments"], list)
    assert [r["id"] for r in status["replacedRoleAssignments"]] == [second]


async def test_a_revocation_cut_short_after_the_switch_still_removes_the_old_key_with_no_grace(
    bench: Bench, ns: str
) -> None:
    """The Secret switched to the new key, then removing the leaked one failed (Graph refused, as it may mid-
    incident): status keeps the revoked key, and the next pass removes it at once, not after the grace period."""
    await bench.apply(ns, "leaky", rotation={"secretLifetime": "240h", "renewBefore": "48h", "gracePeriod": "24h"})
    await bench.run(ns, "leaky")
    leaked = str((await _ready(bench, ns, "leaky"))["currentKeyId"])
    stored = await bench.read(ns, "leaky")
    assert stored is not None
    stored["metadata"].setdefault("annotations", {})["acssmtp.io/revoke"] = "leak-1"
    await off_loop(bench.custom.replace_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, "leaky", stored)
    bench.sandbox.ctx.faults.add(FaultSpec(path="/removePassword", method="POST", status=403, times=1))
    try:
        cut = await bench.run(ns, "leaky")
    finally:
        bench.sandbox.ctx.faults.clear()
    assert cut.outcome.failure is not None and len(cut.named("/addPassword")) == 1
    status = await _ready(bench, ns, "leaky")
    secret = await bench.secret(ns, "leaky-smtp")
    assert secret is not None and secret["metadata"]["annotations"]["acssmtp.io/key-id"] != leaked  # switched
    assert status["revokeRequestHandled"] == "leak-1" and status["revokedKeys"] == [leaked]
    assert leaked in bench.keys("shop-mailer")
    bench.clock.step(timedelta(seconds=2))
    again = await bench.run(ns, "leaky")
    assert again.outcome.failure is None and not again.named("/addPassword")  # answered: no second key
    assert leaked not in bench.keys("shop-mailer"), "the leaked key waited for its grace period"
    assert "revokedKeys" not in await _ready(bench, ns, "leaky")
    assert ("Normal", "KeyRevoked") in [(t, r) for t, r, _ in again.events]
