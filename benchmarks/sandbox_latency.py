"""Median latency of one emulated call, through the real clients (prints figures; asserts nothing).

.venv/bin/python benchmarks/sandbox_latency.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from kubernetes import client, config

from acs_smtp_operator.azure.clients import AzureClients, client_secret_credential
from acs_smtp_operator.sandbox import Seed, run_sandbox
from acs_smtp_operator.settings import Settings


async def timed(calls: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"{name:<34} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms   n={len(samples)}")


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        async with run_sandbox(Path(directory), Seed()) as sandbox:
            env = sandbox.env
            settings = Settings(
                arm_endpoint=env["ACSSMTP_ARM_ENDPOINT"],
                graph_endpoint=env["ACSSMTP_GRAPH_ENDPOINT"],
                authority_host=env["AZURE_AUTHORITY_HOST"],
                ca_bundle=Path(env["ACSSMTP_CA_BUNDLE"]),
            )
            credential = client_secret_credential(
                settings, env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"]
            )
            azure = AzureClients(settings, credential)
            acs = sandbox.manifest["communicationServices"][0]
            rg, name = acs["resourceId"].split("/")[4], acs["name"]
            app = sandbox.manifest["applications"][0]["clientId"]
            await azure.communication(sandbox.manifest["subscriptionId"]).communication_services.get(
                rg, name
            )  # warm the token cache
            report(
                "ARM GET communicationServices",
                await timed(
                    calls,
                    lambda: azure.communication(sandbox.manifest["subscriptionId"]).communication_services.get(
                        rg, name
                    ),
                ),
            )
            report(
                "Graph GET applications(appId)",
                await timed(calls, lambda: azure.graph.applications_with_app_id(app).get()),
            )

            async def fresh_token() -> object:
                one = client_secret_credential(
                    settings, env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"]
                )
                try:
                    return await one.get_token(settings.communication_audience)
                finally:
                    await one.close()

            report("Entra token (new credential)", await timed(max(calls // 4, 10), fresh_token))
            await azure.close()
            await credential.close()
            api = config.new_client_from_config(config_file=env["KUBECONFIG"])
            core = client.CoreV1Api(api)
            report(
                "Kubernetes GET namespace (sync)",
                await timed(calls, lambda: asyncio.to_thread(core.read_namespace, "default")),
            )
            api.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    asyncio.run(main(parser.parse_args().calls))
