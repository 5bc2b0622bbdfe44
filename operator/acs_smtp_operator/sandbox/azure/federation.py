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
import math
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
# Entra's own issuers cannot be federated here (AADSTS700222); Entra's preview of a managed identity as a
# federated credential (issuer login.microsoftonline.com/{tenant}/v2.0) is not emulated.
_ENTRA_HOSTS = (
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
)
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
    except (TypeError, ValueError, OverflowError, OSError):
        moment = datetime.fromtimestamp(0, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def _instant(value: Any) -> float | None:
    """A NumericDate (RFC 7519): a finite JSON number; None for anything else (a string, a boolean, NaN)."""
    if type(value) not in (int, float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def _malformed(claims: dict[str, Any]) -> bool:
    """Claims Entra cannot read: no issuer or subject string, an `exp` or `nbf` that is no finite number."""
    if not isinstance(claims.get("iss"), str) or not isinstance(claims.get("sub"), str):
        return True
    if _instant(claims.get("exp")) is None:
        return True
    audience = claims.get("aud")
    if not isinstance(audience, str) and not (isinstance(audience, list) and all(isinstance(a, str) for a in audience)):
        return True
    return "nbf" in claims and _instant(claims["nbf"]) is None


def judge_claims(claims: dict[str, Any], federated: Sequence[FederatedCredential], now: datetime) -> Refusal | None:
    """Which federated credential the unverified claims fit, by issuer, subject and audience, then lifetime.

    None: one fits and the assertion is within its lifetime (its signature is still to be checked).
    """
    if _malformed(claims):
        return Refusal("50027")
    issuer, subject = claims["iss"], claims["sub"]
    try:
        host = urlsplit(issuer).hostname
    except ValueError:  # not even a URL
        return Refusal("50027")
    if host in _ENTRA_HOSTS:
        return Refusal("700222")
    if not federated:
        return Refusal("70025")
    raw = claims["aud"]  # a string or a list of strings (else malformed)
    audiences: list[str] = [raw] if isinstance(raw, str) else raw
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
    expires, starts = _instant(claims.get("exp")), _instant(claims.get("nbf"))
    if expires is None or expires <= stamp or (starts is not None and starts > stamp):
        return Refusal(
            "700024",
            {"current": _when(stamp), "start": _when(starts), "expiry": _when(expires)},
        )
    return None


def _usable(key: Any, kid: str) -> bool:
    """An RSA signing key of that id, as an issuer publishes it for RS256 (`use` and `alg` optional)."""
    return (
        isinstance(key, dict)
        and key.get("kid") == kid
        and key.get("kty") == "RSA"
        and key.get("use", "sig") == "sig"
        and key.get("alg", "RS256") == "RS256"
    )


class Federation:
    """Checks assertions; fetches each issuer's discovery document and keys over https.

    An issuer's endpoints are trusted through the public roots, or the CA certificates given for that issuer
    (`trust`), as a local issuer needs.
    """

    def __init__(self) -> None:
        self._contexts: dict[str, ssl.SSLContext] = {}  # by issuer
        self._roots: dict[str, list[str]] = {}

    @staticmethod
    def check_roots(pem: str) -> None:
        """ValueError unless `pem` holds CA certificates."""
        try:
            ssl.create_default_context().load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError) as exc:
            raise ValueError(f"issuerCa holds no PEM certificate ({exc})") from None

    def trust(self, issuer: str, pem: str) -> None:
        """Trust `pem` (CA certificates) for `issuer`'s https endpoints; ValueError if it holds none."""
        self.check_roots(pem)
        roots = self._roots.setdefault(issuer, [])
        if pem not in roots:
            roots.append(pem)
            self._contexts.pop(issuer, None)

    def _ssl(self, issuer: str) -> ssl.SSLContext:
        if issuer not in self._contexts:
            context = ssl.create_default_context()
            for pem in self._roots.get(issuer, []):
                context.load_verify_locations(cadata=pem)
            self._contexts[issuer] = context
        return self._contexts[issuer]

    async def _fetch(self, session: aiohttp.ClientSession, url: str, issuer: str) -> dict[str, Any]:
        async with session.get(url, ssl=self._ssl(issuer), allow_redirects=False) as response:
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
            discovery = await self._fetch(session, discovery_url, issuer)
            if discovery.get("issuer") != issuer:
                raise ValueError(f"{discovery_url} names issuer {discovery.get('issuer')!r}")
            jwks_uri = str(discovery.get("jwks_uri", ""))
            if not jwks_uri.startswith("https://"):
                raise ValueError(f"{discovery_url} names no https jwks_uri")
            return await self._fetch(session, jwks_uri, issuer)

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
        listed = jwks.get("keys")
        keys = listed[:100] if isinstance(listed, list) else []  # Entra keeps the first 100 keys
        # A token without `kid` names no key: Entra's refusal then shows a blank identifier.
        candidates = [k for k in keys if isinstance(kid, str) and _usable(k, kid)]
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
            except (jwt.PyJWTError, TypeError, ValueError):  # a bad signature, or key data PyJWT cannot use
                continue
            return None
        return Refusal("700027")
