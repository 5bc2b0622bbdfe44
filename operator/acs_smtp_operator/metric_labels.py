"""Pure: the fixed vocabulary of the metrics' labels. An Azure request's path folds into an operation template
(`route`), anything outside the vocabulary becomes `other`, a status code one of a handful of outcomes: series
stay few whatever the customers name things, and never carry a secret."""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["APIS", "OPERATIONS", "OTHER", "outcome_of", "route"]

OTHER = "other"  # the one label value for anything outside the vocabulary

_METHODS = frozenset({"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"})

# ARM: the resource providers and resource types the operator reads and writes (case-insensitive, as ARM is).
_ARM_NAMESPACES = {n.lower(): n for n in ("Microsoft.Communication", "Microsoft.Authorization", "Microsoft.Management")}
_ARM_TYPES = {
    t.lower(): t
    for t in (
        "subscriptions",
        "resourceGroups",
        "managementGroups",
        "communicationServices",
        "emailServices",
        "domains",
        "smtpUsernames",
        "senderUsernames",
        "roleAssignments",
        "roleDefinitions",
    )
}
_ARM_BY_ID = frozenset({"subscriptions", "roleAssignments", "roleDefinitions"})  # named by a GUID: `{id}`

# Graph: the collections, alternate keys and actions the operator uses.
_GRAPH_VERSIONS = frozenset({"v1.0", "beta"})
_GRAPH_COLLECTIONS = {c.lower(): c for c in ("applications", "servicePrincipals")}
_GRAPH_ACTIONS = {a.lower(): a for a in ("addPassword", "removePassword")}
_GRAPH_BY_APP_ID = re.compile(r"(?P<collection>[A-Za-z]+)\(appId='[^']*'\)")

# Entra: the token and discovery endpoints under a tenant (a GUID, a domain name, `common`, `organizations`),
# and the managed identity endpoint.
_ENTRA_WORDS = frozenset({"oauth2", "v2.0", "token", ".well-known", "openid-configuration", "discovery", "instance"})
_MANAGED_IDENTITY = "metadata/identity/oauth2/token"

# Every operation template there is (without the method): anything else is `other`.
OPERATIONS = frozenset(
    {
        "Microsoft.Communication/communicationServices/{name}",
        "Microsoft.Communication/communicationServices/{name}/smtpUsernames",
        "Microsoft.Communication/communicationServices/{name}/smtpUsernames/{name}",
        "Microsoft.Communication/emailServices/{name}/domains/{name}",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Authorization/roleAssignments/{id}",
        "Microsoft.Authorization/roleDefinitions",
        "Microsoft.Authorization/roleDefinitions/{id}",
        "v1.0/applications(appId={id})",
        "v1.0/servicePrincipals(appId={id})",
        "v1.0/applications/{id}",
        "v1.0/applications/{id}/addPassword",
        "v1.0/applications/{id}/removePassword",
        "v1.0/servicePrincipals/{id}",
        "{tenant}/oauth2/v2.0/token",
        "{tenant}/v2.0/.well-known/openid-configuration",
        "{tenant}/discovery/instance",
        _MANAGED_IDENTITY,
    }
)


def _arm(segments: list[str]) -> str | None:
    """After the last `providers/{namespace}`: each known resource type, then `{name}` or `{id}` for its name."""
    folded: list[str] = []
    at = 0
    while at < len(segments):
        word = segments[at].lower()
        if word == "providers":  # the scope before it (subscription, group, resource) is not the operation
            namespace = _ARM_NAMESPACES.get(segments[at + 1].lower()) if at + 1 < len(segments) else None
            if namespace is None:
                return None
            folded, at = [namespace], at + 2
            continue
        kind = _ARM_TYPES.get(word)
        if kind is None:
            return None
        folded.append(kind)
        if at + 1 < len(segments):
            folded.append("{id}" if kind in _ARM_BY_ID else "{name}")
        at += 2
    return "/".join(folded)


def _graph(segments: list[str]) -> str | None:
    if not segments or segments[0].lower() not in _GRAPH_VERSIONS:
        return None
    folded = [segments[0].lower()]
    at = 1
    while at < len(segments):
        segment = segments[at]
        by_app_id = _GRAPH_BY_APP_ID.fullmatch(segment)
        collection = _GRAPH_COLLECTIONS.get((by_app_id.group("collection") if by_app_id else segment).lower())
        action = _GRAPH_ACTIONS.get(segment.lower())
        if collection is not None and by_app_id is not None:
            folded.append(f"{collection}(appId={{id}})")
        elif collection is not None:
            folded.append(collection)
            if at + 1 < len(segments):
                folded.append("{id}")
                at += 1
        elif action is not None:
            folded.append(action)
        else:
            return None
        at += 1
    return "/".join(folded)


def _entra(segments: list[str]) -> str | None:
    if "/".join(segments).lower() == _MANAGED_IDENTITY:
        return _MANAGED_IDENTITY
    if len(segments) < 2 or any(s.lower() not in _ENTRA_WORDS for s in segments[1:]):
        return None
    return "/".join(["{tenant}", *(s.lower() for s in segments[1:])])


_FOLDS = {"arm": _arm, "graph": _graph, "entra": _entra}
APIS = frozenset(_FOLDS)  # the APIs a label names


def route(api: str, method: str, path: str) -> str:
    """`PUT Microsoft.Authorization/roleAssignments/{id}`: the method and an operation template of `OPERATIONS`,
    every name and id folded into a placeholder; `other` for whatever is not in the vocabulary (never its text)."""
    fold = _FOLDS.get(api)
    segments = [s for s in unquote(path.split("?", 1)[0]).split("/") if s]
    template = fold(segments) if fold is not None and len(segments) <= 32 else None
    verb = method.upper()
    if template not in OPERATIONS or verb not in _METHODS:
        return OTHER
    return f"{verb} {template}"


def outcome_of(code: int) -> str:
    """An HTTP status as one of `2xx`, `3xx`, `4xx`, `429` (throttled), `5xx`, or `error` (no HTTP status)."""
    if code == 429:
        return "429"
    if 200 <= code < 600:
        return f"{code // 100}xx"
    return "error"


# A pass takes from tens of milliseconds (nothing to do) to minutes (a rotation waiting out Graph's replication
# and the verification of the new secret).
