"""What one pass observes of Azure and Kubernetes, as frozen values: the input of every decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from acs_smtp_operator.vocabulary import SECRET_TYPE

__all__ = [
    "Application",
    "AssignmentView",
    "CredentialState",
    "KeyInfo",
    "Observed",
    "RoleView",
    "RolesSeen",
    "SecretView",
    "SenderDomain",
    "SmtpUsernameView",
]


@dataclass(frozen=True, kw_only=True)
class KeyInfo:
    """A client secret as Graph lists it (never its value)."""

    key_id: str
    display_name: str
    end: datetime | None
    start: datetime | None = None


@dataclass(frozen=True)
class Application:
    object_id: str
    client_id: str
    keys: tuple[KeyInfo, ...]

    def key_ends(self) -> dict[str, datetime | None]:
        return {k.key_id: k.end for k in self.keys}


@dataclass(frozen=True, kw_only=True)
class RoleView:
    """A role definition: its id, name, actions and where it may be assigned."""

    id: str
    name: str
    actions: tuple[str, ...]
    assignable_scopes: tuple[str, ...]
    built_in: bool = False


@dataclass(frozen=True)
class RolesSeen:
    """The role the spec asks for, as found: one of the two halves is filled."""

    existing: RoleView | None = None  # the policy's existingRoleDefinitionId or builtInRoleName, read back
    ours: RoleView | None = None  # the custom role at its deterministic id, if it exists
    same_name: tuple[RoleView, ...] = ()  # other roles of the custom role's name (read only when ours is None)


@dataclass(frozen=True)
class AssignmentView:
    id: str
    principal_id: str | None = None  # as ARM lists it


@dataclass(frozen=True)
class SmtpUsernameView:
    username: str | None
    entra_application_id: str | None
    tenant_id: str | None


@dataclass(frozen=True, kw_only=True)
class CredentialState:
    """What the Secret says about the credential it holds (never the password itself)."""

    key_id: str | None
    not_after: datetime | None
    client_id: str | None
    resource_id: str | None
    username: str | None
    has_password: bool


@dataclass(frozen=True, kw_only=True)
class SecretView:
    """The Secret as read: whether it is this credential's, what it holds, and the raw object for rewrites."""

    owned: bool
    state: CredentialState
    raw: dict[str, Any] = field(repr=False)  # holds the password: never printed
    type: str = SECRET_TYPE  # a Secret's type cannot change: another type is not ours to write
    adopted: bool = False  # a Secret a deleted credential of this name left (Orphan): this pass takes it over

    @property
    def resource_version(self) -> str | None:
        version = (self.raw.get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None


@dataclass(frozen=True, kw_only=True)
class SenderDomain:
    """A domain linked to the ACS resource, as its domain resource describes it."""

    name: str  # the domain resource's name: `AzureManagedDomain`, or a custom domain's name
    sender: str | None  # mailFromSenderDomain (P1, the envelope; else fromSenderDomain): MAIL FROM's domain
    unverified: tuple[tuple[str, str], ...] = ()  # (record, status) of the records sending needs, not Verified
    header: str | None = None  # fromSenderDomain (P2, the From header recipients see; else mailFromSenderDomain)

    @property
    def can_send(self) -> bool:
        return self.sender is not None and not self.unverified


@dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything one pass reads, read once, in one place (`observe.py`)."""

    domains: tuple[SenderDomain, ...]  # the domains linked to the ACS resource
    application: Application
    principal_id: str  # the application's service principal
    roles: RolesSeen
    role_id: str  # the role the assignment is looked up for
    assignment: AssignmentView | None  # at its deterministic id
    smtp_username: SmtpUsernameView | None  # only for username.format SmtpUsername
    secret: SecretView | None
    rollout_done: bool  # the restarted workloads rolled out (True when nothing is pending)
    moved_from: SecretView | None = None  # the Secret it wrote before spec.secret.name changed (when it is missing)
