"""Start every sandbox server, describe them in a manifest, and stop them again."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock
import yaml
from aiohttp import web

from acs_smtp_operator.sandbox.azure.context import Context
from acs_smtp_operator.sandbox.azure.control import CONTROL_PREFIX
from acs_smtp_operator.sandbox.azure.server import build_app
from acs_smtp_operator.sandbox.azure.state import Cloud
from acs_smtp_operator.sandbox.azure.tokens import TokenIssuer
from acs_smtp_operator.sandbox.certs import make_tls
from acs_smtp_operator.sandbox.kube import KubeEmulator
from acs_smtp_operator.sandbox.seed import Seed
from acs_smtp_operator.sandbox.smtp import start_smtp

__all__ = ["Sandbox", "run_sandbox"]

HOST = "127.0.0.1"


@dataclass
class Sandbox:
    manifest: dict[str, Any]
    ctx: Context
    kube: KubeEmulator

    @property
    def env(self) -> dict[str, str]:
        return dict(self.manifest["env"])


def _kubeconfig(server: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": server}}],
        "users": [{"name": "sandbox-admin", "user": {"token": "sandbox-admin"}}],
        "contexts": [
            {"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox-admin", "namespace": "default"}}
        ],
        "current-context": "sandbox",
    }


def _manifest(workdir: Path, ca: Path, cloud: Cloud, base: str, kubeconfig: Path, smtp_port: int) -> dict[str, Any]:
    return {
        "kubeconfig": str(kubeconfig),
        "caBundle": str(ca),
        "tenantId": cloud.tenant_id,
        "subscriptionId": cloud.subscription_id,
        "subscriptions": sorted(cloud.subscriptions, key=lambda s: (s != cloud.subscription_id, s)),
        "communicationServices": [
            {
                "resourceId": acs.id,
                "name": acs.name,
                "linkedDomains": [d.name for d in domains],
                "senderDomains": [d.sender_domain for d in domains],
                "verifiedSenderDomains": [d.sender_domain for d in domains if d.can_send],
            }
            for acs in cloud.communication_services.values()
            for domains in [cloud.sender_domains(acs)]
        ],
        "applications": [
            {
                "name": app.display_name,
                "clientId": app.app_id,
                "objectId": app.object_id,
                "servicePrincipalId": sp.object_id if sp else None,
                "ownedByOperator": any(o in app.owners for o in cloud.service_principals),
            }
            for app in cloud.applications.values()
            if app.app_id != cloud.operator_app_id
            for sp in [cloud.sp_by_app_id(app.app_id)]
        ],
        "managedIdentities": [
            {"name": m.name, "clientId": m.client_id, "principalId": m.principal_id, "resourceId": m.id}
            for m in cloud.managed_identities.values()
        ],
        "smtp": {"host": HOST, "port": smtp_port},
        "control": f"{base}{CONTROL_PREFIX}",
        "env": {
            "KUBECONFIG": str(kubeconfig),
            "AZURE_TENANT_ID": cloud.tenant_id,
            "AZURE_CLIENT_ID": cloud.operator_app_id,
            "AZURE_CLIENT_SECRET": cloud.operator_secret,
            "AZURE_AUTHORITY_HOST": base,
            "ACSSMTP_ARM_ENDPOINT": base,
            "ACSSMTP_GRAPH_ENDPOINT": f"{base}/v1.0",
            "ACSSMTP_CA_BUNDLE": str(ca),
            "ACSSMTP_SMTP_HOST": HOST,
            "ACSSMTP_SMTP_PORT": str(smtp_port),
        },
    }


def _make_dir(path: Path) -> Path:
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write atomically, readable by the owner only: it holds the operator identity's secret."""
    path = _make_dir(path.parent) / path.name
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest, indent=2))
    os.chmod(temporary, 0o600)
    temporary.replace(path)


@asynccontextmanager
async def run_sandbox(workdir: Path, seed: Seed, manifest_path: Path | None = None) -> AsyncIterator[Sandbox]:
    """Run the local cloud on the current event loop for the duration of the context."""
    workdir = _make_dir(workdir)
    tls = make_tls(workdir)
    cloud = Cloud.from_seed(seed, datetime.now(UTC))
    ctx = Context(cloud=cloud, issuer=TokenIssuer("acs-smtp-operator-sandbox"))
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, ssl_context=tls.server_context)
    await site.start()
    port = runner.addresses[0][1]
    ctx.base_url = f"https://{HOST}:{port}"
    kube = KubeEmulator()
    kube.rollouts.delay = lambda: cloud.knobs.rollout_seconds
    smtp = await start_smtp(ctx, HOST, 0, tls.server_context)
    try:
        async with kube, kmock.Server(kube, host=HOST) as kube_server:
            kubeconfig = workdir / "kubeconfig"
            kubeconfig.write_text(yaml.safe_dump(_kubeconfig(f"http://{HOST}:{kube_server.port}")))
            smtp_port = smtp.sockets[0].getsockname()[1]
            manifest = _manifest(workdir, tls.ca_bundle, cloud, ctx.base_url, kubeconfig, smtp_port)
            if manifest_path is not None:
                _write_manifest(manifest_path, manifest)
            yield Sandbox(manifest=manifest, ctx=ctx, kube=kube)
    finally:
        smtp.close()
        await smtp.wait_closed()
        await runner.cleanup()
