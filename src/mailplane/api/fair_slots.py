"""A counting semaphore whose waiters are served round-robin by client, FIFO within one.

One tenant's burst of 200 writes must not make every other tenant's write wait behind it
(SECURITY.md: a queue one tenant can fill must hurt only that tenant). With one FIFO queue
it would; here a freed slot goes to the next *client* in turn, so another tenant's single
write waits for about one write, not for the burst.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import Hashable


class FairSlots:
    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiting: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()
        self._holding: Counter[Hashable] = Counter()

    def backlog(self, client: Hashable) -> int:
        """How many of this client's requests hold a slot or wait for one."""
        return self._holding[client] + len(self._waiting.get(client, ()))

    async def acquire(self, client: Hashable, within: float) -> bool:
        """True once a slot is ours (give it back with ``release(client)``), False if none
        came ``within`` seconds (a return value, not a timeout error: the caller answers)."""
        if self.free > 0 and not self._waiting:
            self.free -= 1
            self._holding[client] += 1
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(client, deque()).append(turn)
        try:
            await asyncio.wait({turn}, timeout=within)
        except BaseException:  # cancelled: the client went away while waiting
            self._leave(client, turn)
            raise
        if turn.done():
            self._holding[client] += 1
            return True
        self._leave(client, turn)
        return False

    def release(self, client: Hashable) -> None:
        """``client`` is done with its slot."""
        self._holding[client] -= 1
        if self._holding[client] <= 0:
            del self._holding[client]
        self._hand_over()

    def _hand_over(self) -> None:
        """Hand a freed slot to the next client in turn, or keep it free."""
        while self._waiting:
            client, queue = next(iter(self._waiting.items()))
            turn = queue.popleft()
            if queue:
                self._waiting.move_to_end(client)  # its next request waits for its next turn
            else:
                del self._waiting[client]
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1

    def _leave(self, client: Hashable, turn: asyncio.Future[None]) -> None:
        if turn.done():  # the slot was handed over just as we gave up: pass it on
            self._hand_over()
            return
        turn.cancel()
        queue = self._waiting.get(client)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._waiting[client]
