"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver and kube-controller-manager.

The binaries are built from Go modules by `tests/controlplane/build.sh` into `tests/.bin/`. This module
generates the certificates and service-account keys, starts the three processes, waits for readiness,
writes an admin kubeconfig, and stops everything again (no process or port left behind).

    python -m tests.controlplane.controlplane   # for humans: run until Ctrl-C, print the kubeconfig path
"""

from __future__ import annotations

import base64
import contextlib
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, cast

import trustme
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "tests" / ".bin"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "azure-wi-webhook")


def built() -> bool:
    return all((BIN / name).is_file() for name in BINARIES)


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ControlPlane:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = Path(directory or tempfile.mkdtemp(prefix="acssmtp-controlplane-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.api_port = _port()
        self.issuer = f"https://127.0.0.1:{self.api_port}"

    def _write_pki(self) -> None:
        ca = trustme.CA(organization_name="acssmtp e2e")
        self.ca_pem = ca.cert_pem.bytes()
        (self.dir / "ca.pem").write_bytes(self.ca_pem)
        ca.private_key_pem.write_to_path(str(self.dir / "ca.key"))
        serving = ca.issue_cert(
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            common_name="kube-apiserver",
        )
        serving.cert_chain_pems[0].write_to_path(str(self.dir / "serving.pem"))
        serving.private_key_pem.write_to_path(str(self.dir / "serving.key"))
        self.admin = ca.issue_cert("admin", common_name="admin", organization_name="system:masters")
        # The controllers run with the manager's own identity (no per-controller service accounts here),
        # which must then be allowed everything the garbage collector and namespace controller do.
        self.manager = ca.issue_cert(
            "kcm", common_name="system:kube-controller-manager", organization_name="system:masters"
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.dir / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
        (self.dir / "sa.pub").write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def _kubeconfig(self, path: Path, user: dict[str, str]) -> None:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "e2e",
                    "clusters": [
                        {
                            "name": "e2e",
                            "cluster": {
                                "server": f"https://127.0.0.1:{self.api_port}",
                                "certificate-authority-data": _b64(self.ca_pem),
                            },
                        }
                    ],
                    "users": [{"name": "user", "user": user}],
                    "contexts": [
                        {"name": "e2e", "context": {"cluster": "e2e", "user": "user", "namespace": "default"}}
                    ],
                }
            )
        )

    def _cert_user(self, cert: trustme.LeafCert) -> dict[str, str]:
        return {
            "client-certificate-data": _b64(cert.cert_chain_pems[0].bytes()),
            "client-key-data": _b64(cert.private_key_pem.bytes()),
        }

    def _start(self, name: str, *args: str) -> None:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it
        self.processes.append(subprocess.Popen([str(BIN / name), *args], stdout=log, stderr=subprocess.STDOUT))

    def start(self, timeout: float = 120) -> None:
        self._write_pki()
        self._kubeconfig(self.kubeconfig, self._cert_user(self.admin))
        self._kubeconfig(self.dir / "manager.kubeconfig", self._cert_user(self.manager))
        etcd_port, peer_port = _port(), _port()
        self._start(
            "etcd",
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-url=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-url=http://127.0.0.1:{peer_port}",
        )
        d = self.dir
        self._start(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={d / 'serving.pem'}",
            f"--tls-private-key-file={d / 'serving.key'}",
            f"--client-ca-file={d / 'ca.pem'}",
            "--authorization-mode=RBAC",
            # OpenShift's default: setting blockOwnerDeletion (the operator's Secrets do) needs update on the
            # owner's finalizers. The defaults (PodSecurity among them) stay enabled.
            "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
            "--service-cluster-ip-range=10.96.0.0/24",
            # Its own URL: the issuer's discovery document and JWKS are then served where Entra (the sandbox's)
            # fetches them, as workload identity needs (tests/integration/test_workload_identity.py).
            f"--service-account-issuer={self.issuer}",
            f"--service-account-jwks-uri={self.issuer}/openid/v1/jwks",  # else the advertised address's
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--enable-priority-and-fairness=false",
            f"--cert-dir={d / 'certs'}",
        )
        self._wait_ready(timeout)
        self._start(
            "kube-controller-manager",
            f"--kubeconfig={d / 'manager.kubeconfig'}",
            f"--authentication-kubeconfig={d / 'manager.kubeconfig'}",
            f"--authorization-kubeconfig={d / 'manager.kubeconfig'}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={_port()}",
            "--controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token,deployment,replicaset",
            f"--service-account-private-key-file={d / 'sa.key'}",
            f"--root-ca-file={d / 'ca.pem'}",
            f"--cert-dir={d / 'kcm-certs'}",
        )

    def _wait_ready(self, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.dir / "ca.pem"))
        context.load_cert_chain(*self._admin_files())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{cast(list[str], process.args)[0]} exited: {self.logs()}")
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{self.api_port}/readyz",
                    context=context,
                    timeout=2,
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"kube-apiserver not ready after {timeout}s: {self.logs()}")

    def _admin_files(self) -> tuple[str, str]:
        cert, key = self.dir / "admin.pem", self.dir / "admin.key"
        self.admin.cert_chain_pems[0].write_to_path(str(cert))
        self.admin.private_key_pem.write_to_path(str(key))
        return str(cert), str(key)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.dir.glob("*.log"))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


if __name__ == "__main__":
    with ControlPlane() as plane:
        print(f"control plane ready: KUBECONFIG={plane.kubeconfig}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
