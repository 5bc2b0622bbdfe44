"""The pure half of `secret.deletionPolicy: Orphan`: which Secret is left, which adopted, which key inherited."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from acs_smtp_operator.identity import cluster_tag, issued_marker, key_marker
from acs_smtp_operator.kube_secret import orphaned, secret_view
from acs_smtp_operator.observed import Application, KeyInfo
from acs_smtp_operator.retention import as_own, predecessor_keys

UID, OTHER = "11111111-aaaa-4bbb-8ccc-000000000001", "22222222-aaaa-4bbb-8ccc-000000000002"
CLUSTER = "0f0e0d0c-0000-4000-8000-00000000c1c1"
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def a_secret(owner: str | None = UID, labelled: bool = True, notes: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "mailer-smtp",
        "namespace": "shop",
        "resourceVersion": "7",
        "annotations": {"acssmtp.io/key-id": "k1", **(notes or {})},
        "labels": {"app.kubernetes.io/managed-by": "acs-smtp-operator"} if labelled else {},
    }
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential", "name": "mailer", "uid": owner,
             "controller": True}
        ]  # fmt: skip
    data = {"username": "u", "password": "p"}
    return {
        "type": "kubernetes.io/basic-auth",
        "metadata": meta,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_a_deleted_credential_leaves_its_secret_unowned_unchanged_and_marked() -> None:
    secret = a_secret()
    left = orphaned(secret, "mailer", UID, NOW)
    assert left is not None
    assert "ownerReferences" not in left["metadata"] and left["data"] == secret["data"]
    assert left["metadata"]["annotations"]["acssmtp.io/orphaned-from"] == "mailer"
    assert left["metadata"]["annotations"]["acssmtp.io/orphaned-uid"] == UID
    assert left["metadata"]["resourceVersion"] == "7", "replaced only as it was read"
    assert orphaned(a_secret(owner=OTHER), "mailer", UID, NOW) is None, "another credential's Secret is not left"
    assert orphaned(a_secret(owner=None), "mailer", UID, NOW) is None


def test_only_a_credential_of_the_same_name_adopts_an_orphaned_secret_of_ours() -> None:
    left = orphaned(a_secret(), "mailer", UID, NOW)
    assert left is not None
    view = secret_view(left, OTHER, "mailer")
    assert view is not None and view.owned and view.adopted
    other = secret_view(left, OTHER, "billing")
    assert other is not None and not other.owned, "another name: SecretConflict"
    forged = secret_view(
        a_secret(owner=None, labelled=False, notes={"acssmtp.io/orphaned-from": "mailer"}), OTHER, "mailer"
    )
    assert forged is not None and not forged.owned, "not labelled as the operator's"
    held = secret_view(a_secret(owner=UID, notes={"acssmtp.io/orphaned-from": "mailer"}), OTHER, "mailer")
    assert held is not None and not held.owned, "still controlled by a credential"
    mine = secret_view(a_secret(), UID, "mailer")
    assert mine is not None and mine.owned and not mine.adopted


def test_a_key_is_inherited_only_from_a_predecessor_of_the_same_name_in_this_cluster_and_only_when_referenced() -> None:
    tag = cluster_tag(CLUSTER)

    def key(key_id: str, namespace: str, name: str, uid: str, cluster: str | None = CLUSTER) -> KeyInfo:
        return KeyInfo(key_id=key_id, display_name=issued_marker(key_marker(namespace, name, uid), cluster), end=None)

    app = Application(
        "obj",
        "client",
        (
            key("old", "shop", "mailer", OTHER),
            key("own", "shop", "mailer", UID),
            key("elsewhere", "billing", "mailer", OTHER),
            key("renamed", "shop", "billing", OTHER),
            key("other-cluster", "shop", "mailer", OTHER, "another-cluster"),
            key("untagged", "shop", "mailer", OTHER, None),
        ),
    )
    every = {k.key_id for k in app.keys}
    assert tag is not None
    assert predecessor_keys(app, "shop", "mailer", UID, CLUSTER, every) == {"old"}
    assert predecessor_keys(app, "shop", "mailer", UID, CLUSTER, {"own"}) == set(), "not referenced: not its own"
    assert predecessor_keys(app, "shop", "mailer", UID, None, every) == set()
    seen = as_own(app, {"old"}, key_marker("shop", "mailer", UID))
    assert seen.keys[0].display_name == key_marker("shop", "mailer", UID)
    assert seen.keys[1:] == app.keys[1:]
