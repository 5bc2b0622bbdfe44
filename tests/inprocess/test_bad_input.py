"""The bad-input catalog, past admission: hostile or malformed credentials, Secrets, annotations and status edits.

Each row is something a namespace editor can do (admission lets it through: the CRD cannot judge it) and the
outcome: a named condition, **no Azure write** and **no key churn** (the application's keys are the same before
and after), or, for destruction attempts, the foreign object still standing. What admission refuses is the
catalog's other half, `tests/integration/test_admission_catalog.py`, run on the emulator and on the real
kube-apiserver.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from azure.mgmt.authorization.v2022_04_01.models import (
    Permission,
    RoleAssignmentCreateParameters,
    RoleDefinition,
)

from acs_smtp_operator.azure.roles import ASSIGNMENT_DESCRIPTION
from acs_smtp_operator.coordinator import Coordinator
from acs_smtp_operator.identity import legacy_smtp_username_resource
from acs_smtp_operator.model import Reason
from acs_smtp_operator.policy import policy_view
from acs_smtp_operator.sandbox.azure.state import SmtpUsername
from acs_smtp_operator.sandbox.demo import open_policy
from acs_smtp_operator.sandbox.seed import AZURE_MANAGED_DOMAIN
from acs_smtp_operator.tenancy import Tenancy
from acs_smtp_operator.vocabulary import GROUP, PLURAL, VERSION
from tests.inprocess.conftest import Bench, PassResult, off_loop

Setup = Callable[[Bench, str], Awaitable[None]]


def _writes(result: PassResult) -> list[str]:
    return [f"{c.method} {c.path}" for c in result.calls if c.method != "GET" and c.api != "entra"]


async def _password(bench: Bench, ns: str, secret: str) -> str:
    found = await bench.secret(ns, secret)
    assert found is not None
    return base64.b64decode(found["data"]["password"]).decode()


async def _provisioned(bench: Bench, ns: str, **spec: Any) -> None:
    """`victim` provisioned and working: the rows below then edit it."""
    await bench.apply(ns, "victim", **spec)
    first = await bench.run(ns, "victim")
    assert first.outcome.failure is None, first.outcome.failure


def _template(data: dict[str, str]) -> Setup:
    async def setup(bench: Bench, ns: str) -> None:
        await _provisioned(bench, ns)
        await bench.apply(ns, "victim", secret={"template": {"data": data}})

    return setup


def _spec(**spec: Any) -> Setup:
    async def setup(bench: Bench, ns: str) -> None:
        await bench.apply(ns, "victim", **spec)

    return setup


async def _long_name(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "v" * 250)


async def _secret_of_another_type(bench: Bench, ns: str) -> None:
    """A Secret under our name, claiming our credential as owner, but Opaque: its type cannot be changed."""
    await bench.apply(ns, "victim")
    stored = await bench.read(ns, "victim")
    assert stored is not None
    owner = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AcsSmtpCredential", "name": "victim"}
    spoof = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "victim-smtp",
            "namespace": ns,
            "ownerReferences": [{**owner, "uid": stored["metadata"]["uid"]}],
        },
        "stringData": {"password": "not a key"},
    }
    await off_loop(bench.core.create_namespaced_secret, ns, spoof)


@dataclass(frozen=True)
class Row:
    case: str
    setup: Setup
    reason: str  # the Ready condition's reason
    said: str  # in its message
    name: str = "victim"


CATALOG = [
    Row(
        "a template that indexes with the password (in Jinja its error quoted the value)",
        _template({"X": "{{ {}[password] }}"}),
        Reason.INVALID_SPEC,
        "spec.secret.template.data['X']: at character 0",
    ),
    Row(
        "a template multiplication bomb",
        _template({"X": "{{ 'x' * 10**9 }}"}),
        Reason.INVALID_SPEC,
        "is not a placeholder",
    ),
    Row(
        "a template loop",
        _template({"X": "{% for i in range(10**9) %}{{ password }}{% endfor %}"}),
        Reason.INVALID_SPEC,
        "statements and comments are not part of the template syntax",
    ),
    Row(
        "a template entry that would replace the password",
        _template({"password": "{{ username }}"}),
        Reason.INVALID_SPEC,
        "password are the Secret's own keys",
    ),
    Row(
        "a template key no Secret can hold",
        _template({"a/b": "{{ host }}"}),
        Reason.INVALID_SPEC,
        "'a/b' is not a Secret key",
    ),
    Row(
        "a template label Kubernetes would refuse on every write",
        _spec(secret={"template": {"labels": {"team": "-bad-"}}}),
        Reason.INVALID_SPEC,
        "is not a valid Kubernetes label",
    ),
    Row(
        "a credential name so long that its Secret's name would be invalid",
        _long_name,
        Reason.INVALID_SPEC,
        "would be 255 characters (253 at most)",
        name="v" * 250,
    ),
    Row(
        "a Secret of another type under our name, claiming our credential as owner",
        _secret_of_another_type,
        Reason.SECRET_CONFLICT,
        "is of type Opaque",
    ),
    Row(
        "an smtpUsername on a domain the resource does not send from",
        _spec(username={"format": "SmtpUsername", "smtpUsername": "mailer@elsewhere.example"}),
        Reason.SMTP_USERNAME_INVALID,
        "is not on the sender domain",
    ),
]


@pytest.mark.parametrize("row", CATALOG, ids=[r.case for r in CATALOG])
async def test_bad_input_past_admission_is_named_with_no_azure_write_and_no_key_churn(
    bench: Bench, ns: str, row: Row
) -> None:
    await row.setup(bench, ns)
    before = {app: bench.keys(app) for app in ("shop-mailer",)}
    secret_before = await bench.secret(ns, f"{row.name}-smtp")
    result = await bench.run(ns, row.name)
    assert _writes(result) == []
    assert {app: bench.keys(app) for app in before} == before, "no key added or removed"
    ready = next(c for c in (await bench.status(ns, row.name))["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", row.reason), ready
    assert row.said in ready["message"], ready["message"]
    secret_after = await bench.secret(ns, f"{row.name}-smtp")
    assert (secret_after or {}).get("data") == (secret_before or {}).get("data"), "the Secret is as it was"
    if secret_before is not None and secret_before.get("type") == "kubernetes.io/basic-auth":
        password = await _password(bench, ns, f"{row.name}-smtp")
        texts = [ready["message"], *(e[2] for e in result.events), str(result.outcome.failure)]
        assert not [t for t in texts if password in t], "the working password in a message"


async def test_a_foreign_key_id_in_the_secrets_annotation_never_removes_that_key(bench: Bench, ns: str) -> None:
    """A namespace editor points the Secret at another credential's key and asks for a rotation, no grace."""
    await bench.apply(ns, "other")
    await bench.run(ns, "other")
    theirs = str((await bench.status(ns, "other"))["currentKeyId"])
    await _provisioned(bench, ns, rotation={"gracePeriod": "0s"})
    secret = await bench.secret(ns, "victim-smtp")
    assert secret is not None
    secret["metadata"]["annotations"]["acssmtp.io/key-id"] = theirs
    await off_loop(bench.core.replace_namespaced_secret, "victim-smtp", ns, secret)
    stored = await bench.read(ns, "victim")
    assert stored is not None
    stored["metadata"].setdefault("annotations", {})["acssmtp.io/rotate"] = "now"
    await off_loop(bench.custom.replace_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, "victim", stored)
    for _ in range(3):
        await bench.run(ns, "victim")
        bench.clock.step(timedelta(seconds=bench.ports.settings.orphan_settle + 1))
    mine = await bench.status(ns, "victim")
    assert mine["lastRotationReason"] == "ManualRotation" and mine["currentKeyId"] != theirs, "it did rotate"
    assert theirs in bench.keys("shop-mailer"), "another credential's key was removed"
    assert (await bench.status(ns, "other"))["currentKeyId"] == theirs


async def _edit_status(bench: Bench, ns: str, name: str, **fields: Any) -> dict[str, Any]:
    await off_loop(
        bench.custom.patch_namespaced_custom_object_status,
        GROUP,
        VERSION,
        ns,
        PLURAL,
        name,
        {"status": fields},
    )
    stored = await bench.read(ns, name)
    assert stored is not None
    return stored


async def test_a_status_edited_to_name_a_foreign_role_assignment_does_not_get_it_deleted(bench: Bench, ns: str) -> None:
    await _provisioned(bench, ns)
    status = await bench.status(ns, "victim")
    subscription, scope = bench.sandbox.manifest["subscriptionId"], bench.acs["resourceId"]
    client = bench.ports.azure.authorization(subscription)
    ours = await client.role_assignments.get_by_id(status["roleAssignmentId"])
    guid = str(uuid.uuid4())
    made = await client.role_assignments.create(  # someone else's: another role, a name of their own
        scope,
        guid,
        RoleAssignmentCreateParameters(
            role_definition_id=await _built_in_role(bench),
            principal_id=ours.principal_id,
            principal_type="ServicePrincipal",
        ),
    )
    stored = await _edit_status(bench, ns, "victim", roleAssignmentId=made.id, roleAssignmentOwned=True)
    events: list[tuple[str, str, str]] = []
    await bench.finalize(stored, events)
    assert [a.id async for a in client.role_assignments.list_for_scope(scope) if a.name == guid]
    assert ("Warning", "RoleAssignmentNotOurs") in [e[:2] for e in events]
    await client.role_assignments.delete(scope, guid)  # the scenario's own: no later scenario meets it


async def _built_in_role(bench: Bench) -> str:
    client = bench.ports.azure.authorization(bench.sandbox.manifest["subscriptionId"])
    quoted = "roleName eq 'Reader'"  # a built-in role no scenario has the operator assign
    found = [r async for r in client.role_definitions.list(bench.acs["resourceId"], filter=quoted)]
    return str(found[0].id)


async def test_a_status_edited_to_name_a_foreign_custom_role_does_not_get_it_deleted(bench: Bench, ns: str) -> None:
    await _provisioned(bench, ns)
    subscription, scope = bench.sandbox.manifest["subscriptionId"], bench.acs["resourceId"]
    client = bench.ports.azure.authorization(subscription)
    guid = str(uuid.uuid4())
    theirs = await client.role_definitions.create_or_update(
        scope,
        guid,
        RoleDefinition(
            role_name=f"Someone else's {ns}",
            role_type="CustomRole",
            description="made by hand",
            permissions=[Permission(actions=["Microsoft.Communication/CommunicationServices/Read"], not_actions=[])],
            assignable_scopes=[scope],
        ),
    )
    stored = await _edit_status(bench, ns, "victim", roleDefinitionId=theirs.id, roleDefinitionOwned=True)
    events: list[tuple[str, str, str]] = []
    await bench.finalize(stored, events)
    assert (await client.role_definitions.get(scope, guid)).id == theirs.id
    assert ("Warning", "RoleDefinitionNotOurs") in [e[:2] for e in events]


async def test_a_status_edited_to_retire_an_assignment_on_a_resource_the_policy_does_not_permit_leaves_it(
    bench: Bench, ns: str
) -> None:
    """Another installation's assignment (the operator's description, on a resource this namespace may not use)."""
    shop_only = bench.open_policy()
    body = {
        "metadata": {"name": "shop-only", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "namespaces": {"names": [ns]},
            "applications": [bench.app("shop-mailer")["clientId"]],
            "communicationServices": [bench.acs["resourceId"]],
        },
    }
    bench.tenancy = Tenancy((policy_view(body),), shop_only.namespaces)
    await _provisioned(bench, ns)
    status = await bench.status(ns, "victim")
    client = bench.ports.azure.authorization(bench.sandbox.manifest["subscriptionId"])
    ours = await client.role_assignments.get_by_id(status["roleAssignmentId"])
    elsewhere, guid = bench.acs_named("unverified-acs")["resourceId"], str(uuid.uuid4())
    # Another installation's principal: no scenario here assigns it (the victim's own may hold the role there).
    probe = bench.sandbox.ctx.cloud.sp_by_app_id(bench.app("probe-mailer")["clientId"])
    assert probe is not None
    theirs = await client.role_assignments.create(
        elsewhere,
        guid,
        RoleAssignmentCreateParameters(
            role_definition_id=str(ours.role_definition_id),
            principal_id=probe.object_id,
            principal_type="ServicePrincipal",
            description=ASSIGNMENT_DESCRIPTION,
        ),
    )
    await _edit_status(
        bench, ns, "victim", replacedRoleAssignments=[{"id": theirs.id, "removeAfter": "2026-01-01T00:00:00Z"}]
    )
    result = await bench.run(ns, "victim")
    assert ("Warning", "RoleAssignmentLeft") in [e[:2] for e in result.events]
    assert (await client.role_assignments.get(elsewhere, guid)).id == theirs.id, "another's assignment was removed"
    assert "replacedRoleAssignments" not in await bench.status(ns, "victim")
    await client.role_assignments.delete(elsewhere, guid)  # the scenario's own: no later scenario meets it


async def test_a_restart_target_that_does_not_exist_is_named_and_the_rotation_still_completes(
    bench: Bench, ns: str
) -> None:
    short = {"secretLifetime": "240h", "renewBefore": "48h", "gracePeriod": "1h"}
    await bench.apply(ns, "lonely", rotation=short, restartTargets=[{"kind": "Deployment", "name": "nosuch"}])
    await bench.run(ns, "lonely")
    first = (await bench.status(ns, "lonely"))["currentKeyId"]
    bench.clock.step(timedelta(days=9))  # renewal is due
    renewed = await bench.run(ns, "lonely")
    assert ("Warning", "RestartTargetMissing") in [e[:2] for e in renewed.events]
    status = await bench.status(ns, "lonely")
    assert status["currentKeyId"] != first and first in bench.keys("shop-mailer"), "the old key stays a while"
    bench.clock.step(timedelta(seconds=2))  # a missing workload has nothing to roll out: the grace period starts
    await bench.run(ns, "lonely")
    bench.clock.step(timedelta(hours=1, seconds=1))
    await bench.run(ns, "lonely")
    assert first not in bench.keys("shop-mailer"), "the old key outlived its grace period"


async def test_a_legacy_entry_name_holding_another_application_is_neither_overwritten_nor_deleted(
    bench: Bench, ns: str
) -> None:
    """An entry named as 0.1.0 named it (48 bits a tenant chooses) is read back: one that holds an application
    this credential never used is another team's, however status names it."""
    acs = bench.acs
    sender = acs["senderDomains"][acs["linkedDomains"].index(AZURE_MANAGED_DOMAIN)]
    await bench.apply(ns, "legacy", username={"format": "SmtpUsername", "smtpUsername": f"legacy-{ns}@{sender}"})
    assert (await bench.run(ns, "legacy")).outcome.failure is None
    cloud = bench.sandbox.ctx.cloud
    old = legacy_smtp_username_resource(ns, "legacy")
    victim = str(uuid.uuid4())
    cloud.smtp_usernames[(acs["resourceId"].lower(), old.lower())] = SmtpUsername(
        acs_id=acs["resourceId"], name=old, username=f"victim-{ns}@{sender}", entra_application_id=victim,
        tenant_id=bench.sandbox.env["AZURE_TENANT_ID"],
    )  # fmt: skip
    await _edit_status(bench, ns, "legacy", smtpUsernameResource=old)
    failure = (await bench.run(ns, "legacy")).outcome.failure
    assert failure is not None and failure.reason == Reason.SMTP_USERNAME_CONFLICT and victim in failure.message
    events: list[tuple[str, str, str]] = []
    stored = await bench.read(ns, "legacy")
    assert stored is not None
    await bench.finalize(stored, events)
    assert cloud.smtp_usernames[(acs["resourceId"].lower(), old.lower())].entra_application_id == victim
    assert "SmtpUsernameNotOurs" in [e[1] for e in events]


def _spelled(assignment: str, how: str) -> str:
    guid = assignment.rsplit("/", 1)[1]
    return {
        "upper case": assignment.upper(),
        "GUID without dashes": assignment.replace(guid, guid.replace("-", "")),
        "percent-encoded": assignment.replace("/providers/", "/%70roviders/"),
        "trailing slash": assignment + "/",
    }[how]


@pytest.mark.parametrize("how", ["upper case", "GUID without dashes", "percent-encoded", "trailing slash"])
async def test_a_status_spelling_another_credentials_assignment_differently_does_not_get_it_deleted(
    bench: Bench, ns: str, how: str
) -> None:
    """ARM ids are case-insensitive, and ARM names an assignment's GUID without dashes: "does another credential
    hold it?" compares one canonical spelling (`ids.canonical`)."""
    coordinator = Coordinator(
        bench.ports,
        lambda body: lambda *e: None,
        lambda: bench.tenancy,
        clock=lambda: bench.clock.now,
        shared=lambda assignment, uid, finalized: False,  # the index knows nothing: what passes recorded decides
    )
    await bench.apply(ns, "holder")
    await bench.apply(ns, "spelled", app="billing-mailer")
    for name in ("holder", "spelled"):
        stored = await bench.read(ns, name)
        assert stored is not None
        outcome = await coordinator.run(ns, name, str(stored["metadata"]["uid"]))
        assert outcome is not None and outcome.failure is None, outcome
    held = (await bench.status(ns, "holder"))["roleAssignmentId"]
    stored = await _edit_status(bench, ns, "spelled", roleAssignmentId=_spelled(held, how), roleAssignmentOwned=True)
    await coordinator.finalize(stored)
    client = bench.ports.azure.authorization(bench.sandbox.manifest["subscriptionId"])
    assert (await client.role_assignments.get_by_id(held)).id == held, "another credential's assignment was deleted"


async def test_a_secret_put_in_the_way_of_a_working_credential_does_not_keep_the_old_role(
    bench: Bench, ns: str
) -> None:
    """A tenant replaces the working credential's Secret with one of their own (a conflict), and the policy's
    role changes meanwhile: the new role is still applied (the workloads may hold the working password, and the
    tenant must not keep the old role by blocking the Secret). A credential that never had a key writes nothing."""
    await _provisioned(bench, ns)
    before = await bench.status(ns, "victim")
    await off_loop(bench.core.delete_namespaced_secret, "victim-smtp", ns)
    foreign = {"metadata": {"name": "victim-smtp", "namespace": ns}, "type": "Opaque", "stringData": {"a": "b"}}
    await off_loop(bench.core.create_namespaced_secret, ns, foreign)
    body = open_policy(bench.sandbox.manifest, "narrower", {"names": [ns]}, role={"customRoleName": f"Narrower {ns}"})
    body["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    bench.tenancy = Tenancy((policy_view(body),), {ns: {}})
    result = await bench.run(ns, "victim")
    assert result.outcome.failure is None or result.outcome.failure.reason == Reason.SECRET_CONFLICT
    after = await bench.status(ns, "victim")
    ready = next(c for c in after["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "SecretConflict")
    assert after["roleDefinitionId"] != before["roleDefinitionId"], "the policy's new role was applied"
    assert [c for c in result.calls if c.method == "PUT" and "/roleAssignments/" in c.path], "and assigned"
    assert "victim-smtp" in ready["message"] and (await bench.secret(ns, "victim-smtp") or {}).get("type") == "Opaque"
