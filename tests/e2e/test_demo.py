"""The README's first command works: the demo exits 0, shows a delivered mail and the timeline, then a rotation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    """`acs-smtp-operator demo`, run once for the tests below."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "acs-smtp-operator"), "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_demo_provisions_sends_and_narrates(demo: subprocess.CompletedProcess[str]) -> None:
    result = demo
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Sent through STARTTLS + AUTH LOGIN and delivered" in out
    sender = next(line for line in out.splitlines() if "AzureManagedDomain sends as " in line)
    managed = sender.split("AzureManagedDomain sends as ", 1)[1].split(";")[0].strip()
    assert managed.endswith(".azurecomm.net"), "an Azure-managed domain sends as <guid>.azurecomm.net"
    assert f"from DoNotReply@{managed} to" in out, "and the mail went from its real sender address"
    assert "PUT    201" in out and "addPassword" in out, "the timeline shows the Azure writes"
    assert "SecretIssued" in out, "and the Kubernetes Events"
    assert "A cluster administrator grants namespace default" in out, "the policy comes first"
    counted = out.split("8. The policy now counts the credential it permits:\n", 1)[1].splitlines()
    assert counted[1].split()[:4] == ["shop", "True", "default", "1"], "and counts the credential"
    status = out.split("9. acs-smtp-operator status default/shop-mailer\n", 1)[1]
    assert "Ready:            True (Ready)" in status and "Policy:           shop: permits it" in status
    check = out.split("10. acs-smtp-operator check default/shop-mailer --ca-file <sandbox CA>\n", 1)[1]
    assert check.startswith("PASS Secret default/shop-mailer-smtp") and "AUTH LOGIN, MAIL FROM:<DoNotReply@" in check
    assert "password=<" in out and "demo succeeded" in out


def test_the_demo_fails_clearly_when_the_example_does_not_match_the_sandbox(tmp_path: Path) -> None:
    example = tmp_path / "other.yaml"
    example.write_text((ROOT / "examples" / "shop-mailer.yaml").read_text().replace("76d25cdf", "00000000"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "acs-smtp-operator"), "demo", "--example", str(example)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 1
    assert "demo failed" in result.stderr and "does not have" in result.stderr


ROTATION_STEPS = [
    "rotation requested: kubectl annotate acssmtp shop-mailer acssmtp.io/rotate=",
    "issued (Graph addPassword)",
    "new key verified: Entra issues a token for it",
    "Secret shop-mailer-smtp switched: acssmtp.io/key-id ",
    "Deployment shop-web restarted: pod template acssmtp.io/restartedAt=",
    "rollout done: 2/2 updated and ready",
    "still valid in its grace period: SMTP AUTH LOGIN with the OLD password -> 235",
    "grace period over: old key ",
    "SMTP AUTH LOGIN with the OLD password -> 535 refused; with the NEW one -> 235",
]
TIMED = re.compile(r"^  \+ *(?P<seconds>\d+\.\d)s  (?P<text>.*)$")


def test_the_demo_shows_a_rotation_step_by_step_with_the_seconds_it_took(
    demo: subprocess.CompletedProcess[str],
) -> None:
    assert demo.returncode == 0, demo.stdout + demo.stderr
    rotation = demo.stdout.split("\n11. A rotation, with time compressed", 1)[1]
    timeline = [m for line in rotation.splitlines() if (m := TIMED.match(line))]
    texts, seconds = [m["text"] for m in timeline], [float(m["seconds"]) for m in timeline]
    at = [next(i for i, text in enumerate(texts) if step in text) for step in ROTATION_STEPS]  # each step is there
    assert at == sorted(at), texts  # in this order
    assert seconds == sorted(seconds) and seconds[0] == 0.0, "elapsed seconds, from the request on"
    keys = re.search(r"key-id (\S+) -> (\S+)", rotation)
    assert keys is not None and keys[1] != keys[2]
    assert f"old key {keys[1]} still valid" in rotation and f"old key {keys[1]} removed" in rotation
    switched, removed = seconds[at[3]], seconds[at[7]]
    # The old key outlives the switch by the rollout (1 s) and the grace period (8 s); 2 s for the demo's polling.
    assert removed >= switched + 7, "the old key stays its grace period"
    assert "controller" in texts[at[5]], "it says who played the Deployment controller's part"
    assert not re.search(r"password=(?!<)", demo.stdout), "no password is printed"
