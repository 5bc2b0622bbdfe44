"""Access tokens issued by the emulated Entra endpoint and checked by ARM and Graph.

They are real JWTs (HS256, signed with a key that lives only in this process),
so a client can treat them as opaque the way it treats Entra's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

__all__ = ["Claims", "TokenIssuer"]

TOKEN_LIFETIME = timedelta(seconds=3599)


@dataclass(frozen=True)
class Claims:
    object_id: str  # the service principal's object id
    app_id: str
    tenant_id: str
    audience: str
    roles: tuple[str, ...]


class TokenIssuer:
    def __init__(self, issuer: str) -> None:
        self._key = secrets.token_bytes(32)
        self._issuer = issuer

    def issue(self, claims: Claims, now: datetime) -> str:
        payload = {
            "iss": self._issuer,
            "aud": claims.audience,
            "oid": claims.object_id,
            "appid": claims.app_id,
            "tid": claims.tenant_id,
            "roles": list(claims.roles),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
        }
        return jwt.encode(payload, self._key, algorithm="HS256")

    def verify(self, token: str, now: datetime) -> Claims | None:
        """The token's claims if it is ours and unexpired, else None."""
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return None
        if payload.get("exp", 0) <= now.timestamp():
            return None
        return Claims(
            object_id=payload["oid"],
            app_id=payload["appid"],
            tenant_id=payload["tid"],
            audience=payload["aud"],
            roles=tuple(payload.get("roles", [])),
        )
