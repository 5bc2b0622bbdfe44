"""Emergency revocation: a leaked password stops working as soon as the restarted workloads rolled out, whatever
the least time between rotations and the grace period, within the policy's daily bound."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
from tests.conftest import ROOT, Cloud, Operator
from tests.integration.operator_helpers import apply, eventually, get, login, permit, wait_ready
from tests.integration.test_kubectl_plugin import plugin
from tests.integration.test_rotation import _RUNNING, Consumer, deployment

LIMITS = {
    "maxSecretLifetime": "87600h",
    "minRotationInterval": "1h",  # a rotation asked minutes after the last one waits an hour
    "maxGracePeriod": "8760h",
    "allowRetain": True,
    "maxRevocationsPerDay": 2,
}


@pytest.fixture(scope="module")
def operator(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    running = Operator(cloud, tmp_path_factory.mktemp("revocation"), **_RUNNING)
    running.start()
    try:
        yield running
    finally:
        running.stop()


pytestmark = pytest.mark.usefixtures("operator")


def _status(cloud: Cloud, ns: str, name: str) -> dict[str, object]:
    return dict((get(cloud, ns, "acssmtp", name) or {}).get("status") or {})


def _password(cloud: Cloud, ns: str, secret: str) -> tuple[str, str]:
    data = cloud.kubectl("get", "secret", secret, "-n", ns, "-o", "jsonpath={.data.username} {.data.password}")
    username, password = data.stdout.split()
    return base64.b64decode(username).decode(), base64.b64decode(password).decode()


def _annotate(cloud: Cloud, ns: str, name: str, key: str, value: str) -> None:
    cloud.kubectl("annotate", "acssmtp", name, "-n", ns, f"acssmtp.io/{key}={value}", "--overwrite")


def test_a_revoked_password_stops_working_once_the_rollout_is_done_and_no_restarted_login_fails(
    cloud: Cloud, ns: str
) -> None:
    permit(cloud, ns, names=[ns], limits=LIMITS)
    deployment(cloud, ns, "shop-web")
    rotation = {"secretLifetime": "48h", "renewBefore": "1h", "gracePeriod": "24h"}
    apply(cloud, ns, "leaky", rotation=rotation, restartTargets=[{"kind": "Deployment", "name": "shop-web"}])
    wait_ready(cloud, ns, "leaky")
    username, leaked = _password(cloud, ns, "leaky-smtp")
    first_key = _status(cloud, ns, "leaky")["currentKeyId"]

    # A rotation minutes after the first key waits for minRotationInterval: the command says until when, exit 3.
    asked_rotation = plugin(cloud, "rotate", "-n", ns, "leaky")
    assert asked_rotation.returncode == 3, asked_rotation.stdout + asked_rotation.stderr
    deferred = _status(cloud, ns, "leaky").get("rotateRequestDeferred")
    assert isinstance(deferred, dict) and deferred["until"][:13] in asked_rotation.stdout + asked_rotation.stderr
    assert _status(cloud, ns, "leaky")["currentKeyId"] == first_key

    with Consumer(cloud, ns, "leaky-smtp", "shop-web") as pod:
        time.sleep(1)
        asked = time.monotonic()
        # The runbook's one command: it returns once the new key is in the Secret and the old ones are gone.
        revoked = plugin(cloud, "rotate", "--revoke", "--wait", "--timeout", "120", "-n", ns, "leaky")
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        status = _status(cloud, ns, "leaky")
        assert status["revokeRequestHandled"] and not status.get("revokedKeys")
        assert status["currentKeyId"] != first_key and status["lastRotationReason"] == "Revoked"
        assert status.get("rotateRequestHandled") and not status.get("rotateRequestDeferred")  # answered too
        # The old key is gone once the rollout is done (ACSSMTP_ROLLOUT_TIMEOUT 10 s at most), plus a minute.
        eventually(lambda: login(cloud, username, leaked) == 535, 10 + 60, "the leaked password to be refused")
        refused_after = time.monotonic() - asked
        time.sleep(1)
    assert pod.refused == [], f"a restarted workload's login failed: {pod.refused}"
    assert len(pod.passwords) == 2 and pod.passwords[0] == leaked  # it moved to the new key by its restart
    _, current = _password(cloud, ns, "leaky-smtp")
    assert login(cloud, username, current) == 235 and current != leaked
    reasons = cloud.kubectl("get", "events", "-n", ns, "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "KeyRevoked" in reasons and "RolloutRestarted" in reasons
    print(f"leaked password refused {refused_after:.1f} s after the revocation was asked")

    # The policy's bound: two revocations a day here; the third is refused, says why, and issues no key.
    _annotate(cloud, ns, "leaky", "revoke", "leak-2")
    eventually(lambda: _status(cloud, ns, "leaky").get("revokeRequestHandled") == "leak-2", 30, "the second")
    second_key = _status(cloud, ns, "leaky")["currentKeyId"]
    _annotate(cloud, ns, "leaky", "revoke", "leak-3")
    refusal = eventually(lambda: _status(cloud, ns, "leaky").get("revokeRequestRefused"), 20, "the refusal")
    assert isinstance(refusal, dict) and refusal["request"] == "leak-3"
    assert "maxRevocationsPerDay (2)" in str(refusal["message"])
    time.sleep(2)
    assert _status(cloud, ns, "leaky")["currentKeyId"] == second_key
    reasons = cloud.kubectl("get", "events", "-n", ns, "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "RevocationRefused" in reasons
    # The annotation's value is the tenant's text (up to 256 KiB): status keeps it to answer it, Events do not.
    messages = cloud.kubectl("get", "events", "-n", ns, "-o", "jsonpath={.items[*].message}").stdout
    assert "leak-3" not in messages
