"""The pure decisions of one pass: the role, the assignment, the smtpUsername entry and the Secret."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acs_smtp_operator.decide import Held, Issue, Keep, SecretConflict, Target, decide, decide_role
from acs_smtp_operator.failure import After, Failure, UntilSpecChanges
from acs_smtp_operator.identity import role_definition_id, role_guid
from acs_smtp_operator.model import DEFAULT_ACTIONS, Reason, RoleSpec, RotationReason, Spec
from acs_smtp_operator.observed import (
    Application,
    AssignmentView,
    CredentialState,
    KeyInfo,
    Observed,
    RolesSeen,
    RoleView,
    SecretView,
    SenderDomain,
    SmtpUsernameView,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TENANT, SUB = "tenant-1", "11111111-2222-3333-4444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
ACS = f"{RG}/providers/Microsoft.Communication/communicationServices/shop"
OURS = role_definition_id(SUB, role_guid(TENANT, "ACS SMTP Sender"))
TARGET = Target(
    namespace="ns",
    name="cr",
    uid="uid-1",
    tenant_id=TENANT,
    smtp_host="smtp.example.com",
    smtp_port=587,
    role=RoleSpec(),
)


def spec(**over: Any) -> Spec:
    return Spec.parse({"communicationService": {"resourceId": ACS}, "entraApplication": {"clientId": "app"}, **over})


def role(
    id_: str = OURS,
    name: str = "ACS SMTP Sender",
    actions: tuple[str, ...] = DEFAULT_ACTIONS,
    scopes: tuple[str, ...] = (RG,),
) -> RoleView:
    return RoleView(id=id_, name=name, actions=actions, assignable_scopes=scopes)


ROLE_CASES = [
    ("a role equal to the spec is left alone", RolesSeen(ours=role()), OURS, True, None),
    ("no role at all is created, assignable where the credential needs it", RolesSeen(), OURS, True, (RG,)),
    ("our role with other actions is rewritten", RolesSeen(ours=role(actions=("A/b/read",))), OURS, True, (RG,)),
    (
        "our role assignable elsewhere grows this scope",
        RolesSeen(ours=role(scopes=("/subscriptions/x/resourceGroups/other",))),
        OURS,
        True,
        ("/subscriptions/x/resourceGroups/other", RG),
    ),
    (
        "a hand-made role of the same name and actions is adopted, not owned",
        RolesSeen(same_name=(role(id_="/hand/made"),)),
        "/hand/made",
        False,
        None,
    ),
]


@pytest.mark.parametrize(("case", "seen", "role_id", "owned", "scopes"), ROLE_CASES, ids=[c[0] for c in ROLE_CASES])
def test_the_custom_role(case: str, seen: RolesSeen, role_id: str, owned: bool, scopes: tuple[str, ...] | None) -> None:
    plan = decide_role(RoleSpec(), spec().communication_service, TENANT, seen)
    assert (plan.role_id, plan.owned) == (role_id, owned)
    assert (plan.write.assignable_scopes if plan.write else None) == scopes


def test_a_same_name_role_with_other_actions_is_a_conflict_before_any_write() -> None:
    with pytest.raises(Failure) as caught:
        decide_role(
            RoleSpec(),
            spec().communication_service,
            TENANT,
            RolesSeen(same_name=(role(id_="/hand/made", actions=("X/y/write",)),)),
        )
    assert caught.value.reason == Reason.ROLE_NAME_CONFLICT and "/hand/made" in caught.value.message


def test_a_named_existing_role_is_used_as_it_is_and_never_owned() -> None:
    chosen = RoleSpec(existingRoleDefinitionId="/builtin")
    plan = decide_role(chosen, spec().communication_service, TENANT, RolesSeen(existing=role(id_="/builtin")))
    assert (plan.role_id, plan.owned, plan.write) == ("/builtin", False, None)


def secret(owned: bool = True, key: str | None = "k1", client: str = "app", resource: str = ACS) -> SecretView:
    state = CredentialState(
        key_id=key,
        not_after=NOW + timedelta(days=60),
        client_id=client,
        resource_id=resource,
        username="u",
        has_password=True,
    )
    return SecretView(owned=owned, state=state, raw={"data": {"password": "cA=="}})


def observed(**over: Any) -> Observed:
    base: dict[str, Any] = dict(
        domains=(SenderDomain(name="mail.example.com", sender="mail.example.com"),),
        application=Application(
            "obj", "app", (KeyInfo(key_id="k1", display_name="marker", end=NOW + timedelta(days=60)),)
        ),
        principal_id="sp",
        roles=RolesSeen(ours=role()),
        role_id=OURS,
        assignment=AssignmentView(id="/assignment"),
        smtp_username=None,
        secret=secret(),
        rollout_done=True,
    )
    return Observed(**{**base, **over})


SECRET_CASES = [
    ("a working Secret of ours is kept", observed(), Keep("k1", NOW + timedelta(days=60))),
    ("no Secret means a first issue", observed(secret=None), Issue("SecretMissing")),  # type: ignore[arg-type]
    (
        "a Secret of that name that is not ours is a conflict, not an issue",
        observed(secret=secret(owned=False)),
        SecretConflict,
    ),
]


@pytest.mark.parametrize(("case", "seen", "expected"), SECRET_CASES, ids=[c[0] for c in SECRET_CASES])
def test_the_secret(case: str, seen: Observed, expected: object) -> None:
    decided = decide(spec(), TARGET, seen, NOW).secret
    if isinstance(expected, type):
        assert isinstance(decided, expected)
    else:
        assert decided == expected


def test_a_username_change_alone_keeps_the_password() -> None:
    """The username is the Secret's to rewrite: no check asks for a new key because of it."""
    before = decide(spec(), TARGET, observed(), NOW)
    after = decide(spec(username={"format": "Pipe"}), TARGET, observed(), NOW)
    assert after.username != before.username and "|" in after.username
    assert after.secret == before.secret == Keep("k1", NOW + timedelta(days=60))


def test_an_existing_assignment_is_not_created_again() -> None:
    assert decide(spec(), TARGET, observed(), NOW).assignment.existing_id == "/assignment"
    assert decide(spec(), TARGET, observed(assignment=None), NOW).assignment.existing_id is None


def test_an_email_username_off_the_linked_domains_is_refused_before_any_write() -> None:
    named = spec(username={"format": "SmtpUsername", "smtpUsername": "x@elsewhere.example"})
    with pytest.raises(Failure) as caught:
        decide(named, TARGET, observed(), NOW)
    assert caught.value.reason == Reason.SMTP_USERNAME_INVALID and "x@elsewhere.example" in caught.value.message


def test_a_username_equal_to_the_entrys_name_is_refused_before_any_write() -> None:
    """ARM refuses it (reported); the operator says so instead of writing role, assignment and key first."""
    target = dataclasses.replace(TARGET, smtp_entry="acssmtp-cr-0123456789abcdef0123456789abcdef")
    named = spec(username={"format": "SmtpUsername", "smtpUsername": target.smtp_entry.upper()})
    with pytest.raises(Failure) as caught:
        decide(named, target, observed(), NOW)
    assert caught.value.reason == Reason.SMTP_USERNAME_INVALID and "ARM refuses" in caught.value.message
    free = spec(username={"format": "SmtpUsername", "smtpUsername": "shop-orders"})
    made = decide(free, target, observed(), NOW).smtp_username
    assert made is not None and made.username == "shop-orders" and made.resource_name == target.smtp_entry


def test_an_smtp_username_entry_is_written_only_when_it_differs() -> None:
    named = spec(username={"format": "SmtpUsername", "smtpUsername": "orders@mail.example.com"})
    first = decide(named, TARGET, observed(), NOW).smtp_username
    assert first is not None and first.username == "orders@mail.example.com"
    same = SmtpUsernameView(username="orders@mail.example.com", entra_application_id="app", tenant_id=TENANT)
    assert decide(named, TARGET, observed(smtp_username=same), NOW).smtp_username is None


@pytest.mark.parametrize(
    ("fmt", "username"),
    [("Dot", f"shop.app.{TENANT}"), ("Pipe", f"shop|app|{TENANT}")],
    ids=["the dot form joins resource, application and tenant", "the pipe form joins them with bars"],
)
def test_the_username(fmt: str, username: str) -> None:
    assert decide(spec(username={"format": fmt}), TARGET, observed(), NOW).username == username


def test_a_template_needing_a_sender_waits_for_a_linked_domain_before_any_write() -> None:
    needs_sender = spec(secret={"template": {"data": {"FROM": "{{ from }}"}}})
    with pytest.raises(Failure) as caught:
        decide(needs_sender, TARGET, observed(domains=()), NOW)
    assert caught.value.reason == Reason.INVALID_SPEC and "FROM" in caught.value.message
    assert not isinstance(caught.value.retry, UntilSpecChanges)  # linking a domain fixes it: retried
    assert decide(needs_sender, TARGET, observed(), NOW).secret_name == "cr-smtp"


def test_a_rotation_request_within_the_policys_interval_waits_and_is_served_after_it() -> None:
    last, interval = NOW - timedelta(hours=23), timedelta(hours=24)
    asked = dataclasses.replace(
        TARGET, rotate_requested="now", rotate_handled=None, last_rotation=last, min_rotation_interval=interval
    )
    held = decide(spec(), asked, observed(), NOW)
    assert isinstance(held.secret, Keep) and held.rotation_waits == NOW + timedelta(hours=1)
    served = decide(spec(), asked, observed(), NOW + timedelta(hours=1))
    assert served.secret == Issue(RotationReason.MANUAL_ROTATION) and served.rotation_waits is None


def _recent(issued: datetime, interval: timedelta = timedelta(hours=1), **over: Any) -> Target:
    return dataclasses.replace(
        TARGET,
        last_rotation=issued - timedelta(days=1),
        min_rotation_interval=interval,
        issued_key="k0",
        issued_at=issued,
        **over,
    )


def _incomplete() -> SecretView:
    state = CredentialState(key_id=None, not_after=None, client_id="app", resource_id=ACS, username="u",
                            has_password=False)  # fmt: skip
    return SecretView(owned=True, state=state, raw={"data": {}})


BOUNDED = [
    ("the Secret deleted", observed(secret=None)),
    ("the Secret blanked", observed(secret=_incomplete())),
    ("the key removed from the application", observed(application=Application("obj", "app", ()))),
    (
        "the key expired",
        observed(
            application=Application("obj", "app", (KeyInfo(key_id="k1", display_name="m", end=NOW - timedelta(1)),))
        ),
    ),
]


@pytest.mark.parametrize(("case", "seen"), BOUNDED, ids=[c[0] for c in BOUNDED])
def test_whatever_the_trigger_a_second_client_secret_waits_for_the_least_interval(case: str, seen: Observed) -> None:
    """Spec edits, Secret events and restarts all come here: one new key per interval, counted from the last
    one added (status.issuedAt), never one per trigger."""
    target = _recent(NOW - timedelta(minutes=20))
    held = decide(spec(), target, seen, NOW).secret
    assert isinstance(held, Held)
    failure = held.failure(NOW)  # raised once the role, assignment and entry are seen to
    assert failure.reason == Reason.ROTATION_HELD
    assert failure.retry == After(40 * 60.0)
    assert "2026-11-28T12:40:00Z" in failure.message  # until when, in the message
    assert isinstance(decide(spec(), target, seen, NOW + timedelta(minutes=40)).secret, Issue)


def test_the_first_client_secret_and_a_permitted_retarget_are_not_held() -> None:
    assert decide(spec(), TARGET, observed(secret=None), NOW).secret == Issue(RotationReason.SECRET_MISSING)
    moved = observed(secret=secret(client="other-app"))
    retarget = decide(spec(), _recent(NOW, retarget=True), moved, NOW).secret
    assert retarget == Issue(RotationReason.APPLICATION_CHANGED)


def test_a_secret_whose_annotations_were_edited_to_look_retargeted_is_held_like_any_trigger() -> None:
    """A retarget is status against the spec, not the Secret's annotations, which the tenant can edit."""
    edited = observed(secret=secret(client="other-app"))
    held = decide(spec(), _recent(NOW), edited, NOW).secret
    assert isinstance(held, Held) and held.reason == RotationReason.APPLICATION_CHANGED


def test_a_renewal_held_back_keeps_the_working_key() -> None:
    soon = observed(
        application=Application("obj", "app", (KeyInfo(key_id="k1", display_name="m", end=NOW + timedelta(days=1)),))
    )
    decided = decide(spec(rotation={"renewBefore": "72h"}), _recent(NOW - timedelta(minutes=5)), soon, NOW).secret
    assert decided == Keep("k1", NOW + timedelta(days=1))


def test_a_renamed_secret_takes_the_standing_key_with_it_instead_of_a_new_one() -> None:
    renamed = observed(secret=None, moved_from=secret())
    assert decide(spec(secret={"name": "new-name"}), _recent(NOW), renamed, NOW).secret == Keep(
        "k1", NOW + timedelta(days=60)
    )
    # The old one's key no longer on the application: a new key, within the bound.
    gone = observed(secret=None, moved_from=secret(key="k9"))
    assert isinstance(decide(spec(secret={"name": "new-name"}), _recent(NOW), gone, NOW).secret, Held)


def test_an_entry_at_its_name_holding_an_application_it_never_used_is_not_overwritten() -> None:
    named = spec(username={"format": "SmtpUsername", "smtpUsername": "orders@mail.example.com"})
    foreign = SmtpUsernameView(username="sales@mail.example.com", entra_application_id="victim", tenant_id=TENANT)
    target = _recent(NOW - timedelta(days=2), smtp_entry="acssmtp-cr-1ef61c6d8bb2", apps=frozenset({"app", "old"}))
    with pytest.raises(Failure) as caught:
        decide(named, target, observed(smtp_username=foreign), NOW)
    assert caught.value.reason == Reason.SMTP_USERNAME_CONFLICT and "victim" in caught.value.message
    previous = SmtpUsernameView(username="orders@mail.example.com", entra_application_id="old", tenant_id=TENANT)
    write = decide(named, target, observed(smtp_username=previous), NOW).smtp_username
    assert write is not None and (write.resource_name, write.app_id) == ("acssmtp-cr-1ef61c6d8bb2", "app")


@pytest.mark.parametrize(
    "actions", [("*",), ("Microsoft.Authorization/*",), ("Microsoft.Authorization/roleAssignments/write",)]
)
def test_an_existing_or_built_in_role_that_could_grant_access_is_refused_before_any_write(
    actions: tuple[str, ...],
) -> None:
    """Owner, Contributor or User Access Administrator named by a policy: the principals could make themselves
    Owner (a custom role's actions are refused when the policy is read; these are known once the role is)."""
    chosen = RoleSpec(builtInRoleName="Owner")
    with pytest.raises(Failure) as caught:
        decide_role(
            chosen, spec().communication_service, TENANT, RolesSeen(existing=role(id_="/owner", actions=actions))
        )
    assert caught.value.reason == Reason.NOT_PERMITTED and "/owner" in caught.value.message
    reader = RolesSeen(existing=role(id_="/reader", actions=("Microsoft.Authorization/*/read", *DEFAULT_ACTIONS)))
    assert decide_role(chosen, spec().communication_service, TENANT, reader).role_id == "/reader"


def _revoking(revocations: tuple[datetime, ...] = (), limit: int = 3, **over: Any) -> Target:
    return _recent(NOW - timedelta(minutes=5), timedelta(hours=24), revoke_requested="leak-1",
                   revocations=revocations, max_revocations=limit, policy="p", **over)  # fmt: skip


def test_an_emergency_revocation_issues_a_key_at_once_whatever_the_least_interval() -> None:
    """A key issued five minutes ago and a 24 h minRotationInterval: a rotation waits, a revocation does not."""
    assert isinstance(decide(spec(), _recent(NOW - timedelta(minutes=5), rotate_requested="r"), observed(), NOW).secret,
                      Keep)  # fmt: skip
    revoked = decide(spec(), _revoking(rotate_requested="r"), observed(), NOW)
    assert revoked.secret == Issue(RotationReason.REVOKED)
    assert revoked.revocation_refused is None and revoked.rotation_waits is None  # the rotation is answered too
    answered = decide(spec(), _revoking(revoke_handled="leak-1"), observed(), NOW)
    assert isinstance(answered.secret, Keep)  # answered once: the same value does not revoke again


def test_revocations_past_the_policys_daily_limit_are_refused_and_say_when_the_next_may_be_asked() -> None:
    three = (NOW - timedelta(hours=23), NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    refused = decide(spec(), _revoking(three), observed(), NOW)
    assert isinstance(refused.secret, Keep)  # no key issued: the Secret keeps its working one
    assert refused.revocation_refused is not None
    assert "maxRevocationsPerDay (3)" in refused.revocation_refused
    assert "2026-11-28T13:00:00Z" in refused.revocation_refused  # the oldest of the three leaves the window then
    older = (NOW - timedelta(hours=25), *three[1:])  # one of them is more than a day old: room for one more
    assert decide(spec(), _revoking(older), observed(), NOW).secret == Issue(RotationReason.REVOKED)
    off = decide(spec(), _revoking(limit=0), observed(), NOW)
    assert isinstance(off.secret, Keep) and "turned off by policy 'p'" in (off.revocation_refused or "")
    again = decide(spec(), _revoking(three, revoke_refused="leak-1"), observed(), NOW)
    assert again.revocation_refused is None  # a refused request is answered: not refused (nor told) again
