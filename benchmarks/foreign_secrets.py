"""What Secrets the operator does not own cost it: its memory with many foreign Secrets in a watched namespace.

Starts the sandbox, fills namespace `crowded` with N foreign Secrets (1 KiB of data each, no label of ours),
starts the operator on it, applies one credential and waits for it to be Ready, then prints the operator's
resident memory (VmRSS, VmHWM) next to the same run with no foreign Secret. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/foreign_secrets.py [--secrets 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from acs_smtp_operator.sandbox import Seed, run_sandbox
from acs_smtp_operator.sandbox.demo import grant_everything, kubectl, start_operator

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "crowded"


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Vm")
    )
    return tuple(float(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def _fill(kubeconfig: str, count: int) -> float:
    """Create `count` foreign Secrets; seconds taken."""
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]
    payload = base64.b64encode(os.urandom(768)).decode()  # 1 KiB of base64
    api.create_namespace({"metadata": {"name": NAMESPACE}})
    started = time.monotonic()
    for n in range(count):
        api.create_namespaced_secret(
            NAMESPACE,
            {"metadata": {"name": f"foreign-{n}", "labels": {"app": "other"}}, "data": {"blob": payload}},
        )
    return time.monotonic() - started


async def _run(count: int) -> tuple[float, float, float, float]:
    """(fill seconds, RSS MB, peak RSS MB, seconds to Ready) with `count` foreign Secrets."""
    with tempfile.TemporaryDirectory() as directory:
        async with run_sandbox(Path(directory), Seed()) as sandbox:
            config_file, manifest = sandbox.env["KUBECONFIG"], sandbox.manifest
            await kubectl(config_file, "apply", "-f", str(ROOT / "crds"))
            filled = await asyncio.to_thread(_fill, config_file, count)
            await grant_everything(sandbox, NAMESPACE)
            operator = start_operator(sandbox, NAMESPACE, Path(directory) / "operator.log", ACSSMTP_RESUME_SPREAD="0")
            try:
                await asyncio.sleep(5)  # the watches' initial listings are in
                cr = {
                    "apiVersion": "acssmtp.io/v1alpha1",
                    "kind": "AcsSmtpCredential",
                    "metadata": {"name": "mailer", "namespace": NAMESPACE},
                    "spec": {
                        "communicationService": {"resourceId": manifest["communicationServices"][0]["resourceId"]},
                        "entraApplication": {"clientId": manifest["applications"][0]["clientId"]},
                    },
                }
                (Path(directory) / "cr.json").write_text(json.dumps(cr))
                started = time.monotonic()
                await kubectl(config_file, "apply", "-f", str(Path(directory) / "cr.json"))
                await kubectl(
                    config_file, "wait", "acssmtp/mailer", "-n", NAMESPACE, "--for=condition=Ready", "--timeout=120s"
                )
                ready = time.monotonic() - started
                await asyncio.sleep(2)
                rss, peak = _memory(operator.pid)
            finally:
                operator.send_signal(signal.SIGTERM)
                await asyncio.to_thread(operator.wait, 20)
    return filled, rss, peak, ready


async def main(count: int) -> None:
    print(f"{'foreign Secrets':>15} {'operator RSS (MB)':>17} {'peak RSS (MB)':>13} {'apply -> Ready (s)':>18}")
    for n in (0, count):
        filled, rss, peak, ready = await _run(n)
        print(f"{n:>15} {rss:>17.1f} {peak:>13.1f} {ready:>18.2f}   (created in {filled:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=10000)
    asyncio.run(main(parser.parse_args().secrets))
