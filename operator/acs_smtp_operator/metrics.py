"""Prometheus metrics: expiry, renewal, readiness, rotations, passes, restarts and Azure calls.

Series stay few whatever the customers name things. Only the per-credential gauges carry a customer's string,
their `namespace` and `name`, and `forget` removes them with the credential. Every other label value comes from
a fixed vocabulary: an Azure request's path is folded into an operation template (`route`), anything this module
does not know becomes `other`, and status codes become a handful of outcomes. Never a secret in a label.
"""

from __future__ import annotations

import contextlib
import platform
import re
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar
from urllib.parse import unquote

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from acs_smtp_operator import __version__
from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.model import ConditionType, RotationReason
from acs_smtp_operator.status import Status

__all__ = ["OPERATIONS", "PASS_BUCKETS", "Metrics", "outcome_of", "route"]

OTHER = "other"  # the one label value for anything outside the vocabulary

_METHODS = frozenset({"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"})

# ARM: the resource providers and resource types the operator reads and writes (case-insensitive, as ARM is).
_ARM_NAMESPACES = {n.lower(): n for n in ("Microsoft.Communication", "Microsoft.Authorization", "Microsoft.Management")}
_ARM_TYPES = {
    t.lower(): t
    for t in (
        "subscriptions",
        "resourceGroups",
        "managementGroups",
        "communicationServices",
        "emailServices",
        "domains",
        "smtpUsernames",
        "senderUsernames",
        "roleAssignments",
        "roleDefinitions",
    )
}
_ARM_BY_ID = frozenset({"subscriptions", "roleAssignments", "roleDefinitions"})  # named by a GUID: `{id}`

# Graph: the collections, alternate keys and actions the operator uses.
_GRAPH_VERSIONS = frozenset({"v1.0", "beta"})
_GRAPH_COLLECTIONS = {c.lower(): c for c in ("applications", "servicePrincipals")}
_GRAPH_ACTIONS = {a.lower(): a for a in ("addPassword", "removePassword")}
_GRAPH_BY_APP_ID = re.compile(r"(?P<collection>[A-Za-z]+)\(appId='[^']*'\)")

# Entra: the token and discovery endpoints under a tenant (a GUID, a domain name, `common`, `organizations`),
# and the managed identity endpoint.
_ENTRA_WORDS = frozenset({"oauth2", "v2.0", "token", ".well-known", "openid-configuration", "discovery", "instance"})
_MANAGED_IDENTITY = "metadata/identity/oauth2/token"

# Every operation template there is (without the method): anything else is `other`.
OPERATIONS = frozenset(
    {
        "Microsoft.Communication/communicationServices/{name}",
        "Microsoft.Communication/communicationServices/{name}/smtpUsernames",
        "Microsoft.Communication/communicationServices/{name}/smtpUsernames/{name}",
        "Microsoft.Communication/emailServices/{name}/domains/{name}",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Authorization/roleAssignments/{id}",
        "Microsoft.Authorization/roleDefinitions",
        "Microsoft.Authorization/roleDefinitions/{id}",
        "v1.0/applications(appId={id})",
        "v1.0/servicePrincipals(appId={id})",
        "v1.0/applications/{id}",
        "v1.0/applications/{id}/addPassword",
        "v1.0/applications/{id}/removePassword",
        "v1.0/servicePrincipals/{id}",
        "{tenant}/oauth2/v2.0/token",
        "{tenant}/v2.0/.well-known/openid-configuration",
        "{tenant}/discovery/instance",
        _MANAGED_IDENTITY,
    }
)


def _arm(segments: list[str]) -> str | None:
    """After the last `providers/{namespace}`: each known resource type, then `{name}` or `{id}` for its name."""
    folded: list[str] = []
    at = 0
    while at < len(segments):
        word = segments[at].lower()
        if word == "providers":  # the scope before it (subscription, group, resource) is not the operation
            namespace = _ARM_NAMESPACES.get(segments[at + 1].lower()) if at + 1 < len(segments) else None
            if namespace is None:
                return None
            folded, at = [namespace], at + 2
            continue
        kind = _ARM_TYPES.get(word)
        if kind is None:
            return None
        folded.append(kind)
        if at + 1 < len(segments):
            folded.append("{id}" if kind in _ARM_BY_ID else "{name}")
        at += 2
    return "/".join(folded)


def _graph(segments: list[str]) -> str | None:
    if not segments or segments[0].lower() not in _GRAPH_VERSIONS:
        return None
    folded = [segments[0].lower()]
    at = 1
    while at < len(segments):
        segment = segments[at]
        by_app_id = _GRAPH_BY_APP_ID.fullmatch(segment)
        collection = _GRAPH_COLLECTIONS.get((by_app_id.group("collection") if by_app_id else segment).lower())
        action = _GRAPH_ACTIONS.get(segment.lower())
        if collection is not None and by_app_id is not None:
            folded.append(f"{collection}(appId={{id}})")
        elif collection is not None:
            folded.append(collection)
            if at + 1 < len(segments):
                folded.append("{id}")
                at += 1
        elif action is not None:
            folded.append(action)
        else:
            return None
        at += 1
    return "/".join(folded)


def _entra(segments: list[str]) -> str | None:
    if "/".join(segments).lower() == _MANAGED_IDENTITY:
        return _MANAGED_IDENTITY
    if len(segments) < 2 or any(s.lower() not in _ENTRA_WORDS for s in segments[1:]):
        return None
    return "/".join(["{tenant}", *(s.lower() for s in segments[1:])])


_FOLDS = {"arm": _arm, "graph": _graph, "entra": _entra}


def route(api: str, method: str, path: str) -> str:
    """`PUT Microsoft.Authorization/roleAssignments/{id}`: the method and an operation template of `OPERATIONS`,
    every name and id folded into a placeholder; `other` for whatever is not in the vocabulary (never its text)."""
    fold = _FOLDS.get(api)
    segments = [s for s in unquote(path.split("?", 1)[0]).split("/") if s]
    template = fold(segments) if fold is not None and len(segments) <= 32 else None
    verb = method.upper()
    if template not in OPERATIONS or verb not in _METHODS:
        return OTHER
    return f"{verb} {template}"


def outcome_of(code: int) -> str:
    """An HTTP status as one of `2xx`, `3xx`, `4xx`, `429` (throttled), `5xx`, or `error` (no HTTP status)."""
    if code == 429:
        return "429"
    if 200 <= code < 600:
        return f"{code // 100}xx"
    return "error"


# A pass takes from tens of milliseconds (nothing to do) to minutes (a rotation waiting out Graph's replication
# and the verification of the new secret).
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
        self.pacing.labels(api if api in _FOLDS else OTHER).inc(seconds)

    def azure_call(self, api: str, method: str, path: str, code: int) -> None:
        """The Azure clients' response hook (called from the SDKs' worker threads too)."""
        self.azure.labels(api if api in _FOLDS else OTHER, route(api, method, path), outcome_of(code)).inc()

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
