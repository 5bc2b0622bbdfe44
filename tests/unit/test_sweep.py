"""Which client secrets the sweep takes for strays: this cluster's markers, served namespaces, credentials gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from acs_smtp_operator.identity import cluster_tag, issued_marker, key_marker, marks, parse_marker
from acs_smtp_operator.observed import Application, KeyInfo
from acs_smtp_operator.sweep import Stray, settled, strays

UID, CLUSTER = "5d9e0a7c-1111-4222-8333-944444444444", "c0ffee12-aaaa-4bbb-8ccc-dddddddddddd"
OURS = cluster_tag(CLUSTER) or ""


def test_a_new_key_carries_the_cluster_and_still_counts_as_the_credentials_own() -> None:
    base = key_marker("shop", "mailer", UID)
    issued = issued_marker(base, CLUSTER)
    assert issued == "acs-smtp-operator shop/mailer 5d9e0a7c a08652d270be35bf"
    assert marks(issued, base) and marks(base, base)  # keys from before 0.2.0 have no cluster tag
    assert not marks(issued, key_marker("shop", "mailer-2", UID)) and not marks("acs-smtp-operator shop/mailer", base)
    assert parse_marker(issued) == ("shop", "mailer", "5d9e0a7c", "a08652d270be35bf")
    assert parse_marker(base) == ("shop", "mailer", "5d9e0a7c", None)
    assert parse_marker("hand made") is None and parse_marker(issued + "\n") is None
    assert cluster_tag(CLUSTER.upper()) == OURS and cluster_tag("another") != OURS and len(OURS) == 16  # 64 bits


def test_only_this_clusters_keys_of_served_namespaces_whose_credential_is_gone_are_strays() -> None:
    def key(key_id: str, display: str) -> KeyInfo:
        return KeyInfo(key_id=key_id, display_name=display, end=None)

    app = Application("obj", "app", (
        key("gone", issued_marker(key_marker("shop", "old", UID), CLUSTER)),
        key("alive", issued_marker(key_marker("shop", "mailer", UID), CLUSTER)),
        key("legacy", key_marker("shop", "older", UID)),  # no cluster id: never swept
        key("elsewhere", issued_marker(key_marker("shop", "old", UID), "0badc0de-0000-4000-8000-000000000000")),
        key("unserved", issued_marker(key_marker("billing", "old", UID), CLUSTER)),
        key("manual", "created in the portal"),
    ))  # fmt: skip
    found = strays(app, OURS, lambda ns: ns == "shop", {("shop", "mailer", UID[:8])})
    assert found == [Stray(key_id="gone", namespace="shop", name="old", uid=UID[:8])]


def test_a_stray_key_is_due_only_once_it_has_looked_stray_for_the_settle_period() -> None:
    now, settle = datetime(2026, 12, 7, 12, 0, tzinfo=UTC), timedelta(seconds=120)
    due, seen = settled(["a"], {}, now, settle)
    assert due == set() and seen == {"a": now}  # first seen: a credential created moments ago gets its chance
    due, seen = settled(["a", "b"], seen, now + settle, settle)
    assert due == {"a"} and seen == {"a": now, "b": now + settle}
    due, seen = settled(["b"], seen, now + 2 * settle, settle)  # "a" is no longer stray: forgotten
    assert due == {"b"} and seen == {"b": now + settle}
