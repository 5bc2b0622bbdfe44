"""The in-process layer: one pass called directly against the sandbox, run on the test's own event loop.

No subprocess: the sandbox's servers run in this process, the operator's pass is called as a function with a
clock the test steps, and every Azure and Kubernetes call still goes through the real clients (azure-mgmt-*,
msgraph-sdk, azure-identity, kubernetes) over https/http to the emulators. The operator's clock never needs a
sleep; what runs on the wall clock does, and only the scenarios about it wait: Graph's read-after-write lag
(the `lag` scenarios of test_real_azure.py, which poll until Graph lists a key), a pass kept in flight while a
deletion races it (test_deletion.py), and the start-up wait for the CRDs (test_startup.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client, config

from acs_smtp_operator.azure.clients import AzureClients, client_secret_credential
from acs_smtp_operator.credential import Credential
from acs_smtp_operator.finalize import finalize
from acs_smtp_operator.kube.api import Kube
from acs_smtp_operator.metrics import Metrics
from acs_smtp_operator.policy import policy_view
from acs_smtp_operator.ports import Ports
from acs_smtp_operator.reconcile import Outcome, reconcile
from acs_smtp_operator.sandbox import Sandbox, Seed, run_sandbox
from acs_smtp_operator.sandbox.azure.context import Logged
from acs_smtp_operator.sandbox.demo import open_policy
from acs_smtp_operator.tenancy import Tenancy
from acs_smtp_operator.vocabulary import GROUP, PLURAL, VERSION
from tests.conftest import settings_of

ROOT = Path(__file__).resolve().parents[2]
# What the operator's coordinator tells a deletion when a policy permits the namespace the recorded application and
# resource: role assignments and the role are removed only then.
PERMITTED = True


def ANYWHERE(resource_id: str) -> bool:
    """Every resource is permitted (what `covers` answers under the open policy)."""
    return True


T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """A blocking Kubernetes client call, off the loop that serves the emulator."""
    return await asyncio.to_thread(fn, *args)


class Clock:
    """The operator's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def step(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@dataclass
class PassResult:
    outcome: Outcome
    events: list[tuple[str, str, str]]
    calls: list[Logged]  # the Azure requests this pass made

    def named(self, suffix: str) -> list[Logged]:
        return [c for c in self.calls if c.path.endswith(suffix)]


@dataclass
class Bench:
    """The sandbox, the operator's ports on it, and a stepped clock."""

    sandbox: Sandbox
    ports: Ports
    clock: Clock
    custom: client.CustomObjectsApi
    core: client.CoreV1Api
    namespaces: list[str] = field(default_factory=list)
    tenancy: Tenancy = field(default_factory=Tenancy)  # what the policies say: every test starts with `open_policy`

    def open_policy(self) -> Tenancy:
        """One policy covering every namespace: every sandbox application and resource, open bounds."""
        body = open_policy(self.sandbox.manifest, "everything", {"selector": {}})
        body["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
        return Tenancy((policy_view(body),), {ns: {} for ns in self.namespaces})

    def app(self, name: str) -> dict[str, Any]:
        return next(a for a in self.sandbox.manifest["applications"] if a["name"] == name)

    @property
    def acs(self) -> dict[str, Any]:
        return next(a for a in self.sandbox.manifest["communicationServices"] if a["linkedDomains"])

    def keys(self, app: str) -> dict[str, str]:
        """key id -> display name of the application's client secrets, as the emulated tenant holds them."""
        found = self.sandbox.ctx.cloud.app_by_app_id(self.app(app)["clientId"])
        assert found is not None
        return {p.key_id: p.display_name for p in found.live}

    def acs_named(self, name: str) -> dict[str, Any]:
        return next(a for a in self.sandbox.manifest["communicationServices"] if a["name"] == name)

    async def apply(self, ns: str, name: str, app: str = "shop-mailer", acs: str | None = None, **spec: Any) -> None:
        resource = self.acs_named(acs) if acs else self.acs
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AcsSmtpCredential",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "communicationService": {"resourceId": resource["resourceId"]},
                "entraApplication": {"clientId": self.app(app)["clientId"]},
                **spec,
            },
        }
        current = await self.read(ns, name)
        if current is None:
            await off_loop(self.custom.create_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, body)
        else:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await off_loop(self.custom.replace_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, name, body)

    async def read(self, ns: str, name: str) -> dict[str, Any] | None:
        try:
            found = await off_loop(self.custom.get_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, name)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        assert isinstance(found, dict)  # the custom object's JSON (the client annotates it `object`)
        return found

    async def finalize(self, stored: dict[str, Any], events: list[tuple[str, str, str]] | None = None) -> None:
        """The credential's deletion as the coordinator runs it when a policy permits this namespace what status
        records: no grant now, no other credential sharing its assignment, every resource usable, the bench's
        clock; Events into `events`."""
        told = events if events is not None else []
        await finalize(
            self.ports, Credential.of(stored), lambda *e: told.append(e), None, lambda _: False, PERMITTED, ANYWHERE,
            clock=lambda: self.clock.now,
        )  # fmt: skip

    async def status(self, ns: str, name: str) -> dict[str, Any]:
        """The credential's status as stored now (empty before its first pass)."""
        stored = await self.read(ns, name)
        assert stored is not None
        status: dict[str, Any] = stored.get("status") or {}
        return status

    async def secret(self, ns: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.core.api_client.sanitize_for_serialization(
                await off_loop(self.core.read_namespaced_secret, name, ns)
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def run(self, ns: str, name: str, ports: Ports | None = None) -> PassResult:
        """One pass over the credential as stored now, at the clock's time (through other ports if given)."""
        stored = await self.read(ns, name)
        assert stored is not None
        events: list[tuple[str, str, str]] = []
        before = len(self.sandbox.ctx.log)
        outcome = await reconcile(
            ports or self.ports, Credential.of(stored), self.clock.now, lambda *e: events.append(e), self.tenancy
        )
        return PassResult(outcome, events, list(self.sandbox.ctx.log[before:]))


@pytest.fixture(scope="session")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    async with run_sandbox(tmp_path_factory.mktemp("inprocess"), Seed()) as running:
        # The operator's clock is stepped here, Graph's lag runs on the wall clock: the scenarios that want the
        # lag turn it on themselves.
        running.ctx.cloud.knobs.graph_lag_seconds = 0
        yield running


@asynccontextmanager
async def bench_on(sandbox: Sandbox) -> AsyncIterator[Bench]:
    """A bench over a running sandbox: the operator's ports as the operator identity, the CRD installed."""
    api = config.new_client_from_config(config_file=sandbox.env["KUBECONFIG"])  # type: ignore[no-untyped-call]
    crd = yaml.safe_load((ROOT / "crds" / "acssmtp.io_acssmtpcredentials.yaml").read_text())
    await off_loop(client.ApiextensionsV1Api(api).create_custom_resource_definition, crd)
    try:
        async with operator_ports(sandbox, api) as ports:
            yield Bench(sandbox, ports, Clock(), client.CustomObjectsApi(api), client.CoreV1Api(api))
    finally:
        api.close()


@asynccontextmanager
async def operator_ports(sandbox: Sandbox, api: client.ApiClient, **more: Any) -> AsyncIterator[Ports]:
    """The operator's ports with a credential of their own (so no token cached by another's)."""
    env = sandbox.env
    settings = settings_of(env, **{"verify_timeout": 5, "graph_lag": 10, **more})
    tenant = env["AZURE_TENANT_ID"]
    credential = client_secret_credential(settings, tenant, env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"])
    azure = AzureClients(settings, credential)
    try:
        yield Ports(settings=settings, azure=azure, kube=Kube(api), tenant_id=tenant, metrics=Metrics())
    finally:
        await azure.close()
        await credential.close()


@pytest.fixture(scope="session")
async def bench(sandbox: Sandbox) -> AsyncIterator[Bench]:
    async with bench_on(sandbox) as made:
        yield made


@pytest.fixture
async def ns(bench: Bench, request: pytest.FixtureRequest) -> str:
    """A fresh namespace per test, a clock set back to the present, and no fault or throttling another
    scenario set (whatever the order)."""
    name = f"p-{len(bench.namespaces)}-{request.node.name[:20].lower().replace('_', '-').strip('-')}"
    await off_loop(bench.core.create_namespace, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    bench.namespaces.append(name)
    bench.clock = Clock()
    bench.tenancy = bench.open_policy()
    bench.sandbox.ctx.faults.clear()
    bench.sandbox.ctx.throttle.configure(None, None)
    return name
