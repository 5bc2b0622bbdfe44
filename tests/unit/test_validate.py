"""What the schema cannot check is refused before any call: each refusal names the field and waits for a new spec."""

from __future__ import annotations

from typing import Any

import pytest

from acs_smtp_operator.failure import UntilSpecChanges
from acs_smtp_operator.model import Reason
from acs_smtp_operator.validate import validate

TENANT = "7f4c1f5e-0000-4000-8000-000000000001"
ACS = (
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg"
    "/providers/Microsoft.Communication/communicationServices/shop"
)


def spec(**over: Any) -> dict[str, Any]:
    return {"communicationService": {"resourceId": ACS}, "entraApplication": {"clientId": "app"}, **over}


REFUSED = [
    ("a resource id that is not an ACS resource", {"communicationService": {"resourceId": "/x"}}, "resourceId"),
    # Python's `$` matches before a final newline: every pattern ends in \Z.
    ("a resource id ending in a newline", {"communicationService": {"resourceId": ACS + "\n"}}, "resourceId"),
    (
        "a label value ending in a newline",
        {"secret": {"template": {"labels": {"team": "shop\n"}}}},
        "spec.secret.template.labels: 'team'",
    ),
    (
        "a template key ending in a newline",
        {"secret": {"template": {"data": {"URL\n": "{{ host }}"}}}},
        "is not a Secret key",
    ),
    (
        "an application in another tenant",
        {"entraApplication": {"clientId": "app", "tenantId": "other"}},
        "spec.entraApplication.tenantId",
    ),
    ("an SmtpUsername format without the username", {"username": {"format": "SmtpUsername"}}, "smtpUsername"),
    ("a lifetime with a day unit", {"rotation": {"secretLifetime": "90d"}}, "spec.rotation.secretLifetime"),
    (
        "rotations every second",
        {"rotation": {"secretLifetime": "2160h", "renewBefore": "2159h59m59s"}},
        "must be at least 1h",
    ),
    ("a lifetime beyond two years", {"rotation": {"secretLifetime": "17521h"}}, "above the longest, 17520h"),
    (
        "a grace period longer than the lifetime",
        {"rotation": {"gracePeriod": "2161h"}},
        "spec.rotation.gracePeriod 2161h is longer than secretLifetime",
    ),
    (
        "a duration beyond any date",
        {"rotation": {"gracePeriod": "9" * 400 + "h"}},
        "spec.rotation.gracePeriod: duration",
    ),
    (
        "a template naming a value that does not exist",
        {"secret": {"template": {"data": {"URL": "{{ nosuch }}"}}}},
        "spec.secret.template.data['URL']",
    ),
    (
        "a template with an expression",
        {"secret": {"template": {"data": {"N": "{{ (port|int) // 0 }}"}}}},
        "spec.secret.template.data['N']: at character 0",
    ),
    (
        "a template key a Secret cannot hold",
        {"secret": {"template": {"data": {"../x": "{{ host }}"}}}},
        "'../x' is not a Secret key",
    ),
    (
        "a label Kubernetes would refuse on every write",
        {"secret": {"template": {"labels": {"team": "shop web"}}}},
        "spec.secret.template.labels: 'team'",
    ),
    (
        "templates that would render beyond what a Secret holds",
        {"secret": {"template": {"data": {f"K{n}": "{{ from|urlquote }}" * 292 for n in range(32)}}}},
        "could render to",
    ),
    (
        "an annotation key Kubernetes would refuse on every write",
        {"secret": {"template": {"annotations": {"bad key": "x"}}}},
        "spec.secret.template.annotations: 'bad key'",
    ),
    (
        "a template that would replace the Secret's password",
        {"secret": {"template": {"data": {"password": "{{ username }}"}}}},
        "password are the Secret's own keys",
    ),
    (
        "a template that does not parse",
        {"secret": {"template": {"data": {"URL": "{{ username "}}}},
        "spec.secret.template.data['URL']",
    ),
]


@pytest.mark.parametrize(("case", "over", "field"), REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_input_is_refused_until_the_spec_changes(case: str, over: dict[str, Any], field: str) -> None:
    with pytest.raises(Exception) as caught:
        validate(spec(**over), TENANT, "smtp.example.com", 587)
    failure = caught.value
    assert getattr(failure, "reason", None) == Reason.INVALID_SPEC
    assert isinstance(getattr(failure, "retry", None), UntilSpecChanges)
    assert field in str(failure)


ACCEPTED = [
    ("the minimal spec", {}),
    (
        "the operator's own tenant named in any case",
        {"entraApplication": {"clientId": "app", "tenantId": TENANT.upper()}},
    ),
    (
        "a template using the documented values and filter",
        {
            "secret": {
                "template": {"data": {"U": "{{ username|urlquote }}:{{ password|urlquote }}@{{ host }}:{{ port }}"}}
            }
        },
    ),
    (
        "Go durations with several units",
        {"rotation": {"secretLifetime": "1h30m", "renewBefore": "30m", "gracePeriod": "90s"}},
    ),
]


@pytest.mark.parametrize(("case", "over"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_good_input_is_accepted(case: str, over: dict[str, Any]) -> None:
    assert validate(spec(**over), TENANT, "smtp.example.com", 587).communication_service.name == "shop"
