"""Every Azure failure becomes a `Failure`: a reason a user can act on, and when to try again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from acs_smtp_operator.failure import After, Backoff, Failure, Retry
from acs_smtp_operator.model import Reason

__all__ = ["translate"]

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


def translate(exc: BaseException, what: str, not_found: Reason = Reason.AZURE_ERROR) -> Failure:
    """An SDK exception as a `Failure`; `what` names the call for the message."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return Failure(Reason.AZURE_UNAVAILABLE, f"{what}: Azure could not be reached ({type(exc).__name__})")
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
        return Failure(Reason.AZURE_ERROR, f"{what}: {type(exc).__name__}")
    text = f"{what}: {code or status}: {detail}"
    if status == 429:
        return Failure(Reason.THROTTLED, text, status=status, code=code, retry=_later(headers))
    if status is not None and status >= 500:
        return Failure(Reason.AZURE_UNAVAILABLE, text, status=status, code=code, retry=_later(headers))
    if status == 403:
        reason = Reason.FORBIDDEN
    elif status == 404:
        reason = not_found
    elif code in _POLICY_CODES:
        reason = Reason.POLICY_REFUSED
    else:
        reason = Reason.AZURE_ERROR
    return Failure(reason, text, status=status, code=code)
