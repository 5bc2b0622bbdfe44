"""Pure tenancy: which AcsSmtpPolicy permits a credential, which policies conflict, what a policy's status says.

An administrator's cluster-scoped `AcsSmtpPolicy` states, for a set of namespaces, which Entra applications
and ACS resources they may use, the role the operator assigns, and bounds on the tenant's choices. A
credential no policy permits is refused before any Azure call (default deny).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.model import Reason, RoleSpec, Spec, parse_duration, same_actions, schema_problems

__all__ = [
    "Grant",
    "Limits",
    "NamespaceSelection",
    "PolicySpec",
    "PolicyView",
    "Tenancy",
    "claimable",
    "conflicts",
    "covered",
    "covers",
    "permit",
    "permits_target",
    "policy_status",
    "policy_view",
    "resource_allowed",
]

_NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it to the namespace's name
_ACTION = re.compile(r"^[A-Za-z0-9.]+/([A-Za-z0-9.*]+/)*[A-Za-z0-9.*]+\Z")
_MAX_NAMED = 10  # namespaces a policy's status names before it says "and N more"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Requirement(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values(self) -> Requirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError("In and NotIn need values; Exists and DoesNotExist take none")
        return self


class Selector(_Model):
    """A Kubernetes label selector: every matchLabels entry and every expression must hold."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[Requirement, ...] = Field(default=(), alias="matchExpressions")

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            ok = {
                "In": present and labels.get(req.key) in req.values,
                "NotIn": not present or labels.get(req.key) not in req.values,
                "Exists": present,
                "DoesNotExist": not present,
            }[req.operator]
            if not ok:
                return False
        return True


class NamespaceSelection(_Model):
    """The namespaces a policy covers: those named, and those whose labels the selector matches."""

    names: tuple[str, ...] = ()
    selector: Selector | None = None


class Limits(_Model):
    """Bounds on what a covered credential may ask for."""

    max_secret_lifetime: str = Field(default="2160h", alias="maxSecretLifetime")
    min_rotation_interval: str = Field(default="1h", alias="minRotationInterval")
    max_grace_period: str = Field(default="168h", alias="maxGracePeriod")
    # Emergency revocations (acssmtp.io/revoke) in any 24 hours; 0 turns them off.
    max_revocations_per_day: int = Field(default=3, ge=0, le=100, alias="maxRevocationsPerDay")
    username_formats: tuple[Literal["Dot", "Pipe", "SmtpUsername"], ...] = Field(
        default=("Dot", "Pipe", "SmtpUsername"), alias="usernameFormats"
    )
    smtp_username_domains: tuple[str, ...] = Field(default=(), alias="smtpUsernameDomains")
    allow_retain: bool = Field(default=False, alias="allowRetain")

    @field_validator("max_secret_lifetime", "min_rotation_interval", "max_grace_period")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class PolicySpec(_Model):
    namespaces: NamespaceSelection
    applications: tuple[str, ...]
    communication_services: tuple[str, ...] = Field(alias="communicationServices")
    role: RoleSpec = Field(default_factory=RoleSpec)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("role")
    @classmethod
    def _actions(cls, role: RoleSpec) -> RoleSpec:
        bad = [a for a in role.actions if not _ACTION.match(a)]
        if bad:
            raise ValueError(f"{bad} are not Azure actions (Provider/resourceType/action)")
        granting = [a for a in role.actions if a.lower().startswith("microsoft.authorization/")]
        if granting:  # a principal that may write role assignments can make itself Owner
            raise ValueError(f"{granting}: an SMTP role may not manage access (Microsoft.Authorization)")
        # Any other provider's action could grant more than mail: a Key Vault's access policies, a managed
        # identity's federated credentials, a storage account's keys. The SMTP role is Microsoft.Communication's.
        foreign = [a for a in role.actions if not a.lower().startswith("microsoft.communication/")]
        if foreign:
            raise ValueError(f"{foreign}: an SMTP role's actions are Microsoft.Communication's only")
        return role


@dataclass(frozen=True, kw_only=True)
class PolicyView:
    """A policy as the operator's index holds it: parsed, or why it does not parse."""

    name: str
    created: str  # creationTimestamp: the older of two conflicting policies wins
    spec: PolicySpec | None
    problem: str | None = None  # why the spec does not parse (the policy permits nothing)
    selection: NamespaceSelection | None = None  # the namespaces it covers, even when the rest is invalid
    status: Mapping[str, Any] = field(default_factory=dict)  # as stored, to write only a change


def policy_view(body: Mapping[str, Any]) -> PolicyView:
    """Parse a policy object as the API server sends it; a bad one is kept with its problem."""
    meta = body.get("metadata") or {}
    name, created = str(meta.get("name")), str(meta.get("creationTimestamp") or "")
    status = dict(body.get("status") or {})
    raw = dict(body.get("spec") or {})
    try:
        spec = PolicySpec.model_validate(raw)
        return PolicyView(name=name, created=created, spec=spec, selection=spec.namespaces, status=status)
    except ValidationError as exc:
        problems = schema_problems(exc)
    try:
        selection: NamespaceSelection | None = NamespaceSelection.model_validate(raw.get("namespaces") or {})
    except ValidationError:
        selection = None
    return PolicyView(name=name, created=created, spec=None, problem=problems, selection=selection, status=status)


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


def covers(chosen: NamespaceSelection | None, namespace: str, labels: Mapping[str, str] | None) -> bool:
    """Does the selection cover the namespace? By name, or by labels (a namespace not seen has none)."""
    if chosen is None:
        return False
    if namespace in chosen.names:
        return True
    return chosen.selector is not None and labels is not None and chosen.selector.matches(labels)


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


def covered(view: PolicyView, namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The existing namespaces the policy covers, by name."""
    return sorted(ns for ns, labels in namespaces.items() if covers(view.selection, ns, labels))


def _listed(names: list[str]) -> str:
    """Namespace names for a status field: the first few, then how many more."""
    more = len(names) - _MAX_NAMED
    return ",".join(names[:_MAX_NAMED]) + (f" and {more} more" if more > 0 else "")


def claimable(selection: NamespaceSelection | None, namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What in a policy covers namespaces nobody made yet: whoever may create namespaces could claim them."""
    if selection is None:
        return []
    found: list[str] = []
    selector = selection.selector
    named = list(selection.names)  # and those a selector names by kubernetes.io/metadata.name, as names
    if selector is not None:
        named += [v for k, v in selector.match_labels.items() if k == _NAME_LABEL]
        named += [
            v for r in selector.match_expressions if r.key == _NAME_LABEL and r.operator == "In" for v in r.values
        ]
    missing = [ns for ns in dict.fromkeys(named) if ns not in namespaces]
    if missing:
        found.append(
            f"names namespaces that do not exist ({_listed(missing)}): whoever creates one first is covered "
            "(docs/tenancy.md, claiming a namespace)"
        )
    if (
        selector is not None
        and not selector.match_labels
        and all(r.operator in ("NotIn", "DoesNotExist") for r in selector.match_expressions)
    ):
        found.append(
            "the selector requires no label (only NotIn or DoesNotExist, or nothing): it covers every new namespace, "
            "whoever makes it (docs/tenancy.md, claiming a namespace)"
        )
    return found


def policy_status(
    view: PolicyView,
    conflicted: Mapping[str, str],
    namespaces: Mapping[str, Mapping[str, str]],
    credentials: int,
) -> dict[str, Any]:
    """The status a policy should show: is it accepted, which namespaces it covers, how many credentials use it."""
    if view.spec is None:
        ready, reason, message = "False", "InvalidPolicy", f"the policy permits nothing: {view.problem}"
    elif view.name in conflicted:
        ready, reason, message = "False", "RoleConflict", conflicted[view.name]
    else:
        ready, reason, message = "True", "Accepted", "the policy is in force"
    names = covered(view, namespaces)
    return {
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
        "namespaces": _listed(names),
        "namespaceCount": len(names),
        "credentials": credentials,
        "warnings": claimable(view.selection, namespaces),
    }
