"""The status a pass leaves: what it records of what it did, and which conditions a failure moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from acs_smtp_operator.failure import Failure
from acs_smtp_operator.model import ConditionType, Reason, RotationReason
from acs_smtp_operator.report import Done, report
from acs_smtp_operator.status import RefusedRequest, Retired, Status

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RENEW = timedelta(days=30)


def _ready_role(done: Done, failure: Failure | None) -> tuple[str | None, str | None]:
    status = report(Status(), 1, NOW, "shop", done, failure, RENEW).status
    ready, role = status.condition(ConditionType.READY), status.condition(ConditionType.ROLE_READY)
    return (ready.status if ready else None), (role.status if role else None)


def test_azure_refusing_the_role_assignment_marks_the_role_not_ready() -> None:
    refused = Failure(Reason.FORBIDDEN, "roleAssignments/write denied")
    assert _ready_role(Done(acting="assignment"), refused)[1] == "False"


def test_a_refusal_elsewhere_does_not_blame_the_role() -> None:
    graph = Failure(Reason.FORBIDDEN, "addPassword: Authorization_RequestDenied")
    kube = Failure(Reason.KUBERNETES_FORBIDDEN, "writing Secret: Kubernetes answered 403")
    assert _ready_role(Done(acting="secret"), graph)[1] is None
    assert _ready_role(Done(acting="secret"), kube)[1] is None


def test_a_pass_that_issued_the_first_secret_and_then_failed_still_reports_it_working() -> None:
    done = Done(held=("k1", NOW + timedelta(days=90)), issued=RotationReason.SECRET_MISSING, acting="keys")
    result = report(Status(), 1, NOW, "shop", done, Failure(Reason.AZURE_UNAVAILABLE, "503"), RENEW)
    assert result.status.not_after == NOW + timedelta(days=90)
    assert result.status.last_rotation_reason == "SecretMissing"
    assert result.status.condition(ConditionType.READY) is None  # not "not ready": the Secret works
    synced = result.status.condition(ConditionType.SYNCED)
    assert synced is not None and synced.status == "False"


def test_the_linked_domains_are_reported_even_when_a_later_read_fails() -> None:
    result = report(Status(), 1, NOW, "shop", Done(domains=()), Failure(Reason.APPLICATION_NOT_FOUND, "x"), RENEW)
    linked = result.status.condition(ConditionType.DOMAIN_LINKED)
    assert linked is not None and (linked.status, linked.reason) == ("False", "NoLinkedDomain")


def test_a_rotation_request_is_recorded_as_answered_only_when_a_secret_was_issued() -> None:
    issued = Done(held=("k2", NOW + timedelta(days=90)), issued=RotationReason.MANUAL_ROTATION)
    assert report(Status(), 1, NOW, "shop", issued, None, RENEW, "r1").status.rotate_request_handled == "r1"
    kept = Done(held=("k1", NOW + timedelta(days=90)))
    assert report(Status(), 1, NOW, "shop", kept, None, RENEW, "r1").status.rotate_request_handled is None


def test_a_role_assignment_the_policys_new_role_replaced_waits_to_settle_then_leaves_status() -> None:
    settle = timedelta(minutes=2)
    before = Status(roleAssignmentId="/x/roleAssignments/old", roleAssignmentOwned=True)
    changed = report(
        before, 1, NOW, "shop", Done(assignment=("/x/roleAssignments/new", True)), None, RENEW, None, settle
    )
    [waiting] = changed.status.replaced_role_assignments
    assert (waiting.id, waiting.remove_after) == ("/x/roleAssignments/old", NOW + settle)
    later = report(changed.status, 1, NOW + settle, "shop", Done(removed_assignments=(waiting.id,)), None, RENEW)
    assert later.status.replaced_role_assignments == ()
    back = report(changed.status, 1, NOW, "shop", Done(assignment=("/x/roleAssignments/OLD", True)), None, RENEW)
    # The old role chosen again: the old assignment is kept, and the one made meanwhile goes in its turn.
    assert [r.id for r in back.status.replaced_role_assignments] == ["/x/roleAssignments/new"]


def test_an_assignment_that_was_not_ours_is_never_queued_for_removal() -> None:
    before = Status(roleAssignmentId="/x/roleAssignments/theirs", roleAssignmentOwned=False)
    changed = report(before, 1, NOW, "shop", Done(assignment=("/x/roleAssignments/new", True)), None, RENEW)
    assert changed.status.replaced_role_assignments == ()


APP_A, APP_B = "0b1f3a52-5c37-4fd2-9f44-3d2c6b1b6f0e", "1c2f3a52-5c37-4fd2-9f44-3d2c6b1b6f0e"
ACS = (
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg"
    "/providers/Microsoft.Communication/communicationServices/shop"
)
GRACE = timedelta(hours=1)


def _retired(previous: Status, done: Done, now: datetime = NOW) -> list[dict[str, str]]:
    status = report(previous, 1, now, "shop", done, None, RENEW, grace=GRACE).status
    return [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in status.retired]


def test_a_retarget_retires_the_old_application_for_the_grace_period() -> None:
    moved = _retired(Status(clientId=APP_A, communicationServiceId=ACS), Done(acted_on=(APP_B, ACS)))
    assert moved == [{"clientId": APP_A, "removeAfter": "2026-11-28T13:00:00Z"}]


def test_a_later_rotation_does_not_postpone_a_retirement_only_the_switch_to_the_new_target_does() -> None:
    waiting = Status.model_validate(
        {"clientId": APP_B, "communicationServiceId": ACS, "retired": [{"clientId": APP_A, "removeAfter": NOW}]}
    )
    renewed = Done(acted_on=(APP_B, ACS), issued=RotationReason.RENEWAL_DUE)
    assert _retired(waiting, renewed) == [{"clientId": APP_A, "removeAfter": "2026-11-28T12:00:00Z"}]
    switched = Done(acted_on=(APP_B, ACS), issued=RotationReason.APPLICATION_CHANGED)
    assert _retired(waiting, switched) == [{"clientId": APP_A, "removeAfter": "2026-11-28T13:00:00Z"}]


def test_an_edited_status_naming_no_application_or_resource_is_not_retired_and_does_not_crash() -> None:
    edited = Status(clientId="not-a-guid", communicationServiceId="/x", smtpUsernameResource="acssmtp-x-1")
    assert _retired(edited, Done(acted_on=(APP_B, ACS))) == []


def test_a_revocation_is_answered_counted_and_its_keys_listed_until_they_are_gone() -> None:
    old = (NOW - timedelta(days=2), NOW - timedelta(hours=3))
    before = Status(revocations=old, revokeRequestRefused=RefusedRequest(request="leak-0", message="limit"))
    issued = Done(held=("k2", NOW + timedelta(days=90)), issued=RotationReason.REVOKED, revoked=("k1",))
    status = report(before, 1, NOW, "shop", issued, None, RENEW, None, revoke="leak-1").status
    assert status.revoke_request_handled == "leak-1" and status.revoke_request_refused is None
    assert status.revocations == (NOW - timedelta(hours=3), NOW)  # a day's window: the older one is dropped
    assert status.revoked_keys == ("k1",)  # still to remove: the rollout goes on
    later = Done(held=("k2", NOW + timedelta(days=90)), revoked=())
    after = report(status, 1, NOW + timedelta(minutes=1), "shop", later, None, RENEW, None, revoke="leak-1").status
    assert after.revoked_keys == () and "revokedKeys" not in after.to_json()
    assert after.revoke_request_handled == "leak-1" and len(after.revocations) == 2


def test_a_revocation_cuts_the_grace_of_keys_a_retarget_left_on_another_application() -> None:
    app, acs = (
        "11111111-2222-3333-4444-555555555555",
        (
            "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/"
            "Microsoft.Communication/communicationServices/old"
        ),
    )
    later = NOW + timedelta(days=7)
    before = Status(retired=(Retired(clientId=app, removeAfter=later), Retired(smtpUsernameAt=acs, removeAfter=later)))
    issued = Done(held=("k2", NOW + timedelta(days=90)), issued=RotationReason.REVOKED, revoked=())
    retired = report(before, 1, NOW, "shop", issued, None, RENEW, None, revoke="leak").status.retired
    assert [(r.client_id, r.remove_after) for r in retired] == [(app, NOW), (None, later)]  # the entry is no key
    rotated = Done(held=("k2", NOW + timedelta(days=90)), issued=RotationReason.MANUAL_ROTATION)
    assert all(r.remove_after == later for r in report(before, 1, NOW, "shop", rotated, None, RENEW).status.retired)
