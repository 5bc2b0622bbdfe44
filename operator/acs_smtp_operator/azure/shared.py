"""Reads many credentials share, made once: one read in flight per key, its answer reused while it is fresh.

What is shared: the ACS resource (its linked domains), each linked domain, the role as seen from the
resource, the role assignments at the resource, and an application's service principal. The freshness rule:
- an answer is reused for `ttl` seconds (ACSSMTP_SHARED_READ_TTL, default the drift period);
- the operator's own writes update it at once (a role written, an assignment made or removed);
- a pass that fails makes every shared answer it used stale, so that no failure is decided twice on a cached
  read (a domain verified since, a resource re-created, a principal re-made: the next pass reads afresh);
- a read that fails is not kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from acs_smtp_operator.observed import AssignmentView

__all__ = ["Shared", "assignments_key", "note_assignment"]

T = TypeVar("T")

# An application's service principal keeps its object id while it exists: its id is read again after a day,
# or at once after a pass fails (a principal deleted and re-made gets a new id, and the assignment with it).
PRINCIPAL_TTL = 86400.0
Clock = Callable[[], float]


@dataclass
class _Entry:
    at: float
    ttl: float
    future: asyncio.Future[Any]


class Shared:
    def __init__(self, ttl: float, clock: Clock = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._entries: dict[Hashable, _Entry] = {}
        self.reads = 0  # reads made (a metric of the sharing: compare with the passes' needs)
        self.hits = 0

    async def read(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """`load()`'s answer for `key`: the one in flight or still fresh, else a new read (then kept).

        The read runs as its own task: a caller cancelled while waiting does not cancel it for the others.
        """
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and (not entry.future.done() or now - entry.at < entry.ttl):
            self.hits += 1
            return cast(T, await asyncio.shield(entry.future))
        self.reads += 1
        future: asyncio.Future[T] = asyncio.ensure_future(load())
        made = _Entry(now, self.ttl, future)
        self._entries[key] = made

        def settled(done: asyncio.Future[T]) -> None:
            if (done.cancelled() or done.exception() is not None) and self._entries.get(key) is made:
                del self._entries[key]  # a failed read is not kept

        future.add_done_callback(settled)
        return await asyncio.shield(future)

    def put(self, key: Hashable, value: object, ttl: float | None = None) -> None:
        """The operator wrote it: this is its state now."""
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(value)
        self._entries[key] = _Entry(self._clock(), self.ttl if ttl is None else ttl, future)

    def peek(self, key: Hashable) -> object | None:
        """The answer held for `key` (fresh or not), None when there is none yet."""
        entry = self._entries.get(key)
        if entry is None or not entry.future.done() or entry.future.cancelled() or entry.future.exception():
            return None
        return cast(object, entry.future.result())

    def fresh(self, key: Hashable) -> object | None:
        """The answer held for `key` if it is still fresh, else None."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry.at >= entry.ttl:
            return None
        return self.peek(key)

    def expire(self, keys: set[Hashable]) -> None:
        """These answers are stale now: the next read of each is made afresh (they stay known to `peek`)."""
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry.future.done():
                entry.ttl = 0.0

    def forget(self, keys: set[Hashable] | None = None, kind: str | None = None) -> None:
        """Drop these keys, or every key whose first element is `kind`."""
        for key in list(self._entries):
            if (keys is not None and key in keys) or (kind is not None and isinstance(key, tuple) and key[0] == kind):
                del self._entries[key]


def assignments_key(scope: str) -> tuple[str, str]:
    """The key of the role assignments listed at `scope`."""
    return ("assignments", scope.lower())


def note_assignment(shared: Shared, scope: str, guid: str, made: AssignmentView | None) -> None:
    """The operator made (or removed) a role assignment at `scope`: the shared list says so at once."""
    key = assignments_key(scope)
    listed = shared.peek(key)
    if isinstance(listed, dict):
        if made is None:
            listed.pop(guid.lower(), None)
        else:
            listed[guid.lower()] = made
    else:  # a list read in flight may predate this write: it is not kept
        shared.forget({key})
