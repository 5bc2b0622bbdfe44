"""`first`: the earliest of several waits wins, a timeout says so, and nothing is left waiting."""

from __future__ import annotations

import asyncio

from acs_smtp_operator.waiting import first


async def test_the_first_event_ends_the_wait_and_the_others_are_cancelled() -> None:
    woken, other = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, woken.set)
    before = asyncio.all_tasks()
    assert await first(woken.wait(), other.wait(), within=5) is True
    await asyncio.sleep(0)
    assert asyncio.all_tasks() <= before  # the wait on `other` is gone (tasks of earlier tests may end meanwhile)


async def test_nothing_happening_within_the_time_is_false() -> None:
    assert await first(asyncio.Event().wait(), within=0.01) is False
