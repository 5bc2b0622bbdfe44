"""Who the operator is, as its own Graph token says: for messages that tell an administrator what to grant whom.

The token azure-identity hands the Graph client is a JWT whose claims name the caller: `oid`, the object id of
the operator's service principal (what `az ad app owner add --owner-object-id` wants), `appid` (`azp` in a v2
token), its client id, and `roles`, the Graph application permissions it holds. They are read without verifying
the signature: the operator got the token from Entra itself, over TLS, so its claims about the operator are as good
as the token (they decide whether it owns an application before it writes, `may_write`). The token itself never leaves
`OperatorGraph.caller`: not logged, not kept, not in any exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jwt
from azure.core.credentials_async import AsyncTokenCredential
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

__all__ = ["Caller", "OperatorGraph", "caller_of", "may_write"]

logger = logging.getLogger(__name__)

_GUID_CHARS = frozenset("0123456789abcdefABCDEF-")


@dataclass(frozen=True)
class Caller:
    """The operator's identity: ids and granted permissions, nothing secret."""

    object_id: str | None  # its service principal's object id
    client_id: str | None
    roles: tuple[str, ...] | None  # Graph application permissions; None: the token says nothing of them


# The application permissions Graph's addPassword page lists: one writes any application, the other owned ones.
_WRITES_ANY, _WRITES_OWNED = "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"


def may_write(caller: Caller | None, owners: frozenset[str]) -> bool | None:
    """May the operator add a client secret to the application whose owners (object ids, lower case) are
    `owners`? True: its token grants Application.ReadWrite.All, or it owns the application and its token grants
    Application.ReadWrite.OwnedBy (or says nothing of its permissions); False: otherwise (owning it without a
    permission to write is not enough); None: its identity is unknown."""
    if caller is None or caller.object_id is None:
        return None
    roles = None if caller.roles is None else set(caller.roles)
    if roles is not None and _WRITES_ANY in roles:
        return True
    return caller.object_id.lower() in owners and (roles is None or _WRITES_OWNED in roles)


def _id(value: Any) -> str | None:
    """A GUID claim, else None (a claim is text from outside: it goes into a shell command)."""
    return value if isinstance(value, str) and len(value) == 36 and set(value) <= _GUID_CHARS else None


def caller_of(token: str) -> Caller | None:
    """The caller a Graph access token names; None when it is no JWT (an opaque token names nobody)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    roles = claims.get("roles")
    granted = tuple(r for r in roles if isinstance(r, str) and r.isprintable()) if isinstance(roles, list) else None
    return Caller(_id(claims.get("oid")), _id(claims.get("appid")) or _id(claims.get("azp")), granted)


class OperatorGraph(GraphServiceClient):
    """The Graph client, which knows whose token it sends (its failures can then name the operator)."""

    def __init__(self, request_adapter: GraphRequestAdapter, credential: AsyncTokenCredential, scope: str) -> None:
        super().__init__(request_adapter=request_adapter)
        self._credential, self._scope = credential, scope

    async def caller(self) -> Caller | None:
        """The operator's identity, from the token the credential holds (cached by azure-identity: normally no
        request; read afresh each time, as a permission granted meanwhile is in the next token); None when no
        token comes or it names nobody."""
        try:
            token = await self._credential.get_token(self._scope)
        except Exception as exc:  # only for a message: whatever failed, the message goes without it
            logger.debug("the operator's own identity is unknown (%s)", type(exc).__name__)
            return None
        return caller_of(token.token)
