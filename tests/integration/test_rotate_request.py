"""A rotation request is acted on at once, not at the next drift check (which is an hour away here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.conftest import ROOT, Cloud, Operator
from tests.integration.operator_helpers import apply, eventually, get, wait_ready


@pytest.fixture(scope="module")
def operator(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    running = Operator(cloud, tmp_path_factory.mktemp("rotate-request"), ACSSMTP_DRIFT_PERIOD="3600")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_a_rotation_request_is_acted_on_at_once_not_at_the_next_drift_check(
    cloud: Cloud, ns: str, operator: Operator
) -> None:
    apply(cloud, ns, "asked")
    wait_ready(cloud, ns, "asked")
    before = (get(cloud, ns, "acssmtp", "asked") or {})["status"]["currentKeyId"]
    cloud.kubectl("annotate", "acssmtp", "asked", "-n", ns, "acssmtp.io/rotate=now", "--overwrite")
    status = eventually(
        lambda: (s := (get(cloud, ns, "acssmtp", "asked") or {})["status"]).get("rotateRequestHandled") == "now" and s,
        20,
        "the rotation the annotation asks for",
    )
    assert status["currentKeyId"] != before and status["lastRotationReason"] == "ManualRotation"
