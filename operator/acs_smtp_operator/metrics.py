"""Prometheus metrics: expiry, renewal, readiness, rotations and Azure calls. Never a secret in a label."""

from __future__ import annotations

import contextlib
import contextvars
import platform
import re
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Info, start_http_server

from acs_smtp_operator import __version__
from acs_smtp_operator.model import ConditionType
from acs_smtp_operator.status import Status

__all__ = ["CURRENT", "Metrics", "route"]

# The credential being reconciled, so that Azure calls can be attributed to it.
CURRENT: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("acssmtp_credential", default=("", ""))

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def route(method: str, path: str) -> str:
    """`PUT /roleAssignments/{id}` style: the operation without ids or names."""
    path = _GUID.sub("{id}", path.split("?", 1)[0])
    path = re.sub(r"\(appId='[^']*'\)", "(appId={id})", path)
    path = re.sub(r"/resourceGroups/[^/]+", "/resourceGroups/{rg}", path, flags=re.IGNORECASE)
    path = re.sub(r"/communicationServices/[^/]+", "/communicationServices/{name}", path, flags=re.IGNORECASE)
    path = re.sub(r"/smtpUsernames/[^/]+", "/smtpUsernames/{name}", path, flags=re.IGNORECASE)
    tail = "/".join(path.rstrip("/").split("/")[-2:])
    return f"{method.upper()} {tail}"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["namespace", "name"]
        self.expiration = Gauge(
            "acssmtp_credential_expiration_timestamp_seconds",
            "When the client secret in the Secret expires",
            labels,
            registry=self.registry,
        )
        self.renewal = Gauge(
            "acssmtp_credential_renewal_timestamp_seconds",
            "When the next rotation is due",
            labels,
            registry=self.registry,
        )
        self.ready = Gauge(
            "acssmtp_credential_ready_status",
            "1 when the Secret holds a working credential",
            labels,
            registry=self.registry,
        )
        self.leader = Gauge(
            "acssmtp_leader", "1 on the replica that holds the Lease and reconciles", registry=self.registry
        )
        self.rotations = Counter(
            "acssmtp_rotations", "Client secret rotations", [*labels, "reason", "result"], registry=self.registry
        )
        self.failed_rotations = Gauge(
            "acssmtp_credential_failed_rotations",
            "Rotations that failed in a row since the last one or the last pass that succeeded (0: none failing)",
            labels,
            registry=self.registry,
        )
        self.azure = Counter(
            "acssmtp_azure_requests",
            "Calls to Azure Resource Manager, Graph and Entra",
            [*labels, "api", "operation", "code"],
            registry=self.registry,
        )

        self.pacing = Counter(
            "acssmtp_azure_pacing_wait_seconds",
            "Seconds Azure requests waited for the operator's own budget, kept below ARM's and Graph's throttling",
            ["api"],
            registry=self.registry,
        )
        self.swept = Counter(
            "acssmtp_stray_keys_removed",
            "Client secrets of this cluster's credentials that no longer exist (finalizer removed, namespace "
            "force-deleted, etcd restored), removed by the sweep",
            registry=self.registry,
        )
        # The counters' label sets of each credential, so that its series go with it (prometheus_client lists
        # no children by label).
        self._counted: dict[tuple[str, str], set[tuple[Counter, tuple[str, ...]]]] = {}
        self._counting = threading.Lock()  # Azure calls are counted from the SDKs' worker threads too
        self.build = Info("acssmtp_build", "The operator's version and the Python it runs on", registry=self.registry)
        self.build.info({"version": __version__, "python": platform.python_version()})

    def serve(self, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - Prometheus scrapes the pod's IP
        start_http_server(port, addr=host, registry=self.registry)

    def credential(self, namespace: str, name: str, status: Status) -> None:
        for gauge, moment in ((self.expiration, status.not_after), (self.renewal, status.renewal_time)):
            if moment is not None:
                gauge.labels(namespace, name).set(moment.timestamp())
        ready = status.condition(ConditionType.READY)
        self.ready.labels(namespace, name).set(1 if ready is not None and ready.status == "True" else 0)
        failed = self.failed_rotations.labels(namespace, name)  # 0 from the start: an alert needs no first failure
        synced = status.condition(ConditionType.SYNCED)
        if synced is not None and synced.status == "True":
            failed.set(0)  # a pass that succeeded leaves no rotation failing (one may have adopted a key in doubt)

    def forget(self, namespace: str, name: str) -> None:
        """A deleted credential's series, gauges and counters: no label of a credential that is gone stays."""
        for gauge in (self.expiration, self.renewal, self.ready, self.failed_rotations):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        with self._counting:
            for counter, labels in self._counted.pop((namespace, name), set()):
                with contextlib.suppress(KeyError):
                    counter.remove(*labels)

    def _count(self, counter: Counter, *labels: str) -> None:
        with self._counting:  # counted and recorded together: a forget in between would leave the series
            counter.labels(*labels).inc()
            if labels[0] or labels[1]:  # a credential's series (calls outside a pass carry no credential)
                self._counted.setdefault((labels[0], labels[1]), set()).add((counter, labels))

    def rotation(self, namespace: str, name: str, reason: str, result: str) -> None:
        self._count(self.rotations, namespace, name, reason, result)
        failed = self.failed_rotations.labels(namespace, name)
        if result == "success":
            failed.set(0)
        else:
            failed.inc()

    def paced(self, api: str, seconds: float) -> None:
        self.pacing.labels(api).inc(seconds)

    def azure_call(self, api: str, method: str, path: str, code: int) -> None:
        namespace, name = CURRENT.get()
        self._count(self.azure, namespace, name, api, route(method, path), str(code))
