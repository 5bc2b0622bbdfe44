"""The Events the operator posts name it: `kubectl describe`'s "From" column and `reportingInstance` say which
operator, and which replica of it, acted (not kopf's defaults "kopf" and "dev")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conftest import Cloud, Operator
from tests.integration.operator_helpers import apply, eventually, wait_ready

pytestmark = pytest.mark.usefixtures("operator")


def events_of(cloud: Cloud, ns: str, name: str) -> list[dict[str, Any]]:
    listed = json.loads(cloud.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    return [e for e in listed if (e.get("involvedObject") or {}).get("name") == name]


def test_events_name_the_operator_and_its_replica(cloud: Cloud, ns: str, operator: Operator) -> None:
    apply(cloud, ns, "named")
    wait_ready(cloud, ns, "named")
    found = eventually(
        lambda: [e for e in events_of(cloud, ns, "named") if e.get("reason") == "SecretIssued"],
        10,
        "the SecretIssued Event",
    )
    assert found[0]["involvedObject"]["kind"] == "AcsSmtpCredential"
    for event in events_of(cloud, ns, "named"):
        assert event.get("reportingComponent") == "acs-smtp-operator", event
        assert (event.get("source") or {}).get("component") == "acs-smtp-operator", event
        assert event.get("reportingInstance") == operator.env["ACSSMTP_IDENTITY"], event
    columns = "custom-columns=FROM:.source.component,INSTANCE:.reportingInstance"
    shown = cloud.kubectl("get", "events", "-n", ns, "--field-selector=involvedObject.name=named", "-o", columns)
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    assert rows and all(row == ["acs-smtp-operator", operator.env["ACSSMTP_IDENTITY"]] for row in rows), shown.stdout
