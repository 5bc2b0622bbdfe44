"""`acs-smtp-operator run`: probes, leader election, then the ports, the handlers and kopf."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
from kopf._core.engines.peering import Identity  # kopf.operator's identity type (not re-exported by kopf)

from acs_smtp_operator.azure.clients import AzureClients, operator_credential, warm_up
from acs_smtp_operator.azure.shared import Shared
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.handlers import build_registry
from acs_smtp_operator.health import Health, Role, serve_health
from acs_smtp_operator.kube.api import Kube, new_api_client, served
from acs_smtp_operator.kube.leadership import Leadership
from acs_smtp_operator.metrics import Metrics
from acs_smtp_operator.ports import Ports
from acs_smtp_operator.settings import LogFormat, Settings
from acs_smtp_operator.vocabulary import FINALIZER, GROUP, MANAGED_BY, PLURAL, POLICY_PLURAL, PREFIX, VERSION
from acs_smtp_operator.waiting import first

__all__ = ["crds_served", "run_operator"]

logger = logging.getLogger(__name__)

_POD_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


REPORTING_COMPONENT = "acs-smtp-operator"  # Events' reportingComponent and source (kubectl's "From" column)


def _configure(settings: kopf.OperatorSettings, identity: str) -> None:
    """kopf's settings; `identity`: this replica's name (the chart's pod name), which Events report as theirs."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
    settings.posting.level = logging.INFO
    # kopf's defaults are "kopf" and "dev": Events then name no operator and no replica.
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.reporting_instance = identity[:128]  # the API server's bound on reportingInstance
    # kopf's own log lines are not Events: a failing handler would post "failed temporarily" at every retry.
    # The operator posts its Events itself, a repeating failure once (`reconcile`).
    settings.posting.loggers = False
    settings.watching.server_timeout = 300
    # Only our own Secrets come to this process: the API server filters by label (kopf's `labels=` on a handler
    # filters after every Secret of every watched namespace has been received and parsed).
    settings.watching.label_selectors["", "v1", "secrets"] = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
    settings.networking.error_backoffs = [1, 2, 5, 10]
    # Least privilege: no cluster-wide read of CRDs, no scan of namespaces. The resources found at startup (Helm
    # installs the CRDs first) and the namespaces named on the command line are served; a CRD added later needs a
    # restart. (Namespaces are watched, cluster-wide, only for their labels: policies select them by label.)
    settings.scanning.disabled = True


async def crds_served(api: Any, settings: Settings, health: Health, stop: asyncio.Event) -> bool:
    """Wait until the API server serves both CRDs (kopf, started without them, would serve nothing forever);
    /readyz fails meanwhile. False when stopped first."""
    wanted = {PLURAL, POLICY_PLURAL}
    told = False
    while not stop.is_set():
        missing = wanted - await served(api, GROUP, VERSION)
        if not missing:
            if told:
                logger.info("the CRDs are served now: starting")
            return True
        if not told:
            logger.warning(
                "waiting for the API server to serve %s in %s/%s (install the CRDs: crds/); /readyz fails until then",
                ", ".join(sorted(missing)),
                GROUP,
                VERSION,
            )
            told = True
        health.role = Role.WAITING_FOR_CRDS
        await first(stop.wait(), within=settings.crd_poll)
    return False


def _warmed(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning(
            "warming up the Graph client failed (%s): the first pass does it", type(task.exception()).__name__
        )


def _identity(settings: Settings) -> str:
    """This replica's name, for the Lease, for kopf and as its Events' reportingInstance: the chart's pod name
    (ACSSMTP_IDENTITY, from the downward API), else host name and a random suffix.
    Given to kopf so that it never asks the OS who runs it (an image's UID has no passwd entry)."""
    return settings.identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _leadership(settings: Settings, api: Any, identity: str) -> Leadership:
    namespace = settings.lease_namespace or (
        _POD_NAMESPACE.read_text().strip() if _POD_NAMESPACE.exists() else "default"
    )
    return Leadership(
        api,
        name=settings.lease_name,
        namespace=namespace,
        identity=identity,
        lease_duration=settings.lease_duration,
        renew_deadline=settings.lease_renew_deadline,
        retry_period=settings.lease_retry_period,
    )


async def _serve(settings: Settings, namespaces: Collection[str], clusterwide: bool) -> int:
    """Run until stopped (0) or until leadership is lost (1)."""
    if not settings.tenant_id:
        raise SystemExit("AZURE_TENANT_ID (or ACSSMTP_TENANT_ID) must name the operator's tenant")
    metrics = Metrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.bind_address)
    health = Health()
    probes = await serve_health(health, settings.health_port, settings.bind_address) if settings.health_port else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # kopf installs its own once it runs
        loop.add_signal_handler(signum, stop.set)
    api = new_api_client()
    identity = _identity(settings)
    leadership = _leadership(settings, api, identity) if settings.leader_election else None
    # While the CRDs are looked for and the Lease is won: the first pass must not wait for imports.
    warming = asyncio.ensure_future(asyncio.to_thread(warm_up))
    warming.add_done_callback(_warmed)
    try:
        if not await crds_served(api, settings, health, stop):
            return 0  # stopped while waiting
        if leadership is not None:
            health.role = Role.STANDBY
            leadership.start()
            await first(leadership.leading.wait(), stop.wait(), leadership.lost.wait())
            if not leadership.leading.is_set():
                return 1 if leadership.lost.is_set() else 0
        metrics.leader.set(1)
        await _operate(settings, namespaces, clusterwide, identity, metrics, health, api, leadership, stop)
        return 1 if leadership is not None and leadership.lost.is_set() else 0
    finally:
        if leadership is not None:
            await leadership.release()
        if probes is not None:
            await probes.cleanup()
        api.close()  # type: ignore[no-untyped-call]


async def _operate(
    settings: Settings,
    namespaces: Collection[str],
    clusterwide: bool,
    identity: str,
    metrics: Metrics,
    health: Health,
    api: Any,
    leadership: Leadership | None,
    stop: asyncio.Event,
) -> None:
    """kopf with our handlers, until a signal, `stop`, or the loss of the Lease."""
    credential = operator_credential(settings, metrics.azure_call)
    azure = AzureClients(settings, credential, metrics.azure_call, metrics.paced)
    shared = Shared(ttl=settings.shared_ttl)
    ports = Ports(
        settings=settings, azure=azure, kube=Kube(api), tenant_id=settings.tenant_id, metrics=metrics, shared=shared
    )
    try:  # new client secrets carry it: the sweep knows its own
        ports.cluster = settings.cluster_id or await ports.kube.cluster_id()
    except Failure as exc:
        logger.warning("the cluster's id is unknown (%s): stray client secrets will not be swept", exc.message)
    registry = build_registry(ports, lambda: datetime.now(UTC), None if clusterwide else namespaces)  # the clock

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        _configure(settings, identity)

    # Every task of ours exists before kopf starts: kopf treats tasks born later as its own, and waits on them.
    ready = asyncio.Event()
    readied = asyncio.ensure_future(ready.wait())
    ended = [asyncio.ensure_future(stop.wait())]
    if leadership is not None:
        ended.append(asyncio.ensure_future(leadership.lost.wait()))
    kopf_task = asyncio.create_task(
        kopf.operator(
            registry=registry,
            clusterwide=clusterwide,
            namespaces=namespaces,
            standalone=True,  # the Lease, not kopf's peering, keeps replicas apart
            identity=Identity(identity),
            ready_flag=ready,
        )
    )

    async def watch() -> None:
        """Leader once kopf watches; a lost Lease (or a signal before kopf took the signals over) stops kopf."""
        await asyncio.wait([readied, kopf_task], return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set():
            health.role = Role.LEADER
        await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
        kopf_task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        await kopf_task
    except asyncio.CancelledError:
        if not any(waiter.done() for waiter in ended):
            raise  # we are cancelled ourselves
    finally:
        for task in (watcher, readied, *ended):
            task.cancel()
        await asyncio.gather(watcher, readied, *ended, return_exceptions=True)
        await azure.close()
        await credential.close()


def run_operator(settings: Settings, namespaces: Collection[str], clusterwide: bool) -> None:
    kopf.configure(log_format=kopf.LogFormat.JSON if settings.log_format is LogFormat.JSON else kopf.LogFormat.FULL)
    for noisy in ("azure", "httpx", "msal", "kiota", "leaderelection"):  # chatter; our own Events say what happened
        logging.getLogger(noisy).setLevel(logging.WARNING)
    code = asyncio.run(_serve(settings, namespaces, clusterwide))
    if code:
        raise SystemExit(code)
