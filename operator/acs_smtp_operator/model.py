"""Typed shapes of the custom resource's spec, and the vocabulary of conditions, reasons and standings."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "DEFAULT_ACTIONS",
    "LONGEST_LIFETIME",
    "SHORTEST_ROTATION",
    "AcsRef",
    "ConditionType",
    "Reason",
    "RoleSpec",
    "RotationReason",
    "RotationSpec",
    "SecretSpec",
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
    """Why a new client secret is issued (`plan.needs_new_secret`, first reason wins)."""

    SECRET_MISSING = "SecretMissing"
    SECRET_INCOMPLETE = "SecretIncomplete"
    KEY_NOT_ON_APPLICATION = "KeyNotOnApplication"
    APPLICATION_CHANGED = "ApplicationChanged"
    COMMUNICATION_SERVICE_CHANGED = "CommunicationServiceChanged"
    EXPIRED = "Expired"
    RENEWAL_DUE = "RenewalDue"
    MANUAL_ROTATION = "ManualRotation"


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


class RestartTarget(_Model):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: str


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
