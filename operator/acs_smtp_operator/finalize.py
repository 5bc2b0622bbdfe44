"""Finalization: carry out what `deletion.decide_deletion` decides (deletionPolicy Delete undoes what a credential
did in Azure); the Secret goes with its owner, or, with `spec.secret.deletionPolicy: Orphan`, stays with a working
password (its client secret and role assignment are kept) for a new credential of the same name to adopt.

Deletion is allowed whether or not a policy permits the credential now. The clock is passed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from acs_smtp_operator.azure import passwords, roles
from acs_smtp_operator.credential import Credential
from acs_smtp_operator.deletion import (
    DeleteRole,
    DeletionFacts,
    Kept,
    RemoveAssignment,
    RemoveKeys,
    RetireApplication,
    RetireEntry,
    Step,
    Tell,
    decide_deletion,
    doomed_keys,
    wants_orphan,
)
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import secret_name
from acs_smtp_operator.kube_secret import decode, orphaned
from acs_smtp_operator.model import AcsRef, Reason, Spec
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.removals import remove_assignment, remove_keys, retire_application, retire_smtp_username
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Grant
from acs_smtp_operator.vocabulary import CLIENT_ID, KEY_ID, ORPHANED_UID

__all__ = ["finalize"]


Pause = Callable[[float], Awaitable[object]]


async def _orphan_secret(
    ports: Ports, cr: Credential, spec: Spec, status: Status, emit: Emit, now: datetime
) -> Kept | None:
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
    body = orphaned(found, cr.name, cr.uid, now)
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


async def _keys(ports: Ports, step: RemoveKeys, facts: DeletionFacts, emit: Emit, pause: Pause) -> None:
    """Remove every key of this credential on its application (but the one `kept`).

    Graph is eventually consistent: the key added last (`status.issuedKeyId`) may not be listed yet, and a key
    is removed by its marker only (never by an id status holds: it may come from the Secret, which the tenant
    can edit). So until `ACSSMTP_GRAPH_LAG` after it was added, deletion removes what is listed, waits for the
    lag to be over, and looks again, rather than leave that key behind.
    """
    try:
        app = await passwords.find_application(ports.azure.graph, step.client_id)
    except Failure as exc:
        if exc.reason not in (Reason.APPLICATION_NOT_FOUND, Reason.FORBIDDEN):
            raise
        emit("Warning", str(exc.reason), f"client secrets could not be cleaned up: {exc.message}")
        return
    await remove_keys(ports, app.object_id, doomed_keys(app, facts, ports.cluster, step.kept))
    if step.wait > 0 and not any(k.key_id == step.newest for k in app.keys):
        # Added moments ago and not listed yet: wait out Graph's lag (at most ACSSMTP_GRAPH_LAG) and look again.
        emit(
            "Normal",
            "WaitingForGraph",
            f"client secret {step.newest} is not listed yet: removing it once Graph's lag is over, in "
            f"{step.wait:.0f} s",
        )
        await pause(step.wait)
        again = await passwords.find_application(ports.azure.graph, step.client_id)
        await remove_keys(ports, app.object_id, doomed_keys(again, facts, ports.cluster, step.kept))


async def _carry_out(ports: Ports, steps: tuple[Step, ...], facts: DeletionFacts, emit: Emit, pause: Pause) -> None:
    for step in steps:
        match step:
            case Tell(kind, reason, message):
                emit(kind, reason, message)
            case RemoveAssignment(assignment_id):
                await remove_assignment(ports, assignment_id, emit)
            case RemoveKeys():
                await _keys(ports, step, facts, emit, pause)
            case RetireApplication(client_id, marker):
                await retire_application(ports, client_id, marker, emit)
            case RetireEntry(acs_id=acs_id, entry=entry, apps=apps, forbidden_stops=stops):
                await retire_smtp_username(ports, AcsRef(resourceId=acs_id), entry, apps, emit, forbidden_stops=stops)
            case DeleteRole(role_id, acs_id):
                acs = AcsRef(resourceId=acs_id)
                client = ports.azure.authorization(acs.subscription_id)
                removal = await roles.delete_role_definition(client, acs.resource_id, role_id.rsplit("/", 1)[-1])
                if removal == "removed":
                    emit("Normal", "RoleDefinitionDeleted", f"role {role_id} is no longer used")
                elif removal == "not ours":
                    emit("Warning", "RoleDefinitionNotOurs", f"role {role_id} was not made by the operator: left")


async def finalize(
    ports: Ports,
    cr: Credential,
    emit: Emit,
    grant: Grant | None,
    shared: Callable[[str], bool] = lambda _: True,
    target: bool = False,
    covers: Callable[[str], bool] = lambda _: False,
    pause: Pause = asyncio.sleep,
    *,
    clock: Callable[[], datetime],
) -> None:
    """Remove this credential's client secrets, smtpUsernames entry, role assignments and (unused) role, as
    `deletion.decide_deletion` says.

    `grant`: the policy that permits what status records the credential acted on (None: none does).
    `target`: do the policies permit this namespace the application and resource status records (whatever
    else the spec says now)? Role assignments and the role are removed only then; `covers`: may the
    namespace use that ACS resource (an assignment is removed only from a resource it may use).
    `shared`: does another credential record this role assignment as its own (then it stays)?
    `pause`: waits out Graph's lag for the newest key (the coordinator's gives its pass slot back meanwhile).
    `clock`: now (the coordinator's).
    """
    try:
        spec = Spec.parse(cr.spec)
    except ValidationError:
        return  # it never provisioned anything
    facts = DeletionFacts(
        namespace=cr.namespace,
        name=cr.name,
        uid=cr.uid,
        spec=spec,
        status=Status.read(cr.status),
        permitted=grant is not None,
        target=target,
        shared=shared,
        covers=covers,
        now=clock(),
        graph_lag=ports.settings.graph_lag,
    )
    # Before anything the orphaned Secret needs is removed.
    kept = await _orphan_secret(ports, cr, spec, facts.status, emit, facts.now) if wants_orphan(facts) else None
    await _carry_out(ports, decide_deletion(facts, kept), facts, emit, pause)
