"""The adapters' error vocabulary: every Azure failure becomes an `AzureFailure` with a reason a user can act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from acs_smtp_operator.model import Reason

__all__ = ["AzureFailure", "translate"]

_POLICY_CODES = {
    "CredentialInvalidLifetimeAsPerAppPolicy",
    "CredentialTypeNotAllowedAsPerAppPolicy",
    "TooManyAppPasswords",
}


class AzureFailure(Exception):
    """A failed Azure call: `transient` ones are retried after `retry_after` seconds (or a backoff)."""

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason, self.message, self.status, self.code = reason, message, status, code
        self.transient, self.retry_after = transient, retry_after


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


def translate(exc: BaseException, what: str, not_found: Reason = Reason.AZURE_ERROR) -> AzureFailure:
    """An SDK exception as an `AzureFailure`; `what` names the call for the message."""
    if isinstance(exc, AzureFailure):
        return exc
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return AzureFailure(
            Reason.AZURE_UNAVAILABLE, f"{what}: Azure could not be reached ({type(exc).__name__})", transient=True
        )
    status: int | None
    code: str | None
    headers: Mapping[str, Any] | None
    if isinstance(exc, ODataError):
        status, headers = exc.response_status_code, exc.response_headers
        code = exc.error.code if exc.error else None
        detail = (exc.error.message if exc.error else None) or str(exc)
    elif isinstance(exc, HttpResponseError):
        status = exc.status_code
        headers = getattr(exc.response, "headers", None)
        code = exc.error.code if exc.error else None
        detail = (exc.error.message if exc.error else None) or exc.reason or str(exc)
    else:
        return AzureFailure(Reason.AZURE_ERROR, f"{what}: {type(exc).__name__}", transient=True)
    text = f"{what}: {code or status}: {detail}"
    if status == 429:
        return AzureFailure(
            Reason.THROTTLED, text, status=status, code=code, transient=True, retry_after=_retry_after(headers)
        )
    if status is not None and status >= 500:
        return AzureFailure(
            Reason.AZURE_UNAVAILABLE, text, status=status, code=code, transient=True, retry_after=_retry_after(headers)
        )
    if status == 403:
        return AzureFailure(Reason.FORBIDDEN, text, status=status, code=code, transient=True)
    if status == 404:
        return AzureFailure(not_found, text, status=status, code=code, transient=True)
    if code in _POLICY_CODES:
        return AzureFailure(Reason.POLICY_REFUSED, text, status=status, code=code)
    return AzureFailure(Reason.AZURE_ERROR, text, status=status, code=code, transient=status in (408, 409))
