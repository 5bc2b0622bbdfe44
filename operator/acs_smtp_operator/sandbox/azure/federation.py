"""Workload identity federation at the emulated token endpoint: judging a client assertion as Entra does.

An application (or managed identity) with federated identity credentials signs in with a JWT another issuer
signed (a Kubernetes service account token, say) instead of a secret. Entra reads the assertion's issuer,
subject and audience, finds the federated credential that names all three, checks the assertion's lifetime,
then fetches the issuer's OpenID discovery document and its JWKS and verifies the signature.

`judge_claims` is the pure part; `Federation.check` adds the two fetches. The AADSTS codes, and where they
are documented, are in docs/sandbox.md.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt

from acs_smtp_operator.sandbox.azure.state import FederatedCredential

__all__ = ["ASSERTION_TYPE", "Federation", "Refusal", "judge_claims"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Entra supports RS256 only for federated assertions ("other algorithms may work but haven't been tested").
_ALGORITHMS = ("RS256",)
# Entra's own issuers cannot be federated (AADSTS700222).
_ENTRA_HOSTS = ("login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net")
_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True)
class Refusal:
    """An AADSTS code and the fields its message names."""

    code: str
    fields: dict[str, str] = field(default_factory=dict)


def _when(seconds: Any) -> str:
    """As Entra writes the times in AADSTS700024 (seven fractional digits; no `nbf` reads as the epoch)."""
    try:
        moment = datetime.fromtimestamp(float(seconds or 0), UTC)
    except (TypeError, ValueError, OverflowError):
        moment = datetime.fromtimestamp(0, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def judge_claims(claims: dict[str, Any], federated: Sequence[FederatedCredential], now: datetime) -> Refusal | None:
    """Which federated credential the unverified claims fit, by issuer, subject and audience, then lifetime.

    None: one fits and the assertion is within its lifetime (its signature is still to be checked).
    """
    issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
    if urlsplit(issuer).hostname in _ENTRA_HOSTS:
        return Refusal("700222")
    if not federated:
        return Refusal("70025")
    raw = claims.get("aud", [])
    audiences = [raw] if isinstance(raw, str) else [str(a) for a in raw] if isinstance(raw, list) else []
    shown = {"issuer": issuer, "subject": subject, "audience": ",".join(audiences)}
    by_issuer = [f for f in federated if f.issuer == issuer]
    if not by_issuer:
        return Refusal("700211", shown)
    by_subject = [f for f in by_issuer if f.subject == subject]
    if not by_subject:
        return Refusal("700213", shown)
    if not any(a in f.audiences for f in by_subject for a in audiences):
        return Refusal("700212", shown)
    stamp = now.timestamp()
    expires, starts = claims.get("exp"), claims.get("nbf")
    if not isinstance(expires, int | float) or expires <= stamp or (isinstance(starts, int | float) and starts > stamp):
        return Refusal(
            "700024",
            {"current": _when(stamp), "start": _when(starts), "expiry": _when(expires)},
        )
    return None


class Federation:
    """Checks assertions; fetches each issuer's discovery document and keys over https, trusting `roots`."""

    def __init__(self) -> None:
        self.roots: list[str] = []  # PEM certificates the issuers' https endpoints are trusted with

    def trust(self, pem: str) -> None:
        if pem not in self.roots:
            self.roots.append(pem)

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        for pem in self.roots:
            context.load_verify_locations(cadata=pem)
        return context

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
        async with session.get(url, ssl=self._ssl(), allow_redirects=False) as response:
            if response.status != 200:
                raise ValueError(f"{url} answered {response.status}")
            body = json.loads(await response.read())
            if not isinstance(body, dict):
                raise ValueError(f"{url} did not answer a JSON object")
            return body

    async def _keys(self, issuer: str) -> dict[str, Any]:
        if not issuer.startswith("https://"):
            raise ValueError(f"issuer {issuer!r} is not an https URL")
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        async with aiohttp.ClientSession(timeout=_FETCH_TIMEOUT) as session:
            discovery = await self._fetch(session, discovery_url)
            if discovery.get("issuer") != issuer:
                raise ValueError(f"{discovery_url} names issuer {discovery.get('issuer')!r}")
            jwks_uri = str(discovery.get("jwks_uri", ""))
            if not jwks_uri.startswith("https://"):
                raise ValueError(f"{discovery_url} names no https jwks_uri")
            return await self._fetch(session, jwks_uri)

    async def check(self, assertion: str, federated: Sequence[FederatedCredential], now: datetime) -> Refusal | None:
        """None if the assertion signs the application in, else why not."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return Refusal("50027")
        refusal = judge_claims(claims, federated, now)
        if refusal is not None:
            return refusal
        issuer = str(claims["iss"])
        try:
            jwks = await self._keys(issuer)
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError, ValueError):
            return Refusal("90061", {"issuer": issuer})
        algorithm, kid = header.get("alg"), header.get("kid")
        keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)][:100]  # Entra keeps the first 100 keys
        candidates = [k for k in keys if kid is None or k.get("kid") == kid]
        if not candidates:
            return Refusal("7000272", {"kid": str(kid or ""), "issuer": issuer})
        if algorithm not in _ALGORITHMS:
            return Refusal("700027")
        audience = [a for f in federated if f.issuer == issuer for a in f.audiences]
        for key in candidates:
            try:
                jwt.decode(
                    assertion,
                    jwt.PyJWK(key).key,
                    algorithms=[str(algorithm)],
                    audience=audience,
                    issuer=issuer,
                    options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
                )
            except jwt.PyJWTError:
                continue
            return None
        return Refusal("700027")
