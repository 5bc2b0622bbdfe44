"""Workload identity's pure parts: the sandbox's judgement of an assertion's claims, and the operator's reading
of its own token and of Entra's refusal."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from acs_smtp_operator.azure.clients import operator_credential
from acs_smtp_operator.azure.errors import translate
from acs_smtp_operator.azure.federated import FederatedSignInError, WorkloadIdentity, token_facts
from acs_smtp_operator.model import Reason
from acs_smtp_operator.sandbox.azure.federation import judge_claims
from acs_smtp_operator.sandbox.azure.state import FederatedCredential
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
        ({"exp": None}, "700024"),
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
    refusal = judge_claims(claims(exp=int(NOW.timestamp()) - 1, nbf=None), [FIC], NOW)
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


def test_a_refused_token_becomes_a_condition_naming_its_claims_and_never_the_token() -> None:
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
    assert "/var/run/t" in failure.message and token not in failure.message
    expired = FederatedSignInError("Entra refused", code="700024", client_id="app-1", path=Path("/t"), facts=None)
    assert translate(expired, "x").reason == Reason.OPERATOR_CREDENTIAL_EXPIRED
    unread = FederatedSignInError("the file could not be read", code=None, client_id="a", path=Path("/t"), facts=None)
    assert "azure.workload.identity/use" in translate(unread, "x").message


@pytest.mark.parametrize(
    ("extra", "federated"),
    [
        ({}, True),
        ({"AZURE_CLIENT_SECRET": "s"}, False),  # DefaultAzureCredential tries the environment's secret first
        ({"AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"}, False),
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
