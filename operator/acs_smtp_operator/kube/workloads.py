"""Rolling restarts of the workloads that mount the Secret, like `kubectl rollout restart`."""

from __future__ import annotations

from typing import Any

from acs_smtp_operator.kube.api import Kube
from acs_smtp_operator.vocabulary import RESTARTED_AT

__all__ = ["restart", "rollout_complete"]


def _fns(kube: Kube, kind: str) -> tuple[Any, Any]:
    return {
        "Deployment": (kube.apps.patch_namespaced_deployment, kube.apps.read_namespaced_deployment),
        "StatefulSet": (kube.apps.patch_namespaced_stateful_set, kube.apps.read_namespaced_stateful_set),
        "DaemonSet": (kube.apps.patch_namespaced_daemon_set, kube.apps.read_namespaced_daemon_set),
    }[kind]


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
    if found is None:
        return True
    obj = kube.plain(found)
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return False
    if kind == "DaemonSet":
        wanted = int(status.get("desiredNumberScheduled", 0))
        return bool(
            int(status.get("updatedNumberScheduled", 0)) >= wanted and int(status.get("numberAvailable", 0)) >= wanted
        )
    wanted = int(spec.get("replicas", 1))
    updated, ready, total = (int(status.get(k, 0)) for k in ("updatedReplicas", "readyReplicas", "replicas"))
    return updated >= wanted and ready >= wanted and total == wanted  # no pod of the old template is left
