"""Start-up before the CRDs exist: the operator waits for them, and says it is not ready meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import yaml
from kubernetes import client, config

from acs_smtp_operator.health import Health, Role, serve_health
from acs_smtp_operator.runtime import crds_served
from acs_smtp_operator.sandbox import Seed, run_sandbox
from tests.conftest import settings_of
from tests.inprocess.conftest import ROOT, off_loop


async def test_without_the_crds_readyz_fails_until_they_are_served_then_it_goes_on(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with run_sandbox(tmp_path, Seed()) as sandbox:  # a cluster of its own: no CRD installed yet
        api = config.new_client_from_config(config_file=sandbox.env["KUBECONFIG"])  # type: ignore[no-untyped-call]
        settings = settings_of(sandbox.env, crd_poll=0.2)
        health, stop = Health(), asyncio.Event()
        probes = await serve_health(health, unused_tcp_port, "127.0.0.1")
        readyz = f"http://127.0.0.1:{unused_tcp_port}/readyz"
        try:
            waiting = asyncio.create_task(crds_served(api, settings, health, stop))
            await asyncio.sleep(1.0)
            assert not waiting.done(), "it went on without the CRDs"
            async with httpx.AsyncClient() as http:
                answer = await http.get(readyz)
                assert (answer.status_code, answer.json()) == (503, {"role": "waiting-for-crds"})
                extensions = client.ApiextensionsV1Api(api)
                for crd in sorted((ROOT / "crds").glob("*.yaml")):
                    await off_loop(extensions.create_custom_resource_definition, yaml.safe_load(crd.read_text()))
                assert await asyncio.wait_for(waiting, 10) is True
                health.role = Role.LEADER  # as the runtime does once kopf watches
                assert (await http.get(readyz)).status_code == 200
        finally:
            stop.set()
            await probes.cleanup()
            api.close()


async def test_a_stop_while_waiting_for_the_crds_ends_the_wait(tmp_path: Path) -> None:
    async with run_sandbox(tmp_path, Seed()) as sandbox:
        api = config.new_client_from_config(config_file=sandbox.env["KUBECONFIG"])  # type: ignore[no-untyped-call]
        stop = asyncio.Event()
        waiting = asyncio.create_task(crds_served(api, settings_of(sandbox.env, crd_poll=0.2), Health(), stop))
        await asyncio.sleep(0.5)
        stop.set()
        assert await asyncio.wait_for(waiting, 5) is False
        api.close()
