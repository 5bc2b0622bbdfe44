"""Pure shaping of the SMTP Secret: its body, and what it says about the credential it holds."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acs_smtp_operator.model import SecretTemplate
from acs_smtp_operator.observed import CredentialState, SecretView
from acs_smtp_operator.smtp import secret_data
from acs_smtp_operator.template import render_all
from acs_smtp_operator.timestamps import parse_stamp, stamp
from acs_smtp_operator.vocabulary import (
    API_VERSION,
    CLIENT_ID,
    KEY_ID,
    KIND,
    MANAGED_BY,
    NOT_AFTER,
    ORPHANED_AT,
    ORPHANED_FROM,
    ORPHANED_UID,
    RESOURCE,
    SECRET_TYPE,
)

__all__ = [
    "Content",
    "adoptable",
    "decode",
    "holds_key",
    "orphaned",
    "owner_reference",
    "same_secret",
    "secret_body",
    "secret_is_ours",
    "secret_view",
]


def decode(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}


def secret_is_ours(owner_references: list[dict[str, object]] | None, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in owner_references or [])


def _labelled(meta: dict[str, Any]) -> bool:
    labels = meta.get("labels") or {}
    return all(labels.get(key) == value for key, value in MANAGED_BY.items())


def adoptable(secret: dict[str, Any], name: str) -> bool:
    """Is this a Secret a deleted credential named `name` left behind (`spec.secret.deletionPolicy: Orphan`), for
    the credential of that name in the same namespace to adopt? Labelled as ours, basic-auth, controlled by
    nothing, and its `acssmtp.io/orphaned-from` names the credential (the admission policy asks the same)."""
    meta = secret.get("metadata") or {}
    notes = meta.get("annotations") or {}
    return (
        notes.get(ORPHANED_FROM) == name
        and _labelled(meta)
        and secret.get("type") == SECRET_TYPE
        and not any(ref.get("controller") for ref in meta.get("ownerReferences") or [])
    )


def orphaned(secret: dict[str, Any], name: str, uid: str, now: datetime) -> dict[str, Any] | None:
    """The Secret as credential `name`/`uid` leaves it on its deletion (Orphan): the same data, without the
    credential as its owner (so the garbage collector leaves it), marked with its name, uid and the time. None
    when the Secret is not that credential's (not controlled by it) or holds no key to leave."""
    meta = secret.get("metadata") or {}
    refs = meta.get("ownerReferences") or []
    mine = any(ref.get("uid") == uid and ref.get("controller") for ref in refs)
    notes = meta.get("annotations") or {}
    if not mine or not notes.get(KEY_ID) or not decode(secret).get("password"):
        return None
    kept = {k: v for k, v in meta.items() if k not in ("ownerReferences", "managedFields")}
    others = [ref for ref in refs if ref.get("uid") != uid]
    if others:
        kept["ownerReferences"] = others
    kept["annotations"] = {**notes, ORPHANED_FROM: name, ORPHANED_UID: uid, ORPHANED_AT: stamp(now)}
    return {**secret, "metadata": kept}


def holds_key(secrets: list[dict[str, Any]], key_id: str) -> bool:
    """Does one of these Secrets (the operator's, by their label) say it holds client secret `key_id`?"""
    return any(
        _labelled(meta) and (meta.get("annotations") or {}).get(KEY_ID) == key_id
        for meta in ((s.get("metadata") or {}) for s in secrets)
    )


def secret_view(secret: dict[str, Any] | None, uid: str, name: str | None = None) -> SecretView | None:
    """The Secret as a pass sees it: owned by credential `uid` or not, and what it holds. With the credential's
    `name`, a Secret a deleted credential of that name left (Orphan) counts as owned: the pass adopts it."""
    if secret is None:
        return None
    meta = secret.get("metadata") or {}
    notes = meta.get("annotations") or {}
    data = decode(secret)
    state = CredentialState(
        key_id=notes.get(KEY_ID),
        not_after=parse_stamp(notes.get(NOT_AFTER)),
        client_id=notes.get(CLIENT_ID),
        resource_id=notes.get(RESOURCE),
        username=data.get("username"),
        has_password=bool(data.get("password")),
    )
    owned = secret_is_ours(meta.get("ownerReferences"), uid)
    adopted = not owned and name is not None and adoptable(secret, name)
    return SecretView(
        owned=owned or adopted,
        state=state,
        raw=secret,
        type=str(secret.get("type") or "Opaque"),
        adopted=adopted,
    )


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    """The credential as the Secret's owner (always in the Secret's own namespace)."""
    return {"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": uid}


@dataclass(frozen=True, kw_only=True)
class Content:
    """What the Secret must hold, but for the password: the rest of its data, the template, its metadata."""

    namespace: str
    name: str
    owner: dict[str, Any]
    template: SecretTemplate
    client_id: str
    resource_id: str
    username: str
    host: str
    port: int
    sender: str | None  # the `from` address: DoNotReply@ a linked domain's sender domain

    def body(self, password: str, key_id: str, not_after: datetime | None) -> dict[str, Any]:
        """The Secret; raises `TemplateError` when a template entry uses a value the Secret does not hold."""
        data = secret_data(self.username, password, self.host, self.port, self.sender)
        data.update(render_all(self.template.data, data))
        annotations = {
            **self.template.annotations,
            KEY_ID: key_id,
            CLIENT_ID: self.client_id,
            RESOURCE: self.resource_id,
        }
        if not_after is not None:
            annotations[NOT_AFTER] = stamp(not_after)
        return secret_body(self.namespace, self.name, self.owner, data, annotations, self.template.labels)


def secret_body(
    namespace: str,
    name: str,
    owner: dict[str, Any],
    data: dict[str, str],
    annotations: dict[str, str],
    labels: dict[str, str],
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, **MANAGED_BY},
            "annotations": annotations,
            "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def same_secret(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Does `current` already hold everything `wanted` says (data, type, annotations, labels)?"""
    meta, want = current.get("metadata") or {}, wanted["metadata"]
    return (
        bool((current.get("data") or {}) == wanted["data"])
        and current.get("type") == wanted["type"]
        and (meta.get("annotations") or {}) == want["annotations"]
        and (meta.get("labels") or {}) == want["labels"]
    )
