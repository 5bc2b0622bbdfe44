"""The operator signs in with workload identity: a projected service account token, no client secret anywhere.

On the real control plane (`--cluster=real`) the whole AKS path runs: kube-apiserver is the token issuer (its
discovery document and JWKS, fetched by the sandbox's Entra), the chart's workload-identity values are
applied, the Azure Workload Identity webhook (the upstream binary) mutates the operator's pod, and the token
is the TokenRequest API's, for the audience and lifetime the webhook's projected volume asks, bound to that
pod and written as the kubelet writes it. On the emulator, a local OIDC issuer (tests/oidc.py) stands in for
the cluster's, and the pod's settings are the chart's rendered values.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from tests.conftest import ROOT, Cloud, Operator
from tests.helm import NAMESPACE, RELEASE, minimal, of_kind, render
from tests.integration.operator_helpers import (
    apply,
    azure_writes,
    eventually,
    get,
    login,
    secret_data,
    wait_ready,
    wait_reason,
)
from tests.kubelet import write_atomic
from tests.oidc import TOKEN_EXCHANGE, Issuer
from tests.webhook import USE_LABEL, Webhook

TOKEN_DIR = "/var/run/secrets/azure/tokens"  # where the webhook mounts the projected token
SUBJECT = f"system:serviceaccount:{NAMESPACE}:{RELEASE}"


@dataclass
class Federation:
    """The cluster side of workload identity: the issuer, and tokens as the kubelet would write them."""

    issuer: str
    ca_pem: str
    mint: Callable[..., str]  # (subject=None, audience=None, expired=False) -> a token of this issuer
    env: dict[str, str]  # what the webhook gave the operator's container (the token file mapped here)
    pod: dict[str, Any] | None  # the mutated pod, on the real control plane

    @property
    def token_file(self) -> Path:
        return Path(self.env["AZURE_FEDERATED_TOKEN_FILE"])

    def write(self, token: str) -> None:
        """As the kubelet (re)writes a projected volume: a new timestamped directory, swapped in atomically."""
        write_atomic(self.token_file.parent, {self.token_file.name: (token.encode(), 0o644)})


def chart_values(cloud: Cloud) -> dict[str, Any]:
    """The chart as a platform team installs it for workload identity against this tenant."""
    return {
        "azure": {
            "tenantId": cloud.manifest["tenantId"],
            "identity": {"type": "WorkloadIdentity", "clientId": cloud.env["AZURE_CLIENT_ID"]},
            "endpoints": {"authorityHost": cloud.env["AZURE_AUTHORITY_HOST"]},
        }
    }


def _kubectl_token(cloud: Cloud, account: str, audience: str, seconds: int, pod: str | None) -> str:
    bound = ["--bound-object-kind=Pod", f"--bound-object-name={pod}"] if pod else []
    return cloud.kubectl(
        "create", "token", account, "-n", NAMESPACE, f"--audience={audience}", f"--duration={seconds}s", *bound
    ).stdout.strip()


def _pod_of_deployment(cloud: Cloud) -> dict[str, Any]:
    def created() -> dict[str, Any] | None:
        found = cloud.kubectl(
            "get", "pods", "-n", NAMESPACE, "-l", f"{USE_LABEL}=true", "-o", "json", check=False
        ).stdout
        items = json.loads(found or "{}").get("items", [])
        return items[0] if items else None

    return eventually(created, 60, "the Deployment's pod")


def _container_env(pod: dict[str, Any], root: Path) -> dict[str, str]:
    """The operator container's workload identity variables, the token file's path mapped under `root`."""
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "operator")
    env = {e["name"]: e["value"] for e in container.get("env", []) if e["name"].startswith("AZURE_") and "value" in e}
    env["AZURE_FEDERATED_TOKEN_FILE"] = str(root / env["AZURE_FEDERATED_TOKEN_FILE"].lstrip("/"))
    return env


def _resigned(token: str, key_file: str, **claims: Any) -> str:
    """The same token with other claims, signed again with the cluster's service account key (as if issued then)."""
    header = jwt.get_unverified_header(token)
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": header["kid"]})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def federation(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    root = tmp_path_factory.mktemp("pod")
    plane = cloud.manifest.get("controlPlane")
    rendered = render(chart_values(cloud))
    if plane is None:
        issuer = Issuer()
        deployment = of_kind(rendered, "Deployment")[0]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("AZURE_") and "value" in e}
        env |= {
            "AZURE_CLIENT_ID": cloud.env["AZURE_CLIENT_ID"],
            "AZURE_FEDERATED_TOKEN_FILE": str(root / TOKEN_DIR.lstrip("/") / "azure-identity-token"),
        }
        now = int(time.time())

        def mint_local(subject: str | None = None, audience: str | None = None, expired: bool = False) -> str:
            times: dict[str, Any] = {"exp": now - 60, "iat": now - 3660, "nbf": now - 3660} if expired else {}
            other = f"system:serviceaccount:{NAMESPACE}:other-sender"
            return issuer.mint(other if subject else SUBJECT, audience or TOKEN_EXCHANGE, **times)

        try:
            yield from _registered(cloud, Federation(issuer.url, issuer.ca_pem, mint_local, env, None))
        finally:
            issuer.close()
        return
    minimal_account = of_kind(render(minimal()), "ServiceAccount")  # as the session installed it
    try:
        # A platform team publishes the issuer's discovery document (here: kube-apiserver's own, to anyone).
        cloud.kubectl(
            "create",
            "clusterrolebinding",
            "oidc-discovery-public",
            "--clusterrole=system:service-account-issuer-discovery",
            "--group=system:unauthenticated",
        )
        cloud.kubectl("create", "serviceaccount", "other-sender", "-n", NAMESPACE)
        cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(of_kind(rendered, "ServiceAccount")))
        with Webhook(cloud.manifest["kubeconfig"], root / "webhook", cloud.manifest["tenantId"]):
            cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(of_kind(rendered, "Deployment")))
            pod = _pod_of_deployment(cloud)
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "azure-identity-token")
        source = volume["projected"]["sources"][0]["serviceAccountToken"]

        def mint_real(subject: str | None = None, audience: str | None = None, expired: bool = False) -> str:
            account = "other-sender" if subject else RELEASE
            bound = None if subject else pod["metadata"]["name"]  # only the pod's own ServiceAccount binds to it
            token = _kubectl_token(cloud, account, audience or source["audience"], source["expirationSeconds"], bound)
            if expired:
                now = int(time.time())
                token = _resigned(token, plane["serviceAccountKeyFile"], exp=now - 60, iat=now - 3660, nbf=now - 3660)
            return token

        found = Federation(
            plane["issuer"], Path(plane["caFile"]).read_text(), mint_real, _container_env(pod, root), pod
        )
        yield from _registered(cloud, found)
    finally:
        cloud.kubectl("delete", "deployment", RELEASE, "-n", NAMESPACE, "--ignore-not-found", check=False)
        cloud.kubectl("delete", "serviceaccount", "other-sender", "-n", NAMESPACE, "--ignore-not-found", check=False)
        cloud.kubectl("delete", "clusterrolebinding", "oidc-discovery-public", "--ignore-not-found", check=False)
        cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(minimal_account), check=False)


def _registered(cloud: Cloud, found: Federation) -> Iterator[Federation]:
    """The operator's application trusts the issuer for the chart's ServiceAccount, for the test's duration."""
    body = {
        "application": cloud.env["AZURE_CLIENT_ID"],
        "name": "acs-smtp-operator-e2e",
        "issuer": found.issuer,
        "subject": SUBJECT,
        "audiences": [TOKEN_EXCHANGE],
        "issuerCa": found.ca_pem,
    }
    response = cloud.control.post("/federated-credentials", json=body)
    assert response.status_code == 201, response.text
    try:
        yield found
    finally:
        cloud.control.delete(f"/federated-credentials/{body['application']}/{body['name']}")


@contextlib.contextmanager
def operator_with(cloud: Cloud, federation: Federation, directory: Path, **env: str) -> Iterator[Operator]:
    """The operator with the pod's workload identity variables, and nothing else it could sign in with (no
    client secret or certificate, no AZURE_TOKEN_CREDENTIALS from the developer's shell); always stopped."""
    running = Operator(cloud, directory, **{**federation.env, **env})
    for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_TOKEN_CREDENTIALS"):
        running.env.pop(name, None)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def delete_credential(cloud: Cloud, federation: Federation, ns: str, name: str, token_file: Path | None = None) -> None:
    """Delete it and wait for its finalizer, which needs Azure too: with a good token in the file first."""
    target = token_file or federation.token_file
    with contextlib.suppress(Exception):
        write_atomic(target.parent, {target.name: (federation.mint().encode(), 0o644)})
    cloud.kubectl("delete", "acssmtp", name, "-n", ns, "--timeout=45s", check=False)


def test_the_webhook_gives_the_charts_pod_the_token_and_variables(cloud: Cloud, federation: Federation) -> None:
    if federation.pod is None:
        pytest.skip("the webhook runs against the real control plane (--cluster=real)")
    pod = federation.pod
    assert pod["metadata"]["labels"][USE_LABEL] == "true"
    account = json.loads(cloud.kubectl("get", "serviceaccount", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"] == cloud.env["AZURE_CLIENT_ID"]
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "operator")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AZURE_CLIENT_ID"] == cloud.env["AZURE_CLIENT_ID"]
    assert env["AZURE_TENANT_ID"] == cloud.manifest["tenantId"]
    assert env["AZURE_FEDERATED_TOKEN_FILE"] == f"{TOKEN_DIR}/azure-identity-token"
    assert env["AZURE_AUTHORITY_HOST"] == cloud.env["AZURE_AUTHORITY_HOST"], "the chart's value, kept by the webhook"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "azure-identity-token")
    assert (mount["mountPath"], mount.get("readOnly")) == (TOKEN_DIR, True)
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "azure-identity-token")
    assert volume["projected"]["sources"] == [
        {"serviceAccountToken": {"audience": TOKEN_EXCHANGE, "expirationSeconds": 3600, "path": "azure-identity-token"}}
    ]


def test_the_operator_provisions_and_rotates_with_no_client_secret(
    cloud: Cloud, federation: Federation, ns: str, tmp_path: Path
) -> None:
    federation.write(federation.mint())
    cloud.reset()
    with operator_with(cloud, federation, tmp_path) as running:
        try:
            # No secret anywhere it could sign in with: only the token file's assertion gets it a token.
            assert not {"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"} & set(running.env)
            apply(cloud, ns, "federated")
            wait_ready(cloud, ns, "federated", timeout=60)
            first = secret_data(cloud, ns, "federated-smtp")
            assert first is not None and login(cloud, first["username"], first["password"]) == 235
            key = (get(cloud, ns, "acssmtp", "federated") or {})["status"]["currentKeyId"]
            cloud.kubectl("annotate", "acssmtp", "federated", "-n", ns, "acssmtp.io/rotate=now", "--overwrite")
            eventually(
                lambda: (get(cloud, ns, "acssmtp", "federated") or {})["status"].get("currentKeyId") not in (None, key),
                60,
                "a rotation",
            )
            rotated = secret_data(cloud, ns, "federated-smtp")
            assert rotated is not None and rotated["password"] != first["password"]
            assert login(cloud, rotated["username"], rotated["password"]) == 235
            signed_in = [r for r in cloud.requests() if r["api"] == "entra" and r["path"].endswith("/token")]
            assert signed_in and all(r["status"] == 200 for r in signed_in)
        finally:
            delete_credential(cloud, federation, ns, "federated")


@pytest.mark.parametrize(
    ("case", "reason", "code", "named"),
    [
        (
            "subject",
            "OperatorCredentialRefused",
            "AADSTS700213",
            f"subject 'system:serviceaccount:{NAMESPACE}:other-sender'",
        ),
        ("audience", "OperatorCredentialRefused", "AADSTS700212", "audience 'api://acs-smtp-wrong'"),
        ("expired", "OperatorCredentialExpired", "AADSTS700024", "expires {exp}"),
    ],
)
def test_a_token_entra_refuses_is_a_condition_and_writes_nothing_and_a_rewritten_one_is_used(
    cloud: Cloud, federation: Federation, ns: str, tmp_path: Path, case: str, reason: str, code: str, named: str
) -> None:
    token = {
        "subject": lambda: federation.mint(subject="other-sender"),
        "audience": lambda: federation.mint(audience="api://acs-smtp-wrong"),
        "expired": lambda: federation.mint(expired=True),
    }[case]()
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    named = named.format(exp=f"{datetime.fromtimestamp(expires, UTC):%Y-%m-%dT%H:%M:%SZ}")
    federation.write(token)
    cloud.reset()
    with operator_with(cloud, federation, tmp_path) as running:
        try:
            apply(cloud, ns, "refused")
            ready = wait_reason(cloud, ns, "refused", reason, timeout=60)
            message = ready["message"]
            assert code in message and named in message, message
            assert str(federation.token_file) in message and token not in message
            assert "Traceback" not in message
            assert azure_writes(cloud) == [], "nothing was written in Azure"
            assert secret_data(cloud, ns, "refused-smtp") is None
            # The kubelet re-writes the projected volume with a good token: the running operator uses it.
            pid = running.process.pid if running.process else None
            federation.write(federation.mint())
            wait_ready(cloud, ns, "refused", timeout=90)
            assert running.process is not None and running.process.pid == pid and running.process.poll() is None
        finally:
            delete_credential(cloud, federation, ns, "refused")


def test_the_operator_names_a_missing_token_file(cloud: Cloud, federation: Federation, ns: str, tmp_path: Path) -> None:
    absent = tmp_path / "tokens" / "azure-identity-token"
    cloud.reset()
    with operator_with(cloud, federation, tmp_path, AZURE_FEDERATED_TOKEN_FILE=str(absent)):
        try:
            apply(cloud, ns, "unmounted")
            ready = wait_reason(cloud, ns, "unmounted", "OperatorCredentialRefused", timeout=60)
            assert "could not be read (FileNotFoundError)" in ready["message"]
            assert "azure.workload.identity/use" in ready["message"]
            assert azure_writes(cloud) == []
            # The volume appears (a late mount): the same process signs in.
            write_atomic(absent.parent, {absent.name: (federation.mint().encode(), 0o644)})
            wait_ready(cloud, ns, "unmounted", timeout=90)
        finally:
            delete_credential(cloud, federation, ns, "unmounted", absent)
