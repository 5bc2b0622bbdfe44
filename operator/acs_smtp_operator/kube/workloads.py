"""Rolling restarts of the workloads that mount the Secret, like `kubectl rollout restart`."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from acs_smtp_operator.failure import Backoff, Failure
from acs_smtp_operator.kube.api import Kube
from acs_smtp_operator.model import Reason, RestartTarget
from acs_smtp_operator.vocabulary import RESTARTED_AT

__all__ = [
    "LISTS",
    "METHODS",
    "Resolved",
    "Rollout",
    "resolve",
    "restart",
    "rollout",
    "rollout_complete",
    "rollouts_complete",
    "too_many",
]


# The AppsV1Api methods of each kind a credential restarts: (patch, read).
METHODS = {
    "Deployment": ("patch_namespaced_deployment", "read_namespaced_deployment"),
    "StatefulSet": ("patch_namespaced_stateful_set", "read_namespaced_stateful_set"),
    "DaemonSet": ("patch_namespaced_daemon_set", "read_namespaced_daemon_set"),
}
# ... and the one that lists a kind in a namespace, by label selector.
LISTS = {
    "Deployment": "list_namespaced_deployment",
    "StatefulSet": "list_namespaced_stateful_set",
    "DaemonSet": "list_namespaced_daemon_set",
}


@dataclass(frozen=True)
class Resolved:
    """The workloads a credential's restartTargets name or select now, each once, in the order given."""

    workloads: tuple[tuple[str, str], ...] = ()  # (kind, name)
    listed: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # bodies a selector's list returned
    unmatched: tuple[RestartTarget, ...] = ()  # selectors that matched nothing


def too_many(targets: Iterable[RestartTarget], count: int, limit: int, more: bool) -> str:
    """Why none of the workloads is restarted: the targets resolve to more than the bound."""
    which = "; ".join(t.describe() for t in targets if t.selector is not None)
    found = f"more than {count}" if more else str(count)
    which = f" ({which})" if which else ""
    return (
        f"spec.restartTargets resolve to {found} workloads{which}; at most {limit} are restarted "
        "(ACSSMTP_MAX_RESTART_TARGETS): narrow the selectors. None was restarted, and the old client secret is "
        "kept until they are"
    )


async def _select(kube: Kube, kind: str, namespace: str, query: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The workloads of `kind` the selector matches, at most `limit` + 1 of them (one page); whether more exist."""
    fn = functools.partial(getattr(kube.apps, LISTS[kind]), namespace, label_selector=query, limit=limit + 1)
    found = await kube.call(f"listing {kind}s in {namespace} matching {query}", fn)
    plain = kube.plain(found)
    more = bool((plain.get("metadata") or {}).get("continue"))
    return list(plain.get("items") or []), more


async def resolve(kube: Kube, namespace: str, targets: Iterable[RestartTarget], limit: int) -> Resolved:
    """Names as given, selectors listed (one request each); a `Failure` (InvalidSpec, retried) when they come to
    more than `limit` workloads in all, before anything is restarted: a partial set is never restarted."""
    targets = tuple(targets)
    order: dict[tuple[str, str], None] = {}
    listed: dict[tuple[str, str], dict[str, Any]] = {}
    unmatched: list[RestartTarget] = []
    queried: set[tuple[str, str]] = set()
    for target in targets:
        if target.selector is not None:
            query = (target.kind, target.selector.query())
            if query in queried:  # the same selector twice: listed once (a rollout check lists every 2 s)
                continue
            queried.add(query)
        if target.selector is None:
            assert target.name is not None  # the model holds exactly one of name and selector
            order[(target.kind, target.name)] = None
            continue
        items, more = await _select(kube, target.kind, namespace, target.selector.query(), limit)
        if not items:
            unmatched.append(target)
        for item in items:
            key = (target.kind, str((item.get("metadata") or {}).get("name")))
            order[key] = None
            listed[key] = item
        if more or len(order) > limit:  # no further list: the answer is already no
            raise Failure(Reason.INVALID_SPEC, too_many(targets, len(order), limit, more), retry=Backoff())
    if len(order) > limit:
        raise Failure(Reason.INVALID_SPEC, too_many(targets, len(order), limit, False), retry=Backoff())
    return Resolved(workloads=tuple(order), listed=listed, unmatched=tuple(unmatched))


def _fns(kube: Kube, kind: str) -> tuple[Any, Any]:
    patch, read = METHODS[kind]
    return getattr(kube.apps, patch), getattr(kube.apps, read)


async def restart(kube: Kube, kind: str, namespace: str, name: str, stamp: str) -> bool:
    """Change the pod template's annotation so the workload rolls; False when it does not exist."""
    patch, _ = _fns(kube, kind)
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    done = await kube.call(f"restarting {kind} {namespace}/{name}", patch, name, namespace, body, absent=True)
    return done is not None


async def rollout_complete(kube: Kube, kind: str, namespace: str, name: str) -> bool:
    """The same test `kubectl rollout status` applies; a missing workload counts as complete."""
    _, read = _fns(kube, kind)
    found = await kube.call(f"reading {kind} {namespace}/{name}", read, name, namespace, absent=True)
    return found is None or rollout(kind, kube.plain(found)).complete


async def rollouts_complete(kube: Kube, namespace: str, resolved: Resolved) -> bool:
    """Every workload resolved has rolled out: a listed one judged from its list entry, a named one read."""
    for kind, name in resolved.workloads:
        listed = resolved.listed.get((kind, name))
        if listed is not None:
            if not rollout(kind, listed).complete:
                return False
        elif not await rollout_complete(kube, kind, namespace, name):
            return False
    return True


@dataclass(frozen=True)
class Rollout:
    """Where a workload's rollout stands, as `kubectl rollout status` judges it."""

    complete: bool
    detail: str


def rollout(kind: str, obj: dict[str, Any]) -> Rollout:
    """`obj`: the workload as the API server sent it (JSON-shaped)."""
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return Rollout(False, "its controller has not seen the latest change yet")
    if kind == "DaemonSet":
        wanted = int(status.get("desiredNumberScheduled", 0))
        updated, available = int(status.get("updatedNumberScheduled", 0)), int(status.get("numberAvailable", 0))
        done = updated >= wanted and available >= wanted
        return Rollout(done, f"{updated}/{wanted} updated, {available} available")
    wanted = int(spec.get("replicas", 1))
    updated, ready, total = (int(status.get(k, 0)) for k in ("updatedReplicas", "readyReplicas", "replicas"))
    done = updated >= wanted and ready >= wanted and total == wanted  # no pod of the old template is left
    old = max(total - updated, 0)
    return Rollout(done, f"{updated}/{wanted} updated, {ready} ready" + (f", {old} old" if old else ""))
