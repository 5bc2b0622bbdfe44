"""Reads many credentials share: one in flight, reused while fresh, never kept when they fail."""

from __future__ import annotations

import asyncio

import pytest

from acs_smtp_operator.azure.shared import Shared, assignments_key, note_assignment
from acs_smtp_operator.observed import AssignmentView


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_reads_of_one_key_make_one_call() -> None:
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return "resource"

    shared = Shared(ttl=60)
    assert await asyncio.gather(*(shared.read(("acs", "x"), load) for _ in range(50))) == ["resource"] * 50
    assert calls == 1


async def test_an_answer_is_reused_while_fresh_and_read_again_after() -> None:
    clock, calls = Clock(), []

    async def load() -> int:
        calls.append(clock.now)
        return len(calls)

    shared = Shared(ttl=60, clock=clock)
    assert await shared.read("k", load) == 1
    clock.now = 59.0
    assert await shared.read("k", load) == 1
    clock.now = 60.0
    assert await shared.read("k", load) == 2
    shared.put("p", "written", ttl=600)  # the operator's own write, kept as long as it says
    clock.now = 659.0
    assert shared.fresh("p") == "written" and len(calls) == 2, "no read while the write is fresh"


async def test_a_failed_read_is_not_kept() -> None:
    answers: list[object] = [RuntimeError("throttled"), "ok"]

    async def load() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    shared = Shared(ttl=60)
    with pytest.raises(RuntimeError):
        await shared.read("k", load)
    assert await shared.read("k", load) == "ok"


async def test_a_stale_answer_is_read_again_but_still_known() -> None:
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    shared = Shared(ttl=60)
    await shared.read("k", load)
    shared.expire({"k"})
    assert shared.fresh("k") is None and shared.peek("k") == 1
    assert await shared.read("k", load) == 2


async def test_the_operators_own_assignment_writes_update_the_listed_assignments() -> None:
    shared = Shared(ttl=60)
    scope = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/a"

    async def listed() -> dict[str, AssignmentView]:
        return {}

    assignments = await shared.read(assignments_key(scope), listed)
    note_assignment(shared, scope.upper(), "ABC", AssignmentView(id="id-abc", principal_id="p"))
    assert assignments == {"abc": AssignmentView(id="id-abc", principal_id="p")}
    note_assignment(shared, scope, "abc", None)
    assert assignments == {}


async def test_an_assignment_written_while_the_list_is_read_is_not_lost() -> None:
    """The list read in flight may predate the write: it is not kept, the next pass lists again."""
    shared, gate = Shared(ttl=60), asyncio.Event()
    scope = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/a"
    reads = 0

    async def listed() -> dict[str, AssignmentView]:
        nonlocal reads
        reads += 1
        await gate.wait()
        return {}

    in_flight = asyncio.ensure_future(shared.read(assignments_key(scope), listed))
    await asyncio.sleep(0)
    note_assignment(shared, scope, "abc", AssignmentView(id="id-abc"))
    gate.set()
    assert await in_flight == {}
    await shared.read(assignments_key(scope), listed)
    assert reads == 2
