"""Rotation without downtime, rotations asked for seconds apart, against the real operator and the sandbox."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import ROOT, Cloud, Operator
from tests.integration.operator_helpers import (
    apply,
    azure_writes,
    eventually,
    get,
    login,
    secret_data,
    wait_ready,
    wait_reason,
)

# Scheduled rotations are at least an hour apart (the CRD's bound): these tests ask for theirs, seconds apart.
QUICK = {"secretLifetime": "2h", "renewBefore": "1h", "gracePeriod": "3s"}


def ask_rotation(cloud: Cloud, ns: str, name: str) -> None:
    value = f"r-{uuid.uuid4().hex[:8]}"
    cloud.kubectl("annotate", "acssmtp", name, "-n", ns, f"acssmtp.io/rotate={value}", "--overwrite")


def rotating(
    cloud: Cloud, ns: str, name: str, every: float, until: Callable[[], bool], timeout: float, what: str
) -> None:
    """Ask for a rotation every `every` seconds, as a compressed schedule would renew, until `until()` holds."""
    deadline, asked = time.monotonic() + timeout, 0.0
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if time.monotonic() - asked >= every:
            ask_rotation(cloud, ns, name)
            asked = time.monotonic()
        time.sleep(0.2)


_RUNNING = {
    "ACSSMTP_DRIFT_PERIOD": "5",
    "ACSSMTP_ORPHAN_SETTLE": "3",
    "ACSSMTP_GRAPH_LAG": "3",  # within the settling window (the sandbox's Graph lags 2 s)
    "ACSSMTP_ROLLOUT_TIMEOUT": "10",
    "ACSSMTP_VERIFY_TIMEOUT": "6",
}


@pytest.fixture(scope="module")
def operator(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    running = Operator(cloud, tmp_path_factory.mktemp("rotation"), **_RUNNING)
    running.start()
    try:
        yield running
    finally:
        running.stop()


pytestmark = pytest.mark.usefixtures("operator")


class Consumer:
    """A pod: it reads the Secret when it (re)starts, i.e. when its Deployment's pod template changes."""

    def __init__(self, cloud: Cloud, ns: str, secret: str, deployment: str | None) -> None:
        self.cloud, self.ns, self.secret, self.deployment = cloud, ns, secret, deployment
        self.api = config.new_client_from_config(config_file=cloud.manifest["kubeconfig"])  # type: ignore[no-untyped-call]
        self.core, self.apps = client.CoreV1Api(self.api), client.AppsV1Api(self.api)
        self.refused: list[tuple[float, int]] = []
        self.logins = 0
        self.passwords: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _template(self) -> str:
        if self.deployment is None:
            return str(time.monotonic())  # no Deployment: re-read every time
        obj = self.apps.read_namespaced_deployment(self.deployment, self.ns)
        assert obj.spec is not None and obj.spec.template.metadata is not None
        return str((obj.spec.template.metadata.annotations or {}).get("acssmtp.io/restartedAt"))

    def _read(self) -> tuple[str, str]:
        data = self.core.read_namespaced_secret(self.secret, self.ns).data
        assert data is not None
        return base64.b64decode(data["username"]).decode(), base64.b64decode(data["password"]).decode()

    def _loop(self) -> None:
        template, (username, password) = self._template(), self._read()
        self.passwords.append(password)
        while not self._stop.is_set():
            if (now := self._template()) != template:
                template, (username, password) = now, self._read()
                if password not in self.passwords:
                    self.passwords.append(password)
            code = login(self.cloud, username, password)
            self.logins += 1
            if code != 235:
                self.refused.append((time.monotonic(), code))
            self._stop.wait(0.2)

    def __enter__(self) -> Consumer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)
        self.api.close()


def rotations(cloud: Cloud, ns: str, name: str) -> str:
    return str(((get(cloud, ns, "acssmtp", name) or {}).get("status") or {}).get("lastRotationTime"))


def marked_keys(cloud: Cloud, app: str, ns: str, name: str) -> set[str]:
    state = next(a for a in cloud.state()["applications"] if a["appId"] == cloud.app(app)["clientId"])
    return {p["keyId"] for p in state["passwordCredentials"] if f" {ns}/{name} " in p["displayName"]}


def referenced(cloud: Cloud, ns: str, name: str) -> set[str]:
    status = (get(cloud, ns, "acssmtp", name) or {})["status"]
    keys = {status["currentKeyId"]} | {r["keyId"] for r in status.get("retiringKeys") or []}
    if status.get("pendingRollout"):
        keys.add(status["pendingRollout"]["keyId"])
    return keys


def deployment(cloud: Cloud, ns: str, name: str) -> None:
    cloud.kubectl(
        "apply",
        "-f",
        "-",
        stdin=f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: app, image: mailer:1}}]}}
""",
    )


def test_three_rotations_without_a_single_refused_login(cloud: Cloud, ns: str) -> None:
    """The zero-downtime proof: a pod that only re-reads the Secret when restarted never gets a 535."""
    deployment(cloud, ns, "shop-web")
    apply(cloud, ns, "rolling", rotation=QUICK, restartTargets=[{"kind": "Deployment", "name": "shop-web"}])
    wait_ready(cloud, ns, "rolling")
    seen = {rotations(cloud, ns, "rolling")}

    def three_more() -> bool:
        seen.add(rotations(cloud, ns, "rolling"))
        return len(seen) >= 4

    with Consumer(cloud, ns, "rolling-smtp", "shop-web") as pod:
        rotating(cloud, ns, "rolling", 5, three_more, 60, "three rotations")
        time.sleep(4)  # past the last grace period
    assert pod.refused == [], pod.refused
    assert pod.logins > 20 and len(pod.passwords) >= 3
    username = (get(cloud, ns, "acssmtp", "rolling") or {})["status"]["username"]
    events = cloud.kubectl("get", "events", "-n", ns, "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert events.count("RolloutRestarted") >= 3 and events.count("KeyRetired") >= 2
    retired = pod.passwords[:-2]  # older than the current key and the one still in its grace period
    assert retired and all(login(cloud, username, p) == 535 for p in retired), "old secrets are refused"
    eventually(
        lambda: marked_keys(cloud, "shop-mailer", ns, "rolling") == referenced(cloud, ns, "rolling"),
        10,
        "the application to hold exactly the keys status accounts for (no leak)",
    )


def test_token_verification_waits_out_propagation(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "slowkey", app="billing-mailer")
    wait_ready(cloud, ns, "slowkey")
    before = (get(cloud, ns, "acssmtp", "slowkey") or {})["status"]["currentKeyId"]
    cloud.settings(secretPropagationSeconds=2.5)
    try:
        cloud.kubectl("annotate", "acssmtp", "slowkey", "-n", ns, "acssmtp.io/rotate=propagation", "--overwrite")
        eventually(
            lambda: (get(cloud, ns, "acssmtp", "slowkey") or {})["status"]["currentKeyId"] != before,
            30,
            "the rotation after propagation",
        )
    finally:
        cloud.settings(secretPropagationSeconds=0)
    refused = [r for r in cloud.requests() if r["api"] == "entra" and r["status"] == 401]
    assert refused, "the new secret was refused at first, and verification waited"


def test_a_secret_that_never_verifies_is_removed_and_the_secret_left_working(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "neverworks", app="billing-mailer")
    wait_ready(cloud, ns, "neverworks")
    before = (get(cloud, ns, "acssmtp", "neverworks") or {})["status"]["currentKeyId"]
    data_before = cloud.kubectl("get", "secret", "neverworks-smtp", "-n", ns, "-o", "jsonpath={.data}").stdout
    cloud.settings(secretPropagationSeconds=600)
    try:
        cloud.kubectl("annotate", "acssmtp", "neverworks", "-n", ns, "acssmtp.io/rotate=doomed", "--overwrite")
        synced = wait_reason(cloud, ns, "neverworks", "VerificationFailed", type_="Synced", timeout=40)
        assert "it was removed, and the Secret was left as it was" in synced["message"]
        ready = (get(cloud, ns, "acssmtp", "neverworks") or {})["status"]
        assert next(c for c in ready["conditions"] if c["type"] == "Ready")["status"] == "True"
        assert ready["currentKeyId"] == before
        assert (
            cloud.kubectl("get", "secret", "neverworks-smtp", "-n", ns, "-o", "jsonpath={.data}").stdout == data_before
        )
        assert marked_keys(cloud, "billing-mailer", ns, "neverworks") == {before}, "the unverified key is gone"
    finally:
        cloud.settings(secretPropagationSeconds=0)


def rotate_cli(cloud: Cloud, target: str) -> subprocess.CompletedProcess[str]:
    """`acs-smtp-operator rotate TARGET`, as a user runs it with a kubeconfig."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "acs-smtp-operator"), "rotate", target],
        env={**os.environ, "KUBECONFIG": cloud.manifest["kubeconfig"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_manual_rotation_through_the_annotation_and_the_cli(cloud: Cloud, ns: str) -> None:
    apply(cloud, ns, "manual")
    wait_ready(cloud, ns, "manual")
    keys = [(get(cloud, ns, "acssmtp", "manual") or {})["status"]["currentKeyId"]]
    cloud.kubectl("annotate", "acssmtp", "manual", "-n", ns, "acssmtp.io/rotate=first", "--overwrite")
    keys.append(
        eventually(
            lambda: (k := (get(cloud, ns, "acssmtp", "manual") or {})["status"]["currentKeyId"]) not in keys and k,
            30,
            "a rotation from the annotation",
        )
    )
    cli = rotate_cli(cloud, f"{ns}/manual")
    assert cli.returncode == 0 and "rotation of" in cli.stdout, cli.stderr
    keys.append(
        eventually(
            lambda: (k := (get(cloud, ns, "acssmtp", "manual") or {})["status"]["currentKeyId"]) not in keys and k,
            30,
            "a rotation from the CLI",
        )
    )
    status = (get(cloud, ns, "acssmtp", "manual") or {})["status"]
    assert status["lastRotationReason"] == "ManualRotation" and len(set(keys)) == 3


def test_the_cli_refuses_a_credential_that_does_not_exist(cloud: Cloud, ns: str) -> None:
    cli = rotate_cli(cloud, f"{ns}/nothing")
    assert cli.returncode == 1 and "404" in cli.stderr


def test_steady_state_makes_only_drift_reads_and_due_rotations(cloud: Cloud, ns: str) -> None:
    """A compressed day: a rotation asked for every ~5 s, drift every 5 s; between them, nothing."""
    apply(cloud, ns, "steady", app="billing-mailer", rotation=QUICK)
    wait_ready(cloud, ns, "steady")
    object_id = cloud.app("billing-mailer")["objectId"]
    start = rotations(cloud, ns, "steady")
    cloud.control.post("/reset")
    for _ in range(3):
        ask_rotation(cloud, ns, "steady")
        time.sleep(5.3)
    # Writes that changed something: a removal Graph answers "not found" (a key removed moments ago that a
    # lagging read still listed, taken for an orphan) changes nothing.
    ours = [w for w in azure_writes(cloud) if object_id in w["path"] and w["status"] < 400]
    adds = [w for w in ours if w["path"].endswith("/addPassword")]
    removes = [w for w in ours if w["path"].endswith("/removePassword")]
    assert rotations(cloud, ns, "steady") != start
    assert 2 <= len(adds) <= 4, ours
    # A key issued before the window may be retired within it: one removal more than additions at most.
    assert len(ours) == len(adds) + len(removes) and len(removes) <= len(adds) + 1, "no write but the rotations"
    reads = [
        r
        for r in cloud.requests()
        if r["method"] == "GET"
        and f"appId='{cloud.app('billing-mailer')['clientId']}'" in r["path"]
        and "applications" in r["path"]
    ]
    assert len(reads) <= 4 * len(adds) + 6, f"{len(reads)} application reads for {len(adds)} rotations: polling?"


def scraped(operator: Operator, name: str, **labels: str) -> float:
    """A sample's value on the operator's /metrics (0 when it is not there yet)."""
    body = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
    found = [
        s.value for f in text_string_to_metric_families(body) for s in f.samples if (s.name, s.labels) == (name, labels)
    ]
    return found[0] if found else 0.0


def test_metrics_expose_expiry_rotations_and_azure_calls_but_no_secret(
    cloud: Cloud, ns: str, operator: Operator
) -> None:
    apply(cloud, ns, "measured")
    wait_ready(cloud, ns, "measured")
    body = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
    labels = f'name="measured",namespace="{ns}"'
    assert f"acssmtp_credential_expiration_timestamp_seconds{{{labels}}}" in body
    assert f"acssmtp_credential_renewal_timestamp_seconds{{{labels}}}" in body
    assert f"acssmtp_credential_ready_status{{{labels}}} 1.0" in body
    assert re.search(r'^acssmtp_rotations_total\{reason="SecretMissing",result="success"\} [1-9]', body, re.M)
    assert re.search(r'^acssmtp_reconcile_duration_seconds_count\{outcome="success"\} [1-9]', body, re.M)
    assert 'operation="POST v1.0/applications/{id}/addPassword"' in body and 'api="arm"' in body
    per_credential = ("acssmtp_credential_", "# ")
    assert not [line for line in body.splitlines() if ns in line and not line.startswith(per_credential)]
    password = base64.b64decode(
        cloud.kubectl("get", "secret", "measured-smtp", "-n", ns, "-o", "jsonpath={.data.password}").stdout
    ).decode()
    assert password not in body


@pytest.mark.parametrize(
    "fault",
    [
        {"path": "/addPassword$", "status": 429, "retryAfter": 1, "times": 4},
        {"path": "/addPassword$", "status": 503, "times": 4},
        {"path": "/removePassword$", "status": 503, "times": 4},
        {"path": "oauth2/v2.0/token$", "status": 503, "times": 3},
        {"path": "/communicationServices/[^/]+$", "status": 429, "retryAfter": 1, "times": 5},
        {"path": "/roleAssignments/", "status": 503, "times": 5},
    ],
    ids=[
        "429 on addPassword",
        "503 on addPassword",
        "503 on removePassword",
        "503 on the token endpoint",
        "429 on the ACS read",
        "503 on the role assignment",
    ],
)
def test_faults_at_each_azure_call_converge_without_duplicate_secrets(
    cloud: Cloud, ns: str, fault: dict[str, Any], operator: Operator
) -> None:
    apply(cloud, ns, "faulty", app="billing-mailer", rotation=QUICK)
    wait_ready(cloud, ns, "faulty")
    failed = scraped(operator, "acssmtp_rotations_total", reason="ManualRotation", result="failed")
    cloud.fault(**fault)
    first = rotations(cloud, ns, "faulty")
    ask_rotation(cloud, ns, "faulty")
    eventually(lambda: rotations(cloud, ns, "faulty") != first, 60, "a rotation through the faults")
    time.sleep(3.5)  # the grace period and the orphan settling window
    eventually(
        lambda: marked_keys(cloud, "billing-mailer", ns, "faulty") == referenced(cloud, ns, "faulty"),
        30,
        "the application to hold exactly the referenced keys",
    )
    data = cloud.kubectl("get", "secret", "faulty-smtp", "-n", ns, "-o", "jsonpath={.data}").stdout
    assert data
    if str(fault["path"]).endswith("addPassword$"):  # a rotation that could not add its secret is counted failed
        assert scraped(operator, "acssmtp_rotations_total", reason="ManualRotation", result="failed") > failed
    cloud.kubectl("delete", "acssmtp", "faulty", "-n", ns, "--wait=false")


def test_killed_mid_rotation_the_secret_keeps_working_and_nothing_leaks(
    cloud: Cloud, ns: str, operator: Operator
) -> None:
    """SIGKILL after addPassword (during verification), then during the grace period; restart each time."""
    app = "restricted-mailer"  # an application no other test here rotates
    apply(cloud, ns, "killed", app=app, rotation={"secretLifetime": "2h", "renewBefore": "1h", "gracePeriod": "8s"})
    wait_ready(cloud, ns, "killed")
    with Consumer(cloud, ns, "killed-smtp", None) as pod:
        # 1: after addPassword, while the new secret is being verified
        cloud.reset()
        cloud.fault(path="oauth2/v2.0/token$", latencyMs=4000, times=2)
        cloud.kubectl("annotate", "acssmtp", "killed", "-n", ns, "acssmtp.io/rotate=kill-1", "--overwrite")
        object_id = cloud.app(app)["objectId"]
        eventually(
            lambda: any(w["path"].endswith(f"{object_id}/addPassword") for w in azure_writes(cloud)),
            20,
            "the addPassword",
        )
        operator.kill()
        cloud.reset()
        leaked = marked_keys(cloud, app, ns, "killed") - referenced(cloud, ns, "killed")
        assert leaked, "the killed rotation left a key nothing references"
        operator.start()
        eventually(
            lambda: (get(cloud, ns, "acssmtp", "killed") or {})["status"].get("rotateRequestHandled") == "kill-1",
            30,
            "the requested rotation after the restart",
        )
        # 2: during the grace period of the replaced key
        retiring = (get(cloud, ns, "acssmtp", "killed") or {})["status"].get("retiringKeys")
        operator.kill()
        time.sleep(1)
        operator.start()
        eventually(
            lambda: (
                marked_keys(cloud, app, ns, "killed") == referenced(cloud, ns, "killed")
                and not (get(cloud, ns, "acssmtp", "killed") or {})["status"].get("retiringKeys")
            ),
            60,
            "the orphan and the retired key to be removed",
        )
        assert retiring, "the restart happened while a key was in its grace period"
    assert pod.refused == [], pod.refused
    assert not leaked & marked_keys(cloud, app, ns, "killed")


def _live_keys(cloud: Cloud, app: str) -> dict[str, str]:
    found = next(a for a in cloud.state()["applications"] if a["appId"] == cloud.app(app)["clientId"])
    return {p["keyId"]: p["displayName"] for p in found["passwordCredentials"]}


def test_a_credential_deleted_without_its_finalizer_has_its_client_secret_swept(
    cloud: Cloud, ns: str, operator: Operator, tmp_path: Path
) -> None:
    """A tenant may remove the finalizer: the key would work until it expires. The sweep removes a key whose
    marker names this cluster and a credential that no longer exists, once it has settled (3 s here)."""
    apply(cloud, ns, "unfinalized", app="billing-mailer")
    wait_ready(cloud, ns, "unfinalized")
    key = (get(cloud, ns, "acssmtp", "unfinalized") or {})["status"]["currentKeyId"]
    marker = _live_keys(cloud, "billing-mailer")[key]
    assert marker.startswith(f"acs-smtp-operator {ns}/unfinalized ") and len(marker.split(" ")) == 4  # + cluster
    data = eventually(lambda: secret_data(cloud, ns, "unfinalized-smtp"), 10, "the Secret")
    assert login(cloud, data["username"], data["password"]) == 235
    operator.stop()  # a running operator puts its finalizer back at once; this one finds the credential gone
    cloud.kubectl("patch", "acssmtp", "unfinalized", "-n", ns, "--type=merge", "-p",
                  '{"metadata":{"finalizers":null}}')  # fmt: skip
    cloud.kubectl("delete", "acssmtp", "unfinalized", "-n", ns)
    assert key in _live_keys(cloud, "billing-mailer")
    # This module's operator sweeps hourly (as shipped): one that sweeps every second finds the key.
    sweeping = Operator(cloud, tmp_path, *operator.args, **{**_RUNNING, "ACSSMTP_SWEEP_PERIOD": "1"})
    sweeping.start()
    try:
        eventually(lambda: key not in _live_keys(cloud, "billing-mailer"), 30, "the stray client secret swept")
        assert login(cloud, data["username"], data["password"]) == 535
        sweeping.scrape()
        assert re.search(r"^acssmtp_stray_keys_removed_total [1-9]", sweeping.metrics_pages[-1], re.M)
        assert "no longer exists and was not finalized" in sweeping.log.read_text()
    finally:
        sweeping.stop()
        operator.start()
