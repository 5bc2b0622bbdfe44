"""One failure type for the whole pass: a reason a user can act on, a message, and when to try again.

Azure and Kubernetes errors are both translated into it by their adapters; the handlers map its retry
rule onto kopf once (`handlers.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from acs_smtp_operator.model import Reason

__all__ = ["After", "Backoff", "Failure", "Retry", "UntilSpecChanges"]


@dataclass(frozen=True)
class Backoff:
    """Try again after the operator's own backoff (5 s doubling to 10 min)."""


@dataclass(frozen=True)
class After:
    """Try again after this many seconds (Azure's Retry-After, or a short pause after a write conflict)."""

    seconds: float


@dataclass(frozen=True)
class UntilSpecChanges:
    """Retrying cannot help: nothing happens until the credential's spec changes."""


Retry = Backoff | After | UntilSpecChanges


class Failure(Exception):
    """A failed step. `status` and `code` are the service's own answer, when there was one."""

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        retry: Retry = Backoff(),
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason, self.message, self.retry, self.status, self.code = reason, message, retry, status, code

    def __repr__(self) -> str:
        return f"Failure({self.reason.value!r}, {self.message!r}, retry={self.retry!r})"
