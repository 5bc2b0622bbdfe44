"""The sandbox's Entra judges federated client assertions as Entra does, through azure-identity's real client.

The issuer is a local OIDC issuer (tests/oidc.py) whose discovery document and JWKS the sandbox fetches over
https; the real control plane's own issuer is exercised in test_workload_identity.py.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tests.conftest import Cloud
from tests.oidc import TOKEN_EXCHANGE, Issuer

ARM = "https://management.azure.com/.default"
SUBJECT = "system:serviceaccount:mail:sender"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    found = Issuer()
    yield found
    found.close()


@pytest.fixture
def federated(cloud: Cloud, issuer: Issuer) -> Iterator[Callable[..., dict[str, Any]]]:
    """Add federated credentials to sandbox applications; they are removed again afterwards."""
    added: list[tuple[str, str]] = []

    def add(application: str = "probe-mailer", **spec: Any) -> dict[str, Any]:
        body = {"name": f"fic-{uuid.uuid4().hex[:8]}", "issuer": issuer.url, "subject": SUBJECT, **spec}
        response = cloud.control.post(
            "/federated-credentials", json={"application": application, "issuerCa": issuer.ca_pem, **body}
        )
        assert response.status_code == 201, response.text
        created = dict(response.json())
        added.append((created["application"], created["name"]))
        return created

    yield add
    for application, name in added:
        cloud.control.delete(f"/federated-credentials/{application}/{name}")


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def trust(cloud: Cloud) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cloud.manifest["caBundle"])


def sign_in(cloud: Cloud, client_id: str, assertion: str, scope: str = ARM) -> str:
    """The access token azure-identity's ClientAssertionCredential gets for `assertion`."""
    credential = ClientAssertionCredential(
        cloud.manifest["tenantId"],
        client_id,
        lambda: assertion,
        authority=cloud.env["AZURE_AUTHORITY_HOST"],
        connection_verify=cloud.manifest["caBundle"],
    )
    try:
        return credential.get_token(scope).token
    finally:
        credential.close()


def refusal(cloud: Cloud, client_id: str, assertion: str) -> str:
    with pytest.raises(ClientAuthenticationError) as caught:
        sign_in(cloud, client_id, assertion)
    text = str(caught.value)
    assert "AADSTS" in text, text
    return text.split("AADSTS", 1)[1].split(":", 1)[0]


def test_a_matching_assertion_signs_the_application_in_and_arm_accepts_its_token(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]]
) -> None:
    federated()
    token = sign_in(cloud, cloud.app("probe-mailer")["clientId"], issuer.mint(SUBJECT))
    acs = cloud.acs["resourceId"]
    arm = cloud.env["ACSSMTP_ARM_ENDPOINT"].rstrip("/")
    # The application is no operator: ARM knows its token (403 for want of a role), not 401 for a foreign one.
    # (Listing role assignments: no test ever grants an SMTP application that; it may hold the SMTP role.)
    answer = httpx.get(
        f"{arm}{acs}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
        headers={"Authorization": f"Bearer {token}"},
        verify=trust(cloud),
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "AuthorizationFailed"
    refused = httpx.get(answer.request.url, headers={"Authorization": "Bearer not-a-token"}, verify=trust(cloud))
    assert refused.status_code == 401


def test_the_issuers_keys_are_fetched_through_its_discovery_document(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]]
) -> None:
    federated()
    before = issuer.fetches
    sign_in(cloud, cloud.app("probe-mailer")["clientId"], issuer.mint(SUBJECT))
    assert issuer.fetches - before == 2  # discovery, then the jwks_uri it names


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("issuer", "700211"),
        ("subject", "700213"),
        ("subject-case", "700213"),
        ("audience", "700212"),
        ("expired", "700024"),
        ("not-yet-valid", "700024"),
        ("unknown-key", "7000272"),
        ("forged", "700027"),
        ("malformed", "50027"),
        ("entra-issued", "700222"),
        ("no-key-id", "7000272"),
        ("symmetric", "700027"),
        ("endless", "50027"),
    ],
)
def test_an_assertion_that_fits_no_federated_credential_is_refused_with_entras_code(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]], case: str, code: str
) -> None:
    federated()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    assertion = {
        "issuer": issuer.mint(SUBJECT, iss=issuer.url.rstrip("/")),  # AKS's issuer ends in '/': so must the token's
        "subject": issuer.mint("system:serviceaccount:mail:other"),
        "subject-case": issuer.mint(SUBJECT.upper()),
        "audience": issuer.mint(SUBJECT, audience="api://AzureADTokenExchange/"),
        "expired": issuer.mint(SUBJECT, exp=now - 60, iat=now - 3660, nbf=now - 3660),
        "not-yet-valid": issuer.mint(SUBJECT, nbf=now + 600),
        "unknown-key": issuer.mint(SUBJECT, key=other, kid="rotated-away"),
        "forged": issuer.mint(SUBJECT, key=other),  # the published key's id, another key's signature
        "malformed": "not.a.jwt",
        "entra-issued": issuer.mint(
            SUBJECT, iss=f"https://login.microsoftonline.com/{cloud.manifest['tenantId']}/v2.0"
        ),
        "no-key-id": issuer.mint(SUBJECT, kid=""),
        "symmetric": issuer.mint(SUBJECT, algorithm="HS256"),  # the published key's id, a shared secret
        "endless": issuer.mint(SUBJECT, exp=float("inf")),
    }[case]
    assert refusal(cloud, cloud.app("probe-mailer")["clientId"], assertion) == code


def test_an_application_without_federated_credentials_is_refused(cloud: Cloud, issuer: Issuer) -> None:
    assert refusal(cloud, cloud.app("billing-mailer")["clientId"], issuer.mint(SUBJECT)) == "70025"


def test_an_issuer_entra_cannot_reach_is_refused(cloud: Cloud, federated: Callable[..., dict[str, Any]]) -> None:
    gone = Issuer()
    gone.close()  # its port no longer answers
    federated(issuer=gone.url)
    assert refusal(cloud, cloud.app("probe-mailer")["clientId"], gone.mint(SUBJECT)) == "90061"


def test_the_refusal_is_entras_wire_shape(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]]
) -> None:
    federated()
    answer = httpx.post(
        f"{cloud.env['AZURE_AUTHORITY_HOST'].rstrip('/')}/{cloud.manifest['tenantId']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cloud.app("probe-mailer")["clientId"],
            "scope": ARM,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": issuer.mint("system:serviceaccount:mail:other"),
        },
        verify=trust(cloud),
    )
    assert answer.status_code == 401
    body = answer.json()
    assert body["error"] == "invalid_client" and body["error_codes"] == [700213]
    assert body["error_description"].startswith(
        "AADSTS700213: No matching federated identity record found for presented assertion subject "
        "'system:serviceaccount:mail:other'."
    )
    wrong_type = httpx.post(
        answer.request.url,
        data={
            "grant_type": "client_credentials",
            "client_id": cloud.app("probe-mailer")["clientId"],
            "scope": ARM,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            "client_assertion": issuer.mint(SUBJECT),
        },
        verify=trust(cloud),
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["error_codes"] == [90011]


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        ({"name": "x"}, "3 to 120 characters"),
        ({"name": "-leading"}, "starting alphanumeric"),
        ({"issuer": "http://insecure.example/"}, "https URL"),
        ({"audiences": [TOKEN_EXCHANGE, "api://second"]}, "exactly one value"),
        ({"subject": "s" * 601}, "1 to 600 characters"),
    ],
)
def test_federated_credentials_graph_would_refuse_are_refused(
    cloud: Cloud, issuer: Issuer, spec: dict[str, Any], refused: str
) -> None:
    body = {"application": "probe-mailer", "name": "valid-name", "issuer": issuer.url, "subject": SUBJECT, **spec}
    assert refused in answer_text(cloud, body)


def answer_text(cloud: Cloud, body: dict[str, Any]) -> str:
    """The control API's refusal of a federated credential (one accepted by mistake is removed again)."""
    answer = cloud.control.post("/federated-credentials", json=body)
    if answer.status_code == 201:
        created = answer.json()
        cloud.control.delete(f"/federated-credentials/{created['application']}/{created['name']}")
    assert answer.status_code == 400, answer.text
    return answer.text


def test_keys_the_issuer_lists_but_cannot_sign_with_are_passed_over(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]]
) -> None:
    federated()
    client = cloud.app("probe-mailer")["clientId"]
    ec = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key().public_key()))
    original = list(issuer.published)
    try:
        issuer.published[:0] = [
            {**ec, "kid": issuer.kid},  # another key type under the same id
            {**issuer.published[0], "use": "enc"},  # the right key, published for encryption
        ]
        sign_in(cloud, client, issuer.mint(SUBJECT))  # the RSA signing key after them still verifies
        issuer.published[:] = issuer.published[:2]
        assert refusal(cloud, client, issuer.mint(SUBJECT)) == "7000272"
        issuer.jwks = {"keys": 5}
        assert refusal(cloud, client, issuer.mint(SUBJECT)) == "7000272"
    finally:
        issuer.published[:] = original
        issuer.jwks = None


def test_an_issuer_ca_that_is_no_certificate_is_refused_and_breaks_no_other_issuer(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]]
) -> None:
    body = {"application": "probe-mailer", "name": "bad-ca", "issuer": "https://elsewhere.example/", "subject": "s"}
    assert "no PEM certificate" in answer_text(cloud, {**body, "issuerCa": "not a certificate"})
    federated()
    sign_in(cloud, cloud.app("probe-mailer")["clientId"], issuer.mint(SUBJECT))


def test_an_application_holds_at_most_twenty_distinct_federated_credentials(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]]
) -> None:
    first = federated()
    duplicate = {"application": "probe-mailer", "name": "again", "issuer": issuer.url, "subject": first["subject"]}
    assert "already has a federated credential with this issuer and subject" in answer_text(cloud, duplicate)
    for n in range(19):
        federated(subject=f"{SUBJECT}-{n}")
    extra = {**duplicate, "subject": "system:serviceaccount:mail:twenty-first"}
    assert "at most 20" in answer_text(cloud, extra)


def test_a_user_assigned_managed_identity_signs_in_through_its_federated_credential(
    cloud: Cloud, issuer: Issuer, federated: Callable[..., dict[str, Any]]
) -> None:
    identity = next(m for m in cloud.manifest["managedIdentities"] if m["name"] == "mailer-identity")
    assert refusal(cloud, identity["clientId"], issuer.mint(SUBJECT)) == "70025"
    federated(application="mailer-identity")
    token = sign_in(cloud, identity["clientId"], issuer.mint(SUBJECT))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["appid"], claims["oid"]) == (identity["clientId"], identity["principalId"])
    assert refusal(cloud, identity["clientId"], issuer.mint("system:serviceaccount:mail:other")) == "700213"
