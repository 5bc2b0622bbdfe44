"""The operator's own identity and network failing: each becomes a reason a platform engineer can act on."""

from __future__ import annotations

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from acs_smtp_operator.azure.errors import translate
from acs_smtp_operator.model import Reason

TRACE = "Trace ID: 0f8fad5b-d9cb-469f-a165-70867728950e Correlation ID: 7c9e6679-7425-40de-944b-e07fc1f90ae7"


def _entra(code: str, text: str) -> ClientAuthenticationError:
    """What azure-identity's async ClientSecretCredential raises for the token endpoint's refusal."""
    return ClientAuthenticationError(
        message=f"Microsoft Entra ID error '(invalid_client) AADSTS{code}: {text} {TRACE}'"
    )


@pytest.mark.parametrize(
    ("exc", "reason", "needle"),
    [
        (
            _entra("7000222", "The provided client secret keys for app 'x' are expired."),
            Reason.OPERATOR_CREDENTIAL_EXPIRED,
            "AZURE_CLIENT_SECRET",
        ),
        (_entra("7000215", "Invalid client secret provided."), Reason.OPERATOR_CREDENTIAL_REFUSED, "not valid"),
        (
            _entra("7000229", "The client application x is missing service principal in the tenant y."),
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            "az ad sp create",
        ),
        (
            _entra("70021", "No matching federated identity record found."),
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            "federated",
        ),
        (
            ClientAuthenticationError(
                message="DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
                "Attempted credentials:\n\tEnvironmentCredential: Cannot connect to host login.example:443"
            ),
            Reason.ENDPOINT_UNREACHABLE,
            "token endpoint could not be reached",
        ),
        (
            ClientAuthenticationError(
                message="DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
                "\tEnvironmentCredential: EnvironmentCredential authentication unavailable. Environment variables "
                "are not fully configured.\n\tManagedIdentityCredential: ManagedIdentityCredential authentication "
                "unavailable, the request to the IMDS endpoint timed out."
            ),
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            "no usable credential",
        ),
        (
            ClientAuthenticationError(
                message="DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
                "\tWorkloadIdentityCredential: [Errno 2] No such file or directory: '/var/run/secrets/token'"
            ),
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            "AZURE_FEDERATED_TOKEN_FILE",
        ),
        (FileNotFoundError(2, "No such file or directory"), Reason.OPERATOR_CREDENTIAL_REFUSED, "ACSSMTP_CA_BUNDLE"),
        (
            ServiceRequestError("Cannot connect to host management.azure.com:443"),
            Reason.ENDPOINT_UNREACHABLE,
            "reached",
        ),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]"), Reason.ENDPOINT_UNREACHABLE, "reached"),
        (ConnectionResetError("reset by peer"), Reason.ENDPOINT_UNREACHABLE, "reached"),
    ],
    ids=[
        "expired secret",
        "wrong secret",
        "no service principal",
        "federated token refused",
        "DefaultAzureCredential, network",
        "DefaultAzureCredential, nothing configured",
        "workload identity's token file missing",
        "the CA bundle missing",
        "ARM unreachable",
        "Graph TLS failure",
        "connection reset",
    ],
)
def test_the_operators_own_failures_get_an_actionable_reason(exc: BaseException, reason: Reason, needle: str) -> None:
    failure = translate(exc, "reading application x")
    assert failure.reason == reason and needle in failure.message
    assert failure.message.startswith("reading application x: ")
    assert "Trace ID" not in failure.message, "only the code travels, not the SDK's whole text"


def test_azures_message_reaches_status_as_one_bounded_printable_line() -> None:
    """A message echoing a tenant's input (escape sequences, line breaks) or of any length is cut and flattened."""
    from azure.core.exceptions import HttpResponseError, ODataV4Format

    from acs_smtp_operator.azure.errors import DETAIL_LIMIT

    exc = HttpResponseError(message="refused")
    exc.status_code = 400
    exc.error = ODataV4Format({"code": "BadRequest", "message": "bad name \x1b[31mred\r\nforged line " + "x" * 5000})
    failure = translate(exc, "writing the role")
    assert failure.reason is Reason.AZURE_ERROR and failure.code == "BadRequest"
    assert "\x1b" not in failure.message and "\n" not in failure.message and "\r" not in failure.message
    assert "bad name  [31mred  forged line" in failure.message
    assert len(failure.message) <= len("writing the role: BadRequest: ") + DETAIL_LIMIT
    assert failure.message.endswith("…")
