"""Real Azure, not our idea of it: sender domains as Azure names them, the role ACS checks, Graph's lag, the
operator's own identity and network failing, and least privilege at the documented scopes.

One pass at a time against the sandbox with its fidelity knobs on (docs/sandbox.md cites each behaviour's
public source).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiosmtplib
import httpx
import pytest

from acs_smtp_operator.azure import verify
from acs_smtp_operator.coordinator import Coordinator
from acs_smtp_operator.credential import Credential
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.finalize import finalize
from acs_smtp_operator.model import DEFAULT_ACTIONS, Reason
from acs_smtp_operator.policy import policy_view
from acs_smtp_operator.ports import Ports
from acs_smtp_operator.sandbox import Sandbox, Seed, run_sandbox
from acs_smtp_operator.sandbox.demo import open_policy
from acs_smtp_operator.sandbox.seed import AZURE_MANAGED_DOMAIN, CommunicationServiceSeed
from acs_smtp_operator.tenancy import Tenancy
from tests.inprocess.conftest import ANYWHERE, PERMITTED, Bench, PassResult, bench_on, off_loop, operator_ports

OWNER_ROLE = "09976791-48a7-449e-bb21-39d1a415f350"  # Communication and Email Service Owner


def _condition(status: dict[str, Any], type_: str) -> dict[str, str]:
    return next(c for c in status.get("conditions") or [] if c["type"] == type_)


async def _data(bench: Bench, ns: str, name: str) -> dict[str, str]:
    secret = await bench.secret(ns, name)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def _managed_sender(bench: Bench) -> str:
    acs = bench.acs
    return str(acs["senderDomains"][acs["linkedDomains"].index(AZURE_MANAGED_DOMAIN)])


def _role_policy(bench: Bench, ns: str, role: dict[str, Any]) -> Tenancy:
    body = open_policy(bench.sandbox.manifest, "role-policy", {"names": [ns]}, role=role)
    body["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    return Tenancy((policy_view(body),), {ns: {}})


async def _control(bench: Bench, path: str, body: object) -> Any:
    manifest = bench.sandbox.manifest
    async with httpx.AsyncClient(verify=bench.ports.settings.ssl_context()) as http:
        answer = await http.post(f"{manifest['control']}/{path}", json=body)
        answer.raise_for_status()
        return answer.json()


@asynccontextmanager
async def _ports(bench: Bench, **settings: Any) -> AsyncIterator[Ports]:
    """Ports with a fresh operator credential (no token cached), and settings of their own."""
    async with operator_ports(bench.sandbox, bench.ports.kube.api, **settings) as ports:
        yield ports


async def _with_operator(
    bench: Bench, ns: str, name: str, broken: dict[str, Any], mended: dict[str, Any]
) -> PassResult:
    """One pass while the operator's own identity is broken as `broken` says (a fresh credential, no cached
    token), mended afterwards whatever happens."""
    await _control(bench, "operator", broken)
    try:
        async with _ports(bench) as ports:
            return await bench.run(ns, name, ports)
    finally:
        await _control(bench, "operator", mended)


@pytest.fixture
def lag(bench: Bench) -> Iterator[None]:
    """Graph's read-after-write lag on (3 s of wall clock) for one scenario."""
    knobs = bench.sandbox.ctx.cloud.knobs
    knobs.graph_lag_seconds = 3
    try:
        yield
    finally:
        knobs.graph_lag_seconds = 0


# -- 1. sender domains ------------------------------------------------------------------------------------


async def test_an_azure_managed_domain_gives_the_secret_its_real_sender_address_and_mail_goes(
    bench: Bench, ns: str
) -> None:
    managed = _managed_sender(bench)
    assert managed.endswith(".azurecomm.net")
    await bench.apply(ns, "shop")
    assert (await bench.run(ns, "shop")).outcome.failure is None
    data = await _data(bench, ns, "shop-smtp")
    assert data["from"] == f"DoNotReply@{managed}"
    linked = _condition(await bench.status(ns, "shop"), "DomainLinked")
    assert linked["status"] == "True" and f"{AZURE_MANAGED_DOMAIN} sends as {managed}" in linked["message"]
    # A real mail client with exactly what the Secret holds.
    sent = len(bench.sandbox.ctx.messages)
    async with aiosmtplib.SMTP(
        hostname=data["host"],
        port=int(data["port"]),
        start_tls=True,
        tls_context=bench.ports.settings.ssl_context(),
    ) as smtp:
        await smtp.login(data["username"], data["password"])
        await smtp.sendmail(data["from"], ["customer@example.org"], "Subject: hello\r\n\r\nhi\r\n")
    assert bench.sandbox.ctx.messages[sent]["mailFrom"] == f"DoNotReply@{managed}"


async def test_an_email_smtp_username_is_judged_by_the_sender_domain_not_the_resource_name(
    bench: Bench, ns: str
) -> None:
    managed = _managed_sender(bench)
    await bench.apply(ns, "by-sender", username={"format": "SmtpUsername", "smtpUsername": f"orders@{managed}"})
    assert (await bench.run(ns, "by-sender")).outcome.failure is None
    name = f"orders@{AZURE_MANAGED_DOMAIN}"
    await bench.apply(ns, "by-name", username={"format": "SmtpUsername", "smtpUsername": name})
    result = await bench.run(ns, "by-name")
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.SMTP_USERNAME_INVALID and managed in failure.message
    assert [c for c in result.calls if c.method != "GET"] == [], "refused before any Azure write"


async def test_with_no_linked_domain_that_can_send_verify_smtp_adds_no_key_and_says_why(bench: Bench, ns: str) -> None:
    keys = bench.keys("shop-mailer")
    await bench.apply(ns, "pending", acs="unverified-acs", rotation={"verify": "Smtp"})
    result = await bench.run(ns, "pending")
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.DOMAIN_NOT_VERIFIED
    assert "pending.shop.example.com (Domain VerificationFailed" in failure.message
    assert result.named("/addPassword") == [] and bench.keys("shop-mailer") == keys, "no key could pass: none added"
    linked = _condition(await bench.status(ns, "pending"), "DomainLinked")
    assert (linked["status"], linked["reason"]) == ("False", "DomainNotVerified")
    assert "SPF VerificationFailed" in linked["message"]


async def test_a_sender_refused_at_mail_from_fails_the_smtp_check(bench: Bench, ns: str) -> None:
    """What `verify: Smtp` proves past the login: a working secret, a sender the resource may not send as."""
    await bench.apply(ns, "token-checked", acs="unverified-acs")  # verify Token: issued, DomainLinked says why
    assert (await bench.run(ns, "token-checked")).outcome.failure is None
    data = await _data(bench, ns, "token-checked-smtp")
    assert data["from"] == "DoNotReply@pending.shop.example.com"
    settings, bound = bench.ports.settings, timedelta(seconds=0)
    refused = await verify.verify_smtp(settings, data["username"], data["password"], data["from"], bound)
    assert refused is not None and refused.startswith(f"SMTP refused MAIL FROM:<{data['from']}>: 550")
    assert await verify.verify_smtp(settings, data["username"], data["password"], None, bound) is None, "login works"


async def test_verify_smtp_proves_mail_from_without_sending(bench: Bench, ns: str) -> None:
    sent = len(bench.sandbox.ctx.messages)
    await bench.apply(ns, "proven", rotation={"verify": "Smtp"})
    assert (await bench.run(ns, "proven")).outcome.failure is None
    assert len(bench.sandbox.ctx.messages) == sent, "RSET, not DATA: nothing was sent"


# -- 2. the role ACS checks -------------------------------------------------------------------------------


async def test_the_default_role_is_the_three_actions_microsoft_documents(bench: Bench, ns: str) -> None:
    bench.tenancy = _role_policy(bench, ns, {"customRoleName": f"Default {ns}"})
    await bench.apply(ns, "default", rotation={"verify": "Smtp"})
    assert (await bench.run(ns, "default")).outcome.failure is None
    role_id = (await bench.status(ns, "default"))["roleDefinitionId"]
    role = bench.sandbox.ctx.cloud.role_definitions[role_id.rsplit("/", 1)[-1]]
    assert sorted(role.actions) == sorted(DEFAULT_ACTIONS) and len(DEFAULT_ACTIONS) == 3


async def test_a_role_with_the_two_actions_older_docs_list_fails_at_login_and_its_key_is_taken_back(
    bench: Bench, ns: str
) -> None:
    two = ["Microsoft.Communication/CommunicationServices/Read", "Microsoft.Communication/EmailServices/write"]
    bench.tenancy = _role_policy(bench, ns, {"customRoleName": f"Two actions {ns}", "actions": two})
    # An application no other scenario assigns a role to (roles add up: another would let it log in).
    await bench.apply(ns, "two", app="probe-mailer", rotation={"verify": "Smtp"})
    keys = bench.keys("probe-mailer")
    failure = (await bench.run(ns, "two")).outcome.failure
    assert failure is not None and failure.reason == Reason.VERIFICATION_FAILED
    assert "535 5.7.3" in failure.message
    assert bench.keys("probe-mailer") == keys
    knobs = bench.sandbox.ctx.cloud.knobs
    knobs.smtp_role_actions = "Legacy"  # ACS as the older documentation described it
    try:
        # The key taken back does not count against the least interval: the retry issues one at once.
        assert (await bench.run(ns, "two")).outcome.failure is None
    finally:
        knobs.smtp_role_actions = "Current"


async def test_the_built_in_role_can_be_chosen_by_name(bench: Bench, ns: str) -> None:
    bench.tenancy = _role_policy(bench, ns, {"builtInRoleName": "Communication and Email Service Owner"})
    await bench.apply(ns, "owner", rotation={"verify": "Smtp"})
    result = await bench.run(ns, "owner")
    assert result.outcome.failure is None
    status = await bench.status(ns, "owner")
    assert status["roleDefinitionId"].endswith(OWNER_ROLE) and status["roleDefinitionOwned"] is False
    assert not [c for c in result.calls if "/roleDefinitions/" in c.path and c.method != "GET"]


async def test_a_built_in_role_name_that_does_not_exist_is_refused_before_any_write(bench: Bench, ns: str) -> None:
    bench.tenancy = _role_policy(bench, ns, {"builtInRoleName": "Communication Owner (typo)"})
    await bench.apply(ns, "typo")
    result = await bench.run(ns, "typo")
    assert result.outcome.failure is not None and result.outcome.failure.reason == Reason.ROLE_NOT_FOUND
    assert [c for c in result.calls if c.method != "GET"] == []


# -- 3. Graph's lag ---------------------------------------------------------------------------------------


async def test_a_key_graph_does_not_list_yet_is_not_taken_for_removed(bench: Bench, ns: str, lag: None) -> None:
    await bench.apply(ns, "fresh")
    assert (await bench.run(ns, "fresh")).outcome.failure is None
    issued = (await bench.status(ns, "fresh"))["currentKeyId"]
    assert issued not in _listed(bench, "shop-mailer"), "Graph does not list the new key yet"
    again = await bench.run(ns, "fresh")  # at once
    assert again.outcome.failure is None and again.named("/addPassword") == []
    assert (await bench.status(ns, "fresh"))["currentKeyId"] == issued


def _listed(bench: Bench, app: str) -> set[str]:
    """The key ids a Graph read shows now, through the lag."""
    ctx = bench.sandbox.ctx
    found = ctx.cloud.app_by_app_id(bench.app(app)["clientId"])
    assert found is not None
    lag = timedelta(seconds=ctx.cloud.knobs.graph_lag_seconds)
    return {p.key_id for p in found.passwords if p.listed(ctx.now(), lag)}


def _unprovable(bench: Bench, ns: str) -> dict[str, Any]:
    """A credential whose new keys fail `verify: Smtp` at once: its role lacks what ACS checks at login (and its
    application holds no other role there: an assignment an earlier scenario left would let it log in)."""
    cloud = bench.sandbox.ctx.cloud
    principal = cloud.sp_by_app_id(bench.app("restricted-mailer")["clientId"])
    assert principal is not None
    for guid in [g for g, a in cloud.role_assignments.items() if a.principal_id == principal.object_id]:
        del cloud.role_assignments[guid]
    two = ["Microsoft.Communication/CommunicationServices/Read", "Microsoft.Communication/EmailServices/write"]
    bench.tenancy = _role_policy(bench, ns, {"customRoleName": f"Unprovable {ns}", "actions": two})
    return {"app": "restricted-mailer", "rotation": {"verify": "Smtp", "secretLifetime": "240h", "renewBefore": "48h"}}


async def test_a_removal_graph_answers_not_found_right_after_the_add_is_retried_until_it_lands(
    bench: Bench, ns: str, lag: None
) -> None:
    keys = bench.keys("restricted-mailer")
    await bench.apply(ns, "unproven", **_unprovable(bench, ns))
    async with _ports(bench, verify_timeout=0) as ports:  # the check fails at once, well inside the lag
        result = await bench.run(ns, "unproven", ports)
    assert result.outcome.failure is not None and result.outcome.failure.reason == Reason.VERIFICATION_FAILED
    removals = [c.status for c in result.named("/removePassword")]
    assert removals[0] == 400 and removals[-1] == 204, removals
    assert "it was removed" in result.outcome.failure.message
    assert bench.keys("restricted-mailer") == keys


async def test_a_removal_still_not_found_after_the_bound_is_reported_and_left_to_the_orphan_cleanup(
    bench: Bench, ns: str, lag: None
) -> None:
    keys = bench.keys("restricted-mailer")
    await bench.apply(ns, "orphaned", **_unprovable(bench, ns))
    async with _ports(bench, verify_timeout=0, graph_lag=1) as ports:  # gives up before Graph catches up
        result = await bench.run(ns, "orphaned", ports)
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.VERIFICATION_FAILED
    assert "goes as an orphan once settled" in failure.message
    left = set(bench.keys("restricted-mailer")) - set(keys)
    assert len(left) == 1, "not counted as removed: the key is still there"
    bench.clock.step(timedelta(hours=1))  # past the orphans' settling window
    while not left <= _listed(bench, "restricted-mailer"):  # noqa: ASYNC110 - Graph's lag runs on the wall clock
        await asyncio.sleep(0.1)
    bench.tenancy = bench.open_policy()  # the default role: the next key passes
    cleanup = await bench.run(ns, "orphaned")
    assert cleanup.outcome.failure is None, cleanup.outcome.failure
    assert not left & set(bench.keys("restricted-mailer")), "the orphan cleanup removed it"


async def test_deleting_right_after_a_rotation_waits_for_graph_to_list_the_newest_key_then_removes_it(
    bench: Bench, ns: str, lag: None
) -> None:
    await bench.apply(ns, "brief")
    assert (await bench.run(ns, "brief")).outcome.failure is None
    stored = await bench.read(ns, "brief")
    assert stored is not None
    newest = stored["status"]["issuedKeyId"]
    assert newest in bench.keys("shop-mailer") and newest not in _listed(bench, "shop-mailer")
    events: list[tuple[str, str, str]] = []
    await bench.finalize(stored, events)
    assert ("Normal", "WaitingForGraph") in [e[:2] for e in events], "it waited for Graph to list the key"
    assert newest not in bench.keys("shop-mailer")


async def test_a_deletion_waiting_for_graph_gives_its_pass_slot_to_another_credential(
    bench: Bench, ns: str, lag: None
) -> None:
    """One pass slot: a credential deleted right after its rotation waits out Graph's lag without holding it, so
    create/delete loops cannot starve other credentials' passes."""
    async with _ports(bench, max_concurrent_passes=1) as ports:
        coordinator = Coordinator(ports, lambda body: lambda *e: None, lambda: bench.tenancy,
                                  clock=lambda: bench.clock.now)  # fmt: skip
        await bench.apply(ns, "brief")
        await bench.apply(ns, "other", app="billing-mailer")
        uids = {n: str(((await bench.read(ns, n)) or {})["metadata"]["uid"]) for n in ("brief", "other")}
        outcome = await coordinator.run(ns, "brief", uids["brief"])
        assert outcome is not None and outcome.failure is None
        stored = await bench.read(ns, "brief")
        assert stored is not None and stored["status"]["issuedKeyId"] not in _listed(bench, "shop-mailer")
        deleting = asyncio.create_task(coordinator.finalize(stored))
        await asyncio.sleep(1)  # it removed what Graph lists, and waits for the newest key to be listed
        other = await asyncio.wait_for(coordinator.run(ns, "other", uids["other"]), timeout=8)
        assert other is not None and other.failure is None
        assert not deleting.done(), "the other credential's pass waited for the deletion's Graph lag"
        await deleting
    assert stored["status"]["issuedKeyId"] not in bench.keys("shop-mailer")


# -- 4. the operator's own identity and the network -------------------------------------------------------


async def test_the_operators_expired_secret_is_named_and_nothing_is_written(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "expired")
    result = await _with_operator(bench, ns, "expired", {"secretExpired": True}, {"secretExpired": False})
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.OPERATOR_CREDENTIAL_EXPIRED
    assert "AADSTS7000222" in failure.message and "AZURE_CLIENT_SECRET" in failure.message
    assert bench.sandbox.env["AZURE_CLIENT_SECRET"] not in failure.message
    assert [c.api for c in result.calls] == ["entra"], "no call reached ARM or Graph"
    ready = _condition(await bench.status(ns, "expired"), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "OperatorCredentialExpired")


@pytest.mark.parametrize(
    "path",
    [r"/oauth2/v2\.0/token$", r"^/v1\.0/", r"^/subscriptions/"],
    ids=["the token endpoint", "Microsoft Graph", "Azure Resource Manager"],
)
async def test_an_unreachable_endpoint_is_named_and_leaves_no_key(bench: Bench, ns: str, path: str) -> None:
    keys = bench.keys("shop-mailer")
    await bench.apply(ns, "offline")
    await _control(bench, "faults", {"path": path, "drop": True})
    try:
        async with _ports(bench) as ports:
            result = await bench.run(ns, "offline", ports)
    finally:
        await _control(bench, "reset", {})
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.ENDPOINT_UNREACHABLE, failure
    assert bench.keys("shop-mailer") == keys


async def test_a_network_failure_while_verifying_takes_the_new_key_back(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "warm")
    await bench.apply(ns, "cut")
    async with _ports(bench) as ports:
        await bench.run(ns, "warm", ports)  # the operator's own tokens, fetched before the cut
        keys = bench.keys("shop-mailer")
        await _control(bench, "faults", {"path": r"/oauth2/v2\.0/token$", "drop": True})
        try:
            result = await bench.run(ns, "cut", ports)
        finally:
            await _control(bench, "reset", {})
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.VERIFICATION_FAILED
    assert "could not be reached" in failure.message and "it was removed" in failure.message
    assert bench.keys("shop-mailer") == keys


# -- 5. least privilege, at the documented scopes ---------------------------------------------------------

SMTP_USERNAME = {"username": {"format": "SmtpUsername"}}  # free text: the namespace is added per scenario
PASS_ROWS = [
    ("Microsoft.Communication/CommunicationServices/read", {}, "reading /subscriptions/"),
    ("Microsoft.Communication/EmailServices/Domains/read", {}, "reading linked domain"),
    ("Microsoft.Authorization/roleDefinitions/read", {}, "reading role definition"),
    ("Microsoft.Authorization/roleDefinitions/write", {}, "writing role definition"),
    ("Microsoft.Authorization/roleAssignments/read", {}, "listing the role assignments at"),
    ("Microsoft.Authorization/roleAssignments/write", {}, "assigning"),
    ("Microsoft.Communication/CommunicationServices/SmtpUsernames/read", SMTP_USERNAME, "reading smtpUsername"),
    ("Microsoft.Communication/CommunicationServices/SmtpUsernames/write", SMTP_USERNAME, "writing smtpUsername"),
]


def _unique(spec: dict[str, Any], ns: str) -> dict[str, Any]:
    """SmtpUsername usernames are unique on a resource: one per scenario."""
    if "username" not in spec:
        return spec
    return {**spec, "username": {**spec["username"], "smtpUsername": f"least-{ns}"}}


@pytest.mark.parametrize(
    ("action", "spec", "step"), PASS_ROWS, ids=[f"{row[0].rsplit('/', 2)[-2]}-{row[0][-5:]}" for row in PASS_ROWS]
)
async def test_without_each_documented_arm_permission_the_pass_stops_there_forbidden_before_any_key(
    bench: Bench, ns: str, action: str, spec: dict[str, Any], step: str
) -> None:
    bench.tenancy = _role_policy(bench, ns, {"customRoleName": f"Least privilege {ns}"})
    keys = bench.keys("shop-mailer")
    await bench.apply(ns, "least", **_unique(spec, ns))
    await _control(bench, "operator", {"revoke": [action]})
    try:
        result = await bench.run(ns, "least")
    finally:
        await _control(bench, "operator", {"restore": True})
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.FORBIDDEN, failure
    assert step in failure.message and f"'{action}'" in failure.message and "docs/install.md" in failure.message
    assert result.named("/addPassword") == [] and bench.keys("shop-mailer") == keys
    assert (await bench.run(ns, "least")).outcome.failure is None, "granted again, it proceeds"


async def test_without_the_graph_permission_the_application_cannot_be_read(bench: Bench, ns: str) -> None:
    await bench.apply(ns, "graphless")
    revoke = {"revoke": ["Application.ReadWrite.OwnedBy"]}  # application permissions travel in the next token
    result = await _with_operator(bench, ns, "graphless", revoke, {"restore": True})
    failure = result.outcome.failure
    assert failure is not None and failure.reason == Reason.FORBIDDEN
    assert "reading application" in failure.message and "Authorization_RequestDenied" in failure.message


@pytest.mark.parametrize(
    "action",
    [
        "Microsoft.Communication/CommunicationServices/SmtpUsernames/delete",
        "Microsoft.Authorization/roleAssignments/delete",
        "Microsoft.Authorization/roleDefinitions/delete",
    ],
    ids=["smtpUsernames-delete", "roleAssignments-delete", "roleDefinitions-delete"],
)
async def test_without_each_documented_delete_permission_deletion_stops_forbidden(
    bench: Bench, ns: str, action: str
) -> None:
    bench.tenancy = _role_policy(bench, ns, {"customRoleName": f"Deleted {ns}"})
    await bench.apply(ns, "doomed", **_unique(SMTP_USERNAME, ns))
    assert (await bench.run(ns, "doomed")).outcome.failure is None
    stored = await bench.read(ns, "doomed")
    assert stored is not None
    events: list[tuple[str, str, str]] = []
    await _control(bench, "operator", {"revoke": [action]})
    try:
        with pytest.raises(Failure) as refused:
            await bench.finalize(stored, events)
    finally:
        await _control(bench, "operator", {"restore": True})
    assert refused.value.reason == Reason.FORBIDDEN and f"'{action}'" in refused.value.message
    async with _ports(bench, graph_lag=0) as ports:  # the newest key, removed by the first attempt, is not awaited
        await finalize(
            ports,
            Credential.of(stored),
            lambda *e: events.append(e),
            None,
            lambda _: False,
            PERMITTED,
            ANYWHERE,
            clock=lambda: bench.clock.now,
        )
    assert ("Normal", "Deleted") in [e[:2] for e in events], "granted again, deletion completes"


# -- two subscriptions ------------------------------------------------------------------------------------

TWO_SUBSCRIPTIONS = Seed.model_validate(
    {
        "subscriptions": ["second-subscription"],
        "communicationServices": [
            CommunicationServiceSeed(name="acs-one", linkedDomains=[AZURE_MANAGED_DOMAIN]),
            CommunicationServiceSeed(
                name="acs-two",
                resourceGroup="rg-two",
                emailService="email-two",
                linkedDomains=[AZURE_MANAGED_DOMAIN],
                subscription="second-subscription",
            ),
        ],
    }
)


@pytest.fixture(scope="session")
async def two_subscriptions(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bench]:
    sandbox: Sandbox
    async with run_sandbox(tmp_path_factory.mktemp("two-subscriptions"), TWO_SUBSCRIPTIONS) as sandbox:
        sandbox.ctx.cloud.knobs.graph_lag_seconds = 0
        async with bench_on(sandbox) as made:
            yield made


async def test_one_custom_role_serves_acs_resources_in_two_subscriptions(two_subscriptions: Bench) -> None:
    bench = two_subscriptions
    ns = "two-subscriptions"
    await off_loop_namespace(bench, ns)
    manifest = bench.sandbox.manifest
    assert len(manifest["subscriptions"]) == 2
    bench.tenancy = _role_policy(bench, ns, {"customRoleName": "ACS SMTP Sender"})
    await bench.apply(ns, "one", acs="acs-one", rotation={"verify": "Smtp"})
    await bench.apply(ns, "two", acs="acs-two", app="billing-mailer", rotation={"verify": "Smtp"})
    for name in ("one", "two", "one", "two"):  # each pass sees the role from its own subscription
        result = await bench.run(ns, name)
        assert result.outcome.failure is None, (name, result.outcome.failure)
    one, two = await bench.status(ns, "one"), await bench.status(ns, "two")
    guid = one["roleDefinitionId"].rsplit("/", 1)[-1]
    assert two["roleDefinitionId"].rsplit("/", 1)[-1] == guid, "one role for the tenant"
    assert one["roleDefinitionId"].split("/")[2] != two["roleDefinitionId"].split("/")[2], "each read in its own"
    role = bench.sandbox.ctx.cloud.role_definitions[guid]
    groups = {"/".join(bench.acs_named(n)["resourceId"].split("/")[:5]).lower() for n in ("acs-one", "acs-two")}
    assert {s.lower() for s in role.assignable_scopes} == groups
    for status in (one, two):
        assignment = status["roleAssignmentId"].rsplit("/", 1)[-1]
        assert assignment in bench.sandbox.ctx.cloud.role_assignments


async def off_loop_namespace(bench: Bench, ns: str) -> None:
    await off_loop(bench.core.create_namespace, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
