"""Waiting for the first of several things (events, kopf's stop flag), with an optional timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ["first"]


async def first(*awaitables: Awaitable[Any], within: float | None = None) -> bool:
    """Wait until one of `awaitables` completes (True) or `within` seconds pass (False); the rest are cancelled."""
    waits = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        done, _ = await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return bool(done)
