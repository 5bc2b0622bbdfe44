"""Every Azure failure becomes a `Failure`: a reason a user can act on, and when to try again.

That includes the failures of the operator's own identity (its credential refused or expired at the token
endpoint, or no token at all) and of the network (a refused connection, a reset, a TLS failure), which the
SDKs raise as other exception types than the services' own error answers.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Mapping
from typing import Any

import httpx
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from kiota_abstractions.api_error import APIError

# Exported by no public module of theirs; raised by the Graph client's middleware and its Azure auth provider.
from kiota_authentication_azure._exceptions import KiotaAuthenticationError
from kiota_http._exceptions import KiotaHTTPXError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from acs_smtp_operator.azure.advice import GRAPH_DENIED, arm_denied_advice, denied_by_graph, owner_advice
from acs_smtp_operator.azure.federated import AADSTS, FederatedSignInError
from acs_smtp_operator.azure.signin_advice import ERROR_PAGE, FEDERATED, SIGN_IN
from acs_smtp_operator.azure.whoami import Caller
from acs_smtp_operator.failure import After, Backoff, Failure, Retry
from acs_smtp_operator.model import Reason

__all__ = [
    "AADSTS",
    "AZURE_ERRORS",
    "GRAPH_DENIED",
    "arm_denied_advice",
    "denied_by_graph",
    "owner_advice",
    "translate",
]

# No answer came back: the connection failed, was reset or timed out, the name did not resolve, TLS failed.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    ServiceRequestError,
    ServiceResponseError,
    httpx.TransportError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    ssl.SSLError,
)
# A file the operator reads could not be (the CA bundle; workload identity's token file arrives wrapped in
# DefaultAzureCredential's ClientAuthenticationError, and is told by its text).
_LOCAL_FILE: tuple[type[BaseException], ...] = (FileNotFoundError, PermissionError, IsADirectoryError)
# What a call through azure-mgmt-*, azure-identity or msgraph-sdk can raise when Azure, the network or the
# operator's own identity fails (a programming error is none of these and still surfaces as one).
AZURE_ERRORS: tuple[type[BaseException], ...] = (
    AzureError,
    APIError,
    KiotaHTTPXError,
    KiotaAuthenticationError,
    httpx.HTTPError,
    *_UNREACHABLE,
    *_LOCAL_FILE,
)

_POLICY_CODES = {
    "CredentialInvalidLifetimeAsPerAppPolicy",
    "CredentialTypeNotAllowedAsPerAppPolicy",
    "TooManyAppPasswords",
}


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value if isinstance(value, str) else next(iter(value)))
            except (TypeError, ValueError, StopIteration):
                return None
    return None


def _later(headers: Mapping[str, Any] | None) -> Retry:
    seconds = _retry_after(headers)
    return After(seconds) if seconds else Backoff()


# DefaultAzureCredential reports why each credential failed as text only (no exception chain): these are the
# transport's words for "no answer came back".
_NETWORK_TEXT = re.compile(
    r"cannot connect|connection (?:refused|reset|aborted|closed)|timed out|timeout|ssl|certificate verify"
    r"|name or service not known|name resolution|server disconnected|network is unreachable",
    re.IGNORECASE,
)


_MISSING_FILE = re.compile(r"No such file or directory|FileNotFoundError", re.IGNORECASE)


def _chain(exc: BaseException, handling: bool = True) -> list[BaseException]:
    """The exception and its causes; with `handling=False` only those it was explicitly raised from, not what it
    merely happened while handling (a stale sign-in failure in an unrelated error's context is not its cause)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or (current.__context__ if handling else None)
    return seen


def _network(exc: BaseException) -> bool:
    """A failure to reach the endpoint at all: no HTTP answer came back.

    In DefaultAzureCredential's text each credential it tried has a line; those merely "unavailable" (not
    configured here, such as managed identity off Azure, whose probe may time out) say nothing of the network.
    """
    if any(isinstance(e, _UNREACHABLE) for e in _chain(exc)):
        return True
    lines = str(getattr(exc, "message", None) or exc).splitlines()
    return any(_NETWORK_TEXT.search(line) for line in lines if "unavailable" not in line.lower())


def _federated(exc: FederatedSignInError, what: str) -> Failure:
    """The operator's workload identity got no token: what Entra said, the token's own claims, what to change."""
    if exc.code is None:
        return Failure(Reason.OPERATOR_CREDENTIAL_REFUSED, f"{what}: {exc.message}: {exc.advice}")
    advice = FEDERATED.get(exc.code, ERROR_PAGE + exc.code)
    token = f"; the token in {exc.path} has {exc.facts.describe()}" if exc.facts else ""
    return Failure(
        Reason.OPERATOR_CREDENTIAL_EXPIRED if exc.code == "700024" else Reason.OPERATOR_CREDENTIAL_REFUSED,
        f"{what}: Entra refused the operator's workload identity (AADSTS{exc.code}): "
        f"{advice.format(app=exc.client_id)}{token}",
        code=f"AADSTS{exc.code}",
    )


def _sign_in(exc: ClientAuthenticationError, what: str) -> Failure:
    """The operator's own identity got no token. Only the AADSTS code travels: never the SDK's whole text."""
    found = AADSTS.search(str(exc.message or exc))
    code = found.group(1) if found else None
    if code == "7000222":
        return Failure(
            Reason.OPERATOR_CREDENTIAL_EXPIRED,
            f"{what}: the operator's own Azure identity could not sign in (AADSTS7000222): {SIGN_IN[code]}",
            code=f"AADSTS{code}",
        )
    if code is not None:
        # A federated code here: DefaultAzureCredential's own workload identity (AZURE_TOKEN_CREDENTIALS chose it).
        advice = SIGN_IN.get(code) or FEDERATED.get(code, ERROR_PAGE + code).format(app="AZURE_CLIENT_ID")
        return Failure(
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            f"{what}: Entra refused the operator's own Azure identity (AADSTS{code}): {advice}",
            code=f"AADSTS{code}",
        )
    if _MISSING_FILE.search(str(exc.message or exc)) or any(isinstance(e, _LOCAL_FILE) for e in _chain(exc)):
        return Failure(
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            f"{what}: the operator's identity could not read its token file: check AZURE_FEDERATED_TOKEN_FILE "
            "(the projected service account token workload identity mounts)",
        )
    if _network(exc):
        return Failure(
            Reason.ENDPOINT_UNREACHABLE,
            f"{what}: the Entra token endpoint could not be reached for the operator's identity "
            f"({type(_root(exc)).__name__}); check the network path and AZURE_AUTHORITY_HOST",
        )
    return Failure(
        Reason.OPERATOR_CREDENTIAL_REFUSED,
        f"{what}: the operator's own Azure identity has no usable credential ({type(exc).__name__}); "
        "configure AZURE_CLIENT_ID/AZURE_TENANT_ID with a secret, workload identity or a managed identity",
    )


DETAIL_LIMIT = 500  # characters of Azure's own message that reach a status condition, an Event or a log line


def _shown(detail: str) -> str:
    """Azure's message as one printable line of bounded length: it reaches status and Events, and may echo what a
    tenant wrote (a resource id, a name) or be long enough to crowd out what the condition must say."""
    flat = "".join(c if c.isprintable() else " " for c in detail)
    return flat if len(flat) <= DETAIL_LIMIT else flat[: DETAIL_LIMIT - 1] + "…"


# Graph's answer to a write (or, with `Application.ReadWrite.OwnedBy` only, a read) of an application the caller
# may not touch: with the documented least privilege, one the operator's identity does not own.
def _then(text: str, advice: str) -> str:
    """Azure's words, then ours: a sentence of its own after a full stop."""
    return f"{text} {advice[:1].upper()}{advice[1:]}" if text.endswith(".") else f"{text}; {advice}"


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def translate(
    exc: BaseException,
    what: str,
    not_found: Reason = Reason.AZURE_ERROR,
    application: str | None = None,
    caller: Caller | None = None,
) -> Failure:
    """An SDK exception as a `Failure`; `what` names the call for the message. `application`: the Entra
    application a Graph call concerns, and `caller` the operator's identity, for Graph's refusal (`owner_advice`)."""
    if isinstance(exc, Failure):
        return exc
    federated = next((e for e in _chain(exc, handling=False) if isinstance(e, FederatedSignInError)), None)
    if federated is not None:
        return _federated(federated, what)
    if isinstance(exc, ClientAuthenticationError) and (exc.response is None or AADSTS.search(str(exc.message))):
        return _sign_in(exc, what)  # raised by azure-identity: no token, so no request to the service
    if isinstance(exc, _LOCAL_FILE):
        return Failure(
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            f"{what}: a file the operator needs could not be read ({type(exc).__name__}); check ACSSMTP_CA_BUNDLE "
            "and, with workload identity, AZURE_FEDERATED_TOKEN_FILE",
        )
    if isinstance(exc, _UNREACHABLE):
        return Failure(
            Reason.ENDPOINT_UNREACHABLE,
            f"{what}: the endpoint could not be reached ({type(_root(exc)).__name__}); check the network path "
            "from the operator to Azure",
        )
    status: int | None
    code: str | None
    headers: Mapping[str, Any] | None
    if isinstance(exc, ODataError):
        status, headers = exc.response_status_code, exc.response_headers
        code = exc.error.code if exc.error else None
        detail = (exc.error.message if exc.error else None) or "no detail"
    elif isinstance(exc, HttpResponseError):
        status = exc.status_code
        headers = getattr(exc.response, "headers", None)
        code = exc.error.code if exc.error else None
        detail = (exc.error.message if exc.error else None) or exc.reason or "no detail"
    elif isinstance(exc, APIError):
        status, headers, code, detail = exc.response_status_code, exc.response_headers, None, "no detail"
    else:
        return Failure(Reason.AZURE_ERROR, f"{what}: {type(exc).__name__}")
    text = f"{what}: {code or status}: {_shown(detail)}"
    if status == 429:
        return Failure(Reason.THROTTLED, text, status=status, code=code, retry=_later(headers))
    if status is not None and status >= 500:
        return Failure(Reason.AZURE_UNAVAILABLE, text, status=status, code=code, retry=_later(headers))
    if status == 401:
        return Failure(
            Reason.OPERATOR_CREDENTIAL_REFUSED,
            f"{text} (the service refused the operator's token: check the operator identity's tenant and cloud)",
            status=status,
            code=code,
        )
    if status == 403:
        reason = Reason.FORBIDDEN
        arm = arm_denied_advice(detail) if code == "AuthorizationFailed" else None
        if code == GRAPH_DENIED and application:
            text = _then(text, owner_advice(application, caller))
        elif arm is not None:
            text = _then(text, arm)
        else:
            text += " (grant the operator's identity what docs/install.md lists)"
    elif status == 404:
        reason = not_found
    elif code in _POLICY_CODES:
        reason = Reason.POLICY_REFUSED
    else:
        reason = Reason.AZURE_ERROR
    return Failure(reason, text, status=status, code=code)
