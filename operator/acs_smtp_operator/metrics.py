"""Prometheus metrics: expiry, renewal, readiness, rotations, passes, restarts and Azure calls.

Series stay few whatever the customers name things. Only the per-credential gauges carry a customer's string,
their `namespace` and `name`, and `forget` removes them with the credential. Every other label value comes from
a fixed vocabulary: an Azure request's path is folded into an operation template (`route`), anything this module
does not know becomes `other`, and status codes become a handful of outcomes. Never a secret in a label.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from acs_smtp_operator import __version__
from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.metric_labels import APIS, OPERATIONS, OTHER, outcome_of, route
from acs_smtp_operator.model import ConditionType, RotationReason
from acs_smtp_operator.status import Status

__all__ = ["OPERATIONS", "PASS_BUCKETS", "Metrics", "outcome_of", "route"]

PASS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

_RESTART_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
_ROTATION_REASONS = frozenset(r.value for r in RotationReason)
_ROTATION_RESULTS = frozenset({"success", "failed", "verification_failed"})


class _Passed(Protocol):
    @property
    def failure(self) -> Failure | None: ...


P = TypeVar("P", bound=_Passed)


def _pass_outcome(failure: Failure | None) -> str:
    """`success`, `held` (nothing is tried until the spec changes: invalid, not permitted) or `failure`."""
    if failure is None:
        return "success"
    return "held" if isinstance(failure.retry, UntilSpecChanges) else "failure"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["namespace", "name"]  # the per-credential gauges only: `forget` removes them
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
        self.failed_rotations = Gauge(
            "acssmtp_credential_failed_rotations",
            "Rotations that failed in a row since the last one or the last pass that succeeded (0: none failing)",
            labels,
            registry=self.registry,
        )
        self.leader = Gauge(
            "acssmtp_leader", "1 on the replica that holds the Lease and reconciles", registry=self.registry
        )
        self.rotations = Counter(
            "acssmtp_rotations", "Client secret rotations", ["reason", "result"], registry=self.registry
        )
        self.azure = Counter(
            "acssmtp_azure_requests",
            "Calls to Azure Resource Manager, Graph and Entra, by operation template and outcome",
            ["api", "operation", "outcome"],
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
        self.passes = Histogram(
            "acssmtp_reconcile_duration_seconds",
            "How long one pass over a credential took, by outcome (success, held until the spec changes, failure)",
            ["outcome"],
            buckets=PASS_BUCKETS,
            registry=self.registry,
        )
        self.restarts = Counter(
            "acssmtp_restarts",
            "Rolling restarts of the workloads that mount a credential's Secret, by kind and result",
            ["kind", "result"],
            registry=self.registry,
        )
        # Exposed as `acssmtp_build_info{version, python} 1`.
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
        """A deleted credential's series: no label of a credential that is gone stays (only gauges carry one)."""
        for gauge in (self.expiration, self.renewal, self.ready, self.failed_rotations):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)

    def rotation(self, namespace: str, name: str, reason: str, result: str) -> None:
        """A rotation's end: counted by reason and result, and the credential's failures in a row."""
        self.rotations.labels(
            reason if reason in _ROTATION_REASONS else OTHER, result if result in _ROTATION_RESULTS else OTHER
        ).inc()
        failed = self.failed_rotations.labels(namespace, name)
        if result == "success":
            failed.set(0)
        else:
            failed.inc()

    def paced(self, api: str, seconds: float) -> None:
        self.pacing.labels(api if api in APIS else OTHER).inc(seconds)

    def azure_call(self, api: str, method: str, path: str, code: int) -> None:
        """The Azure clients' response hook (called from the SDKs' worker threads too)."""
        self.azure.labels(api if api in APIS else OTHER, route(api, method, path), outcome_of(code)).inc()

    async def timed_pass(self, run: Awaitable[P]) -> P:
        """Await one pass and observe how long it took, by its outcome (`failure` if it raised)."""
        started = time.monotonic()
        try:
            outcome = await run
        except Exception as exc:
            self.passes.labels(_pass_outcome(exc) if isinstance(exc, Failure) else "failure").observe(
                time.monotonic() - started
            )
            raise
        self.passes.labels(_pass_outcome(outcome.failure)).observe(time.monotonic() - started)
        return outcome

    async def restarted(self, kind: str, restart: Awaitable[bool]) -> bool:
        """Await one workload's restart and count it: `success`, or `failed` (missing, or the patch failed)."""
        label = kind if kind in _RESTART_KINDS else OTHER
        try:
            done = await restart
        except Exception:
            self.restarts.labels(label, "failed").inc()
            raise
        self.restarts.labels(label, "success" if done else "failed").inc()
        return done
