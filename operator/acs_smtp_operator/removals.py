"""The removals a pass and a deletion share: a role assignment, keys on an application, an smtpUsernames entry.

One function each, carried out through the adapters; `act` (retirements after a retarget, assignments a new
role replaced, old keys) and `finalize` (a deletion's steps) both call these, so that each is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from acs_smtp_operator.azure import acs as acs_api
from acs_smtp_operator.azure import passwords, roles
from acs_smtp_operator.azure.roles import Removal
from acs_smtp_operator.azure.shared import note_assignment
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import assignment_parts, marks
from acs_smtp_operator.ids import canonical
from acs_smtp_operator.model import AcsRef, Reason
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.status import ReplacedAssignment

__all__ = ["remove_assignment", "remove_keys", "retire_application", "retire_replaced", "retire_smtp_username"]


async def remove_assignment(ports: Ports, assignment_id: str, emit: Emit) -> Removal:
    """Delete a role assignment at the scope its own id names (the resource it was made on), read back first: one
    the operator did not make stays (told). ValueError when the id is not a role assignment's."""
    subscription, scope, guid = assignment_parts(assignment_id)
    removal = await roles.delete_role_assignment(ports.azure.authorization(subscription), scope, guid)
    if removal in ("removed", "gone"):
        note_assignment(ports.shared, scope, guid, None)
    if removal == "not ours":
        emit("Warning", "RoleAssignmentNotOurs", f"role assignment {assignment_id} was not made by the operator: left")
    return removal


async def remove_keys(ports: Ports, object_id: str, key_ids: Iterable[str]) -> None:
    """Remove client secrets from an application by key id (one already gone counts as removed)."""
    for key_id in key_ids:
        await passwords.remove_password(ports.azure.graph, object_id, key_id)


async def retire_application(ports: Ports, client_id: str, marker: str, emit: Emit) -> None:
    """Remove every client secret carrying `marker` from an application the credential no longer uses."""
    try:
        application = await passwords.find_application(ports.azure.graph, client_id)
    except Failure as exc:
        if exc.reason == Reason.FORBIDDEN:  # no longer the operator's to manage: say so, never block a deletion
            emit("Warning", str(exc.reason), f"client secrets on {client_id} could not be cleaned up: {exc.message}")
            return
        if exc.reason != Reason.APPLICATION_NOT_FOUND:
            raise
        return  # gone with its keys
    ours = [k.key_id for k in application.keys if marks(k.display_name, marker)]
    await remove_keys(ports, application.object_id, ours)
    if ours:
        emit(
            "Normal", "RetiredKeysRemoved", f"{len(ours)} client secret(s) of this credential removed from {client_id}"
        )


async def retire_smtp_username(
    ports: Ports, acs: AcsRef, entry: str, apps: frozenset[str], emit: Emit, forbidden_stops: bool = False
) -> None:
    """Delete this credential's smtpUsernames entry from a resource, read back first: an entry that does not
    hold one of the applications this credential used (`apps`, lower case) is not ours, and is left.

    Forbidden is told and passed over (a resource left behind is no longer the operator's to manage), unless
    `forbidden_stops`: the entry on the resource the credential uses, whose deletion waits for the permission."""
    client = ports.azure.communication(acs.subscription_id)
    try:
        found = await acs_api.read_smtp_username(client, acs, entry)
        if found is None:
            return
        if (found.entra_application_id or "").lower() not in apps:
            emit(
                "Warning",
                "SmtpUsernameNotOurs",
                f"smtpUsername entry {entry} on {acs.name} holds application {found.entra_application_id}, which "
                "this credential never used: left",
            )
            return
        await acs_api.delete_smtp_username(client, acs, entry)
    except Failure as exc:
        if exc.reason != Reason.FORBIDDEN or forbidden_stops:
            raise
        # No longer the operator's to manage: say so, never block a deletion.
        emit(
            "Warning", str(exc.reason), f"smtpUsername entry {entry} on {acs.name} could not be removed: {exc.message}"
        )
        return
    emit("Normal", "RetiredSmtpUsernameRemoved", f"smtpUsername entry {entry} removed from {acs.name}")


async def retire_replaced(
    ports: Ports,
    replaced: Iterable[ReplacedAssignment],
    current: str | None,
    now: datetime,
    shared: Callable[[str], bool],
    covers: Callable[[str], bool],
    emit: Emit,
) -> tuple[str, ...]:
    """Remove the role assignments a new role replaced, once settled, unless another credential uses them; the
    ids done with (removed, gone, not ours, or on a resource the namespace may not use).

    Never the one the pass uses (`current`: the old role chosen again), and a removal that fails is told and
    retried by a later pass: it must not stop the Secret's renewal.
    """
    done: tuple[str, ...] = ()
    in_use = canonical(current) if current is not None else None
    for old in replaced:
        if canonical(old.id) == in_use or old.remove_after > now:
            continue  # in use again (`report` drops it from the list), or not settled yet
        if not shared(old.id):
            try:
                _, scope, _ = assignment_parts(old.id)
                if not covers(scope):  # status named it, and status can be edited: not this namespace's
                    emit("Warning", "RoleAssignmentLeft", f"{old.id} is on a resource no policy permits here: left")
                    done += (old.id,)
                    continue
                removal = await remove_assignment(ports, old.id, emit)
            except (Failure, ValueError) as exc:
                why = exc.message if isinstance(exc, Failure) else str(exc)
                emit("Warning", "RoleAssignmentNotRemoved", f"replaced role assignment {old.id}: {why}")
                continue
            if removal != "not ours":
                emit("Normal", "RoleAssignmentRemoved", f"role assignment {old.id} is no longer the policy's role")
        done += (old.id,)
    return done
