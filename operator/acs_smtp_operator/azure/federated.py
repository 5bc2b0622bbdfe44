"""The operator's workload identity: a projected service account token, exchanged at Entra for every new token.

`DefaultAzureCredential` would do the same exchange, but keeps the file's content for 10 minutes and reports
a refusal only as text. Here the file is read afresh for every exchange (a token the kubelet re-wrote is used
at once, never an expired copy), and a refusal carries the token's own issuer, subject, audience and expiry,
so the condition can say which federated credential would match. The token itself never leaves this module.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientAssertionCredential

__all__ = ["AADSTS", "FederatedSignInError", "NoClientId", "TokenFacts", "WorkloadIdentity", "token_facts"]

AADSTS = re.compile(r"AADSTS(\d+)")  # an Entra error code in azure-identity's text: the only part that travels


@dataclass(frozen=True, kw_only=True)
class TokenFacts:
    """What a federated credential is matched on, read from the token without verifying it (no secret)."""

    issuer: str
    subject: str
    audience: str
    expires: datetime | None

    def describe(self) -> str:
        expiry = f"{self.expires:%Y-%m-%dT%H:%M:%SZ}" if self.expires else "no expiry"
        return f"issuer '{self.issuer}', subject '{self.subject}', audience '{self.audience}', expires {expiry}"


def _text(value: Any, limit: int = 300) -> str:
    """A claim as printable text of bounded length (a token is anyone's input)."""
    shown = ",".join(map(str, value)) if isinstance(value, list) else str(value if value is not None else "")
    shown = "".join(c if c.isprintable() else "?" for c in shown)
    return shown if len(shown) <= limit else shown[:limit] + "…"


def token_facts(token: str) -> TokenFacts | None:
    """The claims a federated credential is matched on; None when `token` is no JWT."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    when: datetime | None = None
    expires = claims.get("exp")
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        try:
            number = float(expires)
            when = datetime.fromtimestamp(number, UTC) if math.isfinite(number) else None
        except (OverflowError, OSError, ValueError):
            when = None
    return TokenFacts(
        issuer=_text(claims.get("iss")),
        subject=_text(claims.get("sub")),
        audience=_text(claims.get("aud")),
        expires=when,
    )


class FederatedSignInError(ClientAuthenticationError):
    """No token for the workload identity: Entra refused the assertion (`code`, an AADSTS number), or there was
    none to send (the file unreadable or empty, no client id); `advice` then says what to change."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        client_id: str,
        path: Path,
        facts: TokenFacts | None,
        advice: str = "",
    ) -> None:
        super().__init__(message=message)
        self.code, self.client_id, self.path, self.facts, self.advice = code, client_id, path, facts, advice


_MOUNT_ADVICE = (
    "workload identity needs the projected service account token there (the webhook mounts it when the pod is "
    'labelled azure.workload.identity/use: "true" and its ServiceAccount has the '
    "azure.workload.identity/client-id annotation)"
)
# What the token sent in this task's exchange says: set when the file is read, in the task that exchanges it
# (ARM and Graph exchange concurrently, and the kubelet may re-write the file in between).
_SENT: ContextVar[TokenFacts | None] = ContextVar("acssmtp_federated_token_sent", default=None)


class WorkloadIdentity(ClientAssertionCredential):
    """Entra workload identity: AZURE_FEDERATED_TOKEN_FILE's token is the client assertion of AZURE_CLIENT_ID."""

    def __init__(self, tenant_id: str, client_id: str, token_file: Path, **kwargs: Any) -> None:
        self.token_file, self.client_id = token_file, client_id
        super().__init__(tenant_id, client_id, self._read, **kwargs)

    def _unusable(self, message: str) -> FederatedSignInError:
        return FederatedSignInError(
            message, code=None, client_id=self.client_id, path=self.token_file, facts=None, advice=_MOUNT_ADVICE
        )

    def _read(self) -> str:
        _SENT.set(None)
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise self._unusable(
                f"the workload identity token file {self.token_file} could not be read ({type(exc).__name__})"
            ) from None
        if not token:
            raise self._unusable(f"the workload identity token file {self.token_file} is empty")
        _SENT.set(token_facts(token))
        return token

    def _refused(self, exc: ClientAuthenticationError) -> FederatedSignInError | None:
        """Entra's refusal with the token's claims; None when it is none (no AADSTS code, no answer, a 429 or a
        5xx: the error's own translation applies)."""
        found = AADSTS.search(str(exc.message or ""))
        status = getattr(exc, "status_code", None) or 0
        if found is None or status == 429 or status >= 500:  # Entra busy or failing: not a refusal of the token
            return None
        code = found.group(1)
        return FederatedSignInError(
            f"Entra refused the workload identity token from {self.token_file} (AADSTS{code})",
            code=code,
            client_id=self.client_id,
            path=self.token_file,
            facts=_SENT.get(),
        )

    @contextlib.contextmanager
    def _refusals(self) -> Iterator[None]:
        """Entra's refusal becomes a FederatedSignInError with the token's claims; any other error is left as is."""
        try:
            yield
        except FederatedSignInError:
            raise
        except ClientAuthenticationError as exc:
            refused = self._refused(exc)
            if refused is None:
                raise
            raise refused from None

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        with self._refusals():
            return await super().get_token(*scopes, **kwargs)

    async def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        with self._refusals():
            return await super().get_token_info(*scopes, options=options)


class NoClientId(AsyncTokenCredential):
    """AZURE_FEDERATED_TOKEN_FILE without AZURE_CLIENT_ID: every request says which annotation is missing
    (DefaultAzureCredential fails each request with a ValueError's text about a client id, naming no fix)."""

    def __init__(self, token_file: Path) -> None:
        self.token_file = token_file

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise FederatedSignInError(
            f"AZURE_FEDERATED_TOKEN_FILE ({self.token_file}) is set, but AZURE_CLIENT_ID is not",
            code=None,
            client_id="",
            path=self.token_file,
            facts=None,
            advice="annotate the operator's ServiceAccount with azure.workload.identity/client-id (the chart's "
            "azure.identity.clientId), so that the webhook injects AZURE_CLIENT_ID",
        )

    async def close(self) -> None:
        pass

    async def __aexit__(self, *args: object) -> None:
        pass
