"""Shared fixtures: the local cloud, started once per session through the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from acs_smtp_operator.azure.clients import AzureClients, client_secret_credential
from acs_smtp_operator.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Cloud:
    """A running sandbox, as a test sees it: the manifest and a client for the control API."""

    def __init__(self, manifest: dict[str, Any], directory: Path | None = None) -> None:
        self.manifest, self.directory = manifest, directory  # where the sandbox keeps its files and its log
        trust = ssl.create_default_context(cafile=manifest["caBundle"])
        self.control = httpx.Client(base_url=manifest["control"], verify=trust, timeout=10)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.manifest["env"])

    @property
    def acs(self) -> dict[str, Any]:
        """The ACS resource with a linked domain."""
        return next(a for a in self.manifest["communicationServices"] if a["linkedDomains"])

    @property
    def acs_without_domain(self) -> dict[str, Any]:
        return next(a for a in self.manifest["communicationServices"] if not a["linkedDomains"])

    def app(self, name: str) -> dict[str, Any]:
        return next(a for a in self.manifest["applications"] if a["name"] == name)

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control.get("/requests").json())

    def fault(self, **spec: Any) -> None:
        self.control.post("/faults", json=spec).raise_for_status()

    def settings(self, **knobs: Any) -> None:
        self.control.post("/settings", json=knobs).raise_for_status()

    def throttling(self, **spec: Any) -> dict[str, Any]:
        """Turn ARM's and Graph's emulated throttling on (or off); with no argument, read its state."""
        if spec:
            self.control.post("/throttling", json=spec).raise_for_status()
        return dict(self.control.get("/throttling").json())

    def reset(self) -> None:
        self.control.post("/reset").raise_for_status()
        self.settings(secretPropagationSeconds=0, assignmentPropagationSeconds=0, principalReplicationSeconds=0)

    def state(self) -> dict[str, Any]:
        return dict(self.control.get("/state").json())

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl as the cluster's administrator."""
        return kubectl_as(self.manifest["kubeconfig"], *args, stdin=stdin, check=check)


def kubectl_as(
    kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """kubectl with this kubeconfig; `check`: a failure raises, with kubectl's message."""
    result = subprocess.run(
        [str(BIN / "kubectl"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": kubeconfig},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


def start_sandbox(directory: Path, *extra: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Run `acs-smtp-operator sandbox` and wait for its manifest."""
    manifest = directory / "manifest.json"
    process = subprocess.Popen(
        [str(BIN / "acs-smtp-operator"), "sandbox", "--manifest", str(manifest), "--workdir", str(directory), *extra],
        stdout=subprocess.DEVNULL,
        stderr=open(directory / "sandbox.log", "wb"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 60
    while not manifest.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the sandbox did not start: {(directory / 'sandbox.log').read_text()}")
        time.sleep(0.05)
    return process, json.loads(manifest.read_text())


def stop_sandbox(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cluster",
        choices=("emulator", "real"),
        default="emulator",
        help="the Kubernetes the scenarios run against: the sandbox's emulator, or a real control "
        "plane built by tests/controlplane/build.sh",
    )


@pytest.fixture(scope="session")
def cloud(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    directory = tmp_path_factory.mktemp("sandbox")
    process, manifest = start_sandbox(directory)
    try:
        if request.config.getoption("--cluster") == "real":
            with real_cluster(manifest, tmp_path_factory.mktemp("controlplane")) as real:
                yield Cloud(real, directory)
        else:
            yield Cloud(manifest, directory)
    finally:
        stop_sandbox(process)


@contextlib.contextmanager
def real_cluster(manifest: dict[str, Any], directory: Path) -> Iterator[dict[str, Any]]:
    """The sandbox's Azure, with a real kube-apiserver: kubectl as admin, the operator under the chart's RBAC."""
    from tests.controlplane.controlplane import ControlPlane, built
    from tests.helm import ADMISSION_KINDS, NAMESPACE, RBAC_KINDS, RELEASE, minimal, of_kind, render

    if not built():
        raise RuntimeError("the control plane is not built: run tests/controlplane/build.sh")
    with ControlPlane(directory) as plane:
        chart = of_kind(render(minimal()), *RBAC_KINDS, *ADMISSION_KINDS)  # what bounds the operator, with it
        install(plane.kubeconfig, [namespace_manifest(NAMESPACE), *chart])
        yield {
            **manifest,
            "kubeconfig": str(plane.kubeconfig),
            "leaseNamespace": NAMESPACE,
            # For workload identity: the service account issuer, its CA and signing key, the cluster's own files.
            "controlPlane": {
                "issuer": plane.issuer,
                "caFile": str(plane.dir / "ca.pem"),
                "serviceAccountKeyFile": str(plane.dir / "sa.key"),
                "directory": str(plane.dir),
            },
            "env": {
                **manifest["env"],
                "KUBECONFIG": str(account_kubeconfig(plane.kubeconfig, RELEASE, NAMESPACE, directory / "operator")),
            },
        }


def namespace_manifest(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def install(admin_kubeconfig: Path | str, manifests: list[dict[str, Any]]) -> None:
    """`kubectl apply` as the cluster's admin."""
    subprocess.run(
        [str(BIN / "kubectl"), "apply", "-f", "-"],
        input=yaml.safe_dump_all(manifests),
        env={**os.environ, "KUBECONFIG": str(admin_kubeconfig)},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def account_kubeconfig(admin_kubeconfig: Path | str, account: str, namespace: str, directory: Path) -> Path:
    """A kubeconfig that acts as the ServiceAccount, with a token from the TokenRequest API."""
    token = subprocess.run(
        [str(BIN / "kubectl"), "create", "token", account, "-n", namespace, "--duration=6h"],
        env={**os.environ, "KUBECONFIG": str(admin_kubeconfig)},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    config = yaml.safe_load(Path(admin_kubeconfig).read_text())
    config["users"] = [{"name": "user", "user": {"token": token}}]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def settings_for(cloud: Cloud) -> Settings:
    return settings_of(cloud.env)


def settings_of(env: dict[str, str], **more: Any) -> Settings:
    """The operator's settings for a sandbox, from the environment its manifest gives."""
    return Settings(
        arm_endpoint=env["ACSSMTP_ARM_ENDPOINT"],
        graph_endpoint=env["ACSSMTP_GRAPH_ENDPOINT"],
        authority_host=env["AZURE_AUTHORITY_HOST"],
        ca_bundle=Path(env["ACSSMTP_CA_BUNDLE"]),
        smtp_host=env["ACSSMTP_SMTP_HOST"],
        smtp_port=int(env["ACSSMTP_SMTP_PORT"]),
        **more,
    )


@pytest.fixture
async def azure(cloud: Cloud) -> AsyncIterator[AzureClients]:
    """The product's own Azure clients, as the operator identity, pointed at the sandbox."""
    cloud.reset()
    env = cloud.env
    settings = settings_for(cloud)
    credential = client_secret_credential(
        settings, env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"]
    )
    clients = AzureClients(settings, credential)
    try:
        yield clients
    finally:
        await clients.close()
        await credential.close()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CLI_OUTPUTS: list[tuple[str, str]] = []  # (command, stdout and stderr) of every CLI run: the leak audit reads them


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`acs-smtp-operator ARGS` as a person runs it, its output kept for the leak audit."""
    done = subprocess.run(
        [str(BIN / "acs-smtp-operator"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    CLI_OUTPUTS.append((" ".join(args), done.stdout + done.stderr))
    return done


class Operator:
    """`acs-smtp-operator run --all-namespaces` against the sandbox, as a subprocess.

    Every instance is remembered, with the metrics pages it served when stopped or killed: the leak audit
    (tests/integration/test_zz_leak_audit.py) reads them all, and their logs, at the end of the session.
    """

    instances: ClassVar[list[Operator]] = []

    def __init__(self, cloud: Cloud, directory: Path, *args: str, **env: str) -> None:
        Operator.instances.append(self)
        self.metrics_pages: list[str] = []
        self.cloud, self.log, self.args = cloud, directory / "operator.log", args or ("--all-namespaces",)
        self.port, self.metrics_port = free_port(), free_port()
        self.env = {
            **os.environ,
            **cloud.env,
            "ACSSMTP_DRIFT_PERIOD": "2",
            "ACSSMTP_VERIFY_TIMEOUT": "10",
            "ACSSMTP_MIN_MANUAL_INTERVAL": "1",  # tests ask for rotations seconds apart
            "ACSSMTP_RESUME_SPREAD": "1",  # a restarted operator checks its credentials within a second
            "ACSSMTP_GRAPH_LAG": "5",  # the sandbox's Graph lags 2 s: a key issued 5 s ago is not taken for removed
            "ACSSMTP_METRICS_PORT": str(self.metrics_port),
            "ACSSMTP_HEALTH_PORT": str(self.port),
            # A stable name, as a pod's: a restarted process takes its own Lease back at once.
            "ACSSMTP_IDENTITY": f"operator-{directory.name}",
            "ACSSMTP_LEASE_NAMESPACE": cloud.manifest.get("leaseNamespace", "default"),
            "ACSSMTP_LEASE_DURATION": "6",  # a killed leader's Lease lapses within seconds
            "ACSSMTP_LEASE_RENEW_DEADLINE": "4",
            "ACSSMTP_LEASE_RETRY_PERIOD": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.command = [str(BIN / "acs-smtp-operator")]
        self.argv: list[str] | None = None  # the whole command line instead (an image's entrypoint)

    def role(self) -> str | None:
        """What /readyz says: starting, standby or leader (None: not answering)."""
        try:
            return str(httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).json()["role"])
        except (httpx.HTTPError, ValueError):
            return None

    def start(self, role: str | None = "leader") -> None:
        """Start, and wait until /readyz reports `role` (the leader is watching by then); None: any ready role."""
        self.process = subprocess.Popen(
            self.argv or [*self.command, "run", *self.args],
            env=self.env,
            stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        self.wait_role(role)

    def wait_role(self, role: str | None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            if (now := self.role()) == role or (role is None and now in ("standby", "leader")):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the operator did not become {role}: {self.log.read_text()}")

    def scrape(self) -> None:
        """Keep what /metrics says now (for the leak audit); nothing when it does not answer."""
        if self.process is None or self.process.poll() is not None or self.env.get("ACSSMTP_METRICS_PORT") == "0":
            return
        with contextlib.suppress(httpx.HTTPError):
            self.metrics_pages.append(httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text)

    def kill(self) -> None:
        """SIGKILL: no chance to finish what it was doing."""
        if self.process is not None:
            self.scrape()
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.scrape()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def operator(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    running = Operator(cloud, tmp_path_factory.mktemp("operator"))
    running.start()
    try:
        yield running
    finally:
        running.stop()
