"""Workload identity's pure parts: the sandbox's judgement of an assertion's claims, and the operator's reading
of its own token and of Entra's refusal."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError

from acs_smtp_operator.azure.clients import operator_credential
from acs_smtp_operator.azure.errors import translate
from acs_smtp_operator.azure.federated import FederatedSignInError, WorkloadIdentity, token_facts
from acs_smtp_operator.model import Reason
from acs_smtp_operator.sandbox.azure.federation import judge_claims
from acs_smtp_operator.sandbox.azure.state import Cloud, FederatedCredential
from acs_smtp_operator.sandbox.seed import Seed
from acs_smtp_operator.settings import Settings

ISSUER = "https://oidc.example/tenant/cluster/"
SUBJECT = "system:serviceaccount:acs-smtp-system:acs-smtp-operator"
FIC = FederatedCredential("id", "operator", ISSUER, SUBJECT, ("api://AzureADTokenExchange",))
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def claims(**changed: Any) -> dict[str, Any]:
    stamp = int(NOW.timestamp())
    base = {
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": ["api://AzureADTokenExchange"],
        "nbf": stamp - 10,
        "exp": stamp + 3600,
    }
    return {**base, **changed}


@pytest.mark.parametrize(
    ("changed", "code"),
    [
        ({}, None),
        ({"aud": "api://AzureADTokenExchange"}, None),  # a single audience may be a string
        ({"iss": ISSUER.rstrip("/")}, "700211"),  # exact: the trailing slash counts
        ({"sub": SUBJECT.upper()}, "700213"),  # exact: case counts
        ({"aud": ["api://azureadtokenexchange"]}, "700212"),
        ({"aud": []}, "700212"),
        ({"exp": int(NOW.timestamp())}, "700024"),  # expiring now is expired
        ({"exp": None}, "50027"),  # Entra cannot read what has no finite NumericDate
        ({"exp": float("nan")}, "50027"),
        ({"exp": float("inf")}, "50027"),
        ({"exp": "4102444800"}, "50027"),
        ({"exp": True}, "50027"),
        ({"nbf": "later"}, "50027"),
        ({"sub": None}, "50027"),
        ({"exp": 10**400}, "50027"),  # an integer no float holds
        ({"aud": [1]}, "50027"),
        ({"iss": "https://[x"}, "50027"),  # not even a URL
        ({"nbf": int(NOW.timestamp()) + 60}, "700024"),
        ({"iss": "https://login.microsoftonline.com/t/v2.0"}, "700222"),
    ],
)
def test_claims_are_matched_as_entra_matches_them(changed: dict[str, Any], code: str | None) -> None:
    refusal = judge_claims(claims(**changed), [FIC], NOW)
    assert (refusal.code if refusal else None) == code


def test_no_federated_credential_at_all_is_its_own_refusal() -> None:
    refusal = judge_claims(claims(), [], NOW)
    assert refusal is not None and refusal.code == "70025"


def test_the_expiry_refusal_names_the_times_as_entra_writes_them() -> None:
    without_nbf = {k: v for k, v in claims(exp=int(NOW.timestamp()) - 1).items() if k != "nbf"}
    refusal = judge_claims(without_nbf, [FIC], NOW)
    assert refusal is not None
    assert refusal.fields == {
        "current": "2026-11-29T12:00:00.0000000Z",
        "start": "1970-01-01T00:00:00.0000000Z",
        "expiry": "2026-11-29T11:59:59.0000000Z",
    }


def test_token_facts_are_the_matching_claims_bounded_and_printable() -> None:
    token = jwt.encode(
        {"iss": ISSUER, "sub": "x\x1b[31m" + "y" * 400, "aud": ["a", "b"], "exp": 1800000000}, "k" * 32, "HS256"
    )
    facts = token_facts(token)
    assert facts is not None
    assert facts.issuer == ISSUER and facts.audience == "a,b"
    assert "\x1b" not in facts.subject and len(facts.subject) <= 301
    assert facts.expires == datetime.fromtimestamp(1800000000, UTC)
    assert token_facts("not a token") is None
    for absurd in (1e30, -1e20, 10**400, True, "soon"):
        odd = token_facts(jwt.encode({"iss": ISSUER, "sub": "s", "exp": absurd}, "k" * 32, "HS256"))
        assert odd is not None and odd.expires is None


def test_a_refused_token_becomes_a_condition_naming_its_claims() -> None:
    token = jwt.encode(
        {"iss": ISSUER, "sub": "system:serviceaccount:a:b", "aud": ["api://x"], "exp": int(time.time())},
        "k" * 32,
        "HS256",
    )
    refused = FederatedSignInError(
        "Entra refused", code="700213", client_id="app-1", path=Path("/var/run/t"), facts=token_facts(token)
    )
    failure = translate(refused, "reading the ACS resource")
    assert failure.reason == Reason.OPERATOR_CREDENTIAL_REFUSED and failure.code == "AADSTS700213"
    assert "application app-1" in failure.message and "subject 'system:serviceaccount:a:b'" in failure.message
    assert "/var/run/t" in failure.message
    expired = FederatedSignInError("Entra refused", code="700024", client_id="app-1", path=Path("/t"), facts=None)
    assert translate(expired, "x").reason == Reason.OPERATOR_CREDENTIAL_EXPIRED


@pytest.mark.parametrize(
    ("extra", "federated"),
    [
        ({}, True),
        # DefaultAzureCredential's environment credential, when it applies, comes first...
        ({"AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": "t"}, False),
        ({"AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem", "AZURE_TENANT_ID": "t"}, False),
        # ...which it does not without the tenant in the environment (an empty secret counts as none here, where
        # azure-identity would take it and fail on it)
        ({"AZURE_CLIENT_SECRET": "s"}, True),
        ({"AZURE_CLIENT_SECRET": "", "AZURE_TENANT_ID": "t"}, True),
        ({"AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential"}, False),  # the user chose another
        ({"AZURE_TOKEN_CREDENTIALS": "WorkloadIdentityCredential"}, True),
        ({"AZURE_TOKEN_CREDENTIALS": "prod"}, True),
    ],
)
async def test_the_token_file_selects_workload_identity_unless_the_environment_has_a_secret(
    extra: dict[str, str], federated: bool
) -> None:
    settings = Settings(tenant_id="t", authority_host="https://login.example")
    environ = {"AZURE_FEDERATED_TOKEN_FILE": "/var/run/t", "AZURE_CLIENT_ID": "c", **extra}
    credential = operator_credential(settings, environ=environ)
    try:
        assert isinstance(credential, WorkloadIdentity) is federated
    finally:
        await credential.close()


def test_seeded_federated_credentials_are_the_tenants_from_the_start() -> None:
    seed = Seed.model_validate(
        {
            "operatorFederatedIdentityCredentials": [{"name": "operator", "issuer": ISSUER, "subject": SUBJECT}],
            "applications": [
                {
                    "name": "mailer",
                    "federatedIdentityCredentials": [{"name": "ci-runner", "issuer": ISSUER, "subject": "x"}],
                }
            ],
        }
    )
    cloud = Cloud.from_seed(seed, NOW)
    operator = cloud.app_by_app_id(cloud.operator_app_id)
    assert operator is not None
    assert [(f.issuer, f.subject, f.audiences) for f in operator.federated] == [
        (ISSUER, SUBJECT, ("api://AzureADTokenExchange",))
    ]
    mailer = next(a for a in cloud.applications.values() if a.display_name == "mailer")
    assert [f.name for f in mailer.federated] == ["ci-runner"]


def test_a_seeded_federated_credential_graph_would_refuse_stops_the_sandbox() -> None:
    seed = Seed.model_validate(
        {
            "operatorFederatedIdentityCredentials": [
                {"name": "operator", "issuer": "http://plain.example", "subject": "s"}
            ]
        }
    )
    with pytest.raises(ValueError, match="an https URL"):
        Cloud.from_seed(seed, NOW)


async def test_a_token_file_without_a_client_id_is_a_condition_not_a_crash() -> None:
    settings = Settings(tenant_id="t", authority_host="https://login.example")
    credential = operator_credential(settings, environ={"AZURE_FEDERATED_TOKEN_FILE": "/var/run/t"})
    with pytest.raises(FederatedSignInError) as caught:
        await credential.get_token("https://management.azure.com/.default")
    failure = translate(caught.value, "reading the ACS resource")
    assert failure.reason == Reason.OPERATOR_CREDENTIAL_REFUSED
    assert "AZURE_CLIENT_ID is not" in failure.message and "azure.workload.identity/client-id" in failure.message


def test_a_sign_in_failure_handled_earlier_is_not_taken_for_the_cause_of_a_later_error() -> None:
    stale = FederatedSignInError("Entra refused", code="700213", client_id="a", path=Path("/t"), facts=None)

    def later() -> None:
        try:
            raise stale
        except FederatedSignInError:
            raise ValueError("unrelated")  # noqa: B904 - the point: an error raised while handling another

    with pytest.raises(ValueError) as caught:
        later()
    assert caught.value.__context__ is stale
    assert translate(caught.value, "x").reason == Reason.AZURE_ERROR
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = stale
    assert translate(wrapped, "x").code == "AADSTS700213", "an explicit cause is followed"


@pytest.mark.parametrize("content", [None, "", "  \n", b"\xff\xfe not text"])
async def test_an_absent_or_empty_token_file_is_named_with_what_mounts_it(
    tmp_path: Path, content: str | bytes | None
) -> None:
    path = tmp_path / "azure-identity-token"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    credential = WorkloadIdentity("t", "c", path, authority="https://login.example")
    try:
        with pytest.raises(FederatedSignInError) as caught:
            await credential.get_token("https://management.azure.com/.default")
    finally:
        await credential.close()
    message = translate(caught.value, "x").message
    assert str(path) in message and 'azure.workload.identity/use: "true"' in message
    expected: dict[str | bytes | None, str] = {
        None: "could not be read (FileNotFoundError)",
        b"\xff\xfe not text": "(UnicodeDecodeError)",
    }
    assert expected.get(content, "is empty") in message


@pytest.mark.parametrize(("status", "refused"), [(401, True), (400, True), (429, False), (503, False)])
def test_only_entras_refusal_of_the_token_is_taken_for_one(status: int, refused: bool) -> None:
    credential = WorkloadIdentity("t", "c", Path("/t"), authority="https://login.example")
    answer = ClientAuthenticationError(message="Microsoft Entra ID error '(x) AADSTS700213: No matching ...'")
    answer.status_code = status
    assert (credential._refused(answer) is not None) is refused
