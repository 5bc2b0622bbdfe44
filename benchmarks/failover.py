"""Leader failover on the sandbox: how long no replica reconciles when the leader stops or dies (prints figures).

    .venv/bin/python benchmarks/failover.py [--rounds 3] [--lease 15 10 2]

Two `acs-smtp-operator run` processes share one Lease. Each round stops the leader (SIGTERM: it releases
the Lease) or kills it (SIGKILL: the Lease must lapse), and times until the other answers /readyz as leader,
then until a credential applied at that moment is Ready (the gap a user would see).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from acs_smtp_operator.sandbox import Seed, run_sandbox
from acs_smtp_operator.sandbox.demo import grant_everything, kubectl, start_operator
from acs_smtp_operator.sandbox.runner import Sandbox
from acs_smtp_operator.sandbox.seed import AppSeed

CRDS = Path(__file__).resolve().parent.parent / "crds"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Replica:
    def __init__(self, sandbox: Sandbox, name: str, workdir: Path, env: dict[str, str]) -> None:
        self.sandbox, self.name, self.workdir, self.port, self.lives = sandbox, name, workdir, free_port(), 0
        self.env = {**env, "ACSSMTP_HEALTH_PORT": str(self.port), "ACSSMTP_METRICS_PORT": "0", "ACSSMTP_IDENTITY": name}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.lives += 1
        log = self.workdir / f"{self.name}-{self.lives}.log"
        self.process = start_operator(self.sandbox, "default", log, **self.env)

    def role(self) -> str | None:
        try:
            return str(httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).json()["role"])
        except (httpx.HTTPError, ValueError):
            return None

    async def end(self, how: signal.Signals) -> None:
        """Signal and wait, without blocking the loop the sandbox serves on."""
        assert self.process is not None
        self.process.send_signal(how)
        await asyncio.to_thread(self.process.wait, 30)


async def until(probe: Callable[[], bool], limit: float = 120) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if await asyncio.to_thread(probe):
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise RuntimeError("timed out")


async def measure(rounds: int, lease: tuple[int, int, int]) -> None:
    seed = Seed(applications=[AppSeed(name=f"failover-{n}") for n in range(2 * rounds)])
    with tempfile.TemporaryDirectory(prefix="acs-smtp-failover-") as directory:
        workdir = Path(os.environ.get("FAILOVER_WORKDIR") or directory)
        async with run_sandbox(workdir, seed) as sandbox:
            config = sandbox.env["KUBECONFIG"]
            await kubectl(config, "apply", "-f", str(CRDS))
            await grant_everything(sandbox, "default")  # an administrator's policy comes first
            env = {
                "ACSSMTP_LEASE_DURATION": str(lease[0]),
                "ACSSMTP_LEASE_RENEW_DEADLINE": str(lease[1]),
                "ACSSMTP_LEASE_RETRY_PERIOD": str(lease[2]),
            }
            replicas = [Replica(sandbox, f"replica-{n}", workdir, env) for n in range(2)]
            for replica in replicas:
                replica.start()
            await until(lambda: {r.role() for r in replicas} == {"leader", "standby"})
            apps = iter(sandbox.manifest["applications"])
            acs = sandbox.manifest["communicationServices"][0]["resourceId"]
            figures: dict[str, list[tuple[float, float]]] = {"SIGTERM": [], "SIGKILL": []}
            for n in range(rounds):
                for how in (signal.SIGTERM, signal.SIGKILL):
                    leader = next(r for r in replicas if r.role() == "leader")
                    other = next(r for r in replicas if r is not leader)
                    name = f"failover-{n}-{how.name.lower()}"
                    body = {
                        "apiVersion": "acssmtp.io/v1alpha1",
                        "kind": "AcsSmtpCredential",
                        "metadata": {"name": name, "namespace": "default"},
                        "spec": {
                            "communicationService": {"resourceId": acs},
                            "entraApplication": {"clientId": next(apps)["clientId"]},
                        },
                    }
                    manifest = workdir / f"{name}.yaml"
                    manifest.write_text(yaml.safe_dump(body))
                    started = time.perf_counter()
                    await leader.end(how)
                    await kubectl(config, "apply", "-f", str(manifest))
                    takeover = await until(lambda other=other: other.role() == "leader")
                    try:
                        await kubectl(
                            config, "wait", f"acssmtp/{name}", "--for=condition=Ready", "--timeout=50s", "-n", "default"
                        )
                    except Exception:
                        for logged in sandbox.ctx.log:
                            if "token" not in logged.path:
                                print("  ", logged.time[11:23], logged.api, logged.method, logged.path, logged.status)
                        raise
                    figures[how.name].append((takeover, time.perf_counter() - started))
                    leader.start()  # back, as a standby
                    await until(lambda leader=leader: leader.role() == "standby")
            for replica in replicas:
                await replica.end(signal.SIGTERM)
    print(f"lease duration {lease[0]} s, renew deadline {lease[1]} s, retry period {lease[2]} s; {rounds} rounds")
    for how, samples in figures.items():
        takeovers, readies = [s[0] for s in samples], [s[1] for s in samples]
        print(
            f"  leader {how}: standby leads after median {statistics.median(takeovers):.2f} s "
            f"(max {max(takeovers):.2f}); a credential applied then is Ready after median "
            f"{statistics.median(readies):.2f} s (max {max(readies):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lease", type=int, nargs=3, default=(15, 10, 2), metavar=("DURATION", "RENEW", "RETRY"))
    args = parser.parse_args()
    asyncio.run(measure(args.rounds, tuple(args.lease)))


if __name__ == "__main__":
    main()
