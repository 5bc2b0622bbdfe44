"""Azure's example answers fed to the operator's own adapters through the real clients.

A small https server answers exactly what the example answers (ARM's examples verbatim; Graph's shapes with
values filled in) at the path the example's request names; the operator's functions (`azure/acs.py`,
`azure/roles.py`, `azure/passwords.py`) call it through azure-mgmt-*, msgraph-sdk and azure-core as they call
Azure. The request the SDK sends must be the example's (method, path, api-version), its body must carry every
property the example's request has, and what the operator makes of the answer is checked."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from azure.core.credentials import AccessToken

from acs_smtp_operator.azure import acs, passwords, roles
from acs_smtp_operator.azure.clients import AzureClients
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import assignment_guid
from acs_smtp_operator.model import AcsRef, Reason
from acs_smtp_operator.observed import SmtpUsernameView
from acs_smtp_operator.sandbox.certs import make_tls
from acs_smtp_operator.settings import Settings
from tests.conformance.cases import ARM_CASES, ArmCase, Binding, example
from tests.conformance.shapes import compare

AS_IS = Binding({}, {})
CALLER = "5c7a1b1e-0b53-4a51-9d1e-2f7a3d1c0e11"  # the operator's service principal, in the token below


def _case(name: str) -> ArmCase:
    return next(c for c in ARM_CASES if c.name == name)


@dataclass
class Replay:
    """Answers scripted per (method, path); records what was asked."""

    base: str = ""
    script: dict[tuple[str, str], list[tuple[int, Any]]] = field(default_factory=dict)
    asked: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)

    def answer(self, method: str, path: str, status: int, body: Any) -> None:
        self.script.setdefault((method, _normal(path)), []).append((status, body))

    def example(self, case: ArmCase, status: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """Script the example's answer of `status` at the example's request path; the example."""
        found = example(case.example)
        path = AS_IS.path(case.template, parameters or found["parameters"])
        response = found["responses"][status]
        self.answer(case.method, path, 404 if status == "default" else int(status), response.get("body"))
        return found

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.asked.append((request.method, _normal(request.path), dict(request.query), body))
        queue = self.script.get((request.method, _normal(request.path)))
        if not queue:
            return web.json_response({"error": {"code": "NotScripted", "message": request.path}}, status=599)
        status, answer = queue.pop(0)
        return web.Response(status=status) if answer is None else web.json_response(answer, status=status)


def _normal(path: str) -> str:
    return re.sub("/+", "/", path).lower()


class StaticToken:
    """The operator's identity as a token (an azure-core AsyncTokenCredential)."""

    def __init__(self) -> None:
        claims = {"oid": CALLER, "appid": CALLER, "roles": ["Application.ReadWrite.OwnedBy"]}
        self._token = jwt.encode(claims, "replay", algorithm="HS256")

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticToken:
        return self

    async def __aexit__(self, *args: Any) -> None:
        return None


@pytest.fixture
async def replay(tmp_path: Path) -> AsyncIterator[tuple[Replay, AzureClients]]:
    tls = make_tls(tmp_path)
    served = Replay()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", served.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context)
    await site.start()
    served.base = f"https://127.0.0.1:{runner.addresses[0][1]}"
    settings = Settings(
        arm_endpoint=served.base,
        graph_endpoint=f"{served.base}/v1.0",
        authority_host=served.base,
        ca_bundle=tls.ca_bundle,
    )
    clients = AzureClients(settings, StaticToken())
    try:
        yield served, clients
    finally:
        await clients.close()
        await runner.cleanup()


def _asked_as_the_example(served: Replay, case: ArmCase) -> None:
    """Every request went where the example's did, with the SDK's api-version, and no script went unanswered."""
    assert served.asked, "no request reached the replay"
    for method, path, query, _ in served.asked:
        assert (method, path) in served.script, f"{method} {path}: not the example's request"
        if path.startswith("/subscriptions/") or "/providers/microsoft." in path:
            assert query.get("api-version") == case.api_version, query
    leftover = {k: v for k, v in served.script.items() if v}
    assert not leftover, f"scripted answers never asked for: {list(leftover)}"


def _sent_like_the_example(served: Replay, case: ArmCase, sent: Any) -> None:
    """The body the operator sent has every property of the example's request body, of the same JSON type."""
    wanted = example(case.example)["parameters"][case.body or ""]
    gaps = [d for d in compare(wanted, sent) if d.kind not in ("extra",)]
    assert not gaps, f"the operator's request lacks what the example's has: {gaps}"


# -- Microsoft.Communication ----------------------------------------------------------------------------


def _acs(found: dict[str, Any]) -> AcsRef:
    p = found["parameters"]
    name = p["communicationServiceName"]
    return AcsRef.model_validate(
        {
            "resourceId": f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}"
            f"/providers/Microsoft.Communication/communicationServices/{name}"
        }
    )


async def test_the_acs_resource_example_reads_as_no_linked_domain(replay: tuple[Replay, AzureClients]) -> None:
    served, clients = replay
    case = _case("communicationServices/get")
    found = served.example(case, "200")
    ref = _acs(found)
    assert await acs.linked_domain_ids(clients.communication(ref.subscription_id), ref) == ()
    _asked_as_the_example(served, case)


async def test_the_acs_resource_error_example_is_a_clear_failure(replay: tuple[Replay, AzureClients]) -> None:
    served, clients = replay
    case = _case("communicationServices/get")
    ref = _acs(served.example(case, "default"))
    with pytest.raises(Failure) as raised:
        await acs.linked_domain_ids(clients.communication(ref.subscription_id), ref)
    assert raised.value.reason == Reason.ACS_NOT_FOUND and raised.value.code == "ResourceNotFound"
    assert "The requested resource was not found" in raised.value.message


async def test_the_domain_example_reads_as_a_verified_sender_domain(replay: tuple[Replay, AzureClients]) -> None:
    served, clients = replay
    case = _case("domains/get")
    found = served.example(case, "200")
    domain_id = found["responses"]["200"]["body"]["id"]  # spelled `EmailServices/.../Domains/...` by ARM
    sender = await acs.read_domain(clients.communication, domain_id)
    props = found["responses"]["200"]["body"]["properties"]
    assert sender.name == "mydomain.com" and sender.unverified == ()
    assert sender.sender == props["mailFromSenderDomain"]  # the envelope (P1): what the check's MAIL FROM uses
    assert sender.header == props["fromSenderDomain"]  # the header From (P2): what `from` is built on
    _asked_as_the_example(served, case)


async def test_the_smtp_username_example_reads_as_its_entry(replay: tuple[Replay, AzureClients]) -> None:
    served, clients = replay
    case = _case("smtpUsername/get")
    found = served.example(case, "200")
    ref, p = _acs(found), found["parameters"]
    view = await acs.read_smtp_username(clients.communication(ref.subscription_id), ref, p["smtpUsername"])
    props = found["responses"]["200"]["body"]["properties"]
    assert view == SmtpUsernameView(props["username"], props["entraApplicationId"], props["tenantId"])
    served.example(case, "default")
    assert await acs.read_smtp_username(clients.communication(ref.subscription_id), ref, p["smtpUsername"]) is None
    _asked_as_the_example(served, case)


@pytest.mark.parametrize("status", ["200", "201"])
async def test_the_smtp_username_write_sends_the_examples_body(
    replay: tuple[Replay, AzureClients], status: str
) -> None:
    served, clients = replay
    case = _case("smtpUsername/createOrUpdate")
    found = served.example(case, status)
    ref, p = _acs(found), found["parameters"]
    props = p["parameters"]["properties"]
    await acs.write_smtp_username(
        clients.communication(ref.subscription_id),
        ref,
        p["smtpUsername"],
        props["username"],
        props["entraApplicationId"],
        props["tenantId"],
    )
    _asked_as_the_example(served, case)
    _sent_like_the_example(served, case, served.asked[-1][3])


@pytest.mark.parametrize("status", ["200", "204"])
async def test_the_smtp_username_delete_example_is_done(replay: tuple[Replay, AzureClients], status: str) -> None:
    served, clients = replay
    case = _case("smtpUsername/delete")
    found = served.example(case, status)
    ref = _acs(found)
    await acs.delete_smtp_username(clients.communication(ref.subscription_id), ref, found["parameters"]["smtpUsername"])
    _asked_as_the_example(served, case)


# -- Microsoft.Authorization ----------------------------------------------------------------------------


async def test_the_role_definition_examples_read_as_a_custom_role(replay: tuple[Replay, AzureClients]) -> None:
    served, clients = replay
    client = clients.authorization("subscription-of-the-example")
    get = _case("GetRoleDefinitionByName")
    found = served.example(get, "200")
    p = found["parameters"]
    view = await roles.read_role(client, p["scope"], p["roleDefinitionId"])
    assert view is not None and view.name == "Role name" and view.actions == ("action",) and not view.built_in
    assert view.assignable_scopes == ("/subscriptions/subId",)
    _asked_as_the_example(served, get)
    served.asked.clear()
    listed = _case("GetRoleDefinitionAtScope")
    served.example(listed, "200")
    named = await roles.roles_named(client, "scope", "Role name")
    assert [r.name for r in named] == ["Role name"]
    assert served.asked[-1][2].get("$filter") == "roleName eq 'Role name'"
    _asked_as_the_example(served, listed)


async def test_the_role_definition_write_sends_the_examples_properties(replay: tuple[Replay, AzureClients]) -> None:
    served, clients = replay
    case = _case("PutRoleDefinition")
    found = served.example(case, "201", {**example(case.example)["parameters"], "scope": "subscriptions/subId"})
    flat = found["parameters"]["body"]["roleDefinition"]
    made = await roles.write_role(
        clients.authorization("subId"),
        "roleDefinitionId",
        flat["roleName"],
        tuple(flat["permissions"][0]["actions"]),
        ("/subscriptions/subId",),
    )
    assert made == found["responses"]["201"]["body"]["id"]
    sent = served.asked[-1][3]
    wanted = {"properties": {k: v for k, v in flat.items() if k not in ("id", "name", "type")}}
    gaps = [d for d in compare(wanted, sent) if d.kind not in ("extra", "empty")]
    assert not gaps, f"the operator's role lacks what the example's has: {gaps}"
    assert sent["properties"]["permissions"][0]["dataActions"] == []  # it grants no data action


@pytest.mark.parametrize("ours", [False, True])
async def test_the_role_definition_delete_examples(replay: tuple[Replay, AzureClients], ours: bool) -> None:
    """Read back first: the example's role is someone else's and stays; given the operator's description, it is
    deleted (the example's 200 answer)."""
    served, clients = replay
    case = _case("DeleteRoleDefinition")
    found = example(case.example)
    p = found["parameters"]
    role = found["responses"]["200"]["body"]
    if ours:
        mine = {"type": "CustomRole", "description": roles.ROLE_DESCRIPTION}
        role = {**role, "properties": {**role["properties"], **mine}}
    served.answer("GET", AS_IS.path(case.template, p), 200, role)
    if ours:
        served.example(case, "200")
    removal = await roles.delete_role_definition(clients.authorization("subId"), p["scope"], p["roleDefinitionId"])
    assert removal == ("removed" if ours else "not ours")
    _asked_as_the_example(served, case)


@pytest.mark.parametrize(
    "name",
    [
        "RoleAssignments_CreateForSubscription",
        "RoleAssignments_CreateForResourceGroup",
        "RoleAssignments_CreateForResource",
    ],
)
@pytest.mark.parametrize("status", ["200", "201"])
async def test_the_role_assignment_create_examples(replay: tuple[Replay, AzureClients], name: str, status: str) -> None:
    served, clients = replay
    case = _case(name)
    found = served.example(case, status)
    p = found["parameters"]
    props = p["parameters"]["properties"]
    made, ours = await roles.create_role_assignment(
        clients.authorization("a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"),
        p["scope"],
        p["roleAssignmentName"],
        props["roleDefinitionId"],
        props["principalId"],
    )
    assert (made, ours) == (found["responses"][status]["body"]["id"], True)
    _asked_as_the_example(served, case)
    sent = served.asked[-1][3]
    gaps = [d for d in compare(p["parameters"], sent) if d.kind != "extra"]
    assert not gaps, f"the operator's assignment lacks what the example's has: {gaps}"
    # The operator asks for a service principal (the example's principal is a user): a value, not a shape.
    assert sent["properties"]["principalType"] == "ServicePrincipal"


async def test_the_role_assignment_list_example_reads_as_the_assignments_at_the_scope(
    replay: tuple[Replay, AzureClients],
) -> None:
    served, clients = replay
    case = _case("RoleAssignments_ListForScope")
    found = served.example(case, "200")
    listed = found["responses"]["200"]["body"]["value"]
    client = clients.authorization("a925f2f7-5c63-4b7b-8799-25a5f97bc3b2")
    at = await roles.assignments_at(client, "/" + found["parameters"]["scope"])
    assert {k: (v.id, v.principal_id) for k, v in at.items()} == {
        a["name"]: (a["id"], a["properties"]["principalId"]) for a in listed
    }
    assert served.asked[-1][2].get("$filter") == "atScope()"
    _asked_as_the_example(served, case)


async def test_the_role_assignment_get_and_delete_examples(replay: tuple[Replay, AzureClients]) -> None:
    """The example's assignment is someone else's (no description of ours, a name not derived from it): read
    back and left."""
    served, clients = replay
    for case in [c for c in ARM_CASES if c.name == "RoleAssignments_Get"]:  # both layouts' copies
        served.example(case, "200")
        p = example(case.example)["parameters"]
        removal = await roles.delete_role_assignment(
            clients.authorization("a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"), "/" + p["scope"], p["roleAssignmentName"]
        )
        assert removal == "not ours"
    _asked_as_the_example(served, _case("RoleAssignments_Get"))
    served.asked.clear()
    delete = _case("RoleAssignments_Delete")
    found = example(delete.example)
    body = found["responses"]["200"]["body"]
    ours = {**body, "properties": {**body["properties"], "description": roles.ASSIGNMENT_DESCRIPTION}}
    served.answer("GET", AS_IS.path(delete.template, found["parameters"]), 200, ours)
    served.example(delete, "204")
    p = found["parameters"]
    removal = await roles.delete_role_assignment(
        clients.authorization("a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"), "/" + p["scope"], p["roleAssignmentName"]
    )
    assert removal == "removed"
    _asked_as_the_example(served, delete)


async def test_an_assignment_made_before_descriptions_is_recognised_in_the_examples_role_id_form(
    replay: tuple[Replay, AzureClients],
) -> None:
    """0.1.0 named its assignments after (scope, subscription-form role id, principal) and wrote no description;
    Azure answers the role id in the tenant form (`/providers/Microsoft.Authorization/roleDefinitions/{guid}`),
    as the example does: the name still proves it the operator's."""
    served, clients = replay
    case = _case("RoleAssignments_Delete")
    found = example(case.example)
    body = found["responses"]["200"]["body"]
    props = body["properties"]
    subscription = props["scope"].split("/")[2]
    made_with = f"/subscriptions/{subscription}" + props["roleDefinitionId"]
    name = assignment_guid(props["scope"], made_with, props["principalId"])
    parameters = {**found["parameters"], "roleAssignmentName": name}
    served.answer("GET", AS_IS.path(case.template, parameters), 200, {**body, "name": name})
    served.example(case, "204", parameters)
    removal = await roles.delete_role_assignment(clients.authorization(subscription), props["scope"], name)
    assert removal == "removed"


# -- Microsoft Graph ------------------------------------------------------------------------------------

KEY = "7d2c4f1e-9b7a-4c3e-8f61-2a9d5b0c4e77"
APP = "0f6b3c2a-4e5d-4f7a-9b8c-1d2e3f4a5b6c"
OBJECT = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"


def _filled(shape: Any, key: str = "") -> Any:
    """A Graph shape with plausible values: ids, dates and text where the docs' example has them."""
    if isinstance(shape, dict):
        return {k: _filled(v, k) for k, v in shape.items()}
    if isinstance(shape, list):
        return [_filled(v, key) for v in shape]
    if shape != "":
        return shape
    if key.endswith("DateTime"):
        return "2026-06-01T00:00:00Z"
    if key.endswith("Id") and key not in ("keyId", "appId"):  # Graph's ids are GUIDs (msgraph parses them so)
        return "3b1d5c7e-2a4f-4e6b-8d9c-0f1e2d3c4b5a"
    return {
        "id": OBJECT,
        "keyId": KEY,
        "appId": APP,
        "secretText": "replayed-secret-text",
        "hint": "rep",
        "signInAudience": "AzureADMyOrg",
    }.get(key, f"replayed {key}")


def _graph(name: str) -> dict[str, Any]:
    return example(f"graph/{name}.json")


async def test_the_graph_examples_read_as_the_application_its_owners_and_principal(
    replay: tuple[Replay, AzureClients],
) -> None:
    served, clients = replay
    shape = _graph("application-get")
    application = _filled(shape["response"]["body"])
    # Its passwordCredentials are passwordCredential resources: the addPassword answer's shape, less the secret.
    key = {k: v for k, v in _filled(_graph("application-addpassword")["response"]["body"]).items() if k != "secretText"}
    application["passwordCredentials"] = [key]
    served.answer("GET", shape["request"]["path"].replace("{appId}", APP), 200, application)
    found = await passwords.find_application(clients.graph, APP)
    assert found.object_id == OBJECT and [k.key_id for k in found.keys] == [KEY]
    assert found.keys[0].end == datetime(2026, 6, 1, tzinfo=UTC)
    owners = _graph("application-list-owners")
    body = _filled(owners["response"]["body"])
    body["value"][0]["id"] = CALLER
    served.answer("GET", owners["request"]["path"].replace("{id}", OBJECT), 200, body)
    assert await passwords.check_owner(clients.graph, found) is True
    body = _filled(owners["response"]["body"])  # someone else owns it
    served.answer("GET", owners["request"]["path"].replace("{id}", OBJECT), 200, body)
    with pytest.raises(Failure) as refused:
        await passwords.check_owner(clients.graph, found)
    assert refused.value.reason == Reason.FORBIDDEN and "Nothing was written in Azure" in refused.value.message
    principal = _graph("serviceprincipal-get")
    served.answer(
        "GET", principal["request"]["path"].replace("{appId}", APP), 200, _filled(principal["response"]["body"])
    )
    assert await passwords.find_service_principal(clients.graph, APP) == OBJECT


async def test_the_graph_key_examples_add_and_remove_a_key(replay: tuple[Replay, AzureClients]) -> None:
    served, clients = replay
    add, remove = _graph("application-addpassword"), _graph("application-removepassword")
    served.answer("POST", add["request"]["path"].replace("{id}", OBJECT), 200, _filled(add["response"]["body"]))
    end = datetime(2026, 6, 1, tzinfo=UTC)
    made = await passwords.add_password(clients.graph, OBJECT, "acssmtp replay", end)
    assert made.key_id == KEY and made.end == end
    assert made.value.get_secret_value() == "replayed-secret-text"
    sent = served.asked[-1][3]
    gaps = [d for d in compare(add["request"]["body"], sent) if d.kind != "extra"]
    assert not gaps, gaps
    served.answer("POST", remove["request"]["path"].replace("{id}", OBJECT), remove["response"]["status"], None)
    await passwords.remove_password(clients.graph, OBJECT, KEY)
    assert served.asked[-1][3] == {"keyId": KEY}
