"""The policies' status: accepted or refused, the namespaces each covers, how many credentials it permits.

One task writes it for every policy, woken by any change of a policy, a namespace or a credential, a
moment after the last one (a burst is one round); it writes a policy's status only when it differs.

An operator that watches a list of namespaces sees only their credentials: it reports on the policies that
cover one of its namespaces, so that two installations with policies of their own never overwrite each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from acs_smtp_operator.failure import Failure
from acs_smtp_operator.kube.api import Kube
from acs_smtp_operator.policy import covers
from acs_smtp_operator.policy_status import policy_status
from acs_smtp_operator.tenancy import Tenancy

__all__ = ["PolicyReporter"]

log = logging.getLogger(__name__)

Usage = Callable[[], Mapping[str, int]]  # policy name → credentials whose status names it


class PolicyReporter:
    def __init__(
        self,
        kube: Kube,
        tenancy: Callable[[], Tenancy],
        usage: Usage,
        watched: Collection[str] | None = None,
        settle: float = 0.5,
    ) -> None:
        """`watched`: the namespaces this operator serves (None: all of them)."""
        self.kube, self.tenancy, self.usage, self.settle = kube, tenancy, usage, settle
        self.watched = None if watched is None else set(watched)
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def changed(self) -> None:
        """Something a policy's status depends on changed: write the statuses again shortly."""
        self._dirty.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="policy statuses")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.settle)
            self._dirty.clear()
            try:
                await self.write()
            except Failure as exc:  # the API server refused or is away: again in a while
                log.warning("policy statuses not written: %s", exc.message)
                await asyncio.sleep(5)
                self._dirty.set()

    async def write(self) -> None:
        tenancy, usage = self.tenancy(), self.usage()
        refused = tenancy.refused
        for view in tenancy.policies:
            if self.watched is not None and not any(
                covers(view.selection, ns, tenancy.namespaces.get(ns)) for ns in self.watched
            ):
                continue  # another installation's policy
            wanted = policy_status(view, refused, tenancy.namespaces, usage.get(view.name, 0))
            if not _same(view.status, wanted):
                await self.kube.patch_policy_status(view.name, wanted)


def _same(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(stored.get(key) == value for key, value in wanted.items())
