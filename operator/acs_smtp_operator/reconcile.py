"""One reconciliation of an AcsSmtpCredential: observe, decide (plan.py), act through the adapters, report.

Level-triggered and idempotent: everything is recomputed from Azure and
Kubernetes on each pass; a pass that finds nothing to change writes nothing.
"""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from acs_smtp_operator.azure import acs as acs_api
from acs_smtp_operator.azure import passwords, roles, verify
from acs_smtp_operator.azure.clients import AzureClients
from acs_smtp_operator.azure.errors import AzureFailure
from acs_smtp_operator.conditions import set_condition, stamp
from acs_smtp_operator.kube import workloads
from acs_smtp_operator.kube.api import Kube
from acs_smtp_operator.kube_secret import credential_state, decode, secret_body
from acs_smtp_operator.metrics import Metrics
from acs_smtp_operator.model import Reason, Spec
from acs_smtp_operator.plan import (
    CLIENT_ID,
    KEY_ID,
    NOT_AFTER,
    RESOURCE,
    ROTATE,
    Ledger,
    Observed,
    advance,
    ledger_of,
    needs_new_secret,
    orphans,
    parse_stamp,
    secret_is_ours,
    standing_after_failure,
)
from acs_smtp_operator.settings import Settings
from acs_smtp_operator.smtp import (
    TemplateRenderError,
    compose_username,
    on_linked_domain,
    render_template_data,
    secret_data,
    sender_address,
)

__all__ = ["Credential", "Outcome", "Ports", "finalize", "key_marker", "reconcile", "rollouts_done"]

_NS = uuid.UUID("0b7d2c55-4a5c-4f7e-9d56-acd5a1f0c0de")
_ACTION = re.compile(r"^[A-Za-z0-9.]+/([A-Za-z0-9.*]+/)*[A-Za-z0-9.*]+$")
Emit = Callable[[str, str, str], None]  # (type, reason, message)


@dataclass
class Ports:
    settings: Settings
    azure: AzureClients
    kube: Kube
    tenant_id: str
    metrics: Metrics = field(default_factory=Metrics)


@dataclass
class Credential:
    """The custom resource as one pass sees it."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    status: dict[str, Any]
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> dict[str, Any]:
        return {"apiVersion": "acssmtp.io/v1alpha1", "kind": "AcsSmtpCredential", "name": self.name, "uid": self.uid}


@dataclass
class Outcome:
    status: dict[str, Any]
    failure: AzureFailure | None = None
    invalid: str | None = None  # bad input: retrying will not help until the spec changes
    wrote_status: bool = False
    secret_version: str | None = None  # the resourceVersion of the Secret this pass wrote


def key_marker(cr: Credential) -> str:
    """The display name of every client secret this CR creates: marks it as ours and names the CR."""
    return f"acs-smtp-operator {cr.namespace}/{cr.name} {cr.uid[:8]}"


def role_guid(tenant_id: str, role_name: str) -> str:
    return str(uuid.uuid5(_NS, f"role|{tenant_id}|{role_name.lower()}"))


def assignment_guid(acs_id: str, role_id: str, principal_id: str) -> str:
    return str(uuid.uuid5(_NS, f"assignment|{acs_id.lower()}|{role_id.lower()}|{principal_id.lower()}"))


def smtp_username_resource(cr: Credential) -> str:
    digest = hashlib.sha256(f"{cr.namespace}/{cr.name}".encode()).hexdigest()[:12]
    return f"acssmtp-{re.sub(r'[^a-zA-Z0-9-]', '-', cr.name)[:40]}-{digest}"


def _invalid(spec: Spec, tenant_id: str) -> str | None:
    """What the schema cannot check; None when the spec is usable."""
    bad = [a for a in spec.role.actions if not _ACTION.match(a)]
    if bad:
        return f"spec.role.actions: {bad} are not Azure actions (Provider/resourceType/action)"
    tenant = spec.entra_application.tenant_id
    if tenant and tenant.lower() != tenant_id.lower():
        return (
            f"spec.entraApplication.tenantId {tenant} is not the operator's tenant {tenant_id}; "
            "this operator manages applications in its own tenant"
        )
    return None


class _Pass:
    """The mutable state of one pass: status and conditions as they are being rebuilt."""

    def __init__(self, cr: Credential, now: datetime) -> None:
        self.cr, self.now = cr, now
        self.status = copy.deepcopy(cr.status)
        self.conditions: list[dict[str, Any]] = list(self.status.get("conditions") or [])
        self.secret_key: str | None = None  # the key the Secret holds once this pass settled it
        self.secret_version: str | None = None  # set when this pass wrote the Secret

    def condition(self, type_: str, ok: bool | None, reason: Reason | str, message: str) -> None:
        self.conditions = set_condition(self.conditions, type_, ok, str(reason), message, self.now, self.cr.generation)

    def finish(self) -> dict[str, Any]:
        self.status["conditions"] = self.conditions
        self.status["observedGeneration"] = self.cr.generation
        return self.status


async def reconcile(ports: Ports, cr: Credential, now: datetime, emit: Emit) -> Outcome:
    state = _Pass(cr, now)
    try:
        spec = Spec.parse(cr.spec)
    except ValidationError as exc:
        problem = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return await _refuse(ports, cr, state, problem, emit)
    unusable = _invalid(spec, ports.tenant_id)
    if unusable:
        return await _refuse(ports, cr, state, unusable, emit)
    failure: AzureFailure | None = None
    try:
        await _provision(ports, cr, spec, state, emit)
    except AzureFailure as exc:
        failure = exc
        _report_failure(state, exc, emit)
    else:
        state.condition("Synced", True, Reason.READY, "the last reconciliation succeeded")
    wrote = await _write_status(ports, cr, state.finish())
    ports.metrics.credential(cr.namespace, cr.name, state.status)
    return Outcome(status=state.status, failure=failure, wrote_status=wrote, secret_version=state.secret_version)


def _report_failure(state: _Pass, exc: AzureFailure, emit: Emit) -> None:
    """A failure never hides a working credential: Ready says whether the Secret still works, and until when."""
    state.condition("Synced", False, exc.reason, exc.message)
    if exc.reason in (Reason.ROLE_NAME_CONFLICT, Reason.ROLE_NOT_FOUND, Reason.FORBIDDEN):
        state.condition("RoleReady", False, exc.reason, exc.message)
    standing = standing_after_failure(
        bool(state.status.get("currentKeyId")),
        parse_stamp(state.status.get("notAfter")),
        parse_stamp(state.status.get("renewalTime")),
        state.now,
    )
    if standing == "none":
        state.condition("Ready", False, exc.reason, exc.message)
        emit("Warning", str(exc.reason), exc.message)
    elif standing == "expired":
        message = f"the client secret in the Secret expired at {state.status['notAfter']}: {exc.message}"
        state.condition("Ready", False, Reason.EXPIRED, message)
        emit("Warning", str(Reason.EXPIRED), message)
    elif standing == "expiring":
        message = (
            f"rotation is overdue and failing; the Secret's client secret expires at {state.status['notAfter']}, "
            f"act before then: {exc.message}"
        )
        state.condition("Ready", True, Reason.EXPIRING, message)
        emit("Warning", str(Reason.EXPIRING), message)
    else:
        emit("Warning", str(exc.reason), exc.message)


async def _refuse(ports: Ports, cr: Credential, state: _Pass, problem: str, emit: Emit) -> Outcome:
    state.condition("Ready", False, Reason.INVALID_SPEC, problem)
    wrote = await _write_status(ports, cr, state.finish())
    if wrote:
        emit("Warning", str(Reason.INVALID_SPEC), problem)
    return Outcome(status=state.status, invalid=problem, wrote_status=wrote)


async def _write_status(ports: Ports, cr: Credential, status: dict[str, Any]) -> bool:
    """Write status only when it changed; a field this pass dropped is deleted (null in the merge patch)."""
    if status == cr.status:
        return False
    dropped = {key: None for key in cr.status if key not in status}
    await ports.kube.patch_status(cr.namespace, cr.name, {**status, **dropped})
    return True


async def _provision(ports: Ports, cr: Credential, spec: Spec, state: _Pass, emit: Emit) -> None:
    azure, acs = ports.azure, spec.communication_service
    client_id = spec.entra_application.client_id
    domains = await acs_api.linked_domains(azure.communication(acs.subscription_id), acs)
    if domains:
        state.condition("DomainLinked", True, Reason.DOMAIN_LINKED, f"linked domains: {', '.join(domains)}")
    else:
        state.condition(
            "DomainLinked",
            False,
            Reason.NO_LINKED_DOMAIN,
            f"{acs.name} has no linked email domain: connect an Email Communication Services domain "
            "before mail can be sent",
        )
    app = await passwords.find_application(azure.graph, client_id)
    principal = await passwords.find_service_principal(azure.graph, client_id)
    await _ensure_role(ports, spec, principal, state, emit)
    username = compose_username(spec.username.format, acs.name, client_id, ports.tenant_id, spec.username.smtp_username)
    state.status["username"] = username
    if spec.username.format == "SmtpUsername":
        await _ensure_smtp_username(ports, cr, spec, username, domains, state, emit)
    await _ensure_secret(ports, cr, spec, app, username, domains, state, emit)
    if state.status.get("secretConflict") or state.secret_key is None:
        return
    await _advance_keys(ports, cr, spec, app, state, emit)
    if domains:
        state.condition(
            "Ready", True, Reason.READY, f"SMTP credentials for {acs.name} are in Secret {state.status['secretName']}"
        )
    else:
        state.condition(
            "Ready",
            False,
            Reason.NO_LINKED_DOMAIN,
            "credentials are provisioned, but the ACS resource has no linked domain to send from",
        )


async def _ensure_role(ports: Ports, spec: Spec, principal: str, state: _Pass, emit: Emit) -> None:
    azure, acs, role = ports.azure, spec.communication_service, spec.role
    if role.existing_role_definition_id:
        role_id = await roles.existing_role(
            azure.authorization(acs.subscription_id), acs.subscription_scope, role.existing_role_definition_id
        )
        state.status["roleDefinitionOwned"] = False
    else:
        scope = acs.scope(role.definition_scope)
        made = await roles.ensure_custom_role(
            azure.authorization(acs.subscription_id),
            acs.subscription_scope,
            role_guid(ports.tenant_id, role.custom_role_name),
            role.custom_role_name,
            role.actions,
            scope,
        )
        role_id = made.id
        state.status["roleDefinitionOwned"] = made.owned
        if made.written:
            emit("Normal", "RoleDefinitionWritten", f"role {role.custom_role_name!r} assignable at {scope}")
    state.status["roleDefinitionId"] = role_id
    guid = assignment_guid(acs.resource_id, role_id, principal)
    assigned = await roles.ensure_role_assignment(
        azure.authorization(acs.subscription_id), acs.resource_id, guid, role_id, principal
    )
    state.status["roleAssignmentId"] = assigned.id
    state.status["roleAssignmentOwned"] = assigned.owned
    if assigned.written:
        emit("Normal", "RoleAssigned", f"role assigned to service principal {principal} on {acs.name}")
    state.condition(
        "RoleReady", True, Reason.ROLE_READY, f"service principal {principal} holds {role_id} on {acs.name}"
    )


async def _ensure_smtp_username(
    ports: Ports, cr: Credential, spec: Spec, username: str, domains: list[str], state: _Pass, emit: Emit
) -> None:
    if not on_linked_domain(username, domains):
        raise AzureFailure(
            Reason.SMTP_USERNAME_INVALID,
            f"spec.username.smtpUsername {username!r} is not on a domain linked to "
            f"{spec.communication_service.name} ({', '.join(domains) or 'none linked'})",
        )
    written = await acs_api.ensure_smtp_username(
        ports.azure.communication(spec.communication_service.subscription_id),
        spec.communication_service,
        smtp_username_resource(cr),
        username,
        spec.entra_application.client_id,
        ports.tenant_id,
    )
    if written:
        emit("Normal", "SmtpUsernameWritten", f"smtpUsername {username!r} on {spec.communication_service.name}")


def _secret_name(cr: Credential, spec: Spec) -> str:
    return spec.secret.name or f"{cr.name}-smtp"


async def _ensure_secret(
    ports: Ports,
    cr: Credential,
    spec: Spec,
    app: passwords.Application,
    username: str,
    domains: list[str],
    state: _Pass,
    emit: Emit,
) -> None:
    name = _secret_name(cr, spec)
    state.status["secretName"] = name
    current = await ports.kube.read_secret(cr.namespace, name)
    if current is not None and not secret_is_ours(current["metadata"].get("ownerReferences"), cr.uid):
        message = (
            f"Secret {name} exists and is not owned by this AcsSmtpCredential: it is left untouched; "
            "delete it or choose another spec.secret.name"
        )
        state.status["secretConflict"] = True
        state.condition("SecretReady", False, Reason.SECRET_CONFLICT, message)
        state.condition("Ready", False, Reason.SECRET_CONFLICT, message)
        return
    state.status.pop("secretConflict", None)
    observed = Observed(
        secret=credential_state(current),
        app_keys={k.key_id: k.end for k in app.keys},
        want_client_id=app.client_id,
        want_resource_id=spec.communication_service.resource_id,
        want_username=username,
        renew_before=spec.rotation.renew,
        rotate_requested=cr.annotations.get(ROTATE),
        rotate_handled=cr.status.get("rotateRequestHandled"),
    )
    reason = needs_new_secret(observed, state.now)
    if reason is None:
        assert current is not None and observed.secret is not None and observed.secret.key_id
        key_id = observed.secret.key_id
        not_after = observed.app_keys.get(key_id) or observed.secret.not_after
        state.secret_version = await _write_secret(
            ports, cr, spec, name, current, username, decode(current)["password"], key_id, not_after, domains
        )
        state.secret_key = key_id
        if not_after is not None:
            state.status.update(notAfter=stamp(not_after), renewalTime=stamp(not_after - spec.rotation.renew))
        state.condition("SecretReady", True, Reason.SECRET_READY, f"Secret {name} holds key {key_id}")
        return
    await _issue(ports, cr, spec, app, name, current, username, domains, reason, state, emit)


async def _issue(
    ports: Ports,
    cr: Credential,
    spec: Spec,
    app: passwords.Application,
    name: str,
    current: dict[str, Any] | None,
    username: str,
    domains: list[str],
    reason: str,
    state: _Pass,
    emit: Emit,
) -> None:
    """Add a client secret, prove it works, then (and only then) put it in the Secret."""
    now = state.now
    end = now + spec.rotation.lifetime
    new = await passwords.add_password(ports.azure.graph, app.object_id, key_marker(cr), end)
    secret = new.value.get_secret_value()
    bound = timedelta(seconds=ports.settings.verify_timeout)
    why: str | None = None
    if spec.rotation.verify == "Token":
        why = await verify.verify_token(
            ports.settings, ports.tenant_id, app.client_id, secret, bound, hook=ports.metrics.azure_call
        )
    elif spec.rotation.verify == "Smtp":
        why = await verify.verify_smtp(ports.settings, username, secret, bound)
    if why is not None:
        await passwords.remove_password(ports.azure.graph, app.object_id, new.key_id)
        ports.metrics.rotation(cr.namespace, cr.name, reason, "verification_failed")
        raise AzureFailure(
            Reason.VERIFICATION_FAILED,
            f"the new client secret did not work within {bound}: {why}; it was removed and the Secret left as it was",
            transient=True,
        )
    try:
        state.secret_version = await _write_secret(
            ports, cr, spec, name, current, username, secret, new.key_id, new.end, domains
        )
    except Exception:
        await passwords.remove_password(ports.azure.graph, app.object_id, new.key_id)
        raise
    state.secret_key = new.key_id
    ports.metrics.rotation(cr.namespace, cr.name, reason, "success")
    state.status.update(
        notAfter=stamp(new.end),
        renewalTime=stamp(new.end - spec.rotation.renew),
        lastRotationTime=stamp(now),
        lastRotationReason=reason,
    )
    if cr.annotations.get(ROTATE):
        state.status["rotateRequestHandled"] = cr.annotations[ROTATE]
    state.condition("SecretReady", True, Reason.SECRET_READY, f"Secret {name} holds key {new.key_id}")
    emit("Normal", "SecretIssued", f"new client secret {new.key_id} in Secret {name} ({reason})")


async def _write_secret(
    ports: Ports,
    cr: Credential,
    spec: Spec,
    name: str,
    current: dict[str, Any] | None,
    username: str,
    password: str,
    key_id: str,
    not_after: datetime | None,
    domains: list[str],
) -> str | None:
    """Write the Secret when anything in it differs from what it should hold; the version written, if any."""
    settings = ports.settings
    data = secret_data(username, password, settings.smtp_host, settings.smtp_port, sender_address(domains))
    try:
        data.update(render_template_data(spec.secret.template.data, data))
    except TemplateRenderError as exc:
        raise AzureFailure(Reason.INVALID_SPEC, str(exc)) from None
    annotations = {
        **spec.secret.template.annotations,
        KEY_ID: key_id,
        CLIENT_ID: spec.entra_application.client_id,
        RESOURCE: spec.communication_service.resource_id,
    }
    if not_after is not None:
        annotations[NOT_AFTER] = stamp(not_after)
    body = secret_body(cr.namespace, name, cr.owner, data, annotations, spec.secret.template.labels)
    if current is not None and _same_secret(current, body):
        return None
    version = current["metadata"]["resourceVersion"] if current is not None else None
    return await ports.kube.write_secret(cr.namespace, body, version)


def _same_secret(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    meta, want = current.get("metadata") or {}, wanted["metadata"]
    return (
        bool((current.get("data") or {}) == wanted["data"])
        and current.get("type") == wanted["type"]
        and (meta.get("annotations") or {}) == want["annotations"]
        and (meta.get("labels") or {}) == want["labels"]
    )


async def rollouts_done(ports: Ports, namespace: str, spec: dict[str, Any] | None) -> bool:
    """Have the workloads restarted for the last rotation finished rolling out? (Kubernetes reads only.)"""
    try:
        targets = Spec.parse(spec or {}).restart_targets
    except ValidationError:
        return True
    for target in targets:
        if not await workloads.rollout_complete(ports.kube, target.kind, namespace, target.name):
            return False
    return True


async def _advance_keys(
    ports: Ports, cr: Credential, spec: Spec, app: passwords.Application, state: _Pass, emit: Emit
) -> None:
    """Old keys: restart the workloads, wait for the rollout, keep them through the grace period, then remove."""
    assert state.secret_key is not None
    before = ledger_of(state.status)
    app_keys = {k.key_id: k.end for k in app.keys}
    done = before.pending is None or await rollouts_done(ports, cr.namespace, cr.spec)
    timeout = timedelta(seconds=ports.settings.rollout_timeout)
    after, due = advance(
        before, state.secret_key, app_keys, state.now, spec.rotation.grace, bool(spec.restart_targets), done, timeout
    )
    if after.pending is not None and after.pending != before.pending:
        for target in spec.restart_targets:
            if await workloads.restart(ports.kube, target.kind, cr.namespace, target.name, stamp(state.now)):
                emit("Normal", "RolloutRestarted", f"{target.kind} {target.name} restarted to pick up the new secret")
            else:
                emit("Warning", "RestartTargetMissing", f"{target.kind} {target.name} does not exist")
    for key_id in due:
        await passwords.remove_password(ports.azure.graph, app.object_id, key_id)
        emit("Normal", "KeyRetired", f"old client secret {key_id} removed after its grace period")
    marked = {k.key_id: k.start for k in app.keys if k.display_name == key_marker(cr) and k.key_id not in due}
    loose, settling = orphans(marked, after.referenced(), state.now, timedelta(seconds=ports.settings.orphan_settle))
    for key_id in loose:
        await passwords.remove_password(ports.azure.graph, app.object_id, key_id)
        emit(
            "Normal",
            "OrphanKeyRemoved",
            f"client secret {key_id} of ours was referenced by nothing (an interrupted rotation) and was removed",
        )
    _store_ledger(state.status, after, settling)


def _store_ledger(status: dict[str, Any], ledger: Ledger, settling: datetime | None) -> None:
    status["currentKeyId"] = ledger.current
    pending = {"keyId": ledger.pending[0], "since": stamp(ledger.pending[1])} if ledger.pending else None
    retiring = [{"keyId": k, "removeAfter": stamp(t)} for k, t in ledger.retiring] or None
    for key, value in (
        ("pendingRollout", pending),
        ("retiringKeys", retiring),
        ("orphanCheckAt", stamp(settling) if settling else None),
    ):
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value


async def finalize(ports: Ports, cr: Credential, assignment_shared: bool, emit: Emit) -> None:
    """Undo what this CR did in Azure (deletionPolicy Delete); the Secret goes with its owner."""
    try:
        spec = Spec.parse(cr.spec)
    except ValidationError:
        return  # it never provisioned anything
    if spec.deletion_policy == "Retain":
        emit("Normal", "Retained", "deletionPolicy Retain: Azure objects are left in place")
        return
    azure, acs = ports.azure, spec.communication_service
    try:
        app = await passwords.find_application(azure.graph, spec.entra_application.client_id)
    except AzureFailure as exc:
        if exc.reason not in (Reason.APPLICATION_NOT_FOUND, Reason.FORBIDDEN):
            raise
        emit("Warning", str(exc.reason), f"client secrets could not be cleaned up: {exc.message}")
    else:
        for key in app.keys:
            if key.display_name == key_marker(cr):
                await passwords.remove_password(azure.graph, app.object_id, key.key_id)
    if spec.username.format == "SmtpUsername":
        await acs_api.delete_smtp_username(azure.communication(acs.subscription_id), acs, smtp_username_resource(cr))
    assignment = str(cr.status.get("roleAssignmentId") or "")
    if assignment and cr.status.get("roleAssignmentOwned") and not assignment_shared:
        await roles.delete_role_assignment(
            azure.authorization(acs.subscription_id), acs.resource_id, assignment.rsplit("/", 1)[-1]
        )
    role_id = str(cr.status.get("roleDefinitionId") or "")
    if role_id and cr.status.get("roleDefinitionOwned") and not spec.role.existing_role_definition_id:
        gone = await roles.delete_role_definition(
            azure.authorization(acs.subscription_id), acs.subscription_scope, role_id.rsplit("/", 1)[-1]
        )
        if gone:
            emit("Normal", "RoleDefinitionDeleted", f"role {spec.role.custom_role_name!r} is no longer used")
    emit("Normal", "Deleted", "client secrets and the role assignment of this credential were removed")
