"""Pure shaping of the SMTP Secret: its body, and what it says about the credential it holds."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from acs_smtp_operator.plan import CLIENT_ID, KEY_ID, NOT_AFTER, RESOURCE, CredentialState

__all__ = ["MANAGED_BY", "credential_state", "decode", "secret_body"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "acs-smtp-operator"}


def decode(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def credential_state(secret: dict[str, Any] | None) -> CredentialState | None:
    if secret is None:
        return None
    notes = (secret.get("metadata") or {}).get("annotations") or {}
    data = decode(secret)
    return CredentialState(
        key_id=notes.get(KEY_ID),
        not_after=_parse(notes.get(NOT_AFTER)),
        client_id=notes.get(CLIENT_ID),
        resource_id=notes.get(RESOURCE),
        username=data.get("username"),
        has_password=bool(data.get("password")),
    )


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
        "type": "kubernetes.io/basic-auth",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, **MANAGED_BY},
            "annotations": annotations,
            "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
