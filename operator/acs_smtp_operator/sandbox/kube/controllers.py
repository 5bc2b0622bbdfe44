"""Stand-ins for kube-controller-manager's workload controllers: a rollout completes after a delay.

There are no kubelets in the sandbox, so nothing would ever become ready; this
reports each new generation of a Deployment, StatefulSet or DaemonSet as fully
rolled out `delay` seconds after it was written, as a healthy cluster would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from acs_smtp_operator.sandbox.kube.store import ApiError, ResourceType, Store

__all__ = ["RolloutSimulator"]

_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


class RolloutSimulator:
    def __init__(self, store: Store, delay: Callable[[], float] = lambda: 1.0) -> None:
        self.store, self.delay = store, delay
        store.listeners.append(self._changed)

    def _changed(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        if rtype.group != "apps" or rtype.kind not in _KINDS:
            return
        meta, status = obj["metadata"], obj.get("status") or {}
        if status.get("observedGeneration") == meta.get("generation"):
            return
        loop = asyncio.get_running_loop()
        loop.call_later(
            self.delay(), self._complete, rtype, meta.get("namespace"), meta["name"], meta.get("generation")
        )

    def _complete(self, rtype: ResourceType, namespace: str | None, name: str, generation: int) -> None:
        with contextlib.suppress(ApiError):
            current = self.store.get(rtype.key, namespace, name)
            if current["metadata"].get("generation") != generation:
                return  # a newer generation has its own timer
            replicas = int((current.get("spec") or {}).get("replicas", 1))
            if rtype.kind == "DaemonSet":
                status: dict[str, Any] = {
                    "desiredNumberScheduled": 1,
                    "updatedNumberScheduled": 1,
                    "numberAvailable": 1,
                    "numberReady": 1,
                    "currentNumberScheduled": 1,
                }
            else:
                status = {
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": replicas,
                    "availableReplicas": replicas,
                }
            status["observedGeneration"] = generation
            self.store.patch(rtype.key, namespace, name, "application/merge-patch+json", {"status": status}, "status")
