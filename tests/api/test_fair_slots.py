"""The admission queue's order and bookkeeping (api/fair_slots.py), on its own."""

from __future__ import annotations

import asyncio

from mailplane.api.fair_slots import FairSlots


def test_slots_go_to_clients_in_turn_and_none_leak_on_timeouts_or_cancels() -> None:
    async def scenario() -> tuple[list[str], int]:
        slots = FairSlots(1)
        assert await slots.acquire("a", 1)
        served: list[str] = []

        async def wait(client: str, label: str) -> None:
            if await slots.acquire(client, 5):
                served.append(label)
                slots.release(client)

        # Tenant a queues three, then b one: b goes second, not fourth.
        waiters = [asyncio.create_task(wait("a", f"a{n}")) for n in range(3)]
        await asyncio.sleep(0)
        waiters.append(asyncio.create_task(wait("b", "b0")))
        # One that gives up, and one whose client goes away: neither keeps a slot. The one
        # that gave up waited behind others, not behind itself: nothing of its own is left.
        assert not await slots.acquire("c", 0.01)
        assert slots.backlog("c") == 0
        gone = asyncio.create_task(slots.acquire("d", 5))
        await asyncio.sleep(0)
        gone.cancel()
        assert slots.backlog("a") == 4  # one slot held, three waiting
        slots.release("a")
        await asyncio.gather(*waiters)
        return served, slots.free

    served, free = asyncio.run(scenario())
    assert served == ["a0", "b0", "a1", "a2"]
    assert free == 1
