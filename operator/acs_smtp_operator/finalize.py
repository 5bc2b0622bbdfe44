"""Finalization: undo what a credential did in Azure (deletionPolicy Delete); the Secret goes with its owner.

What is removed is what status records the credential acted on (its application, its ACS resource), not what
the spec says at deletion time: a tenant's last edit, refused by the policies, must not redirect the cleanup
(or leave the real objects behind). Deletion is allowed whether or not a policy permits the credential now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

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
    smtp_username_entry,
    smtp_username_resource,
)
from acs_smtp_operator.ids import same_id
from acs_smtp_operator.model import AcsRef, Reason, Spec
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Grant

__all__ = ["finalize"]


Pause = Callable[[float], Awaitable[object]]


async def _client_secrets(
    ports: Ports, cr: Credential, client_id: str, status: Status, emit: Emit, pause: Pause
) -> None:
    """Remove every key carrying this credential's marker, the newest one included.

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
    marker = key_marker(cr.namespace, cr.name, cr.uid)
    for key in app.keys:
        if marks(key.display_name, marker):
            await passwords.remove_password(ports.azure.graph, app.object_id, key.key_id)
    lag = ports.settings.graph_lag
    settled = status.issued_at + timedelta(seconds=lag) if status.issued_at and lag > 0 else None
    # Never longer than the lag itself, whatever status says (it can be edited: a time years ahead must not
    # hold the deletion, and a slot of the passes in flight, that long).
    wait = min((settled - datetime.now(UTC)).total_seconds(), lag) if settled else 0.0
    if wait > 0 and not any(k.key_id == status.issued_key_id for k in app.keys):
        # Added moments ago and not listed yet: wait out Graph's lag (at most ACSSMTP_GRAPH_LAG) and look again.
        emit(
            "Normal",
            "WaitingForGraph",
            f"client secret {status.issued_key_id} is not listed yet: removing it "
            f"once Graph's lag is over, in {wait:.0f} s",
        )
        await pause(wait)
        await _remove_marked(ports, app.object_id, client_id, marker)


async def _remove_marked(ports: Ports, object_id: str, client_id: str, marker: str) -> None:
    """Read the application again and remove every key carrying the marker (one removed already counts)."""
    app = await passwords.find_application(ports.azure.graph, client_id)
    for key in app.keys:
        if marks(key.display_name, marker):
            await passwords.remove_password(ports.azure.graph, object_id, key.key_id)


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
    await _client_secrets(ports, cr, status.client_id or spec.entra_application.client_id, status, emit, pause)
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
    if made or (not recorded and spec.username.format == "SmtpUsername"):  # or status from before it recorded it
        await retire_smtp_username(ports, acs, ours, apps, emit, forbidden_stops=True)
    for left in status.retired:  # what a retarget left behind, whether or not its grace period is over
        if left.client_id and left.client_id.lower() != (status.client_id or "").lower():
            await retire_application(ports, left.client_id, key_marker(cr.namespace, cr.name, cr.uid), emit)
        elif left.smtp_username_at and not (made and same_id(left.smtp_username_at, acs.resource_id)):
            named = left.smtp_username_resource  # acted on only when it is one of this credential's own names
            current = smtp_username_resource(cr.namespace, cr.name, cr.uid)
            entry = named if named in (current, legacy) else current
            await retire_smtp_username(ports, AcsRef(resourceId=left.smtp_username_at), entry, apps, emit)
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
