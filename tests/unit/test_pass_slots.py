"""A deletion waiting out Graph's lag gives its pass slot back, and a cancellation never returns one twice."""

from __future__ import annotations

import asyncio

from acs_smtp_operator.slots import Slot as _Slot


async def test_a_paused_slot_serves_another_and_a_cancellation_while_retaking_it_returns_it_once() -> None:
    slots = asyncio.Semaphore(1)

    async def deleting() -> None:
        async with _Slot(slots) as slot:
            await slot.pause(0.1)

    waiting = asyncio.create_task(deleting())
    await asyncio.sleep(0.02)
    async with _Slot(slots):  # another pass runs while the deletion pauses
        await asyncio.sleep(0.2)  # the deletion now waits to take a slot again
        waiting.cancel()  # the operator stops meanwhile
        await asyncio.gather(waiting, return_exceptions=True)
    assert not slots.locked()
    async with _Slot(slots):
        assert slots.locked(), "two slots where there is one: a slot was returned twice"
