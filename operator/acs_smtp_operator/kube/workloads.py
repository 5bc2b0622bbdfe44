"""Rolling restarts of the workloads that mount the Secret, like `kubectl rollout restart`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acs_smtp_operator.kube.api import Kube
from acs_smtp_operator.vocabulary import RESTARTED_AT

__all__ = ["METHODS", "Rollout", "restart", "rollout", "rollout_complete"]


# The AppsV1Api methods of each kind a credential restarts: (patch, read).
METHODS = {
    "Deployment": ("patch_namespaced_deployment", "read_namespaced_deployment"),
    "StatefulSet": ("patch_namespaced_stateful_set", "read_namespaced_stateful_set"),
    "DaemonSet": ("patch_namespaced_daemon_set", "read_namespaced_daemon_set"),
}


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
