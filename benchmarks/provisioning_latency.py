"""CR apply -> Ready latency and Azure calls per first provisioning, on the sandbox (prints figures).

    .venv/bin/python benchmarks/provisioning_latency.py [--credentials 10] [--latency-ms 0 20] [--operator-path DIR]

The operator runs as its own process; each credential is applied with kubectl and timed until its
Ready condition is True. Latency is injected into every ARM, Graph and token call by the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

from acs_smtp_operator.metrics import route
from acs_smtp_operator.sandbox import Seed, run_sandbox
from acs_smtp_operator.sandbox.azure.faults import FaultSpec
from acs_smtp_operator.sandbox.demo import grant_everything, kubectl, start_operator
from acs_smtp_operator.sandbox.seed import AppSeed

CRDS = Path(__file__).resolve().parent.parent / "crds"


async def measure(count: int, latency_ms: int, operator_path: str | None = None) -> None:
    seed = Seed(applications=[AppSeed(name=f"bench-{n}") for n in range(count + 1)])
    with tempfile.TemporaryDirectory() as directory:
        async with run_sandbox(Path(directory), seed) as sandbox:
            config = sandbox.env["KUBECONFIG"]
            await kubectl(config, "apply", "-f", str(CRDS))
            await grant_everything(sandbox, "default")  # an administrator's policy comes first
            acs = sandbox.manifest["communicationServices"][0]["resourceId"]
            first = sandbox.manifest["applications"][0]["clientId"]
            cold = Path(directory) / "cold.yaml"
            cold.write_text(yaml.safe_dump(_credential("cold", acs, first)))
            await kubectl(config, "apply", "-f", str(cold))  # there before the operator starts
            if latency_ms:
                sandbox.ctx.faults.add(FaultSpec(path=".", latencyMs=latency_ms))
            started, wall = time.perf_counter(), time.time()
            path = {"PYTHONPATH": operator_path} if operator_path else {}
            operator = start_operator(sandbox, "default", Path(directory) / "operator.log", **path)
            try:
                await _ready(config, "cold")
                ready = time.perf_counter() - started
                first_call = min(
                    datetime.fromisoformat(c.time).timestamp() for c in sandbox.ctx.log if c.api in ("arm", "graph")
                )
                print(
                    f"process start -> first reconcile (its first ARM or Graph call): {first_call - wall:.2f} s, "
                    f"-> Ready: {ready:.2f} s"
                )
                samples = []
                for n, app in enumerate(sandbox.manifest["applications"][1:]):
                    sandbox.ctx.log.clear()
                    body = _credential(f"bench-{n}", acs, app["clientId"])
                    manifest = Path(directory) / f"bench-{n}.yaml"
                    manifest.write_text(yaml.safe_dump(body))
                    started = time.perf_counter()
                    await kubectl(config, "apply", "-f", str(manifest))
                    await _ready(config, f"bench-{n}")
                    samples.append(time.perf_counter() - started)
                    if n == 0:
                        log = sandbox.ctx.log
                        calls = collections.Counter(f"{c.api:<5} {route(c.api, c.method, c.path)}" for c in log)
                print(f"injected latency per Azure call: {latency_ms} ms, credentials: {count}")
                print(
                    f"  apply -> Ready: median {statistics.median(samples):.2f} s, "
                    f"min {min(samples):.2f} s, max {max(samples):.2f} s"
                )
                print(f"  Azure calls for the first provisioning ({sum(calls.values())}):")
                for line, times in sorted(calls.items()):
                    print(f"    {times} x {line}")
            finally:
                operator.send_signal(signal.SIGTERM)
                await asyncio.to_thread(operator.wait, 20)


def _credential(name: str, acs: str, client_id: str) -> dict[str, object]:
    return {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpCredential",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"communicationService": {"resourceId": acs}, "entraApplication": {"clientId": client_id}},
    }


async def _ready(config: str, name: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        obj = json.loads(await kubectl(config, "get", "acssmtp", name, "-o", "json"))
        if any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", [])):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credentials", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 20])
    parser.add_argument("--operator-path", help="run the operator from another checkout's operator/ (before)")
    args = parser.parse_args()
    for latency in args.latency_ms:
        asyncio.run(measure(args.credentials, latency, args.operator_path))
