"""Finalization: undo what a credential did in Azure (deletionPolicy Delete); the Secret goes with its owner, or,
with `spec.secret.deletionPolicy: Orphan`, stays with a working password (its client secret and role assignment
are kept) for a new credential of the same name to adopt.

What is removed is what status records the credential acted on (its application, its ACS resource), not what
the spec says at deletion time: a tenant's last edit, refused by the policies, must not redirect the cleanup
(or leave the real objects behind). Deletion is allowed whether or not a policy permits the credential now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import ValidationError

from acs_smtp_operator.act import retire_application, retire_smtp_username
from acs_smtp_operator.azure import passwords, roles
from acs_smtp_operator.azure.shared import note_assignment
from acs_smtp_operator.credential import Credential
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import (
    assignment_parts,
    key_marker,
    legacy_smtp_username_resource,
    marks,
    secret_name,
    smtp_username_entry,
    smtp_username_resource,
)
from acs_smtp_operator.ids import same_id
from acs_smtp_operator.kube_secret import decode, orphaned
from acs_smtp_operator.model import AcsRef, Reason, Spec
from acs_smtp_operator.observed import Application
from acs_smtp_operator.plan import ledger_of
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.retention import predecessor_keys
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Grant
from acs_smtp_operator.vocabulary import CLIENT_ID, KEY_ID, ORPHANED_UID

__all__ = ["finalize"]


Pause = Callable[[float], Awaitable[object]]


class Kept(NamedTuple):
    """The client secret an orphaned Secret holds: it stays on its application, with what it needs to log in."""

    key_id: str
    client_id: str


def _doomed(app: Application, cr: Credential, status: Status, cluster: str | None, kept: Kept | None) -> list[str]:
    """The keys deletion removes: those carrying this credential's marker, and those of a deleted credential of
    the same name whose Secret it adopted that it still references (`retention`); never the one an orphaned
    Secret keeps."""
    marker = key_marker(cr.namespace, cr.name, cr.uid)
    inherited = predecessor_keys(app, cr.namespace, cr.name, cr.uid, cluster, ledger_of(status).referenced())
    keep = kept.key_id if kept is not None else None
    return [k.key_id for k in app.keys if (marks(k.display_name, marker) or k.key_id in inherited) and k.key_id != keep]


async def _client_secrets(
    ports: Ports,
    cr: Credential,
    client_id: str,
    status: Status,
    emit: Emit,
    pause: Pause,
    kept: Kept | None = None,
) -> None:
    """Remove every key carrying this credential's marker, the newest one included (but the one `kept`).

    Graph is eventually consistent: the key added last (`status.issuedKeyId`) may not be listed yet, and a key
    is removed by its marker only (never by an id status holds: it may come from the Secret, which the tenant
    can edit). So until `ACSSMTP_GRAPH_LAG` after it was added, deletion removes what is listed, waits for the
    lag to be over, and looks again, rather than leave that key behind.
    """
    try:
        app = await passwords.find_application(ports.azure.graph, client_id)
    except Failure as exc:
        if exc.reason not in (Reason.APPLICATION_NOT_FOUND, Reason.FORBIDDEN):
            raise
        emit("Warning", str(exc.reason), f"client secrets could not be cleaned up: {exc.message}")
        return
    for key_id in _doomed(app, cr, status, ports.cluster, kept):
        await passwords.remove_password(ports.azure.graph, app.object_id, key_id)
    lag = ports.settings.graph_lag
    settled = status.issued_at + timedelta(seconds=lag) if status.issued_at and lag > 0 else None
    # Never longer than the lag itself, whatever status says (it can be edited: a time years ahead must not
    # hold the deletion, and a slot of the passes in flight, that long).
    wait = min((settled - datetime.now(UTC)).total_seconds(), lag) if settled else 0.0
    kept_newest = kept is not None and kept.key_id == status.issued_key_id
    if wait > 0 and not kept_newest and not any(k.key_id == status.issued_key_id for k in app.keys):
        # Added moments ago and not listed yet: wait out Graph's lag (at most ACSSMTP_GRAPH_LAG) and look again.
        emit(
            "Normal",
            "WaitingForGraph",
            f"client secret {status.issued_key_id} is not listed yet: removing it "
            f"once Graph's lag is over, in {wait:.0f} s",
        )
        await pause(wait)
        again = await passwords.find_application(ports.azure.graph, client_id)
        for key_id in _doomed(again, cr, status, ports.cluster, kept):  # one removed already counts
            await passwords.remove_password(ports.azure.graph, app.object_id, key_id)


async def _orphan_secret(ports: Ports, cr: Credential, spec: Spec, status: Status, emit: Emit) -> Kept | None:
    """`spec.secret.deletionPolicy: Orphan`: leave the Secret, no longer owned by the credential (so the garbage
    collector leaves it) and marked as orphaned from it; the key it holds, which deletion then keeps. None when
    there is no Secret of this credential's holding a key (nothing to keep: deletion removes every key)."""
    name = status.secret_name or secret_name(cr.name, spec.secret.name)
    found = await ports.kube.read_secret(cr.namespace, name)
    if found is None:
        return None
    meta = found.get("metadata") or {}
    notes: dict[str, Any] = meta.get("annotations") or {}
    # The application is status's (the Secret's annotations can be edited: they must not spare a retired one).
    key_id, client_id = notes.get(KEY_ID), status.client_id or notes.get(CLIENT_ID) or ""
    if notes.get(ORPHANED_UID) == cr.uid and key_id and decode(found).get("password"):
        return Kept(str(key_id), str(client_id))  # left by an earlier attempt of this deletion
    body = orphaned(found, cr.name, cr.uid, datetime.now(UTC))
    if body is None or not key_id:
        emit("Warning", "SecretNotOrphaned", f"Secret {name} is not this credential's or holds no key: not kept")
        return None
    version = meta.get("resourceVersion")
    try:
        await ports.kube.write_secret(cr.namespace, body, str(version) if version else None)
    except Failure as exc:
        if exc.status != 403:
            raise
        raise Failure(
            Reason.KUBERNETES_FORBIDDEN,
            f"Secret {name} could not be let go (secret.deletionPolicy Orphan): changing its ownerReference was "
            "refused (OwnerReferencesPermissionEnforcement asks for delete on Secrets: docs/install.md); the "
            "deletion waits, the Secret in place",
            status=403,
        ) from None
    emit(
        "Normal",
        "SecretOrphaned",
        f"Secret {name} is left with its client secret {key_id} (secret.deletionPolicy Orphan): it works until it "
        f"expires, nothing rotates it, and a new credential named {cr.name} here adopts it",
    )
    return Kept(str(key_id), str(client_id))


def _acted(status: Status) -> bool:
    """Does status record anything the credential did, or may have begun to do, in Azure?"""
    return any(
        (
            status.client_id,
            status.current_key_id,
            status.pending_rollout,
            status.retiring_keys,
            status.role_assignment_id,
            status.role_definition_id,
            status.smtp_username_resource,
            status.replaced_role_assignments,
            status.retired,
        )
    )


async def _remove_assignment(ports: Ports, assignment_id: str, emit: Emit, covers: Callable[[str], bool]) -> None:
    """Delete a role assignment at the scope its own id names (the resource it was made on), if the namespace
    may use that resource (status names the id, and status can be edited)."""
    try:
        subscription, scope, guid = assignment_parts(assignment_id)
    except ValueError as exc:
        emit("Warning", "RoleAssignmentNotRemoved", str(exc))
        return
    if not covers(scope):
        emit("Warning", "RoleAssignmentLeft", f"{assignment_id} is on a resource no policy permits here: left")
        return
    removal = await roles.delete_role_assignment(ports.azure.authorization(subscription), scope, guid)
    if removal in ("removed", "gone"):
        note_assignment(ports.shared, scope, guid, None)
    if removal == "not ours":
        emit("Warning", "RoleAssignmentNotOurs", f"role assignment {assignment_id} was not made by the operator: left")


async def finalize(
    ports: Ports,
    cr: Credential,
    emit: Emit,
    grant: Grant | None,
    shared: Callable[[str], bool] = lambda _: True,
    target: bool = False,
    covers: Callable[[str], bool] = lambda _: False,
    pause: Pause = asyncio.sleep,
) -> None:
    """Remove this credential's client secrets, smtpUsernames entry, role assignments and (unused) role.

    `grant`: the policy that permits what status records the credential acted on (None: none does). A
    credential that no policy permits and that never acted is gone without an Azure call; `Retain` is
    honoured only when permitted, and never keeps a role assignment the policy's role replaced. Without a
    policy permitting what status records, role assignments and the role stay (told in a Warning).
    `target`: do the policies permit this namespace the application and resource status records (whatever
    else the spec says now)? Role assignments and the role are removed only then; `covers`: may the
    namespace use that ACS resource (an assignment is removed only from a resource it may use).
    `shared`: does another credential record this role assignment as its own (then it stays)?
    `pause`: waits out Graph's lag for the newest key (the coordinator's gives its pass slot back meanwhile).
    `spec.secret.deletionPolicy: Orphan`, honoured only when permitted too: the Secret stays, and so do its
    client secret, the role assignment and role it logs in with (the other keys go as with Delete).
    """
    try:
        spec = Spec.parse(cr.spec)
    except ValidationError:
        return  # it never provisioned anything
    status = Status.read(cr.status)
    if grant is None and not _acted(status):
        # No permitted pass ever got to act (one cut short before its status would have recorded it here).
        emit("Normal", "Deleted", "nothing to remove: the credential never acted in Azure")
        return
    kept = None
    if spec.secret.deletion_policy == "Orphan":
        if grant is not None:
            kept = await _orphan_secret(ports, cr, spec, status, emit)  # before anything it needs is removed
        else:
            emit(
                "Warning",
                Reason.NOT_PERMITTED,
                "secret.deletionPolicy Orphan is not honoured: no policy permits what the credential acted on now, "
                "so its client secrets are removed and the Secret goes with it",
            )
    # Role assignments and roles are shared by whoever uses the same application and resource: they are
    # removed only while a policy permits this namespace what status records (status can be edited to name
    # another's). Otherwise they stay, and an administrator is told.
    if not target and (status.role_assignment_id or status.replaced_role_assignments):
        emit(
            "Warning",
            "RoleAssignmentLeft",
            "no policy permits what this credential acted on now: its role assignment and role are left in place "
            "for an administrator to remove",
        )
    for old in status.replaced_role_assignments if target else ():  # whatever Retain says
        if not shared(old.id):
            await _remove_assignment(ports, old.id, emit, covers)
    if spec.deletion_policy == "Retain":
        if grant is not None:
            emit("Normal", "Retained", "deletionPolicy Retain: Azure objects are left in place")
            return
        emit(
            "Warning",
            Reason.NOT_PERMITTED,
            "deletionPolicy Retain is not permitted by any policy now: the credential's Azure objects are removed",
        )
    recorded = status.client_id is not None
    if not recorded and grant is None:
        # Status from before targets were recorded, and the spec is not permitted: it may name anything.
        emit("Warning", Reason.NOT_PERMITTED, "what the credential acted on is not recorded: nothing was removed")
        return
    azure = ports.azure
    acs = AcsRef(resourceId=status.communication_service_id or spec.communication_service.resource_id)
    await _client_secrets(ports, cr, status.client_id or spec.entra_application.client_id, status, emit, pause, kept)
    # The entry's name derives from the credential's uid (or is the legacy name status records): Azure's record
    # of it being ours. A name status gives is never deleted otherwise (status can be edited), and the entry is
    # read back first: one that holds no application this credential used is left.
    legacy = legacy_smtp_username_resource(cr.namespace, cr.name)
    # Status from before targets were recorded (0.1.0's first releases): its entry has the legacy name.
    ours = smtp_username_entry(cr.namespace, cr.name, cr.uid, status.smtp_username_resource if recorded else legacy)
    if status.smtp_username_resource not in (None, ours):
        emit("Warning", "SmtpUsernameNotOurs", f"smtpUsername {status.smtp_username_resource!r} is not ours: left")
    apps = frozenset(
        a.lower()
        for a in (status.client_id or spec.entra_application.client_id, *(r.client_id for r in status.retired))
        if a
    )
    made = status.smtp_username_resource == ours
    # An orphaned Secret's username would need the entry (the schema refuses Orphan with SmtpUsername): it stays.
    if kept is None and (made or (not recorded and spec.username.format == "SmtpUsername")):
        await retire_smtp_username(ports, acs, ours, apps, emit, forbidden_stops=True)
    for left in status.retired:  # what a retarget left behind, whether or not its grace period is over
        if left.client_id and left.client_id.lower() != (status.client_id or "").lower():
            if kept is not None and kept.client_id.lower() == left.client_id.lower():
                continue  # the orphaned Secret still holds the key of the application it left (the sweep's)
            await retire_application(ports, left.client_id, key_marker(cr.namespace, cr.name, cr.uid), emit)
        elif left.smtp_username_at and not (made and same_id(left.smtp_username_at, acs.resource_id)):
            named = left.smtp_username_resource  # acted on only when it is one of this credential's own names
            current = smtp_username_resource(cr.namespace, cr.name, cr.uid)
            entry = named if named in (current, legacy) else current
            await retire_smtp_username(ports, AcsRef(resourceId=left.smtp_username_at), entry, apps, emit)
    if kept is not None:
        emit(
            "Normal",
            "Deleted",
            f"the other client secrets of this credential were removed; client secret {kept.key_id}, its role "
            "assignment and role stay for the orphaned Secret",
        )
        return
    if not target:
        emit("Normal", "Deleted", "the client secrets and smtpUsernames entry of this credential were removed")
        return
    assignment = status.role_assignment_id or ""
    if assignment and status.role_assignment_owned and not shared(assignment):
        await _remove_assignment(ports, assignment, emit, covers)
    role_id = status.role_definition_id or ""
    if role_id and status.role_definition_owned:
        removal = await roles.delete_role_definition(
            azure.authorization(acs.subscription_id), acs.resource_id, role_id.rsplit("/", 1)[-1]
        )
        if removal == "removed":
            emit("Normal", "RoleDefinitionDeleted", f"role {role_id} is no longer used")
        elif removal == "not ours":
            emit("Warning", "RoleDefinitionNotOurs", f"role {role_id} was not made by the operator: left")
    emit("Normal", "Deleted", "client secrets and the role assignment of this credential were removed")
