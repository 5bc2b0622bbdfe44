from pathlib import Path
from typing import Any

import pytest
import yaml

from acs_smtp_operator.sandbox.kube.schema import apply_defaults, check, prune

CRD = yaml.safe_load((Path(__file__).resolve().parents[2] / "crds" / "acssmtp.io_acssmtpcredentials.yaml").read_text())
SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
RID = (
    "/subscriptions/e04a0672-1ccb-5e4d-9188-d77b07fab321/resourceGroups/rg/providers/"
    "Microsoft.Communication/communicationServices/acs"
)
APP = "76d25cdf-e868-5455-9d98-19efb79681a0"


def cr(**spec: Any) -> dict[str, Any]:
    base = {"communicationService": {"resourceId": RID}, "entraApplication": {"clientId": APP}}
    return {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpCredential",
        "metadata": {"name": "x"},
        "spec": {**base, **spec},
    }


def admitted(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(apply_defaults(SCHEMA, prune(SCHEMA, obj)))


BAD = [
    (
        "scheduled rotations less than an hour apart are refused",
        cr(rotation={"secretLifetime": "2160h", "renewBefore": "2159h59m59s"}),
        "spec.rotation.renewBefore",
        "must be at least 1h",
    ),
    (
        "a lifetime beyond two years is refused",
        cr(rotation={"secretLifetime": "17521h", "renewBefore": "720h"}),
        "spec.rotation.secretLifetime",
        "at most 17520h",
    ),
    (
        "a grace period longer than the lifetime is refused",
        cr(rotation={"secretLifetime": "2160h", "renewBefore": "720h", "gracePeriod": "2161h"}),
        "spec.rotation.gracePeriod",
        "must not be longer than secretLifetime",
    ),
    (
        "renewBefore longer than the lifetime is refused",
        cr(rotation={"secretLifetime": "1h", "renewBefore": "2h"}),
        "spec.rotation.renewBefore",
        "renewBefore must be shorter than secretLifetime",
    ),
    (
        "SmtpUsername format without a username is refused",
        cr(username={"format": "SmtpUsername"}),
        "spec.username",
        "smtpUsername is required",
    ),
    (
        "a username without the SmtpUsername format is refused",
        cr(username={"format": "Dot", "smtpUsername": "a@b.c"}),
        "spec.username",
        "smtpUsername is required",
    ),
    (
        "an unknown username format is refused",
        cr(username={"format": "Slash"}),
        "spec.username.format",
        'Unsupported value: "Slash"',
    ),
    (
        "a client id that is not a GUID is refused",
        cr(entraApplication={"clientId": "app"}),
        "spec.entraApplication.clientId",
        "should match",
    ),
    (
        "a resource id of another provider is refused",
        cr(communicationService={"resourceId": RID.replace("Communication", "Storage")}),
        "spec.communicationService.resourceId",
        "should match",
    ),
    (
        "a missing application is refused",
        {**cr(), "spec": {"communicationService": {"resourceId": RID}}},
        "spec.entraApplication",
        "Required value",
    ),
    (
        "a duration in days is refused",
        cr(rotation={"secretLifetime": "90d"}),
        "spec.rotation.secretLifetime",
        "should match",
    ),
]


@pytest.mark.parametrize(("name", "obj", "field", "text"), BAD, ids=[b[0] for b in BAD])
def test_invalid_objects_are_refused_with_a_field_cause(name: str, obj: dict[str, Any], field: str, text: str) -> None:
    causes = check(SCHEMA, admitted(obj), None)
    assert any(c.field == field and text in c.detail for c in causes), causes


def test_a_minimal_object_gets_every_default() -> None:
    spec = admitted(cr())["spec"]
    assert spec["rotation"] == {
        "secretLifetime": "2160h",
        "renewBefore": "720h",
        "gracePeriod": "24h",
        "verify": "Token",
    }
    assert spec["username"] == {"format": "Dot"}
    assert "role" not in spec  # the role is the policy's choice
    assert spec["deletionPolicy"] == "Delete"
    assert check(SCHEMA, admitted(cr()), None) == []


def test_an_hour_between_scheduled_rotations_and_a_grace_of_seconds_are_accepted() -> None:
    """The shortest schedule the CRD allows; tests compress time with requested rotations instead."""
    obj = admitted(cr(rotation={"secretLifetime": "1h30m", "renewBefore": "30m", "gracePeriod": "3s"}))
    assert check(SCHEMA, obj, None) == []


def test_unknown_fields_are_pruned() -> None:
    obj = admitted(cr(bogus=1))
    assert "bogus" not in obj["spec"]
