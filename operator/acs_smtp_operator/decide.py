"""Pure decisions of one pass: what to write in Azure and Kubernetes, from the spec and what was observed.

Nothing here performs I/O; `act.py` carries the plan out. Everything a pass may refuse is refused here,
so before any Azure write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from acs_smtp_operator.failure import After, Failure
from acs_smtp_operator.identity import (
    assignment_guid,
    role_definition_id,
    role_guid,
    secret_name,
)
from acs_smtp_operator.model import AcsRef, Reason, RoleSpec, RotationReason, Spec, same_actions
from acs_smtp_operator.observed import Observed, RolesSeen, RoleView, SenderDomain, SmtpUsernameView
from acs_smtp_operator.rotation import (
    SecretFacts,
    held_back,
    issue_held,
    last_issue,
    needs_new_secret,
    revocation_asked,
    revocation_refusal,
)
from acs_smtp_operator.smtp import compose_username, on_linked_domain, sender_address
from acs_smtp_operator.template import needs
from acs_smtp_operator.timestamps import stamp
from acs_smtp_operator.vocabulary import SECRET_TYPE

__all__ = [
    "AssignmentPlan",
    "Held",
    "Issue",
    "Keep",
    "Plan",
    "RolePlan",
    "RoleWrite",
    "SecretConflict",
    "SmtpUsernameWrite",
    "Target",
    "decide",
    "decide_role",
    "expected_role_id",
]


@dataclass(frozen=True, kw_only=True)
class Target:
    """The credential as decisions need it: who it is, and what it asks for."""

    namespace: str
    name: str
    uid: str
    tenant_id: str
    smtp_host: str
    smtp_port: int
    role: RoleSpec  # the role its policy chooses
    rotate_requested: str | None = None  # its acssmtp.io/rotate annotation
    rotate_handled: str | None = None  # the value the last rotation answered (status)
    last_rotation: datetime | None = None  # status.lastRotationTime
    min_rotation_interval: timedelta = timedelta(0)  # the policy's: a requested rotation waits this long after it
    issued_key: str | None = None  # status.issuedKeyId: the last key added
    issued_at: datetime | None = None  # status.issuedAt: when
    graph_lag: timedelta = timedelta(0)  # how long Graph may not list a key just added
    smtp_entry: str = ""  # the name of its smtpUsernames entry (`identity.smtp_username_entry`)
    apps: frozenset[str] = frozenset()  # the applications (lower case) it uses or used: an entry it may overwrite
    retarget: bool = False  # status records another application or resource than the spec names (not the Secret)
    revoke_requested: str | None = None  # its acssmtp.io/revoke annotation
    revoke_handled: str | None = None  # status.revokeRequestHandled
    revoke_refused: str | None = None  # the request status.revokeRequestRefused answered
    revocations: tuple[datetime, ...] = ()  # status.revocations: when the last ones happened
    max_revocations: int = 0  # the policy's limits.maxRevocationsPerDay
    policy: str = ""  # the policy that permits it (named in a refusal)


@dataclass(frozen=True, kw_only=True)
class RoleWrite:
    """Create or update the custom role at its deterministic id."""

    guid: str
    name: str
    actions: tuple[str, ...]
    assignable_scopes: tuple[str, ...]
    scope: str  # the scope this credential needs it assignable at


@dataclass(frozen=True)
class RolePlan:
    role_id: str
    owned: bool  # ours to delete once nothing uses it
    write: RoleWrite | None


@dataclass(frozen=True, kw_only=True)
class AssignmentPlan:
    guid: str
    role_id: str
    principal_id: str
    existing_id: str | None  # None: create it


@dataclass(frozen=True, kw_only=True)
class SmtpUsernameWrite:
    resource_name: str
    username: str
    app_id: str
    tenant_id: str


@dataclass(frozen=True)
class Keep:
    """The Secret's client secret stands: rewrite the Secret only if anything else in it differs."""

    key_id: str
    not_after: datetime | None


@dataclass(frozen=True)
class Held:
    """A new client secret is wanted, but the least interval since the last one holds it back until `until`:
    the rest of the pass (role, assignment, smtpUsername) goes on, then the pass reports `RotationHeld`."""

    reason: RotationReason
    last: datetime
    until: datetime

    def failure(self, now: datetime) -> Failure:
        return Failure(
            Reason.ROTATION_HELD,
            f"a new client secret is needed ({self.reason}), but this credential added one at {stamp(self.last)}: "
            "the least time between its client secrets (the policy's minRotationInterval, at least "
            f"ACSSMTP_MIN_MANUAL_INTERVAL) holds the next one until {stamp(self.until)}",
            retry=After(max((self.until - now).total_seconds(), 1.0)),
        )


@dataclass(frozen=True)
class Issue:
    """Add a client secret, verify it, then write it into the Secret."""

    reason: RotationReason


@dataclass(frozen=True)
class SecretConflict:
    """A Secret of that name exists and is not this credential's: it is left untouched."""

    message: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    role: RolePlan
    assignment: AssignmentPlan
    username: str
    smtp_username: SmtpUsernameWrite | None
    secret_name: str
    secret: Keep | Issue | SecretConflict | Held
    rotation_waits: datetime | None = None  # a rotation request the policy's interval holds back until then
    revocation_refused: str | None = None  # why an asked revocation is refused (no key is issued for it)


def expected_role_id(role: RoleSpec, acs: AcsRef, tenant_id: str, roles: RolesSeen) -> str:
    """The role the assignment is for: the named one, ours, an adoptable same-name one, or ours to be."""
    if roles.existing is not None:
        return roles.existing.id
    if roles.ours is not None:
        return roles.ours.id
    if roles.same_name:
        return roles.same_name[0].id
    return role_definition_id(acs.subscription_id, role_guid(tenant_id, role.custom_role_name))


def _conflict(name: str, other: RoleView) -> Failure:
    return Failure(
        Reason.ROLE_NAME_CONFLICT,
        f"a role named {name!r} already exists ({other.id}) with other actions "
        f"{sorted(other.actions)}; the policy must choose another role.customRoleName "
        "or set role.existingRoleDefinitionId",
    )


def _grants_access(actions: tuple[str, ...]) -> list[str]:
    """Actions with which the SMTP principals could give themselves any role: every action, or writing access."""
    return [
        a
        for a in actions
        if a.strip() == "*"
        or (a.lower().startswith(("microsoft.authorization/", "*/")) and not a.lower().endswith("/read"))
    ]


def decide_role(role: RoleSpec, acs: AcsRef, tenant_id: str, roles: RolesSeen) -> RolePlan:
    """Use the named role; else keep ours equal to the policy's, adopt a same-name twin, or refuse a conflict."""
    if roles.existing is not None:
        granting = _grants_access(roles.existing.actions)
        if granting:  # a built-in or existing role such as Owner: the policy's own actions are checked as written
            raise Failure(
                Reason.NOT_PERMITTED,
                f"the policy's role {roles.existing.name!r} ({roles.existing.id}) allows {granting}: the SMTP "
                "principals could grant themselves any role; the policy must choose a role for mail only",
            )
        return RolePlan(role_id=roles.existing.id, owned=False, write=None)
    guid, scope = role_guid(tenant_id, role.custom_role_name), acs.scope(role.definition_scope)
    current = roles.ours
    if current is None and roles.same_name:
        adopted = roles.same_name[0]
        if not same_actions(adopted.actions, role.actions):
            raise _conflict(role.custom_role_name, adopted)
        return RolePlan(role_id=adopted.id, owned=False, write=None)
    scopes = current.assignable_scopes if current is not None else ()
    in_scope = any(s.lower() == scope.lower() for s in scopes)
    if (
        current is not None
        and in_scope
        and same_actions(current.actions, role.actions)
        and current.name == role.custom_role_name
    ):
        return RolePlan(role_id=current.id, owned=True, write=None)
    write = RoleWrite(
        guid=guid,
        name=role.custom_role_name,
        actions=tuple(role.actions),
        assignable_scopes=scopes if in_scope else (*scopes, scope),
        scope=scope,
    )
    role_id = current.id if current is not None else role_definition_id(acs.subscription_id, guid)
    return RolePlan(role_id=role_id, owned=True, write=write)


def _smtp_username(spec: Spec, target: Target, username: str, observed: Observed) -> SmtpUsernameWrite | None:
    if spec.username.format != "SmtpUsername":
        return None
    acs = spec.communication_service
    if not on_linked_domain(username, observed.domains):
        senders = ", ".join(d.sender for d in observed.domains if d.sender)
        raise Failure(
            Reason.SMTP_USERNAME_INVALID,
            f"spec.username.smtpUsername {username!r} is not on the sender domain of a domain linked to "
            f"{acs.name} ({senders or 'none linked'})",
        )
    if target.smtp_entry and username.lower() == target.smtp_entry.lower():
        # ARM refuses a username equal to the entry's resource name (reported by public infrastructure code;
        # the specs are silent): refused here, before any write.
        raise Failure(
            Reason.SMTP_USERNAME_INVALID,
            f"spec.username.smtpUsername {username!r} is the name of the smtpUsernames entry the operator keeps "
            "for this credential, which ARM refuses as a username: choose another (an address on a linked "
            "domain is the usual form)",
        )
    client_id = spec.entra_application.client_id
    wanted = SmtpUsernameView(username=username, entra_application_id=client_id, tenant_id=target.tenant_id)
    found = observed.smtp_username
    if found == wanted:
        return None
    # Read back before it is overwritten: an entry at this credential's name that holds an application it never
    # used was not written by it (only a legacy name could collide), and is not taken over.
    if found is not None and (found.entra_application_id or "").lower() not in target.apps | {client_id.lower()}:
        raise Failure(
            Reason.SMTP_USERNAME_CONFLICT,
            f"smtpUsername entry {target.smtp_entry} on {acs.name} holds application {found.entra_application_id}, "
            "which this credential never used: it is left untouched; remove it in Azure if it is stale",
        )
    return SmtpUsernameWrite(
        resource_name=target.smtp_entry,
        username=username,
        app_id=client_id,
        tenant_id=target.tenant_id,
    )


def _fresh(target: Target, now: datetime) -> str | None:
    """The key this credential added within Graph's lag: not listed yet is not 'removed out of band'."""
    at = target.issued_at
    return target.issued_key if at is not None and now < at + target.graph_lag else None


def _held(target: Target, now: datetime) -> datetime | None:
    return held_back(
        target.rotate_requested,
        target.rotate_handled,
        last_issue(target.last_rotation, target.issued_at),
        target.min_rotation_interval,
        now,
    )


def _revocation(target: Target, now: datetime) -> tuple[bool, str | None]:
    """(asked and unanswered, why refused): an emergency revocation and the policy's word on it."""
    if not revocation_asked(target.revoke_requested, target.revoke_handled, target.revoke_refused):
        return False, None
    return True, revocation_refusal(target.revocations, target.max_revocations, target.policy, now)


def _revoking(target: Target, now: datetime) -> bool:
    asked, refused = _revocation(target, now)
    return asked and refused is None


def _secret(
    spec: Spec, target: Target, username: str, name: str, observed: Observed, now: datetime
) -> Keep | Issue | SecretConflict | Held:
    secret = observed.secret
    if secret is not None and not secret.owned:
        return SecretConflict(
            f"Secret {name} exists and is not owned by this AcsSmtpCredential: it is left untouched; "
            "delete it or choose another spec.secret.name"
        )
    if secret is not None and secret.type != SECRET_TYPE:
        return SecretConflict(
            f"Secret {name} is of type {secret.type}, and a Secret's type cannot change: the operator writes "
            f"{SECRET_TYPE}; it is left untouched: delete it or choose another spec.secret.name"
        )
    if _revoking(target, now):  # an emergency: a new key now, whatever the least interval or the Secret says
        return Issue(RotationReason.REVOKED)
    source = secret
    moved = observed.moved_from
    if secret is None and moved is not None and moved.type == SECRET_TYPE:
        source = moved  # spec.secret.name changed: the Secret it wrote before holds the key, which moves along
    facts = SecretFacts(
        secret=source.state if source is not None else None,
        app_keys=observed.application.key_ends(),
        want_client_id=observed.application.client_id,
        want_resource_id=spec.communication_service.resource_id,
        renew_before=spec.rotation.renew,
        rotate_requested=target.rotate_requested,
        rotate_handled=target.rotate_handled,
        rotate_held_until=_held(target, now),
        fresh_key=_fresh(target, now),
    )
    reason = needs_new_secret(facts, now)
    if reason is not None:
        last = last_issue(target.last_rotation, target.issued_at)
        until = issue_held(reason, last, target.min_rotation_interval, now, target.retarget)
        if until is None:
            return Issue(reason)
        if reason != RotationReason.RENEWAL_DUE or source is None or not source.state.key_id:
            assert last is not None  # a held issue has one before it
            return Held(reason, last, until)
        # Renewal is due, and the key still works: it stands until the next one may be added.
    assert source is not None and source.state.key_id  # a standing credential has both
    key_id = source.state.key_id
    return Keep(key_id=key_id, not_after=facts.app_keys.get(key_id) or source.state.not_after)


def _check_template(spec: Spec, domains: tuple[SenderDomain, ...]) -> None:
    """A template that uses `from` needs a linked domain with a sender (the syntax was checked by `validate`)."""
    data = spec.secret.template.data
    using = sorted(key for key, text in data.items() if "from" in needs({key: text}))
    if using and sender_address(domains) is None:
        # Retried: `from` appears once the resource has a linked domain.
        raise Failure(
            Reason.INVALID_SPEC,
            f"spec.secret.template.data[{using[0]!r}] uses {{{{ from }}}}, but {spec.communication_service.name} "
            "has no linked domain to send from",
        )


def _check_sender(spec: Spec, domains: tuple[SenderDomain, ...]) -> None:
    """`verify: Smtp` proves MAIL FROM: with linked domains none of which can send yet, no key could pass, so
    none is added (retried: verifying the domain fixes it)."""
    if spec.rotation.verify == "Smtp" and domains and not any(d.can_send for d in domains):
        unverified = "; ".join(
            f"{d.name} ({', '.join(f'{r} {s}' for r, s in d.unverified) or 'no sender domain'})" for d in domains
        )
        raise Failure(
            Reason.DOMAIN_NOT_VERIFIED,
            f"no domain linked to {spec.communication_service.name} can send yet, so rotation.verify Smtp cannot "
            f"pass and no client secret is added: {unverified}",
        )


def decide(spec: Spec, target: Target, observed: Observed, now: datetime) -> Plan:
    """The whole plan of one pass, or a `Failure` before anything is written."""
    acs, client_id = spec.communication_service, spec.entra_application.client_id
    role = decide_role(target.role, acs, target.tenant_id, observed.roles)
    guid = assignment_guid(acs.resource_id, role.role_id, observed.principal_id)
    assignment = AssignmentPlan(
        guid=guid,
        role_id=role.role_id,
        principal_id=observed.principal_id,
        existing_id=observed.assignment.id
        if observed.assignment is not None and observed.role_id == role.role_id
        else None,
    )
    username = compose_username(
        spec.username.format, acs.name, client_id, target.tenant_id, spec.username.smtp_username
    )
    name = secret_name(target.name, spec.secret.name)
    _check_template(spec, observed.domains)
    smtp_username = _smtp_username(spec, target, username, observed)  # the tenant's own input is judged first
    secret = _secret(spec, target, username, name, observed, now)
    if isinstance(secret, Issue):
        _check_sender(spec, observed.domains)
    return Plan(
        role=role,
        assignment=assignment,
        username=username,
        smtp_username=smtp_username,
        secret_name=name,
        secret=secret,
        rotation_waits=None if _revoking(target, now) else _held(target, now),
        revocation_refused=_revocation(target, now)[1],
    )
