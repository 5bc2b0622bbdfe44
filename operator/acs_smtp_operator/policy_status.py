"""Pure: what a policy's status says: accepted or refused, the namespaces it covers, what in it could be claimed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acs_smtp_operator.policy import NamespaceSelection, PolicyView, covers

__all__ = [
    "claimable",
    "covered",
    "policy_status",
]

_MAX_NAMED = 10  # namespaces a policy's status names before it says "and N more"
_NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it to the namespace's name


def covered(view: PolicyView, namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The existing namespaces the policy covers, by name."""
    return sorted(ns for ns, labels in namespaces.items() if covers(view.selection, ns, labels))


def _listed(names: list[str]) -> str:
    """Namespace names for a status field: the first few, then how many more."""
    more = len(names) - _MAX_NAMED
    return ",".join(names[:_MAX_NAMED]) + (f" and {more} more" if more > 0 else "")


def claimable(selection: NamespaceSelection | None, namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What in a policy covers namespaces nobody made yet: whoever may create namespaces could claim them."""
    if selection is None:
        return []
    found: list[str] = []
    selector = selection.selector
    named = list(selection.names)  # and those a selector names by kubernetes.io/metadata.name, as names
    if selector is not None:
        named += [v for k, v in selector.match_labels.items() if k == _NAME_LABEL]
        named += [
            v for r in selector.match_expressions if r.key == _NAME_LABEL and r.operator == "In" for v in r.values
        ]
    missing = [ns for ns in dict.fromkeys(named) if ns not in namespaces]
    if missing:
        found.append(
            f"names namespaces that do not exist ({_listed(missing)}): whoever creates one first is covered "
            "(docs/tenancy.md, claiming a namespace)"
        )
    if (
        selector is not None
        and not selector.match_labels
        and all(r.operator in ("NotIn", "DoesNotExist") for r in selector.match_expressions)
    ):
        found.append(
            "the selector requires no label (only NotIn or DoesNotExist, or nothing): it covers every new namespace, "
            "whoever makes it (docs/tenancy.md, claiming a namespace)"
        )
    return found


def policy_status(
    view: PolicyView,
    conflicted: Mapping[str, str],
    namespaces: Mapping[str, Mapping[str, str]],
    credentials: int,
) -> dict[str, Any]:
    """The status a policy should show: is it accepted, which namespaces it covers, how many credentials use it."""
    if view.spec is None:
        ready, reason, message = "False", "InvalidPolicy", f"the policy permits nothing: {view.problem}"
    elif view.name in conflicted:
        ready, reason, message = "False", "RoleConflict", conflicted[view.name]
    else:
        ready, reason, message = "True", "Accepted", "the policy is in force"
    names = covered(view, namespaces)
    return {
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
        "namespaces": _listed(names),
        "namespaceCount": len(names),
        "credentials": credentials,
        "warnings": claimable(view.selection, namespaces),
    }
