"""Deterministic names of what the operator creates: every live cluster's Azure objects depend on them.

Changing any of these orphans what running installations created: the golden tests pin them.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import unquote

from acs_smtp_operator.ids import dashed_guid

__all__ = [
    "assignment_guid",
    "assignment_parts",
    "cluster_tag",
    "issued_marker",
    "key_marker",
    "legacy_smtp_username_resource",
    "marks",
    "parse_marker",
    "role_definition_id",
    "role_guid",
    "secret_name",
    "smtp_username_entry",
    "smtp_username_resource",
]

_NS = uuid.UUID("0b7d2c55-4a5c-4f7e-9d56-acd5a1f0c0de")


def key_marker(namespace: str, name: str, uid: str) -> str:
    """The display name of every client secret a credential creates: marks it as ours and names the CR."""
    return f"acs-smtp-operator {namespace}/{name} {uid[:8]}"


def cluster_tag(cluster: str | None) -> str | None:
    """64 bits of the cluster's id (ACSSMTP_CLUSTER_ID, else the kube-system namespace's uid) for key markers."""
    return hashlib.sha256(cluster.strip().lower().encode()).hexdigest()[:16] if cluster else None


def issued_marker(marker: str, cluster: str | None) -> str:
    """The display name a new client secret gets: the credential's marker and, when known, the cluster's tag,
    which tells the sweep this cluster's keys from another cluster's on a shared application."""
    tag = cluster_tag(cluster)
    return f"{marker} {tag}" if tag else marker


def marks(display_name: str | None, marker: str) -> bool:
    """Does a client secret's display name carry this credential's marker (with a cluster id or without)?"""
    return display_name == marker or (display_name or "").startswith(marker + " ")


_MARKER = re.compile(r"acs-smtp-operator (?P<ns>[a-z0-9-]{1,63})/(?P<name>[^ /]{1,253}) (?P<uid>[0-9a-f]{8})"
                     r"(?: (?P<cluster>[0-9a-f]{16}))?")  # fmt: skip


def parse_marker(display_name: str | None) -> tuple[str, str, str, str | None] | None:
    """(namespace, name, uid prefix, cluster tag or None) of a client secret this operator added, else None."""
    found = _MARKER.fullmatch(display_name or "")
    return None if found is None else (found["ns"], found["name"], found["uid"], found["cluster"])


def role_guid(tenant_id: str, role_name: str) -> str:
    """One custom role per name and tenant (role names are tenant-wide in Azure)."""
    return str(uuid.uuid5(_NS, f"role|{tenant_id}|{role_name.lower()}"))


def role_definition_id(subscription_id: str, guid: str) -> str:
    """The ARM id of a role definition created at subscription scope."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def assignment_guid(acs_id: str, role_id: str, principal_id: str) -> str:
    """One assignment per ACS resource, role and service principal."""
    return str(uuid.uuid5(_NS, f"assignment|{acs_id.lower()}|{role_id.lower()}|{principal_id.lower()}"))


def assignment_parts(assignment_id: str) -> tuple[str, str, str]:
    """(subscription id, scope, guid) of a role assignment's ARM id; ValueError when it is not one."""
    marker = "/providers/microsoft.authorization/roleassignments/"
    plain = unquote(assignment_id).rstrip("/")  # as ARM reads it: percent-decoded
    at = plain.lower().rfind(marker)
    parts = plain.split("/")
    walks = any(p in ("", ".", "..") for p in parts[1:])  # a scope that climbs is not the one it names
    if at <= 0 or len(parts) < 3 or parts[1].lower() != "subscriptions" or walks:
        raise ValueError(f"{assignment_id!r} is not the id of a role assignment")
    return parts[2], plain[:at], dashed_guid(plain[at + len(marker) :])


def smtp_username_resource(namespace: str, name: str, uid: str) -> str:
    """The name of the ACS smtpUsernames child resource a credential owns.

    Its 128-bit tail hashes the credential's uid, which the API server chooses: a tenant who picks names and
    namespaces cannot make another credential's entry name come out (the name is Azure's only record of it).
    """
    digest = hashlib.sha256(f"{namespace}/{name}/{uid}".encode()).hexdigest()[:32]
    return f"acssmtp-{re.sub(r'[^a-zA-Z0-9-]', '-', name)[:40]}-{digest}"


def legacy_smtp_username_resource(namespace: str, name: str) -> str:
    """The entry name before 0.2.0 (48 bits from the namespace and name alone, which a tenant chooses).

    Still used by a credential whose status records it (renaming a live entry would cut its logins), and read
    back before any write or deletion: it is acted on only when it holds this credential's application.
    """
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:12]
    return f"acssmtp-{re.sub(r'[^a-zA-Z0-9-]', '-', name)[:40]}-{digest}"


def smtp_username_entry(namespace: str, name: str, uid: str, recorded: str | None) -> str:
    """The entry a credential uses: the one status records when it is the legacy name, else the uid-derived one."""
    legacy = legacy_smtp_username_resource(namespace, name)
    return legacy if recorded == legacy else smtp_username_resource(namespace, name, uid)


def secret_name(name: str, chosen: str | None) -> str:
    """The Secret a credential writes: `spec.secret.name`, else `<name>-smtp`."""
    return chosen or f"{name}-smtp"
