"""Azure's 403s name what to grant whom: the application's owner to add (Graph), the role to assign (ARM)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from azure.core.exceptions import HttpResponseError, ODataV4Format
from msgraph.generated.models.o_data_errors.main_error import MainError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from acs_smtp_operator.azure.errors import arm_denied_advice, denied_by_graph, owner_advice, translate
from acs_smtp_operator.azure.whoami import Caller, caller_of
from acs_smtp_operator.model import Reason

APP = "76d25cdf-e868-5455-9d98-19efb79681a0"
OPERATOR_OID = "b7550fea-92e6-5bf5-ae71-296cb0b2db72"
OPERATOR_CLIENT = "0c3f3f2e-1d2b-4a5c-9e8f-7a6b5c4d3e2f"
OWNED_BY = ("Application.ReadWrite.OwnedBy",)


def _graph_denied() -> ODataError:
    error = ODataError()
    error.response_status_code = 403
    error.error = MainError(
        code="Authorization_RequestDenied", message="Insufficient privileges to complete the operation."
    )
    return error


def _token(**claims: Any) -> str:
    return jwt.encode(claims, "not-a-real-key-but-long-enough-for-hs256!", algorithm="HS256")


def test_the_owner_to_add_and_the_exact_command() -> None:
    advice = owner_advice(APP, Caller(OPERATOR_OID, OPERATOR_CLIENT, OWNED_BY))
    assert advice == (
        f"the operator's identity (service principal {OPERATOR_OID}, client id {OPERATOR_CLIENT}) is not an owner "
        f"of application {APP}: add it with `az ad app owner add --id {APP} --owner-object-id {OPERATOR_OID}`"
    )


def test_without_the_object_id_the_command_looks_it_up_by_client_id() -> None:
    advice = owner_advice(APP, Caller(None, OPERATOR_CLIENT, None))
    assert f"--owner-object-id $(az ad sp show --id {OPERATOR_CLIENT} --query id -o tsv)`" in advice


def test_an_unknown_identity_still_gets_the_command_with_a_placeholder() -> None:
    advice = owner_advice(APP, None)
    assert advice.startswith(f"the operator's identity is not an owner of application {APP}: ")
    assert f"`az ad app owner add --id {APP} --owner-object-id <the object id of the operator's" in advice


def test_a_token_without_the_graph_permission_says_to_grant_it_too() -> None:
    advice = owner_advice(APP, Caller(OPERATOR_OID, OPERATOR_CLIENT, ()))
    assert "holds no Graph permission to write applications (its token grants: none)" in advice
    assert "Application.ReadWrite.OwnedBy with admin consent" in advice
    assert f"az ad app owner add --id {APP} --owner-object-id {OPERATOR_OID}" in advice


def test_graphs_refusal_becomes_forbidden_naming_the_application_and_the_command() -> None:
    exc = _graph_denied()
    assert denied_by_graph(exc)
    failure = translate(exc, f"reading application {APP}", application=APP, caller=Caller(OPERATOR_OID, None, OWNED_BY))
    assert failure.reason == Reason.FORBIDDEN and failure.code == "Authorization_RequestDenied"
    assert failure.message.startswith(f"reading application {APP}: Authorization_RequestDenied: Insufficient")
    assert (
        f"the operation. The operator's identity (service principal {OPERATOR_OID}) is not an owner of "
        f"application {APP}" in failure.message
    )
    assert f"`az ad app owner add --id {APP} --owner-object-id {OPERATOR_OID}`" in failure.message
    assert "at the scope named" not in failure.message


def test_the_caller_comes_from_the_tokens_claims_and_nothing_else() -> None:
    token = _token(oid=OPERATOR_OID, appid=OPERATOR_CLIENT, roles=list(OWNED_BY), secret="s3cr3t")
    assert caller_of(token) == Caller(OPERATOR_OID, OPERATOR_CLIENT, OWNED_BY)
    assert caller_of(_token(oid=OPERATOR_OID, azp=OPERATOR_CLIENT)) == Caller(OPERATOR_OID, OPERATOR_CLIENT, None)
    assert caller_of("opaque") is None
    # A claim goes into a command: anything but a GUID is left out.
    assert caller_of(_token(oid="x; rm -rf /", appid="$(id)")) == Caller(None, None, None)


ARM_TEXT = (
    "The client '{app}' with object id '{oid}' does not have authorization to perform action '{action}' over scope "
    "'{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
)
ACS = (
    "/subscriptions/e04a0672-1ccb-5e4d-9188-d77b07fab321/resourceGroups/rg-mail/providers/"
    "Microsoft.Communication/communicationServices/shop-mailer-acs"
)


@pytest.mark.parametrize(
    ("action", "role"),
    [
        ("Microsoft.Communication/CommunicationServices/read", "Reader"),
        ("Microsoft.Authorization/roleAssignments/write", "Role Based Access Control Administrator"),
        (
            "Microsoft.Communication/CommunicationServices/SmtpUsernames/write",
            "<a role with Microsoft.Communication/CommunicationServices/SmtpUsernames/write>",
        ),
    ],
)
def test_arms_refusal_names_the_role_assignment_to_make(action: str, role: str) -> None:
    detail = ARM_TEXT.format(app=OPERATOR_CLIENT, oid=OPERATOR_OID, action=action, scope=ACS)
    advice = arm_denied_advice(detail)
    assert advice is not None
    assert (
        f"`az role assignment create --assignee-object-id {OPERATOR_OID} --assignee-principal-type ServicePrincipal "
        f'--role "{role}" --scope {ACS}`'
    ) in advice
    exc = HttpResponseError(message=detail)
    exc.status_code = 403
    exc.error = ODataV4Format({"code": "AuthorizationFailed", "message": detail})
    failure = translate(exc, f"reading {ACS}")
    assert failure.reason == Reason.FORBIDDEN
    assert failure.message.endswith(f"please refresh your credentials. G{advice[1:]}"), failure.message


def test_an_arm_refusal_that_names_no_scope_gets_the_general_pointer() -> None:
    assert arm_denied_advice("Built-in roles cannot be changed.") is None
    exc = HttpResponseError(message="Built-in roles cannot be changed.")
    exc.status_code = 403
    exc.error = ODataV4Format({"code": "AuthorizationFailed", "message": "Built-in roles cannot be changed."})
    assert translate(exc, "writing role definition 'x'").message.endswith(
        "(grant the operator's identity what docs/install.md lists)"
    )


def test_owning_an_application_is_not_enough_without_a_permission_that_writes_it() -> None:
    from acs_smtp_operator.azure.whoami import Caller, may_write

    oid = "11111111-2222-3333-4444-555555555555"
    owners = frozenset({oid})
    assert may_write(Caller(oid, None, ("Application.ReadWrite.OwnedBy",)), owners) is True
    assert may_write(Caller(oid, None, ("Application.ReadWrite.OwnedBy",)), frozenset()) is False
    assert may_write(Caller(oid, None, ("Application.Read.All",)), owners) is False  # reads, cannot add a key
    assert may_write(Caller(oid, None, ()), owners) is False
    assert may_write(Caller(oid, None, None), owners) is True  # the token says nothing of roles: ownership decides
    assert may_write(Caller(oid, None, ("Application.ReadWrite.All",)), frozenset()) is True
    assert may_write(Caller(None, None, ("Application.ReadWrite.All",)), owners) is None
