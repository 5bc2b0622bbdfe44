"""Pure: an AcsSmtpPolicy as the operator reads it: its typed spec, the namespaces it selects, its view."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from acs_smtp_operator.model import RoleSpec, parse_duration, schema_problems

__all__ = [
    "Limits",
    "NamespaceSelection",
    "PolicySpec",
    "PolicyView",
    "Requirement",
    "Selector",
    "covers",
    "policy_view",
]

_NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it to the namespace's name
_ACTION = re.compile(r"^[A-Za-z0-9.]+/([A-Za-z0-9.*]+/)*[A-Za-z0-9.*]+\Z")


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


def covers(chosen: NamespaceSelection | None, namespace: str, labels: Mapping[str, str] | None) -> bool:
    """Does the selection cover the namespace? By name, or by labels (a namespace not seen has none)."""
    if chosen is None:
        return False
    if namespace in chosen.names:
        return True
    return chosen.selector is not None and labels is not None and chosen.selector.matches(labels)
