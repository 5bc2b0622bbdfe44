"""Typed shapes of the custom resource's spec, and the vocabulary of conditions, reasons and standings."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "DEFAULT_ACTIONS",
    "LONGEST_LIFETIME",
    "SHORTEST_ROTATION",
    "AcsRef",
    "ConditionType",
    "LabelSelector",
    "Reason",
    "RestartTarget",
    "RoleSpec",
    "RotationReason",
    "RotationSpec",
    "SecretSpec",
    "SelectorRequirement",
    "Spec",
    "Standing",
    "is_acs_resource_id",
    "is_guid",
    "parse_duration",
    "same_actions",
    "schema_problems",
]

# The custom role Microsoft's SMTP authentication page asks for today ("Set up SMTP authentication for sending
# emails", MicrosoftDocs/azure-docs includes/smtp-authentication-customrole.md); older versions listed two actions.
DEFAULT_ACTIONS = (
    "Microsoft.Communication/CommunicationServices/Read",
    "Microsoft.Communication/CommunicationServices/Write",
    "Microsoft.Communication/EmailServices/write",
)

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
_LONGEST = timedelta(days=36500)  # a century: beyond it a duration is a typo (and near timedelta's own limit)
# The rotation bounds, as the CRD's CEL rules say them too.
LONGEST_LIFETIME = timedelta(hours=17520)  # two years: Entra's portal offers at most 24 months, and advises less
SHORTEST_ROTATION = timedelta(hours=1)  # secretLifetime - renewBefore: the time between scheduled rotations
_ACS_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>[-\w.()]{0,89}[-\w()])"
    r"/providers/Microsoft\.Communication/communicationServices/(?P<name>[-\w]{1,63})\Z",
    re.IGNORECASE,
)


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def is_acs_resource_id(text: str) -> bool:
    return bool(_ACS_ID.match(text))


def is_guid(text: str) -> bool:
    return bool(_GUID.match(text))


def same_actions(a: Iterable[str], b: Iterable[str]) -> bool:
    """Two lists of Azure actions grant the same: case and order aside, duplicates aside."""
    return {x.lower() for x in a} == {x.lower() for x in b}


def schema_problems(exc: ValidationError) -> str:
    """A spec's validation errors, each with the path of its field (`spec.rotation.secretLifetime: ...`)."""
    return "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def parse_duration(text: str) -> timedelta:
    """A Go/Kubernetes duration (`2160h`, `1h30m`, `90s`, `500ms`)."""
    position, seconds = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}: use the Go form such as 2160h, 1h30m or 90s")
    if seconds > _LONGEST.total_seconds():
        raise ValueError(f"duration {text!r} is longer than {_LONGEST.days} days")
    return timedelta(seconds=seconds)


class Reason(enum.StrEnum):
    """Condition reasons: each one tells the user what happened and what to do."""

    READY = "Ready"
    PROGRESSING = "Progressing"
    INVALID_SPEC = "InvalidSpec"
    NOT_PERMITTED = "NotPermitted"
    ACS_NOT_FOUND = "CommunicationServiceNotFound"
    NO_LINKED_DOMAIN = "NoLinkedDomain"
    DOMAIN_LINKED = "DomainLinked"
    DOMAIN_NOT_VERIFIED = "DomainNotVerified"
    APPLICATION_NOT_FOUND = "ApplicationNotFound"
    SERVICE_PRINCIPAL_NOT_FOUND = "ServicePrincipalNotFound"
    ROLE_NAME_CONFLICT = "RoleNameConflict"
    ROLE_NOT_FOUND = "RoleDefinitionNotFound"
    ROLE_READY = "RoleAssigned"
    FORBIDDEN = "Forbidden"
    THROTTLED = "Throttled"
    AZURE_UNAVAILABLE = "AzureUnavailable"
    ENDPOINT_UNREACHABLE = "EndpointUnreachable"
    OPERATOR_CREDENTIAL_EXPIRED = "OperatorCredentialExpired"
    OPERATOR_CREDENTIAL_REFUSED = "OperatorCredentialRefused"
    POLICY_REFUSED = "CredentialPolicyRefused"
    SECRET_CONFLICT = "SecretConflict"
    SECRET_READY = "SecretReady"
    SMTP_USERNAME_INVALID = "SmtpUsernameInvalid"
    SMTP_USERNAME_CONFLICT = "SmtpUsernameConflict"
    ROTATION_HELD = "RotationHeld"
    VERIFICATION_FAILED = "VerificationFailed"
    AZURE_ERROR = "AzureError"
    OPERATOR_ERROR = "OperatorError"  # a failure of the operator's own (a bug): its log has the traceback
    EXPIRING = "ExpiringSoon"
    EXPIRED = "Expired"
    STATUS_UNREADABLE = "StatusUnreadable"
    OBJECT_CHANGED = "ObjectChanged"
    KUBERNETES_FORBIDDEN = "KubernetesForbidden"
    KUBERNETES_ERROR = "KubernetesError"


class ConditionType(enum.StrEnum):
    """The conditions in status, in the order they are listed."""

    READY = "Ready"
    SYNCED = "Synced"
    DOMAIN_LINKED = "DomainLinked"
    ROLE_READY = "RoleReady"
    SECRET_READY = "SecretReady"


class RotationReason(enum.StrEnum):
    """Why a new client secret is issued (`rotation.needs_new_secret`, first reason wins)."""

    SECRET_MISSING = "SecretMissing"
    SECRET_INCOMPLETE = "SecretIncomplete"
    KEY_NOT_ON_APPLICATION = "KeyNotOnApplication"
    APPLICATION_CHANGED = "ApplicationChanged"
    COMMUNICATION_SERVICE_CHANGED = "CommunicationServiceChanged"
    EXPIRED = "Expired"
    RENEWAL_DUE = "RenewalDue"
    MANUAL_ROTATION = "ManualRotation"
    REVOKED = "Revoked"  # an emergency revocation: the old keys go as soon as the rollout completes


class Standing(enum.StrEnum):
    """What a failed pass leaves of the credential in the Secret."""

    NONE = "none"  # nothing issued yet
    EXPIRED = "expired"  # the Secret's client secret no longer works
    EXPIRING = "expiring"  # rotation is overdue: a human must act before it expires
    WORKING = "working"  # the failure does not threaten the Secret yet


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class AcsRef(_Model):
    resource_id: str = Field(alias="resourceId")

    @field_validator("resource_id")
    @classmethod
    def _is_acs_id(cls, value: str) -> str:
        if not _ACS_ID.match(value):
            raise ValueError("must be the ARM id of a Microsoft.Communication/communicationServices resource")
        return value

    def _part(self, name: str) -> str:
        match = _ACS_ID.match(self.resource_id)
        assert match is not None
        return match.group(name)

    @property
    def subscription_id(self) -> str:
        return self._part("sub")

    @property
    def resource_group(self) -> str:
        return self._part("rg")

    @property
    def name(self) -> str:
        return self._part("name")

    @property
    def subscription_scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    @property
    def resource_group_scope(self) -> str:
        return f"{self.subscription_scope}/resourceGroups/{self.resource_group}"

    def scope(self, level: Literal["Resource", "ResourceGroup", "Subscription"]) -> str:
        """The ARM scope at `level` around this resource (where a role is made assignable)."""
        return {
            "Resource": self.resource_id,
            "ResourceGroup": self.resource_group_scope,
            "Subscription": self.subscription_scope,
        }[level]


class AppRef(_Model):
    client_id: str = Field(alias="clientId")
    tenant_id: str | None = Field(default=None, alias="tenantId")


class RoleSpec(_Model):
    """The role a policy has the operator assign: its custom role (default) or an existing role definition."""

    custom_role_name: str = Field(default="ACS SMTP Sender", alias="customRoleName")
    actions: tuple[str, ...] = Field(default=DEFAULT_ACTIONS, min_length=1, max_length=32)
    definition_scope: Literal["Resource", "ResourceGroup", "Subscription"] = Field(
        default="ResourceGroup", alias="definitionScope"
    )
    existing_role_definition_id: str | None = Field(default=None, alias="existingRoleDefinitionId")
    # A built-in role by its name, e.g. "Communication and Email Service Owner" (looked up, never written).
    built_in_role_name: str | None = Field(default=None, alias="builtInRoleName")

    @property
    def custom(self) -> bool:
        """The operator defines (and owns) the role: neither an existing role nor a built-in one is named."""
        return not (self.existing_role_definition_id or self.built_in_role_name)


class UsernameSpec(_Model):
    format: Literal["Dot", "Pipe", "SmtpUsername"] = "Dot"
    smtp_username: str | None = Field(default=None, alias="smtpUsername")


class RotationSpec(_Model):
    secret_lifetime: str = Field(default="2160h", alias="secretLifetime")
    renew_before: str = Field(default="720h", alias="renewBefore")
    grace_period: str = Field(default="24h", alias="gracePeriod")
    verify: Literal["None", "Token", "Smtp"] = "Token"

    @property
    def lifetime(self) -> timedelta:
        return parse_duration(self.secret_lifetime)

    @property
    def renew(self) -> timedelta:
        return parse_duration(self.renew_before)

    @property
    def grace(self) -> timedelta:
        return parse_duration(self.grace_period)


class SecretTemplate(_Model):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    data: dict[str, str] = Field(default_factory=dict)


class SecretSpec(_Model):
    name: str | None = None
    template: SecretTemplate = Field(default_factory=SecretTemplate)
    # Orphan: when the credential is deleted, the Secret stays with a working password (its client secret, role
    # assignment kept), for a new credential of the same name to adopt (`finalize.py`, `kube_secret.adoptable`).
    deletion_policy: Literal["Delete", "Orphan"] = Field(default="Delete", alias="deletionPolicy")


_SELECTOR_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_SELECTOR_NAME}\Z")
_LABEL_VALUE = re.compile(rf"^({_SELECTOR_NAME})?\Z")


def _label_key(key: str) -> str:
    if not _LABEL_KEY.match(key):
        raise ValueError(f"{key[:80]!r} is not a label key")
    return key


def _label_value(value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise ValueError(f"{value[:80]!r} is not a label value")
    return value


class SelectorRequirement(_Model):
    """One `matchExpressions` entry of a standard Kubernetes LabelSelector."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = Field(default=(), max_length=32)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _label_key(value)

    @field_validator("values")
    @classmethod
    def _values(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_label_value(v) for v in values)

    @model_validator(mode="after")
    def _operands(self) -> SelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(f"{self.key}: In and NotIn need values; Exists and DoesNotExist take none")
        return self

    def term(self) -> str:
        """The requirement as `?labelSelector=` takes it."""
        return {
            "In": f"{self.key} in ({','.join(self.values)})",
            "NotIn": f"{self.key} notin ({','.join(self.values)})",
            "Exists": self.key,
            "DoesNotExist": f"!{self.key}",
        }[self.operator]


class LabelSelector(_Model):
    """A standard Kubernetes LabelSelector; never empty (`{}` would match every workload of the namespace)."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels", max_length=16)
    match_expressions: tuple[SelectorRequirement, ...] = Field(default=(), alias="matchExpressions", max_length=16)

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            _label_key(key)
            _label_value(value)
        return labels

    @model_validator(mode="after")
    def _not_empty(self) -> LabelSelector:
        if not self.match_labels and not self.match_expressions:
            raise ValueError(
                "an empty selector would match every workload in the namespace: give matchLabels or matchExpressions"
            )
        return self

    def query(self) -> str:
        """The selector as `?labelSelector=` takes it (keys and values are validated: no term can be injected)."""
        terms = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        return ",".join(terms + [e.term() for e in self.match_expressions])


class RestartTarget(_Model):
    """A workload to restart by name, or every workload of that kind a label selector matches in the
    credential's namespace (exactly one of the two)."""

    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: str | None = Field(default=None, min_length=1, max_length=253)
    selector: LabelSelector | None = None

    @model_validator(mode="after")
    def _one(self) -> RestartTarget:
        if (self.name is None) == (self.selector is None):
            raise ValueError("give exactly one of name and selector")
        return self

    def describe(self) -> str:
        """`Deployment web`, or `Deployments matching app=mailer`."""
        if self.selector is not None:
            return f"{self.kind}s matching {self.selector.query()}"
        return f"{self.kind} {self.name}"


class Spec(_Model):
    communication_service: AcsRef = Field(alias="communicationService")
    entra_application: AppRef = Field(alias="entraApplication")
    username: UsernameSpec = Field(default_factory=UsernameSpec)
    rotation: RotationSpec = Field(default_factory=RotationSpec)
    secret: SecretSpec = Field(default_factory=SecretSpec)
    restart_targets: tuple[RestartTarget, ...] = Field(default=(), alias="restartTargets")
    deletion_policy: Literal["Delete", "Retain"] = Field(default="Delete", alias="deletionPolicy")

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Spec:
        return cls.model_validate(raw)
