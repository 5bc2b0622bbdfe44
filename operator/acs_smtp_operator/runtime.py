"""`acs-smtp-operator run`: build the ports, register the handlers and run kopf."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

import kopf

from acs_smtp_operator.azure.clients import AzureClients, operator_credential
from acs_smtp_operator.handlers import build_registry
from acs_smtp_operator.kube.api import Kube, new_api_client
from acs_smtp_operator.metrics import Metrics
from acs_smtp_operator.reconcile import Ports
from acs_smtp_operator.settings import Settings

__all__ = ["run_operator"]

FINALIZER = "acssmtp.io/finalizer"


def _configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="acssmtp.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="acssmtp.io")
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10]


async def _serve(
    settings: Settings, namespaces: Collection[str], clusterwide: bool, liveness: str | None, stop: asyncio.Event | None
) -> None:
    if not settings.tenant_id:
        raise SystemExit("AZURE_TENANT_ID (or ACSSMTP_TENANT_ID) must name the operator's tenant")
    metrics = Metrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    credential = operator_credential(settings, metrics.azure_call)
    azure = AzureClients(settings, credential, metrics.azure_call)
    kube = Kube(new_api_client())
    ports = Ports(settings=settings, azure=azure, kube=kube, tenant_id=settings.tenant_id, metrics=metrics)
    registry = build_registry(ports)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        _configure(settings)

    try:
        await kopf.operator(
            registry=registry,
            clusterwide=clusterwide,
            namespaces=namespaces,
            liveness_endpoint=liveness,
            standalone=True,
            stop_flag=stop,
        )
    finally:
        await azure.close()
        await credential.close()
        kube.api.close()  # type: ignore[no-untyped-call]


def run_operator(settings: Settings, namespaces: Collection[str], clusterwide: bool, liveness: str | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("azure", "httpx", "msal", "kiota"):  # request-level chatter; our own Events say what happened
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(_serve(settings, namespaces, clusterwide, liveness, None))
