"""`kubectl acssmtp`, found by REAL kubectl's plugin discovery (`kubectl-acssmtp` on PATH), against the operator
at work: list, status and a rotation the operator answers, with kubectl's ways of naming namespace and context."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import BIN, CLI_OUTPUTS, Cloud, Operator
from tests.integration.operator_helpers import apply, eventually, get, namespace, wait_ready


def plugin(cloud: Cloud, *args: str, kubeconfig: str | None = None) -> subprocess.CompletedProcess[str]:
    """`kubectl acssmtp ARGS` as a person types it: kubectl finds the plugin on PATH (the venv's bin, nothing
    else); its output kept for the leak audit."""
    env = {"PATH": str(BIN), "HOME": os.environ.get("HOME", "/nonexistent")}
    env["KUBECONFIG"] = kubeconfig if kubeconfig is not None else cloud.manifest["kubeconfig"]
    done = subprocess.run(
        [str(BIN / "kubectl"), "acssmtp", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    CLI_OUTPUTS.append((f"kubectl acssmtp {' '.join(args)}", done.stdout + done.stderr))
    return done


@pytest.fixture(autouse=True)
def tidy(cloud: Cloud, ns: str, operator: Operator) -> Iterator[None]:
    """Each test's credentials deleted, their finalizers done, while the module's operator still runs."""
    yield
    cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--timeout=60s", check=False)


def test_kubectl_finds_the_plugin_and_it_lists_and_tells_status_the_kubectl_way(
    cloud: Cloud, ns: str, operator: Operator, tmp_path: Path
) -> None:
    found = subprocess.run(
        [str(BIN / "kubectl"), "plugin", "list"], env={"PATH": str(BIN)}, capture_output=True, text=True, check=False
    )
    assert str(BIN / "kubectl-acssmtp") in found.stdout, found.stdout + found.stderr
    assert plugin(cloud, "version").stdout.strip() == "0.2.0"

    apply(cloud, ns, "oncall")
    wait_ready(cloud, ns, "oncall")
    status = (get(cloud, ns, "acssmtp", "oncall") or {})["status"]

    for named in (["-n", ns, "oncall"], [f"{ns}/oncall"], ["oncall", "--namespace", ns]):
        shown = plugin(cloud, "status", *named)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith(f"AcsSmtpCredential {ns}/oncall\n") and "True (Ready)" in shown.stdout

    # --kubeconfig and --context, and the context's namespace when no -n is given (KUBECONFIG names nothing).
    config = yaml.safe_load(Path(cloud.manifest["kubeconfig"]).read_text())
    context = config["contexts"][0]
    config["contexts"].append({"name": "on-call", "context": {**context["context"], "namespace": ns}})
    (tmp_path / "config").write_text(yaml.safe_dump(config))
    other = str(tmp_path / "config")
    by_context = plugin(cloud, "status", "oncall", "--kubeconfig", other, "--context", "on-call", kubeconfig="")
    assert by_context.returncode == 0 and by_context.stdout.startswith(f"AcsSmtpCredential {ns}/oncall\n")
    wrong = plugin(cloud, "status", "oncall", "--kubeconfig", other, "--context", "nowhere", kubeconfig="")
    assert wrong.returncode == 1 and 'context "nowhere" does not exist' in wrong.stderr

    listed = plugin(cloud, "list", "-n", ns)
    assert listed.returncode == 0, listed.stderr
    header, line = listed.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "REASON", "EXPIRES", "NEXT-ROTATION", "AGE"]
    assert re.fullmatch(r"oncall +True +Ready +(89|90)d +\d+d +\d+s", line), line
    everywhere = plugin(cloud, "list", "-A")
    assert everywhere.stdout.splitlines()[0].split()[0] == "NAMESPACE"
    assert any(row.split()[:3] == [ns, "oncall", "True"] for row in everywhere.stdout.splitlines()[1:])
    [item] = [i for i in json.loads(plugin(cloud, "list", "-A", "-o", "json").stdout)["items"] if i["namespace"] == ns]
    assert item["expires"]["at"] == status["notAfter"] and item["nextRotation"]["at"] == status["renewalTime"]

    empty = plugin(cloud, "list", "-n", "kube-system")
    assert (
        empty.returncode == 0 and empty.stdout == "" and "No resources found in kube-system namespace." in empty.stderr
    )


def test_rotate_returns_once_the_new_key_is_in_the_secret(cloud: Cloud, ns: str, operator: Operator) -> None:
    apply(cloud, ns, "rotated")
    wait_ready(cloud, ns, "rotated")
    before = (get(cloud, ns, "acssmtp", "rotated") or {})["status"]["currentKeyId"]

    done = plugin(cloud, "rotate", "-n", ns, "rotated")

    assert done.returncode == 0, done.stdout + done.stderr
    status = (get(cloud, ns, "acssmtp", "rotated") or {})["status"]
    asked = (get(cloud, ns, "acssmtp", "rotated") or {})["metadata"]["annotations"]["acssmtp.io/rotate"]
    assert f"rotation of {ns}/rotated requested (acssmtp.io/rotate={asked})" in done.stdout
    assert status["rotateRequestHandled"] == asked and status["currentKeyId"] != before
    assert f"new key {status['currentKeyId']} is in the Secret" in done.stdout
    held = cloud.kubectl("get", "secret", "rotated-smtp", "-n", ns, "-o", "json").stdout
    assert json.loads(held)["metadata"]["annotations"]["acssmtp.io/key-id"] == status["currentKeyId"]


def test_status_of_a_credential_that_is_not_ready_exits_3_and_says_why(cloud: Cloud, operator: Operator) -> None:
    bare = namespace(cloud, policy=False)
    try:
        apply(cloud, bare, "refused")
        shown = eventually(
            lambda: (
                s
                if (s := plugin(cloud, "status", "-n", bare, "refused")).returncode == 3 and "NotPermitted" in s.stderr
                else None
            ),
            30,
            "a refused credential's status",
        )
        assert f"AcsSmtpCredential {bare}/refused is not Ready: Ready=False (NotPermitted)" in shown.stderr
        assert shown.stdout.startswith(f"AcsSmtpCredential {bare}/refused\n"), "the whole status, then why"
        as_json = plugin(cloud, "status", f"{bare}/refused", "-o", "json")
        assert as_json.returncode == 3 and json.loads(as_json.stdout)["ready"]["reason"] == "NotPermitted"
        assert plugin(cloud, "list", "-n", bare).stdout.splitlines()[1].split()[:3] == [
            "refused",
            "False",
            "NotPermitted",
        ]
    finally:
        cloud.kubectl("delete", "acssmtp", "--all", "-n", bare, "--timeout=60s", check=False)


def test_what_does_not_exist_is_exit_1(cloud: Cloud, ns: str, operator: Operator) -> None:
    rotate = plugin(cloud, "rotate", "-n", ns, "nothing")
    assert rotate.returncode == 1 and f"AcsSmtpCredential {ns}/nothing: not found (404)" in rotate.stderr
    status = plugin(cloud, "status", f"{ns}/nothing")
    assert status.returncode == 1 and f"AcsSmtpCredential {ns}/nothing: not found" in status.stderr
