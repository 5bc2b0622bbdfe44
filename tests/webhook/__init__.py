"""The Azure Workload Identity webhook (github.com/Azure/azure-workload-identity, built by
tests/controlplane/build.sh), run against the real control plane as AKS runs it: a mutating admission
webhook on pod creation, for pods labelled `azure.workload.identity/use: "true"`.

Its MutatingWebhookConfiguration is the upstream one (deploy/azure-wi-webhook.yaml), pointed at 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme
import yaml

BIN = Path(__file__).resolve().parents[1] / ".bin" / "azure-wi-webhook"
PORT = 9443  # controller-runtime's webhook server port: the webhook has no flag for it
USE_LABEL = "azure.workload.identity/use"


def configuration(ca_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "azure-wi-webhook-mutating-webhook-configuration"},
        "webhooks": [
            {
                "name": "mutation.azure-workload-identity.io",
                "admissionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": {
                    "url": f"https://127.0.0.1:{PORT}/mutate-v1-pod",
                    "caBundle": base64.b64encode(ca_pem).decode(),
                },
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "reinvocationPolicy": "IfNeeded",
                "objectSelector": {"matchLabels": {USE_LABEL: "true"}},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
                "sideEffects": "None",
            }
        ],
    }


class Webhook:
    """The webhook process, its serving certificate, and its registration; removed again on exit."""

    def __init__(self, kubeconfig: str, directory: Path, tenant_id: str) -> None:
        self.kubeconfig, self.dir, self.tenant_id = kubeconfig, directory, tenant_id
        self.process: subprocess.Popen[bytes] | None = None

    def _kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> None:
        from tests.conftest import BIN as PYBIN

        subprocess.run(
            [str(PYBIN / "kubectl"), *args],
            input=stdin,
            env={**os.environ, "KUBECONFIG": self.kubeconfig},
            check=check,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def __enter__(self) -> Webhook:
        with socket.socket() as probe:  # fail fast, and never mistake another listener for ours
            try:
                probe.bind(("127.0.0.1", PORT))
            except OSError as exc:
                raise RuntimeError(f"port {PORT}, which the webhook serves on, is taken: {exc}") from None
        self.dir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="azure-workload-identity")
        serving = ca.issue_cert("127.0.0.1")
        serving.cert_chain_pems[0].write_to_path(str(self.dir / "tls.crt"))
        serving.private_key_pem.write_to_path(str(self.dir / "tls.key"))
        with open(self.dir / "webhook.log", "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN),
                    f"--webhook-cert-dir={self.dir}",
                    "--disable-cert-rotation=true",
                    "--health-addr=127.0.0.1:0",
                    "--metrics-addr=0",
                    "--log-level=info",
                ],
                env={
                    **os.environ,
                    "KUBECONFIG": self.kubeconfig,
                    "AZURE_TENANT_ID": self.tenant_id,  # the webhook's own: the tenant a ServiceAccount may omit
                    "POD_NAMESPACE": "azure-workload-identity-system",
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_serving(ca)
            self._kubectl("apply", "-f", "-", stdin=yaml.safe_dump(configuration(ca.cert_pem.bytes())))
        except BaseException:
            self._stop()
            raise
        return self

    def _wait_serving(self, ca: trustme.CA) -> None:
        """Until our process answers TLS with the certificate our CA issued."""
        context = ssl.create_default_context()
        ca.configure_trust(context)
        deadline = time.monotonic() + 60
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the webhook exited: {(self.dir / 'webhook.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", PORT), timeout=1) as raw:
                    context.wrap_socket(raw, server_hostname="127.0.0.1").close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    log = (self.dir / "webhook.log").read_text()
                    raise RuntimeError(f"the webhook did not serve: {log}") from None
                time.sleep(0.2)

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            self._kubectl(
                "delete",
                "mutatingwebhookconfiguration",
                "azure-wi-webhook-mutating-webhook-configuration",
                "--ignore-not-found",
                check=False,  # never hide the failure that ended the block
            )
        finally:
            self._stop()
