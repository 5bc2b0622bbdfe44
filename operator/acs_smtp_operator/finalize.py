"""Finalization: undo what a credential did in Azure (deletionPolicy Delete); the Secret goes with its owner."""

from __future__ import annotations

from pydantic import ValidationError

from acs_smtp_operator.azure import acs as acs_api
from acs_smtp_operator.azure import passwords, roles
from acs_smtp_operator.credential import Credential
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.identity import key_marker, smtp_username_resource
from acs_smtp_operator.model import ConditionType, Reason, Spec
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.status import Status

__all__ = ["finalize"]


async def _client_secrets(ports: Ports, cr: Credential, client_id: str, emit: Emit) -> None:
    try:
        app = await passwords.find_application(ports.azure.graph, client_id)
    except Failure as exc:
        if exc.reason not in (Reason.APPLICATION_NOT_FOUND, Reason.FORBIDDEN):
            raise
        emit("Warning", str(exc.reason), f"client secrets could not be cleaned up: {exc.message}")
        return
    marker = key_marker(cr.namespace, cr.name, cr.uid)
    for key in app.keys:
        if key.display_name == marker:
            await passwords.remove_password(ports.azure.graph, app.object_id, key.key_id)


def _never_acted(status: Status) -> bool:
    """Refused from its first pass on (no policy permitted it, or bad input), so nothing exists in Azure.

    No Azure call then, not even a read of an application it was refused. A pass cut short before it wrote
    any status leaves no Ready condition: that one is cleaned up in full, as it may have added a key.
    """
    ready = status.condition(ConditionType.READY)
    traces = (
        status.current_key_id,
        status.pending_rollout,
        status.retiring_keys,
        status.role_assignment_id,
        status.role_definition_id,
        status.policy,
        status.last_rotation_time,
    )
    return ready is not None and ready.reason in (Reason.NOT_PERMITTED, Reason.INVALID_SPEC) and not any(traces)


async def finalize(ports: Ports, cr: Credential, assignment_shared: bool, emit: Emit) -> None:
    """Remove this credential's client secrets, smtpUsernames entry, role assignment and (unused) role."""
    try:
        spec = Spec.parse(cr.spec)
    except ValidationError:
        return  # it never provisioned anything
    if spec.deletion_policy == "Retain":
        emit("Normal", "Retained", "deletionPolicy Retain: Azure objects are left in place")
        return
    azure, acs, status = ports.azure, spec.communication_service, Status.read(cr.status)
    if _never_acted(status):
        emit("Normal", "Deleted", "nothing to remove: the credential was never permitted to act in Azure")
        return
    await _client_secrets(ports, cr, spec.entra_application.client_id, emit)
    if spec.username.format == "SmtpUsername":
        resource = smtp_username_resource(cr.namespace, cr.name)
        await acs_api.delete_smtp_username(azure.communication(acs.subscription_id), acs, resource)
    assignment = status.role_assignment_id or ""
    if assignment and status.role_assignment_owned and not assignment_shared:
        await roles.delete_role_assignment(
            azure.authorization(acs.subscription_id), acs.resource_id, assignment.rsplit("/", 1)[-1]
        )
    role_id = status.role_definition_id or ""
    if role_id and status.role_definition_owned:
        gone = await roles.delete_role_definition(
            azure.authorization(acs.subscription_id), acs.subscription_scope, role_id.rsplit("/", 1)[-1]
        )
        if gone:
            emit("Normal", "RoleDefinitionDeleted", f"role {role_id} is no longer used")
    emit("Normal", "Deleted", "client secrets and the role assignment of this credential were removed")
