"""Many credentials on one replica: the burst, the steady state and a restart, on the sandbox (prints figures).

    .venv/bin/python benchmarks/scale.py [--credentials 100 300 1000] [--throttling on off]
        [--drift 120] [--operator-path DIR]

For each count and throttling mode: a sandbox with one application per credential and one ACS resource, a
policy, the operator as its own process; then

1. burst: every credential applied at once (one `kubectl apply`), timed until all are Ready; the Azure calls
   per credential by kind, the 429s answered, the operator's RSS (idle, peak);
2. settling: the calls made after all are Ready, through the orphan-settling window and Graph's lag (the
   bookkeeping wake-ups), per credential;
3. steady state: the drift period shortened to `--drift` seconds; the reads per credential per drift period,
   scaled to a day at the 1-hour default, and how evenly they spread (the busiest 10 s against the mean);
4. restart: the operator stopped (SIGTERM) and started again; the time until every credential's application
   was read again, the reads per credential, the 429s.

Throttling "on" is ARM's documented buckets per subscription and principal (reads 250 + 25/s, writes
200 + 10/s, deletes 200 + 10/s) and Graph's budget per app and tenant. `--operator-path` runs the operator
from another checkout's `operator/` (the "before" figures), with this checkout's sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from acs_smtp_operator.sandbox import Seed, run_sandbox
from acs_smtp_operator.sandbox.azure.throttle import ArmLimits, GraphLimits
from acs_smtp_operator.sandbox.demo import kubectl, open_policy, start_operator
from acs_smtp_operator.sandbox.runner import Sandbox
from acs_smtp_operator.sandbox.seed import AppSeed

CRDS = Path(__file__).resolve().parent.parent / "crds"
READY = '{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'


def _rss(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of a process, MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _kind(method: str) -> str:
    return "GET" if method == "GET" else "DELETE" if method == "DELETE" else "write"


def _calls(log: list[Any]) -> collections.Counter[str]:
    counted: collections.Counter[str] = collections.Counter()
    for c in log:
        if c.api == "entra":
            counted["token"] += 1
        else:
            counted[f"{c.api} {_kind(c.method)}"] += 1
        if c.status == 429:
            counted["429"] += 1
    return counted


def _reads(log: list[Any]) -> int:
    return sum(1 for c in log if c.api in ("arm", "graph") and c.method == "GET")


async def _ready_count(config: str) -> int:
    out = await kubectl(config, "get", "acssmtp", "-o", f"jsonpath={READY}")
    return sum(1 for line in out.splitlines() if line.strip() == "True")


def _manifest(sandbox: Sandbox, count: int, path: Path) -> None:
    acs = sandbox.manifest["communicationServices"][0]["resourceId"]
    docs = [
        {
            "apiVersion": "acssmtp.io/v1alpha1",
            "kind": "AcsSmtpCredential",
            "metadata": {"name": f"bench-{n}", "namespace": "default"},
            "spec": {
                "communicationService": {"resourceId": acs},
                "entraApplication": {"clientId": app["clientId"]},
            },
        }
        for n, app in enumerate(sandbox.manifest["applications"][:count])
    ]
    path.write_text(yaml.safe_dump_all(docs))


async def _grant(sandbox: Sandbox, workdir: Path) -> None:
    """The administrator's policies (a policy lists 256 applications at most): one per 250."""
    apps = sandbox.manifest["applications"]
    for n in range(0, len(apps), 250):
        manifest = {**sandbox.manifest, "applications": apps[n : n + 250]}
        path = workdir / f"policy-{n}.json"
        path.write_text(json.dumps(open_policy(manifest, f"bench-{n // 250}", {"names": ["default"]})))
        await kubectl(sandbox.env["KUBECONFIG"], "apply", "-f", str(path))


def _start(sandbox: Sandbox, workdir: Path, life: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return start_operator(sandbox, "default", workdir / f"operator-{life}.log", **env)


async def _stop(operator: subprocess.Popen[bytes]) -> None:
    operator.send_signal(signal.SIGTERM)
    await asyncio.to_thread(operator.wait, 60)


def _spread(log: list[Any], start: float, width: float) -> str:
    """How the reads of a window spread: the busiest 10 s against the mean 10 s."""
    buckets: collections.Counter[int] = collections.Counter()
    for c in log:
        if c.api in ("arm", "graph") and c.method == "GET":
            buckets[int((datetime.fromisoformat(c.time).timestamp() - start) // 10)] += 1
    slots = max(int(width // 10), 1)
    mean = sum(buckets.values()) / slots
    return f"busiest 10 s {max(buckets.values(), default=0)} reads, mean {mean:.0f}"


async def measure(count: int, throttling: bool, drift: float, settle: float, operator_path: str | None) -> None:
    seed = Seed(applications=[AppSeed(name=f"bench-{n}") for n in range(count)])
    env = {"ACSSMTP_DRIFT_PERIOD": str(drift)}
    if operator_path:
        env["PYTHONPATH"] = operator_path
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        async with run_sandbox(workdir, seed) as sandbox:
            ctx = sandbox.ctx
            if throttling:
                ctx.throttle.configure(ArmLimits(), GraphLimits())
            stamped = _Stamped(ctx.log)
            config = sandbox.env["KUBECONFIG"]
            await kubectl(config, "apply", "-f", str(CRDS))
            await _grant(sandbox, workdir)
            manifest = workdir / "credentials.yaml"
            _manifest(sandbox, count, manifest)
            operator = _start(sandbox, workdir, 1, env)
            try:
                await asyncio.sleep(5)  # start-up: imports, login, the first lists
                idle = _rss(operator.pid)[0]
                mark = stamped.mark()
                started = time.monotonic()
                await kubectl(config, "apply", "-f", str(manifest))
                peak, ready = idle, 0
                while ready < count and time.monotonic() - started < 900:
                    await asyncio.sleep(1)
                    ready = await _ready_count(config)
                    peak = max(peak, _rss(operator.pid)[0])
                burst = time.monotonic() - started
                burst_log = stamped.since(mark)
                calls = _calls(burst_log)
                print(f"\n== {count} credentials, throttling {'on' if throttling else 'off'}")
                print(f"burst: {ready}/{count} Ready in {burst:.1f} s")
                per = ", ".join(f"{k} {v / count:.2f}" for k, v in sorted(calls.items()) if k != "429")
                total = sum(v for k, v in calls.items() if k != "429") / count
                print(f"  Azure calls per credential: {total:.2f} ({per})")
                print(f"  429 received: {calls['429']}")
                print(f"  operator RSS: idle {idle:.0f} MB, peak {peak:.0f} MB")

                mark = stamped.mark()
                window = settle  # past the orphan-settling window (120 s) and Graph's lag (60 s) by default
                await asyncio.sleep(window)
                settle_log = stamped.since(mark)
                print(
                    f"settling ({window:.0f} s after Ready): {_reads(settle_log) / count:.2f} reads per credential, "
                    f"{_calls(settle_log)['429']} 429s, RSS {_rss(operator.pid)[0]:.0f} MB"
                )

                mark = stamped.mark()
                begin = time.time()
                await asyncio.sleep(2 * drift)
                drift_log = stamped.since(mark)
                per_period = _reads(drift_log) / count / 2
                print(
                    f"steady state (drift {drift:.0f} s, 2 periods): {per_period:.2f} reads per credential per period "
                    f"-> {per_period * 24:.1f} per day at 1 h; {_spread(drift_log, begin, 2 * drift)}; "
                    f"{_calls(drift_log)['429']} 429s; RSS {_rss(operator.pid)[0]:.0f} MB "
                    f"(peak {_rss(operator.pid)[1]:.0f} MB)"
                )

                await _stop(operator)
                mark = stamped.mark()
                started = time.monotonic()
                operator = _start(sandbox, workdir, 2, env)
                apps = {a["clientId"].lower() for a in sandbox.manifest["applications"][:count]}
                seen: set[str] = set()
                while seen != apps and time.monotonic() - started < 600:
                    await asyncio.sleep(1)
                    for c in stamped.since(mark):
                        if c.api == "graph" and c.method == "GET" and "appId=" in c.path:
                            seen.add(c.path.split("appId='", 1)[1].split("'", 1)[0].lower())
                took = time.monotonic() - started
                restart_log = stamped.since(mark)
                print(
                    f"restart: {len(seen & apps)}/{count} re-checked in {took:.1f} s, "
                    f"{_reads(restart_log) / count:.2f} reads per credential, {_calls(restart_log)['429']} 429s"
                )
            finally:
                await _stop(operator)


class _Stamped:
    """The sandbox's request log, read from a mark on."""

    def __init__(self, log: list[Any]) -> None:
        self._log = log

    def mark(self) -> int:
        return len(self._log)

    def since(self, mark: int) -> list[Any]:
        return self._log[mark:]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--credentials", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--throttling", choices=["on", "off"], nargs="+", default=["on", "off"])
    parser.add_argument("--drift", type=float, default=120.0, help="the drift period for the steady state (s)")
    parser.add_argument("--settle", type=float, default=200.0, help="the settling window measured (s)")
    parser.add_argument("--operator-path", default=os.environ.get("BENCH_OPERATOR_PATH"))
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # figures as they come
    for mode in args.throttling:
        for n in args.credentials:
            asyncio.run(measure(n, mode == "on", args.drift, args.settle, args.operator_path))
