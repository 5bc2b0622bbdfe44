"""The README's first command works: the demo exits 0 and shows a delivered mail and the timeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_demo_provisions_sends_and_narrates() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "acs-smtp-operator"), "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
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
