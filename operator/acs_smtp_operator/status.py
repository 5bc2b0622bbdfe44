"""The credential's status, typed: what one pass reads back and writes, and the merge patch between the two."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from acs_smtp_operator.ids import canonical
from acs_smtp_operator.model import ConditionType, is_acs_resource_id, is_guid
from acs_smtp_operator.timestamps import parse_stamp, stamp

__all__ = [
    "LEDGER",
    "Condition",
    "DeferredRequest",
    "PendingRollout",
    "RefusedRequest",
    "ReplacedAssignment",
    "Retired",
    "RetiringKey",
    "Stamp",
    "Status",
]

# The status fields that say which keys and role assignments this credential answers for: a pass that
# cannot read them must not remove any key (it would take the ones they name for orphans).
LEDGER = ("currentKeyId", "pendingRollout", "retiringKeys", "replacedRoleAssignments")


def _moment(value: object) -> object:
    return parse_stamp(value) if isinstance(value, str) else value


_EARLIEST, _LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _plausible(moment: datetime) -> datetime:
    """Status can be edited: a time no pass could have written (year 9999, whose next day overflows) is refused,
    so that the field reads as unreadable instead of crashing the arithmetic that uses it."""
    if not _EARLIEST <= moment < _LATEST:
        raise ValueError(f"{moment.isoformat()} is outside the years 2000 to 2199")
    return moment


# A time in status: whole seconds, UTC, `Z` (written as `timestamps.stamp` writes it).
Stamp = Annotated[
    datetime, BeforeValidator(_moment), AfterValidator(_plausible), PlainSerializer(stamp, return_type=str)
]


class _Shape(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")


class Condition(_Shape):
    type: str
    status: str  # True | False | Unknown
    reason: str = ""
    message: str = ""
    last_transition_time: Stamp | None = Field(default=None, alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


class PendingRollout(_Shape):
    """An old key waiting for the restarted workloads to roll out."""

    key_id: str = Field(alias="keyId")
    since: Stamp


class RetiringKey(_Shape):
    """An old key in its grace period."""

    key_id: str = Field(alias="keyId")
    remove_after: Stamp = Field(alias="removeAfter")


class ReplacedAssignment(_Shape):
    """A role assignment of ours for a role the policy no longer chooses: removed once the new one has settled."""

    id: str
    remove_after: Stamp = Field(alias="removeAfter")


class Retired(_Shape):
    """What a retargeted credential leaves behind, removed after its grace period: its client secrets on the
    application it no longer uses (`clientId`), or its smtpUsernames entry on a resource (`smtpUsernameAt`)."""

    client_id: str | None = Field(default=None, alias="clientId")
    smtp_username_at: str | None = Field(default=None, alias="smtpUsernameAt")
    # The entry's name there (this credential's uid-derived name, or its pre-0.2.0 name): None, the former.
    smtp_username_resource: str | None = Field(default=None, alias="smtpUsernameResource")
    remove_after: Stamp = Field(alias="removeAfter")

    @model_validator(mode="after")
    def _one_of_ours(self) -> Retired:
        """Status can be edited: exactly one of an application's client id or an ACS resource id, well formed."""
        if (self.client_id is None) == (self.smtp_username_at is None):
            raise ValueError("name either clientId or smtpUsernameAt")
        if self.client_id is not None and not is_guid(self.client_id):
            raise ValueError("clientId is not a GUID")
        if self.smtp_username_at is not None and not is_acs_resource_id(self.smtp_username_at):
            raise ValueError("smtpUsernameAt is not an ACS resource id")
        return self

    @property
    def key(self) -> str:
        return f"app:{self.client_id.lower()}" if self.client_id else f"smtp:{canonical(self.smtp_username_at or '')}"


class DeferredRequest(_Shape):
    """A rotation request (`acssmtp.io/rotate`) the least time between rotations holds back, and until when."""

    request: str
    until: Stamp


class RefusedRequest(_Shape):
    """A revocation request (`acssmtp.io/revoke`) refused, and why (no key was issued for it)."""

    request: str
    message: str


class Status(_Shape):
    """Every field the operator writes; `docs/operator.md` and the CRD's status schema list the same."""

    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    conditions: tuple[Condition, ...] = ()
    username: str | None = None
    secret_name: str | None = Field(default=None, alias="secretName")
    current_key_id: str | None = Field(default=None, alias="currentKeyId")
    not_after: Stamp | None = Field(default=None, alias="notAfter")
    renewal_time: Stamp | None = Field(default=None, alias="renewalTime")
    last_rotation_time: Stamp | None = Field(default=None, alias="lastRotationTime")
    last_rotation_reason: str | None = Field(default=None, alias="lastRotationReason")
    # The last key added (addPassword answered), and when: Graph may not list it for a while.
    issued_key_id: str | None = Field(default=None, alias="issuedKeyId")
    issued_at: Stamp | None = Field(default=None, alias="issuedAt")
    pending_rollout: PendingRollout | None = Field(default=None, alias="pendingRollout")
    retiring_keys: tuple[RetiringKey, ...] = Field(default=(), alias="retiringKeys")
    orphan_check_at: Stamp | None = Field(default=None, alias="orphanCheckAt")
    role_definition_id: str | None = Field(default=None, alias="roleDefinitionId")
    role_definition_owned: bool | None = Field(default=None, alias="roleDefinitionOwned")
    role_assignment_id: str | None = Field(default=None, alias="roleAssignmentId")
    role_assignment_owned: bool | None = Field(default=None, alias="roleAssignmentOwned")
    replaced_role_assignments: tuple[ReplacedAssignment, ...] = Field(default=(), alias="replacedRoleAssignments")
    retired: tuple[Retired, ...] = ()
    rotate_request_handled: str | None = Field(default=None, alias="rotateRequestHandled")
    rotate_request_deferred: DeferredRequest | None = Field(default=None, alias="rotateRequestDeferred")
    # Emergency revocation: the request answered (a new key in the Secret), or refused, and the old keys it
    # removes as soon as the rollout completes (no grace period); `revocations`: when the last ones happened.
    revoke_request_handled: str | None = Field(default=None, alias="revokeRequestHandled")
    revoke_request_refused: RefusedRequest | None = Field(default=None, alias="revokeRequestRefused")
    revoked_keys: tuple[str, ...] = Field(default=(), alias="revokedKeys")
    revocations: tuple[Stamp, ...] = ()
    policy: str | None = None  # the AcsSmtpPolicy that permits the credential
    # What the last permitted pass acted on: deletion cleans up these, whatever the spec says by then.
    client_id: str | None = Field(default=None, alias="clientId")
    communication_service_id: str | None = Field(default=None, alias="communicationServiceId")
    smtp_username_resource: str | None = Field(default=None, alias="smtpUsernameResource")

    @classmethod
    def read(cls, raw: dict[str, Any] | None) -> Status:
        """Status as stored; a field that does not parse is treated as absent, never as a crash."""
        return cls.parse(raw)[0]

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> tuple[Status, tuple[str, ...]]:
        """Status as stored, and the names of the fields that did not parse (left out of it)."""
        raw = dict(raw or {})
        try:
            return cls.model_validate(raw), ()
        except ValueError:
            kept: dict[str, Any] = {}
            for key, value in raw.items():
                try:
                    cls.model_validate({key: value})
                except ValueError:
                    continue
                kept[key] = value
            return cls.model_validate(kept), tuple(sorted(set(raw) - set(kept)))

    def to_json(self) -> dict[str, Any]:
        """The status object as Kubernetes stores it (camelCase, absent fields left out)."""
        dumped: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        lists = ("conditions", "retiringKeys", "replacedRoleAssignments", "retired", "revokedKeys", "revocations")
        for empty in [key for key in lists if not dumped.get(key)]:
            del dumped[empty]
        return dumped

    def to_patch(self, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        """The merge patch from `previous` to this status (a dropped field is null); None when nothing changed."""
        wanted, previous = self.to_json(), dict(previous or {})
        if wanted == previous:
            return None
        return {**wanted, **{key: None for key in previous if key not in wanted}}

    def condition(self, type_: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)
