"""Azure calls per rotation, by route, and the longest time a consumer went without a working secret.

    .venv/bin/python benchmarks/rotation_calls.py [--rotations 3]

A credential is asked to rotate every ~5 s (the `acssmtp.io/rotate` annotation; scheduled rotations are at
least an hour apart), gracePeriod 3s, with a Deployment as restart target; a consumer logs in over SMTP every
0.2 s with the password it read when its pod template last changed (as a restarted pod would).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import signal
import smtplib
import ssl
import tempfile
import time
from pathlib import Path

from acs_smtp_operator.metrics import route
from acs_smtp_operator.sandbox import Seed, run_sandbox
from acs_smtp_operator.sandbox.demo import grant_everything, kubectl, start_operator

ROOT = Path(__file__).resolve().parent.parent
CR = """
apiVersion: acssmtp.io/v1alpha1
kind: AcsSmtpCredential
metadata: {{name: bench, namespace: default}}
spec:
  communicationService: {{resourceId: {acs}}}
  entraApplication: {{clientId: {app}}}
  rotation: {{secretLifetime: 2h, renewBefore: 1h, gracePeriod: 3s}}
  restartTargets: [{{kind: Deployment, name: web}}]
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: web:1}]}}
"""


def login(host: str, port: int, ca: str, username: str, password: str) -> bool:
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=ca))
        try:
            smtp.login(username, password)
        except smtplib.SMTPAuthenticationError:
            return False
    return True


async def main(rotations: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        async with run_sandbox(Path(directory), Seed()) as sandbox:
            config, m = sandbox.env["KUBECONFIG"], sandbox.manifest
            await kubectl(config, "apply", "-f", str(ROOT / "crds"))
            await grant_everything(sandbox, "default")  # an administrator's policy comes first
            for name, text in (
                ("deployment", DEPLOYMENT),
                (
                    "cr",
                    CR.format(acs=m["communicationServices"][0]["resourceId"], app=m["applications"][0]["clientId"]),
                ),
            ):
                (Path(directory) / f"{name}.yaml").write_text(text)
                await kubectl(config, "apply", "-f", str(Path(directory) / f"{name}.yaml"))
            operator = start_operator(
                sandbox,
                "default",
                Path(directory) / "operator.log",
                ACSSMTP_DRIFT_PERIOD="3600",
                ACSSMTP_METRICS_PORT="0",
                ACSSMTP_MIN_MANUAL_INTERVAL="1",
            )
            try:
                await measure(sandbox, config, rotations)
            finally:
                operator.send_signal(signal.SIGTERM)
                await asyncio.to_thread(operator.wait, 20)


async def status(config: str) -> dict[str, object]:
    return dict(json.loads(await kubectl(config, "get", "acssmtp", "bench", "-o", "json")).get("status") or {})


async def read_secret(config: str) -> tuple[str, str, str]:
    obj = json.loads(await kubectl(config, "get", "secret", "bench-smtp", "-o", "json"))
    data = {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}
    template = json.loads(await kubectl(config, "get", "deployment", "web", "-o", "json"))["spec"]["template"]
    return data["username"], data["password"], str(template["metadata"].get("annotations") or {})


async def measure(sandbox: object, config: str, rotations: int) -> None:
    ctx = sandbox.ctx  # type: ignore[attr-defined]
    m = sandbox.manifest  # type: ignore[attr-defined]
    while (await status(config)).get("currentKeyId") is None:  # noqa: ASYNC110 - polling kubectl, as a user would
        await asyncio.sleep(0.2)
    username, password, template = await read_secret(config)
    seen = [(await status(config)).get("lastRotationTime")]
    ctx.log.clear()
    outage, refused_since, logins = 0.0, None, 0
    per_rotation: list[collections.Counter[str]] = []
    asked = 0.0
    while len(seen) <= rotations:
        if time.monotonic() - asked >= 5:
            await kubectl(config, "annotate", "acssmtp", "bench", f"acssmtp.io/rotate=r{time.time_ns()}", "--overwrite")
            asked = time.monotonic()
        now_template = (await read_secret(config))[2]
        if now_template != template:
            username, password, template = await read_secret(config)
        ok = await asyncio.to_thread(login, m["smtp"]["host"], m["smtp"]["port"], m["caBundle"], username, password)
        logins += 1
        if not ok and refused_since is None:
            refused_since = time.monotonic()
        if ok and refused_since is not None:
            outage, refused_since = max(outage, time.monotonic() - refused_since), None
        rotated = (await status(config)).get("lastRotationTime")
        if rotated != seen[-1]:
            seen.append(rotated)
            per_rotation.append(collections.Counter(f"{c.api:<5} {route(c.api, c.method, c.path)}" for c in ctx.log))
            ctx.log.clear()
        await asyncio.sleep(0.2)
    print(f"rotations observed: {rotations}, SMTP logins by the consumer: {logins}")
    print(f"longest time the consumer had no working secret: {outage:.2f} s")
    print("Azure calls between one rotation and the next (the rotation, its retirement and nothing else):")
    total = sum(per_rotation[1:], collections.Counter()) if len(per_rotation) > 1 else per_rotation[0]
    runs = max(len(per_rotation) - 1, 1)
    for line, count in sorted(total.items()):
        print(f"  {count / runs:4.1f} x {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rotations", type=int, default=3)
    asyncio.run(main(parser.parse_args().rotations))
