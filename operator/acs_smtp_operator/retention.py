"""Pure: the client secret a Secret left by a deleted credential (`spec.secret.deletionPolicy: Orphan`) holds, once
a new credential of the same name adopts that Secret.

Its display name carries the deleted credential's marker (same namespace and name, another uid), so neither the
new credential's key plan nor its deletion would ever remove it, and the sweep would take it for stray. The new
credential answers for it only while it references it (the key its Secret holds, or one its ledger still moves
along): then it is retired after the grace period, or removed on deletion, like one of its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from acs_smtp_operator.identity import cluster_tag, parse_marker
from acs_smtp_operator.observed import Application

__all__ = ["as_own", "predecessor_keys"]


def predecessor_keys(
    app: Application, namespace: str, name: str, uid: str, cluster: str | None, referenced: Collection[str]
) -> frozenset[str]:
    """The keys of `app` that `referenced` names and that a credential of this namespace and name with another
    uid added in this cluster (its tag, never an untagged key's or another cluster's)."""
    tag = cluster_tag(cluster)
    if tag is None:
        return frozenset()
    found = set()
    for key in app.keys:
        parsed = parse_marker(key.display_name)
        if key.key_id not in referenced or parsed is None:
            continue
        if parsed[:2] == (namespace, name) and not uid.startswith(parsed[2]) and parsed[3] == tag:
            found.add(key.key_id)
    return frozenset(found)


def as_own(app: Application, keys: Collection[str], marker: str) -> Application:
    """The application as the key plan sees it: `keys` listed under this credential's `marker`."""
    if not keys:
        return app
    return replace(app, keys=tuple(replace(k, display_name=marker) if k.key_id in keys else k for k in app.keys))
