"""The operator's workload identity: a projected service account token, exchanged at Entra for every new token.

`DefaultAzureCredential` would do the same exchange, but keeps the file's content for 10 minutes and reports
a refusal only as text. Here the file is read afresh for every exchange (a token the kubelet re-wrote is used
at once, never an expired copy), and a refusal carries the token's own issuer, subject, audience and expiry,
so the condition can say which federated credential would match. The token itself never leaves this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientAssertionCredential

__all__ = ["AADSTS", "FederatedSignInError", "TokenFacts", "WorkloadIdentity", "token_facts"]

AADSTS = re.compile(r"AADSTS(\d+)")  # an Entra error code in azure-identity's text: the only part that travels


@dataclass(frozen=True)
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
    expires = claims.get("exp")
    when = datetime.fromtimestamp(expires, UTC) if isinstance(expires, int | float) else None
    return TokenFacts(_text(claims.get("iss")), _text(claims.get("sub")), _text(claims.get("aud")), when)


class FederatedSignInError(ClientAuthenticationError):
    """The exchange failed: Entra refused the token (`code`, an AADSTS number) or the file could not be read."""

    def __init__(self, message: str, *, code: str | None, client_id: str, path: Path, facts: TokenFacts | None) -> None:
        super().__init__(message=message)
        self.code, self.client_id, self.path, self.facts = code, client_id, path, facts


class WorkloadIdentity(ClientAssertionCredential):
    """Entra workload identity: AZURE_FEDERATED_TOKEN_FILE's token is the client assertion of AZURE_CLIENT_ID."""

    def __init__(self, tenant_id: str, client_id: str, token_file: Path, **kwargs: Any) -> None:
        self.token_file, self.client_id = token_file, client_id
        self._last: str | None = None
        super().__init__(tenant_id, client_id, self._read, **kwargs)

    def _read(self) -> str:
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FederatedSignInError(
                f"the workload identity token file {self.token_file} could not be read ({type(exc).__name__})",
                code=None,
                client_id=self.client_id,
                path=self.token_file,
                facts=None,
            ) from None
        if not token:
            raise FederatedSignInError(
                f"the workload identity token file {self.token_file} is empty",
                code=None,
                client_id=self.client_id,
                path=self.token_file,
                facts=None,
            )
        self._last = token
        return token

    def _refused(self, exc: ClientAuthenticationError) -> FederatedSignInError:
        found = AADSTS.search(str(exc.message or ""))
        code = found.group(1) if found else None
        facts = token_facts(self._last) if self._last else None
        return FederatedSignInError(
            f"Entra refused the workload identity token from {self.token_file}" + (f" (AADSTS{code})" if code else ""),
            code=code,
            client_id=self.client_id,
            path=self.token_file,
            facts=facts,
        )

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        try:
            return await super().get_token(*scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs)
        except FederatedSignInError:
            raise
        except ClientAuthenticationError as exc:
            raise self._refused(exc) from None

    async def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        try:
            return await super().get_token_info(*scopes, options=options)
        except FederatedSignInError:
            raise
        except ClientAuthenticationError as exc:
            raise self._refused(exc) from None
