"""One rate budget for a whole Ray job: the actor that holds it, and the workers' side.

Why an actor: a limit such as 600 requests a minute belongs to the API key, not to a
process. N workers that each pace themselves at the limit send N times the limit; a
worker that gets a 429 and pauses alone leaves the others running into the same wall.
So one named actor holds the budget and every worker leases from it.

Why leases and not one call per request: an actor call costs a round trip (about a
millisecond), more than the request's own client-side work. Workers therefore lease
*small grants* — a few send slots, a few thousand tokens — use them locally, and give
back what they did not use when they go idle.

How the request limit holds in every window: the actor hands out send *times*, one
global sequence spaced ``60 / rpm`` seconds apart (with a small margin), in short runs
to whichever worker asks. A worker sends each request at its slot, or drops the slot if
it is already past (a late slot sent late could bunch up with another worker's next
one). Evenly spaced sends keep any window of any length within the limit, across all
workers, the same argument as for one process (see :mod:`._ratelimit`).

The actor's clock is not the workers': a grant says "your first slot is ``d`` seconds
after I answered", and the worker places it ``d`` after the midpoint of its call.

Pauses: a worker that sees a 429 or a quota at zero pauses itself at once and tells the
actor, which pushes every later slot past the pause; the other workers learn of it at
their next lease or at their next check (every :data:`_CHECK_INTERVAL` seconds),
whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ._ratelimit import RateLimiter

__all__ = ["Budget", "ClusterLimiter"]

# Wider than one process's margin: a slot placed from the midpoint of an actor call can
# be off by half the call's round trip, a few milliseconds at worst on one machine.
_SPACING_MARGIN = 1.02
# Grants cover this many seconds of the budget: short enough that an idle worker holds
# back little, long enough that the actor sees a few calls a second per worker.
_GRANT_SECONDS = 0.5
# How often an active worker asks the actor whether someone else paused the job.
_CHECK_INTERVAL = 0.25


class Budget:
    """The job's request and token budget; run as a named Ray actor.

    Its methods are quick and synchronous: Ray runs them one at a time, which is all the
    locking a budget needs.

    Args:
        rpm: Requests per minute for the whole job, or ``None``.
        tpm: Tokens per minute for the whole job, or ``None``.
        clock: A monotonic clock (patched in tests).
    """

    def __init__(
        self,
        rpm: float | None,
        tpm: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.interval = 60.0 / rpm * _SPACING_MARGIN if rpm else 0.0
        self.tpm = float(tpm) if tpm else None
        self.next_slot = 0.0
        self.paused_until = 0.0
        self.tokens = self.tpm or 0.0
        self.tokens_at = clock()
        self.leased_slots = 0
        self.returned_slots = 0
        self.pauses = 0

    def settings(self) -> tuple[float, float | None]:
        """The slot spacing in seconds and the token limit, for the workers."""
        return self.interval, self.tpm

    def lease_slots(self, want: int) -> tuple[float, int, float, float]:
        """Grant up to ``want`` consecutive send slots.

        Returns:
            ``(first_in, count, lease_end, paused_for)``: the first slot is ``first_in``
            seconds from now, the others follow every ``interval``; ``lease_end``
            identifies the grant when its tail is given back.
        """
        now = self.clock()
        count = max(1, min(want, self._grant_size()))
        start = max(now, self.next_slot, self.paused_until)
        self.next_slot = start + count * self.interval
        self.leased_slots += count
        return start - now, count, self.next_slot, max(0.0, self.paused_until - now)

    def release_slots(self, lease_end: float, count: int) -> None:
        """Take back the last ``count`` slots of a grant, if nobody was granted later ones.

        Slots in the middle of the sequence cannot be reused without putting two sends
        closer than the spacing, so they are simply lost (a grant is short).
        """
        if self.next_slot == lease_end and count > 0:
            self.next_slot = max(self.clock(), self.next_slot - count * self.interval)
            self.returned_slots += count

    def lease_tokens(self, want: float) -> tuple[float, float, float]:
        """Grant up to ``want`` tokens from the bucket.

        Returns:
            ``(granted, wait, paused_for)``: ``wait`` is how long until the rest of
            ``want`` would be available.
        """
        if self.tpm is None:
            return want, 0.0, 0.0
        now = self.clock()
        self._refill(now)
        granted = min(want, max(self.tokens, 0.0))
        self.tokens -= granted
        wait = (want - granted) * 60.0 / self.tpm
        return granted, wait, max(0.0, self.paused_until - now)

    def return_tokens(self, tokens: float) -> None:
        """Put back tokens a worker leased and did not use."""
        if self.tpm is not None and tokens > 0:
            self._refill(self.clock())
            self.tokens = min(self.tpm, self.tokens + tokens)

    def clamp_tokens(self, left: float) -> None:
        """The server says fewer tokens remain than we believe: believe the server."""
        if self.tpm is not None:
            self._refill(self.clock())
            self.tokens = min(self.tokens, left)

    def pause(self, seconds: float) -> float:
        """Hold the whole job back ``seconds`` from now; returns the pause left."""
        now = self.clock()
        if seconds > 0:
            self.pauses += 1
            self.paused_until = max(self.paused_until, now + seconds)
            if self.interval:
                self.next_slot = max(self.next_slot, self.paused_until)
        return max(0.0, self.paused_until - now)

    def paused_for(self) -> float:
        """Seconds left in the job's current pause."""
        return max(0.0, self.paused_until - self.clock())

    def stats(self) -> dict[str, float]:
        """Counters for tests and benchmarks."""
        return {
            "leased_slots": self.leased_slots,
            "returned_slots": self.returned_slots,
            "pauses": self.pauses,
        }

    def _grant_size(self) -> int:
        if not self.interval:
            return 1
        return max(1, math.floor(_GRANT_SECONDS / self.interval))

    def _refill(self, now: float) -> None:
        assert self.tpm is not None
        self.tokens = min(self.tpm, self.tokens + (now - self.tokens_at) * self.tpm / 60.0)
        self.tokens_at = now


class ClusterLimiter(RateLimiter):
    """A worker's view of the job's :class:`Budget`, with the batch limiter's interface.

    ``kk.batch.run(..., limiter=ClusterLimiter(...))`` paces a worker's requests with
    slots and tokens leased from the actor, and turns the 429s and ``x-ratelimit-*``
    headers this worker sees into pauses of the whole job.

    Args:
        budget: The handle of the :class:`Budget` actor.
        interval: Seconds between slots (from :meth:`Budget.settings`), 0 for no
            request limit.
        tpm: The token limit (from :meth:`Budget.settings`), or ``None``.
    """

    __slots__ = (
        "_balance",
        "_budget",
        "_checker",
        "_lease_end",
        "_slot_interval",
        "_slots",
        "_token_chunk",
        "_token_limit",
        "_waiting",
    )

    def __init__(
        self,
        budget: Any,
        *,
        interval: float,
        tpm: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__(clock=clock, sleep=sleep)
        self._budget = budget
        self._slot_interval = interval
        self._token_limit = tpm
        self._token_chunk = tpm * _GRANT_SECONDS / 60.0 if tpm else 0.0
        self._slots: deque[float] = deque()
        self._lease_end = 0.0
        self._balance = 0.0
        self._waiting = 0
        self._checker: asyncio.Task[None] | None = None

    async def acquire(self, tokens: int = 0) -> None:
        """Wait for a leased slot and leased tokens (and for any pause of the job)."""
        if self._checker is None:
            self._checker = asyncio.ensure_future(self._check_pauses())
        self._waiting += 1
        try:
            async with self._lock:
                await self._wait_for_turn(tokens)
        finally:
            self._waiting -= 1

    async def _wait_for_turn(self, tokens: int) -> None:
        while True:
            now = self._clock()
            if self._paused_until > now:
                await self._sleep(self._paused_until - now)
                continue
            if self._slot_interval:
                # A slot already past is dropped, not used late (see the module doc).
                while self._slots and self._slots[0] < now - self._slot_interval / 2:
                    self._slots.popleft()
                if not self._slots:
                    await self._lease_slots()
                    continue
                if self._slots[0] > now:
                    await self._sleep(self._slots[0] - now)
                    continue
            if self._token_limit is not None:
                need = min(float(tokens), self._token_limit)
                if self._balance < need:
                    wait = await self._lease_tokens(need - self._balance)
                    if self._balance < need:
                        await self._sleep(max(wait, 0.01))
                    continue
            break
        if self._slot_interval:
            self._slots.popleft()
        if self._token_limit is not None:
            self._balance -= tokens

    async def _lease_slots(self) -> None:
        asked = self._clock()
        first_in, count, lease_end, paused_for = await self._budget.lease_slots.remote(
            self._waiting
        )
        base = (asked + self._clock()) / 2
        self._lease_end = lease_end
        self._slots.extend(base + first_in + i * self._slot_interval for i in range(count))
        self._learn_pause(base, paused_for)

    async def _lease_tokens(self, short: float) -> float:
        asked = self._clock()
        granted, wait, paused_for = await self._budget.lease_tokens.remote(
            max(short, self._token_chunk)
        )
        self._balance += granted
        self._learn_pause((asked + self._clock()) / 2, paused_for)
        return float(wait)

    def _learn_pause(self, at: float, paused_for: float) -> None:
        if paused_for > 0:
            self._paused_until = max(self._paused_until, at + paused_for)

    async def _check_pauses(self) -> None:
        while True:
            await asyncio.sleep(_CHECK_INTERVAL)
            asked = self._clock()
            paused_for = await self._budget.paused_for.remote()
            self._learn_pause((asked + self._clock()) / 2, paused_for)

    def correct(self, estimated: int, actual: int) -> None:
        """Settle a request's token estimate locally; the surplus stays leased here."""
        if self._token_limit is not None:
            self._balance += estimated - actual

    def pause(self, seconds: float) -> None:
        """Pause this worker now and the whole job through the actor."""
        if seconds > 0:
            super().pause(seconds)
            self._budget.pause.remote(seconds)

    def _server_tokens(self, left: float) -> None:
        """The server's count of tokens left, shared with the job when it is news."""
        # Only news worth a message: the bucket is nearly empty at the server.
        if self._token_limit is not None and left < self._token_limit / 10:
            self._balance = min(self._balance, left)
            self._budget.clamp_tokens.remote(left)

    def give_back(self) -> None:
        """Return the slots still ahead and the unused tokens (the worker went idle)."""
        now = self._clock()
        ahead = sum(1 for slot in self._slots if slot > now)
        if ahead and ahead == len(self._slots):
            self._budget.release_slots.remote(self._lease_end, ahead)
        self._slots.clear()
        if self._balance > 0:
            self._budget.return_tokens.remote(self._balance)
            self._balance = 0.0

    async def aclose(self) -> None:
        """Stop checking for pauses."""
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._checker
            self._checker = None
