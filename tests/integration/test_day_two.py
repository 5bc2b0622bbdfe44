"""`acs-smtp-operator status` and `check`, run as a person on call runs them: the real CLI, a kubeconfig."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import BIN, Cloud, Operator, run_cli
from tests.integration.operator_helpers import apply, eventually, get, namespace, secret_data, wait_ready


def cli(cloud: Cloud, *args: str) -> subprocess.CompletedProcess[str]:
    """As the cluster's admin."""
    return run_cli({**cloud.env, "KUBECONFIG": cloud.manifest["kubeconfig"], "PATH": str(BIN)}, *args)


@pytest.fixture(autouse=True)
def tidy(cloud: Cloud, ns: str, operator: Operator) -> Iterator[None]:
    """Each test's credentials deleted, their finalizers done, before the namespace's policy goes and before the
    module's operator stops: a role assignment left behind would grant the tests that come after."""
    yield
    cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--timeout=60s", check=False)


def fields(out: str) -> dict[str, list[str]]:
    """`  Label:   value` lines of `status`, by label."""
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        label, colon, value = line.strip().partition(":")
        if colon and line.startswith("  ") and not line.startswith("    "):
            found.setdefault(label, []).append(value.strip())
    return found


def deployment(ns: str, name: str, secret: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "registry.example/shop-web:1",
                            "envFrom": [{"secretRef": {"name": secret}}],
                        }
                    ]
                },
            },
        },
    }


def test_status_says_what_a_person_asks_first(cloud: Cloud, ns: str, operator: Operator) -> None:
    cloud.kubectl("apply", "-f", "-", stdin=json.dumps(deployment(ns, "shop-web", "told-smtp")))
    apply(cloud, ns, "told", restartTargets=[{"kind": "Deployment", "name": "shop-web"}])
    wait_ready(cloud, ns, "told")
    password = (secret_data(cloud, ns, "told-smtp") or {})["password"]
    status = (get(cloud, ns, "acssmtp", "told") or {})["status"]

    text = cli(cloud, "status", f"{ns}/told")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert out.startswith(f"AcsSmtpCredential {ns}/told\n")
    shown = fields(out)
    assert shown["Ready"][0].startswith("True (Ready)")
    assert shown["Policy"] == [f"{ns}: permits it; the policy is in force"]
    assert shown["Current key"][0].startswith(f"{status['currentKeyId']}, expires {status['notAfter']} (in 89d")
    assert f"holds key {status['currentKeyId']}" in shown["Secret"][0], "the Secret's own record of its key"
    assert shown["Next rotation"] and shown["Last rotation"][0].endswith("(SecretMissing)")
    target = shown["Restart target"][0]  # the sandbox rolls Deployments out; the real control plane has no kubelet
    assert re.fullmatch(r"Deployment shop-web (rolled-out|rolling-out): \d/2 updated, \d ready.*", target), target
    assert "SecretIssued" in out.split("Events (last", 1)[1], "the last Events"
    leaked = password in out or password in text.stderr  # computed first: a failed assert must not print it
    assert not leaked, "status printed the password"

    as_json = cli(cloud, "status", f"{ns}/told", "-o", "json")
    summary = json.loads(as_json.stdout)
    assert summary["ready"]["status"] == "True" and summary["policy"] == ns
    assert summary["current_key"]["key_id"] == status["currentKeyId"]
    assert summary["restart_targets"][0]["kind"] == "Deployment"
    assert any(e["reason"] == "SecretIssued" for e in summary["events"])
    leaked = password in as_json.stdout
    assert not leaked, "status -o json printed the password"

    missing = cli(cloud, "status", f"{ns}/nothing-here")
    assert missing.returncode == 1 and f"AcsSmtpCredential {ns}/nothing-here: not found" in missing.stderr


def test_status_of_a_credential_no_policy_permits_says_so(cloud: Cloud, operator: Operator) -> None:
    bare = namespace(cloud, policy=False)
    try:
        apply(cloud, bare, "refused")
        eventually(
            lambda: "NotPermitted" in cli(cloud, "status", f"{bare}/refused").stdout,
            30,
            "a refused credential's status",
        )
        shown = fields(cli(cloud, "status", f"{bare}/refused").stdout)
        assert shown["Ready"][0].startswith("False (NotPermitted)"), shown
        assert shown["Policy"] == ["-: no policy permits it"]
        assert "Current key" not in shown, "no key was ever issued"
    finally:
        cloud.kubectl("delete", "acssmtp", "--all", "-n", bare, "--timeout=60s", check=False)


def test_check_proves_the_secret_and_names_the_failing_step(cloud: Cloud, ns: str, operator: Operator) -> None:
    apply(cloud, ns, "checked")
    wait_ready(cloud, ns, "checked")
    data = secret_data(cloud, ns, "checked-smtp") or {}
    ca = cloud.manifest["caBundle"]

    passed = cli(cloud, "check", f"{ns}/checked", "--ca-file", ca)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    line = passed.stdout.strip()
    assert line.startswith(f"PASS Secret {ns}/checked-smtp as {data['username']}")
    assert f"STARTTLS (TLSv1.3), AUTH LOGIN, MAIL FROM:<{data['from']}>, RSET, QUIT; no mail sent" in line
    assert len(passed.stdout.strip().splitlines()) == 1

    untrusted = cli(cloud, "check", f"{ns}/checked")  # the system's trust: the sandbox CA is not in it
    assert untrusted.returncode == 4, untrusted.stdout
    assert untrusted.stdout.startswith("FAIL at STARTTLS: the server's certificate is not trusted")

    foreign = cli(cloud, "check", f"{ns}/checked", "--ca-file", ca, "--from", "ceo@elsewhere.example")
    assert foreign.returncode == 6, foreign.stdout
    assert foreign.stdout.startswith("FAIL at MAIL FROM: <ceo@elsewhere.example> refused: 550")

    # A Secret of that name that the credential does not own (SecretConflict) is not logged in with.
    taken = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "taken-smtp", "namespace": ns},
        "stringData": data,
    }
    cloud.kubectl("apply", "-f", "-", stdin=json.dumps(taken))  # stdin: no password on a command line
    apply(cloud, ns, "taken")
    eventually(lambda: "SecretConflict" in json.dumps(get(cloud, ns, "acssmtp", "taken")), 30, "the conflict")
    foreign_secret = cli(cloud, "check", f"{ns}/taken", "--ca-file", ca)
    assert foreign_secret.returncode == 1, foreign_secret.stdout
    assert foreign_secret.stdout.startswith(
        f"FAIL reading Secret {ns}/taken-smtp: it is not owned by AcsSmtpCredential"
    )
    cloud.kubectl("delete", "secret", "taken-smtp", "-n", ns)  # a copy of a password: the leak audit reads Secrets

    operator.stop()  # from here on, nothing repairs the Secret
    try:
        wrong = base64.b64encode(b"not-the-password").decode()
        cloud.kubectl("patch", "secret", "checked-smtp", "-n", ns, "-p", json.dumps({"data": {"password": wrong}}))
        refused = cli(cloud, "check", f"{ns}/checked", "--ca-file", ca)
        assert refused.returncode == 5, refused.stdout
        assert refused.stdout.startswith("FAIL at AUTH LOGIN: 535 5.7.3 Authentication unsuccessful")
        assert "not-the-password" not in refused.stdout + refused.stderr

        plain = base64.b64encode(b"false").decode()
        cloud.kubectl("patch", "secret", "checked-smtp", "-n", ns, "-p", json.dumps({"data": {"starttls": plain}}))
        cleartext = cli(cloud, "check", f"{ns}/checked", "--ca-file", ca)
        assert cleartext.returncode == 4, cleartext.stdout
        assert "no password is sent without it" in cleartext.stdout

        port = base64.b64encode(b"1").decode()
        patch = {"data": {"port": port, "starttls": base64.b64encode(b"true").decode()}}
        cloud.kubectl("patch", "secret", "checked-smtp", "-n", ns, "-p", json.dumps(patch))
        unreachable = cli(cloud, "check", f"{ns}/checked", "--ca-file", ca)
        assert unreachable.returncode == 3, unreachable.stdout
        assert unreachable.stdout.startswith("FAIL at CONNECT: ")
    finally:
        operator.start()
    for output in (passed, untrusted, foreign):
        leaked = data["password"] in output.stdout + output.stderr
        assert not leaked, "check printed the password"
