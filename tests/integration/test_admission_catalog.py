"""The bad-input catalog, at admission: what the CRDs refuse before the operator ever sees it.

Run on the emulator and (`--cluster=real`) on the real kube-apiserver: each row is applied with kubectl as a
namespace editor would, must be refused, and the refusal must name the field. The catalog's other half (what
admission lets through and the operator refuses, with no Azure write) is `tests/inprocess/test_bad_input.py`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT, Cloud


@pytest.fixture(scope="module")
def crd(cloud: Cloud) -> None:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))


def _credential(cloud: Cloud, name: str = "hostile", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpCredential",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "communicationService": {"resourceId": cloud.acs["resourceId"]},
            "entraApplication": {"clientId": cloud.app("shop-mailer")["clientId"]},
            **spec,
        },
    }


def _in_group(cloud: Cloud, group: str) -> dict[str, Any]:
    resource = cloud.acs["resourceId"].split("/resourceGroups/")
    rest = resource[1].split("/", 1)[1]
    return {"communicationService": {"resourceId": f"{resource[0]}/resourceGroups/{group}/{rest}"}}


def _policy(**role: Any) -> dict[str, Any]:
    return {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpPolicy",
        "metadata": {"name": "hostile-policy"},
        "spec": {
            "namespaces": {"names": ["default"]},
            "applications": ["00000000-0000-4000-8000-000000000001"],
            "communicationServices": ["/subscriptions/00000000-0000-4000-8000-000000000002/*"],
            "role": role,
        },
    }


CATALOG: list[tuple[str, Any, str]] = [
    ("a resource group '.'", lambda c: _credential(c, **_in_group(c, ".")), "spec.communicationService.resourceId"),
    ("a resource group '..'", lambda c: _credential(c, **_in_group(c, "..")), "spec.communicationService.resourceId"),
    (
        "a client id that is not a GUID",
        lambda c: _credential(c, entraApplication={"clientId": "../../me"}),
        "spec.entraApplication.clientId",
    ),
    (
        "rotations every second",
        lambda c: _credential(c, rotation={"secretLifetime": "2160h", "renewBefore": "2159h59m59s"}),
        "must be at least 1h",
    ),
    (
        "a lifetime beyond two years",
        lambda c: _credential(c, rotation={"secretLifetime": "17521h", "renewBefore": "720h"}),
        "at most 17520h",
    ),
    (
        "a grace period longer than the lifetime",
        lambda c: _credential(c, rotation={"gracePeriod": "2161h"}),
        "gracePeriod must not be longer than secretLifetime",
    ),
    (
        "a duration beyond any clock",
        lambda c: _credential(c, rotation={"gracePeriod": "9" * 30 + "h"}),
        "spec.rotation",
    ),
    (
        "a duration of 33 characters",
        lambda c: _credential(c, rotation={"gracePeriod": "1h" + "0m" * 15 + "1s"}),
        "spec.rotation.gracePeriod",
    ),
    ("a day unit", lambda c: _credential(c, rotation={"secretLifetime": "90d"}), "spec.rotation.secretLifetime"),
    (
        "33 template entries",
        lambda c: _credential(c, secret={"template": {"data": {f"K{n}": "{{ host }}" for n in range(33)}}}),
        "spec.secret.template.data",
    ),
    (
        "a template entry of 4097 characters",
        lambda c: _credential(c, secret={"template": {"data": {"BIG": "x" * 4097}}}),
        "spec.secret.template.data",
    ),
    (
        "a Secret name that is not a DNS name",
        lambda c: _credential(c, secret={"name": "../etc"}),
        "spec.secret.name",
    ),
    ("a credential name of 254 characters", lambda c: _credential(c, name="n" * 254), "metadata.name"),
    (
        "33 restart targets",
        lambda c: _credential(c, restartTargets=[{"kind": "Deployment", "name": f"w{n}"} for n in range(33)]),
        "spec.restartTargets",
    ),
    (
        "a restart target of another kind",
        lambda c: _credential(c, restartTargets=[{"kind": "Pod", "name": "p"}]),
        "spec.restartTargets[0].kind",
    ),
    ("a policy whose custom role has no action", lambda c: _policy(actions=[]), "spec.role.actions"),
    (
        "a policy naming an existing role and a built-in one",
        lambda c: _policy(
            existingRoleDefinitionId="/subscriptions/00000000-0000-4000-8000-000000000002/providers/"
            "Microsoft.Authorization/roleDefinitions/00000000-0000-4000-8000-000000000003",
            builtInRoleName="Owner",
        ),
        "not both",
    ),
]


@pytest.mark.parametrize(("case", "make", "field"), CATALOG, ids=[c[0] for c in CATALOG])
def test_admission_refuses_it_and_names_the_field(cloud: Cloud, crd: None, case: str, make: Any, field: str) -> None:
    body = make(cloud)
    result = cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(body), check=False)
    assert result.returncode != 0, f"admitted: {case}"
    assert field in result.stderr, result.stderr
    kind = "acssmtppolicies" if body["kind"] == "AcsSmtpPolicy" else "acssmtpcredentials"
    listed = json.loads(cloud.kubectl("get", kind, "-A", "-o", "json").stdout)["items"]
    assert body["metadata"]["name"] not in {i["metadata"]["name"] for i in listed}, "it was stored"


def test_the_shortest_schedule_and_a_grace_of_seconds_are_admitted(cloud: Cloud, crd: None) -> None:
    body = _credential(
        cloud, "shortest", rotation={"secretLifetime": "1h30m", "renewBefore": "30m", "gracePeriod": "3s"}
    )
    cloud.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(body))
