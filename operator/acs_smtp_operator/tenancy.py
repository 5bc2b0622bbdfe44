"""Pure tenancy: which AcsSmtpPolicy permits a credential, and which policies conflict.

An administrator's cluster-scoped `AcsSmtpPolicy` (`policy.py`) states, for a set of namespaces, which Entra
applications and ACS resources they may use, the role the operator assigns, and bounds on the tenant's choices. A
credential no policy permits is refused before any Azure call (default deny).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.model import Reason, RoleSpec, Spec, parse_duration, same_actions
from acs_smtp_operator.policy import Limits, PolicyView, covers
from acs_smtp_operator.status import Status
from acs_smtp_operator.validate import validate

__all__ = [
    "DeletionScope",
    "Grant",
    "Permission",
    "Tenancy",
    "as_recorded",
    "conflicts",
    "deletion_scope",
    "permission",
    "permit",
    "permits_target",
    "resource_allowed",
]


@dataclass(frozen=True)
class Tenancy:
    """What permission depends on: every policy, and the labels of every namespace."""

    policies: tuple[PolicyView, ...] = ()
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @cached_property
    def refused(self) -> dict[str, str]:
        """The policies refused for a role conflict (computed once per snapshot, not once per credential)."""
        return conflicts(self.policies)


@dataclass(frozen=True, kw_only=True)
class Grant:
    """A credential permitted: by which policy, with which role."""

    policy: str
    role: RoleSpec
    min_rotation_interval: timedelta = timedelta(0)  # manual rotations too wait this long after the last one
    max_revocations_per_day: int = 3  # emergency revocations in any 24 hours (0: none)


def resource_allowed(patterns: Iterable[str], resource_id: str) -> bool:
    """An exact resource id, or `/subscriptions/<id>/*` or `.../resourceGroups/<name>/*`; ARM ids ignore case."""
    wanted = resource_id.lower()
    for pattern in patterns:
        text = pattern.lower()
        if text.endswith("/*"):
            if wanted.startswith(text[:-1]):  # keeps the slash: rg-shop/* does not match rg-shop2
                return True
        elif text == wanted:
            return True
    return False


def conflicts(policies: Iterable[PolicyView]) -> dict[str, str]:
    """Policies refused because an older one names the same custom role with other actions: name → why."""
    refused: dict[str, str] = {}
    first: dict[str, PolicyView] = {}
    for view in sorted(policies, key=lambda p: (p.created, p.name)):
        if view.spec is None or not view.spec.role.custom:
            continue
        role = view.spec.role
        key = role.custom_role_name.lower()
        earlier = first.setdefault(key, view)
        assert earlier.spec is not None
        first_role = earlier.spec.role
        if earlier is view:
            continue
        # One role definition per name, whatever its case: another spelling would rename it on every pass.
        if first_role.custom_role_name != role.custom_role_name or not same_actions(first_role.actions, role.actions):
            refused[view.name] = (
                f"custom role {role.custom_role_name!r} is already defined by policy {earlier.name!r} as "
                f"{first_role.custom_role_name!r} with actions {sorted(first_role.actions)}; a role name has one "
                "spelling and one set of actions: use the same, or another customRoleName"
            )
    return refused


def _over(spec: Spec, limits: Limits) -> str | None:
    """The first of the credential's choices the limits refuse, in the words of its field."""
    rotation = spec.rotation
    lifetime, renew, grace = rotation.lifetime, rotation.renew, rotation.grace
    checks: tuple[tuple[bool, str], ...] = (
        (
            lifetime > parse_duration(limits.max_secret_lifetime),
            f"spec.rotation.secretLifetime {rotation.secret_lifetime} is above maxSecretLifetime "
            f"{limits.max_secret_lifetime}",
        ),
        (
            lifetime - renew < parse_duration(limits.min_rotation_interval),
            f"rotations every {_hours(lifetime - renew)} (secretLifetime - renewBefore) are more frequent than "
            f"minRotationInterval {limits.min_rotation_interval}",
        ),
        (
            grace > parse_duration(limits.max_grace_period),
            f"spec.rotation.gracePeriod {rotation.grace_period} is above maxGracePeriod {limits.max_grace_period}",
        ),
        (
            spec.username.format not in limits.username_formats,
            f"spec.username.format {spec.username.format} is not among usernameFormats {list(limits.username_formats)}",
        ),
        (
            spec.deletion_policy == "Retain" and not limits.allow_retain,
            "spec.deletionPolicy Retain is not allowed (allowRetain is false)",
        ),
        (
            # The Secret, its client secret and role assignment outlive the credential: a form of Retain.
            spec.secret.deletion_policy == "Orphan" and not limits.allow_retain,
            "spec.secret.deletionPolicy Orphan is not allowed (allowRetain is false)",
        ),
    )
    for refused, why in checks:
        if refused:
            return why
    username = spec.username.smtp_username
    if spec.username.format == "SmtpUsername" and limits.smtp_username_domains and username:
        domain = username.rpartition("@")[2].lower() if "@" in username else None
        if domain not in {d.lower() for d in limits.smtp_username_domains}:
            return (
                f"spec.username.smtpUsername {username!r} is not an address on smtpUsernameDomains "
                f"{list(limits.smtp_username_domains)}"
            )
    return None


def _hours(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s"


def _refusal(view: PolicyView, spec: Spec, conflicted: Mapping[str, str]) -> str | None:
    """Why this covering policy does not permit the credential; None: it does."""
    if view.spec is None:
        return f"the policy is invalid ({view.problem})"
    if view.name in conflicted:
        return f"the policy is refused: {conflicted[view.name]}"
    policy = view.spec
    client_id = spec.entra_application.client_id
    if client_id.lower() not in {a.lower() for a in policy.applications}:
        return f"application {client_id} is not in its applications"
    resource_id = spec.communication_service.resource_id
    if not resource_allowed(policy.communication_services, resource_id):
        return f"communication service {resource_id} is not in its communicationServices"
    return _over(spec, policy.limits)


def permit(spec: Spec, namespace: str, tenancy: Tenancy) -> Grant:
    """The policy that permits the credential (the first by name), or a `Failure` naming every refusal.

    NotPermitted is not retried until the spec changes; a policy or namespace change asks again.
    """
    labels = tenancy.namespaces.get(namespace)
    covering = sorted((p for p in tenancy.policies if covers(p.selection, namespace, labels)), key=lambda p: p.name)
    if not covering:
        raise Failure(
            Reason.NOT_PERMITTED,
            f"no AcsSmtpPolicy covers namespace {namespace}; a cluster administrator must create one "
            "(kubectl get acssmtppolicies)",
            retry=UntilSpecChanges(),
        )
    conflicted = tenancy.refused
    refusals: list[str] = []
    for view in covering:
        why = _refusal(view, spec, conflicted)
        if why is None:
            assert view.spec is not None
            limits = view.spec.limits
            return Grant(
                policy=view.name,
                role=view.spec.role,
                min_rotation_interval=parse_duration(limits.min_rotation_interval),
                max_revocations_per_day=limits.max_revocations_per_day,
            )
        refusals.append(f"policy {view.name!r}: {why}")
    raise Failure(
        Reason.NOT_PERMITTED,
        f"no policy covering namespace {namespace} permits this credential: {'; '.join(refusals)}",
        retry=UntilSpecChanges(),
    )


def permits_target(tenancy: Tenancy, namespace: str, client_id: str, resource_id: str) -> bool:
    """Does a valid policy covering the namespace list this application and this ACS resource? (The target
    alone, whatever else a spec says: asked before removing a role assignment, which whoever uses the same
    application and resource shares, and whose id status names; status can be edited, the policies cannot be
    by a tenant.)"""
    labels = tenancy.namespaces.get(namespace)
    for view in tenancy.policies:
        if view.spec is None or view.name in tenancy.refused or not covers(view.selection, namespace, labels):
            continue
        if client_id.lower() in {a.lower() for a in view.spec.applications} and resource_allowed(
            view.spec.communication_services, resource_id
        ):
            return True
    return False


Permission = Grant | str | None  # permitted by, refused because, or not decided (the spec is invalid)


def permission(
    spec: Mapping[str, Any] | None, namespace: str, tenancy: Tenancy, *, tenant_id: str, smtp_host: str, smtp_port: int
) -> Permission:
    """What the policies say of a credential's spec, as the pass's first steps decide it (validate, permit)."""
    try:
        return permit(validate(dict(spec or {}), tenant_id, smtp_host, smtp_port), namespace, tenancy)
    except Failure as refused:
        return refused.message if refused.reason == Reason.NOT_PERMITTED else None


def as_recorded(spec: Mapping[str, Any], status: Status) -> dict[str, Any]:
    """The spec, with the application and resource status records the credential acted on: what a deletion's
    permission is asked of (a tenant's last edit must not redirect it)."""
    recorded = dict(spec)
    if status.client_id:
        recorded["entraApplication"] = {**dict(recorded.get("entraApplication") or {}), "clientId": status.client_id}
    if status.communication_service_id:
        recorded["communicationService"] = {"resourceId": status.communication_service_id}
    return recorded


@dataclass(frozen=True, kw_only=True)
class DeletionScope:
    """What a deletion may touch: `grant`, the policy that permits what status records (None: none does);
    `target`, may the namespace use the recorded application and resource at all (role assignments, shared by
    whoever uses them, go only then); `covers`, may it use this resource with that application."""

    grant: Grant | None
    target: bool
    covers: Callable[[str], bool]


def deletion_scope(
    decided: Permission, tenancy: Tenancy, namespace: str, spec: Mapping[str, Any], status: Status
) -> DeletionScope:
    """The scope of a deletion, from what status records the credential acted on (whatever the spec says now)."""
    grant = decided if isinstance(decided, Grant) else None
    app = status.client_id or str((spec.get("entraApplication") or {}).get("clientId") or "")
    resource = status.communication_service_id or str((spec.get("communicationService") or {}).get("resourceId") or "")

    def covers(resource_id: str) -> bool:
        return permits_target(tenancy, namespace, app, resource_id)

    return DeletionScope(grant=grant, target=grant is not None or covers(resource), covers=covers)
