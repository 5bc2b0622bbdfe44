"""Pure deletion: what a credential's deletion removes, keeps and tells, as steps `finalize` carries out.

What is removed is what status records the credential acted on (its application, its ACS resource), not what
the spec says at deletion time: a tenant's last edit, refused by the policies, must not redirect the cleanup
(or leave the real objects behind). Role assignments and the role are removed only while a policy permits this
namespace what status records; `Retain` and `Orphan` are honoured only when a policy permits the credential.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from acs_smtp_operator.identity import (
    assignment_parts,
    key_marker,
    legacy_smtp_username_resource,
    marks,
    smtp_username_entry,
    smtp_username_resource,
)
from acs_smtp_operator.ids import same_id
from acs_smtp_operator.ledger import ledger_of
from acs_smtp_operator.model import AcsRef, Reason, Spec
from acs_smtp_operator.observed import Application
from acs_smtp_operator.retention import predecessor_keys
from acs_smtp_operator.status import Status

__all__ = [
    "DeleteRole",
    "DeletionFacts",
    "Kept",
    "RemoveAssignment",
    "RemoveKeys",
    "RetireApplication",
    "RetireEntry",
    "Step",
    "Tell",
    "acted",
    "decide_deletion",
    "doomed_keys",
    "wants_orphan",
]


class Kept(NamedTuple):
    """The client secret an orphaned Secret holds: it stays on its application, with what it needs to log in."""

    key_id: str
    client_id: str


@dataclass(frozen=True, kw_only=True)
class DeletionFacts:
    """What deletion decides from: the credential as stored, and the policies' and other credentials' word."""

    namespace: str
    name: str
    uid: str
    spec: Spec
    status: Status
    permitted: bool  # a policy permits what status records the credential acted on
    target: bool  # the policies permit this namespace the application and resource status records
    shared: Callable[[str], bool]  # another credential records this role assignment as its own
    covers: Callable[[str], bool]  # the namespace may use this ACS resource (an assignment's scope)
    now: datetime
    graph_lag: float  # seconds until Graph lists a key just added (ACSSMTP_GRAPH_LAG)

    @property
    def marker(self) -> str:
        return key_marker(self.namespace, self.name, self.uid)


@dataclass(frozen=True)
class Tell:
    """An Event: (type, reason, message)."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class RemoveAssignment:
    """A role assignment of this credential's, at the scope its id names (read back first: one not made by the
    operator stays)."""

    assignment_id: str


@dataclass(frozen=True, kw_only=True)
class RemoveKeys:
    """The credential's keys on its application (`doomed_keys`); until `wait` seconds have passed, Graph may not
    list the newest (`newest`): then what is listed goes, deletion waits, and looks again."""

    client_id: str
    kept: Kept | None
    newest: str | None
    wait: float


@dataclass(frozen=True)
class RetireApplication:
    """Keys carrying this credential's marker on an application it left."""

    client_id: str
    marker: str


@dataclass(frozen=True, kw_only=True)
class RetireEntry:
    """This credential's smtpUsernames entry on a resource (read back first: one that holds none of `apps` stays);
    `forbidden_stops`: the entry on the resource in use, whose deletion waits for the permission."""

    acs_id: str
    entry: str
    apps: frozenset[str]
    forbidden_stops: bool = False


@dataclass(frozen=True)
class DeleteRole:
    """The custom role the operator made for this credential, unless something still uses it."""

    role_id: str
    acs_id: str


Step = Tell | RemoveAssignment | RemoveKeys | RetireApplication | RetireEntry | DeleteRole


def acted(status: Status) -> bool:
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


def wants_orphan(facts: DeletionFacts) -> bool:
    """Is the Secret to be let go first (`spec.secret.deletionPolicy: Orphan`, honoured only when permitted)?"""
    return facts.spec.secret.deletion_policy == "Orphan" and facts.permitted


def doomed_keys(app: Application, facts: DeletionFacts, cluster: str | None, kept: Kept | None) -> list[str]:
    """The keys deletion removes: those carrying this credential's marker, and those of a deleted credential of
    the same name whose Secret it adopted that it still references (`retention`); never the one an orphaned
    Secret keeps."""
    referenced = ledger_of(facts.status).referenced()
    inherited = predecessor_keys(app, facts.namespace, facts.name, facts.uid, cluster, referenced)
    keep = kept.key_id if kept is not None else None
    marker = facts.marker
    return [k.key_id for k in app.keys if (marks(k.display_name, marker) or k.key_id in inherited) and k.key_id != keep]


def _assignment(facts: DeletionFacts, assignment_id: str) -> list[Step]:
    """Remove a role assignment the credential recorded, if the namespace may use the resource it is on (status
    names it, and status can be edited)."""
    try:
        _, scope, _ = assignment_parts(assignment_id)
    except ValueError as exc:
        return [Tell("Warning", "RoleAssignmentNotRemoved", str(exc))]
    if not facts.covers(scope):
        return [Tell("Warning", "RoleAssignmentLeft", f"{assignment_id} is on a resource no policy permits here: left")]
    return [RemoveAssignment(assignment_id)]


def _newest_wait(facts: DeletionFacts, kept: Kept | None) -> float:
    """How long Graph may still not list the newest key: never longer than the lag itself, whatever status says
    (it can be edited: a time years ahead must not hold the deletion, and a slot of the passes in flight)."""
    status, lag = facts.status, facts.graph_lag
    if not status.issued_at or lag <= 0 or (kept is not None and kept.key_id == status.issued_key_id):
        return 0.0
    settled = status.issued_at + timedelta(seconds=lag)
    return max(0.0, min((settled - facts.now).total_seconds(), lag))


def decide_deletion(facts: DeletionFacts, kept: Kept | None) -> tuple[Step, ...]:
    """Every step of one deletion, in order. `kept`: the key an orphaned Secret holds (`wants_orphan`, carried out
    first), None when nothing is kept."""
    spec, status = facts.spec, facts.status
    if not facts.permitted and not acted(status):
        # No permitted pass ever got to act (one cut short before its status would have recorded it here).
        return (Tell("Normal", "Deleted", "nothing to remove: the credential never acted in Azure"),)
    steps: list[Step] = []
    if spec.secret.deletion_policy == "Orphan" and not facts.permitted:
        steps.append(
            Tell(
                "Warning",
                Reason.NOT_PERMITTED,
                "secret.deletionPolicy Orphan is not honoured: no policy permits what the credential acted on now, "
                "so its client secrets are removed and the Secret goes with it",
            )
        )
    # Role assignments and roles are shared by whoever uses the same application and resource: they are removed
    # only while a policy permits this namespace what status records (status can be edited to name another's).
    if not facts.target and (status.role_assignment_id or status.replaced_role_assignments):
        steps.append(
            Tell(
                "Warning",
                "RoleAssignmentLeft",
                "no policy permits what this credential acted on now: its role assignment and role are left in "
                "place for an administrator to remove",
            )
        )
    for old in status.replaced_role_assignments if facts.target else ():  # whatever Retain says
        if not facts.shared(old.id):
            steps += _assignment(facts, old.id)
    if spec.deletion_policy == "Retain":
        if facts.permitted:
            return (*steps, Tell("Normal", "Retained", "deletionPolicy Retain: Azure objects are left in place"))
        steps.append(
            Tell(
                "Warning",
                Reason.NOT_PERMITTED,
                "deletionPolicy Retain is not permitted by any policy now: the credential's Azure objects are removed",
            )
        )
    recorded = status.client_id is not None
    if not recorded and not facts.permitted:
        # Status from before targets were recorded, and the spec is not permitted: it may name anything.
        message = "what the credential acted on is not recorded: nothing was removed"
        return (*steps, Tell("Warning", Reason.NOT_PERMITTED, message))
    client_id = status.client_id or spec.entra_application.client_id
    acs = AcsRef(resourceId=status.communication_service_id or spec.communication_service.resource_id)
    steps.append(
        RemoveKeys(client_id=client_id, kept=kept, newest=status.issued_key_id, wait=_newest_wait(facts, kept))
    )
    steps += _entries(facts, acs, recorded, kept)
    if kept is not None:
        message = (
            f"the other client secrets of this credential were removed; client secret {kept.key_id}, its role "
            "assignment and role stay for the orphaned Secret"
        )
        return (*steps, Tell("Normal", "Deleted", message))
    if not facts.target:
        message = "the client secrets and smtpUsernames entry of this credential were removed"
        return (*steps, Tell("Normal", "Deleted", message))
    assignment = status.role_assignment_id or ""
    if assignment and status.role_assignment_owned and not facts.shared(assignment):
        steps += _assignment(facts, assignment)
    role_id = status.role_definition_id or ""
    if role_id and status.role_definition_owned:
        steps.append(DeleteRole(role_id, acs.resource_id))
    message = "client secrets and the role assignment of this credential were removed"
    return (*steps, Tell("Normal", "Deleted", message))


def _entries(facts: DeletionFacts, acs: AcsRef, recorded: bool, kept: Kept | None) -> list[Step]:
    """The smtpUsernames entries and the keys on applications a retarget left behind.

    The entry's name derives from the credential's uid (or is the legacy name status records): Azure's record of
    it being ours. A name status gives is never deleted otherwise (status can be edited), and the entry is read
    back first: one that holds no application this credential used is left.
    """
    spec, status = facts.spec, facts.status
    steps: list[Step] = []
    legacy = legacy_smtp_username_resource(facts.namespace, facts.name)
    # Status from before targets were recorded (0.1.0's first releases): its entry has the legacy name.
    ours = smtp_username_entry(
        facts.namespace, facts.name, facts.uid, status.smtp_username_resource if recorded else legacy
    )
    if status.smtp_username_resource not in (None, ours):
        steps.append(
            Tell("Warning", "SmtpUsernameNotOurs", f"smtpUsername {status.smtp_username_resource!r} is not ours: left")
        )
    apps = frozenset(
        a.lower()
        for a in (status.client_id or spec.entra_application.client_id, *(r.client_id for r in status.retired))
        if a
    )
    made = status.smtp_username_resource == ours
    # An orphaned Secret's username would need the entry (the schema refuses Orphan with SmtpUsername): it stays.
    if kept is None and (made or (not recorded and spec.username.format == "SmtpUsername")):
        steps.append(RetireEntry(acs_id=acs.resource_id, entry=ours, apps=apps, forbidden_stops=True))
    current = smtp_username_resource(facts.namespace, facts.name, facts.uid)
    for left in status.retired:  # what a retarget left behind, whether or not its grace period is over
        if left.client_id and left.client_id.lower() != (status.client_id or "").lower():
            if kept is not None and kept.client_id.lower() == left.client_id.lower():
                continue  # the orphaned Secret still holds the key of the application it left (the sweep's)
            steps.append(RetireApplication(left.client_id, facts.marker))
        elif left.smtp_username_at and not (made and same_id(left.smtp_username_at, acs.resource_id)):
            named = left.smtp_username_resource  # acted on only when it is one of this credential's own names
            entry = named if named in (current, legacy) else current
            steps.append(RetireEntry(acs_id=left.smtp_username_at, entry=entry, apps=apps))
    return steps
