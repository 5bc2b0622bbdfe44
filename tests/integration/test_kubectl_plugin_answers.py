"""`kubectl acssmtp rotate` tells the truth about every answer the operator can give: deferred (until when, why),
refused, handled with old keys still to go, or none. No operator runs in this module: the test plays its part,
writing the answer into the credential's status (the status subresource, as the operator writes it) once the
plugin has set its annotation."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.conftest import BIN, CLI_OUTPUTS, ROOT, Cloud
from tests.integration.operator_helpers import apply, eventually, get

from acs_smtp_operator.timestamps import stamp

READY = {"type": "Ready", "status": "True", "reason": "Ready", "message": "SMTP credentials are in Secret x-smtp"}
AS_ISSUED = {
    "conditions": [READY],
    "currentKeyId": "k-old",
    "policy": "p",
    "lastRotationTime": "2026-11-29T11:00:00Z",
}


@pytest.fixture(scope="module", autouse=True)
def crds(cloud: Cloud) -> None:
    """The CRDs, before the namespace's policy (module scope: before the function's `ns`)."""
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))


def credential(cloud: Cloud, ns: str, name: str) -> None:
    apply(cloud, ns, name)
    answer(cloud, ns, name, AS_ISSUED)


def answer(cloud: Cloud, ns: str, name: str, status: dict[str, Any]) -> None:
    """Write status as the operator does (a merge patch of the status subresource; None removes a field)."""
    patch = json.dumps({"status": status})
    cloud.kubectl("patch", "acssmtp", name, "-n", ns, "--subresource=status", "--type=merge", "-p", patch)


def asked(cloud: Cloud, ns: str, name: str, key: str) -> str | None:
    return ((get(cloud, ns, "acssmtp", name) or {}).get("metadata", {}).get("annotations") or {}).get(key)


def rotate(cloud: Cloud, ns: str, name: str, *args: str, play: Any = None) -> subprocess.CompletedProcess[str]:
    """`kubectl acssmtp rotate -n NS NAME ARGS`; `play(value)` answers as the operator would, once the plugin
    has set its annotation to `value`."""
    key = "acssmtp.io/revoke" if "--revoke" in args else "acssmtp.io/rotate"
    before = asked(cloud, ns, name, key)
    env = {"PATH": str(BIN), "KUBECONFIG": cloud.manifest["kubeconfig"], "HOME": os.environ.get("HOME", "/")}
    argv = [str(BIN / "kubectl"), "acssmtp", "rotate", "-n", ns, name, *args]
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        if play is not None:
            play(eventually(lambda: (v := asked(cloud, ns, name, key)) != before and v, 20, "the request"))
        out, err = process.communicate(timeout=120)
    CLI_OUTPUTS.append((" ".join(argv[1:]), out + err))
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_a_deferred_rotation_says_until_when_and_why_and_exits_3(cloud: Cloud, ns: str) -> None:
    credential(cloud, ns, "held")
    until = stamp(datetime.now(UTC) + timedelta(hours=1))

    done = rotate(
        cloud,
        ns,
        "held",
        play=lambda v: answer(cloud, ns, "held", {"rotateRequestDeferred": {"request": v, "until": until}}),
    )

    assert done.returncode == 3, done.stdout + done.stderr
    assert f"rotation of {ns}/held deferred until {until} (in 59m" in done.stderr
    assert "the least time between rotations (policy p's minRotationInterval" in done.stderr
    assert "since the last rotation at 2026-11-29T11:00:00Z" in done.stderr and "--wait waits for it" in done.stderr

    beyond = rotate(
        cloud,
        ns,
        "held",
        "--wait",
        "--timeout",
        "20",
        play=lambda v: answer(cloud, ns, "held", {"rotateRequestDeferred": {"request": v, "until": until}}),
    )
    assert beyond.returncode == 3 and "later than --timeout 20s allows" in beyond.stderr


def test_wait_waits_out_a_deferral_until_the_new_key_is_in_the_secret(cloud: Cloud, ns: str) -> None:
    credential(cloud, ns, "patient")

    def operator(value: str) -> None:
        soon = stamp(datetime.now(UTC) + timedelta(seconds=3))
        answer(cloud, ns, "patient", {"rotateRequestDeferred": {"request": value, "until": soon}})
        time.sleep(3)
        answer(
            cloud,
            ns,
            "patient",
            {"rotateRequestDeferred": None, "rotateRequestHandled": value, "currentKeyId": "k-new"},
        )

    done = rotate(cloud, ns, "patient", "--wait", play=operator)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "deferred until" in done.stdout and "; waiting" in done.stdout, "it said what it was waiting for"
    assert done.stdout.rstrip().endswith(f"rotation of {ns}/patient done: new key k-new is in the Secret")


def test_a_refused_revocation_exits_4_with_the_operators_reason(cloud: Cloud, ns: str) -> None:
    credential(cloud, ns, "limited")
    why = "the policy p allows 1 revocation a day; the last was at 2026-11-29T11:00:00Z"

    done = rotate(
        cloud,
        ns,
        "limited",
        "--revoke",
        play=lambda v: answer(cloud, ns, "limited", {"revokeRequestRefused": {"request": v, "message": why}}),
    )

    assert done.returncode == 4, done.stdout + done.stderr
    assert f"revocation of {ns}/limited refused: {why}" in done.stderr
    assert asked(cloud, ns, "limited", "acssmtp.io/rotate") is None, "a revocation is its own annotation"


def test_a_revocation_returns_once_handled_and_with_wait_once_the_old_keys_are_gone(cloud: Cloud, ns: str) -> None:
    credential(cloud, ns, "leaked")

    def handled(value: str) -> None:
        answer(cloud, ns, "leaked", {"revokeRequestHandled": value, "currentKeyId": "k-new", "revokedKeys": ["k-old"]})

    quick = rotate(cloud, ns, "leaked", "--revoke", play=handled)
    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert "new key k-new is in the Secret; old keys k-old are removed as soon as the rollout completes" in quick.stdout

    def rolled_out(value: str) -> None:
        handled(value)
        time.sleep(3)
        answer(cloud, ns, "leaked", {"revokedKeys": None})

    waited = rotate(cloud, ns, "leaked", "--revoke", "--wait", play=rolled_out)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "waiting for the old keys k-old to be removed" in waited.stdout
    assert waited.stdout.rstrip().endswith("new key k-new is in the Secret; the old keys are removed")


def test_no_answer_within_the_timeout_exits_5_saying_what_was_last_seen(cloud: Cloud, ns: str) -> None:
    credential(cloud, ns, "unanswered")
    answer(
        cloud,
        ns,
        "unanswered",
        {
            "conditions": [
                READY,
                {
                    **READY,
                    "type": "Synced",
                    "status": "False",
                    "reason": "AzureUnavailable",
                    "message": "ARM answered 503",
                },
            ]
        },
    )
    started = time.monotonic()

    done = rotate(cloud, ns, "unanswered", "--timeout", "2")

    assert done.returncode == 5, done.stdout + done.stderr
    assert time.monotonic() - started < 30
    value = asked(cloud, ns, "unanswered", "acssmtp.io/rotate")
    assert f"no answer to acssmtp.io/rotate={value} in status within 2s" in done.stderr
    assert (
        "last seen: Ready=True (Ready) SMTP credentials are in Secret x-smtp; "
        "Synced=False (AzureUnavailable) ARM answered 503" in done.stderr
    )

    waited = rotate(
        cloud,
        ns,
        "unanswered",
        "--revoke",
        "--wait",
        "--timeout",
        "3",
        play=lambda v: answer(
            cloud, ns, "unanswered", {"revokeRequestHandled": v, "currentKeyId": "k-new", "revokedKeys": ["k-old"]}
        ),
    )
    assert waited.returncode == 5, waited.stdout + waited.stderr
    assert "waiting for the old keys k-old to be removed (after the rollout) within 3s" in waited.stderr
