"""The locks and slots passes and deletions take: at most N calling Azure at once (a slot, which a deletion
waiting out Graph's lag gives back meanwhile), and one at a time per (application, ACS resource) pair."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from acs_smtp_operator.ids import canonical

__all__ = ["Slot", "TargetLocks"]


class Slot:
    """One of the passes' slots, which a deletion waiting out Graph's lag gives back meanwhile (create/delete
    loops must not hold the slots other credentials' passes wait for). Released once, cancelled or not."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots, self._held = slots, False

    async def __aenter__(self) -> Slot:
        await self._slots.acquire()
        self._held = True
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._held:
            self._held = False
            self._slots.release()

    async def pause(self, seconds: float) -> None:
        """Wait `seconds` without the slot, then take one again (a cancellation meanwhile leaves none held)."""
        self._held = False
        self._slots.release()
        await asyncio.sleep(seconds)
        await self._slots.acquire()
        self._held = True


class TargetLocks:
    """One lock per (application, ACS resource): credentials naming the same pair share one role assignment (its
    id derives from them), so a deletion that may remove it waits for a pass that may adopt it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, body: Mapping[str, Any]) -> AsyncIterator[None]:
        """Hold the locks of what status records the credential acted on and of what its spec names now (a
        retarget touches both), taken in one order so that two credentials never wait on each other."""
        status, spec = body.get("status") or {}, body.get("spec") or {}
        pairs = {
            (str(status.get("clientId") or "").lower(), canonical(str(status.get("communicationServiceId") or ""))),
            (
                str((spec.get("entraApplication") or {}).get("clientId") or "").lower(),
                canonical(str((spec.get("communicationService") or {}).get("resourceId") or "")),
            ),
        }
        async with contextlib.AsyncExitStack() as stack:
            for pair in sorted(p for p in pairs if any(p)):
                await stack.enter_async_context(self._locks.setdefault(pair, asyncio.Lock()))
            yield
