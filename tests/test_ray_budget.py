"""The job's rate budget and the workers' leases, in one process on a patched clock.

The Budget actor is a plain class; here its methods are called through a stand-in for a
Ray actor handle (``handle.method.remote(...)`` gives an awaitable), so the lease logic
is tested without Ray and without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kkiai_async._ray_budget import Budget, ClusterLimiter


class Clock:
    """Virtual time for several coroutines: a sleeper wakes when, once every runnable
    coroutine has had its turn, its deadline is the earliest; the clock jumps there."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.deadlines: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        deadline = self.now + max(seconds, 0.0)
        self.deadlines.append(deadline)
        try:
            while True:
                # Virtual time, not waiting for something: let every other coroutine run
                # up to its own wait before deciding who is next.
                for _ in range(20):
                    await asyncio.sleep(0)
                if deadline <= self.now or deadline == min(self.deadlines):
                    break
            self.now = max(self.now, deadline)
        finally:
            self.deadlines.remove(deadline)


class Handle:
    """What a Ray actor handle looks like to the limiter: ``handle.method.remote(...)``."""

    def __init__(self, actor: Budget) -> None:
        self.actor = actor
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method: Callable[..., Any] = getattr(self.actor, name)
        calls = self.calls

        class Remote:
            @staticmethod
            def remote(*args: Any) -> Awaitable[Any]:
                calls.append(name)
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                future.set_result(method(*args))
                return future

        return Remote


def limiters(
    n: int, *, rpm: float | None = None, tpm: float | None = None
) -> tuple[Clock, Handle, list[ClusterLimiter]]:
    clock = Clock()
    handle = Handle(Budget(rpm, tpm, clock=clock))
    interval, token_limit = handle.actor.settings()
    made = [
        ClusterLimiter(handle, interval=interval, tpm=token_limit, clock=clock, sleep=clock.sleep)
        for _ in range(n)
    ]
    return clock, handle, made


async def test_two_workers_send_one_evenly_spaced_sequence() -> None:
    """Two workers leasing from one budget at rpm=600: no 10 s window holds over 100 sends,
    the budget is used, and there is one actor call for several sends."""
    clock, handle, (a, b) = limiters(2, rpm=600)
    sent: list[float] = []

    async def send(limiter: ClusterLimiter) -> None:
        await limiter.acquire()
        sent.append(clock())

    await asyncio.gather(*(send(limiter) for _ in range(150) for limiter in (a, b)))
    sent.sort()
    assert len(sent) == 300
    assert max(sum(1 for t in sent[i:] if t < s + 10.0) for i, s in enumerate(sent)) <= 100
    assert (len(sent) - 1) / (sent[-1] - sent[0]) * 60 >= 0.9 * 600  # the budget is used
    assert handle.calls.count("lease_slots") <= 300 // 3
    for limiter in (a, b):
        await limiter.aclose()


async def test_a_pause_reported_by_one_worker_holds_back_the_other() -> None:
    """A 429 pause reported by one worker delays the next slot the other worker leases."""
    clock, handle, (a, b) = limiters(2, rpm=600)
    start = clock()
    a.pause(5.0)
    assert "pause" in handle.calls
    await b.acquire()
    assert clock() >= start + 5.0
    for limiter in (a, b):
        await limiter.aclose()


async def test_a_slot_already_past_is_dropped_not_used_late() -> None:
    """Slots leased ahead and left unused past their time are not sent in a burst later."""
    clock, _, (a,) = limiters(1, rpm=600)
    waiters = [asyncio.ensure_future(a.acquire()) for _ in range(4)]
    await waiters[0]  # four waiters leased a grant of four slots; one was used
    for waiter in waiters[1:]:
        waiter.cancel()
    await asyncio.gather(*waiters[1:], return_exceptions=True)
    clock.now += 60.0  # the worker was busy elsewhere: its other slots are long gone
    sent = []
    for _ in range(3):
        await a.acquire()
        sent.append(clock())
    assert all(later - earlier >= 0.1 for earlier, later in itertools.pairwise(sent))
    await a.aclose()


def test_the_unused_tail_of_a_grant_goes_back() -> None:
    """Slots returned from the end of the latest grant are handed out again; others are not."""
    clock = Clock()
    budget = Budget(600, None, clock=clock)
    first_in, count, lease_end, _ = budget.lease_slots(4)
    assert (first_in, count) == (0.0, 4)
    budget.release_slots(lease_end, 2)
    assert budget.lease_slots(1)[0] == pytest.approx(2 * budget.interval)
    _, _, stale_end, _ = budget.lease_slots(4)
    budget.lease_slots(4)  # someone leased after: the earlier tail is in the middle now
    before = budget.next_slot
    budget.release_slots(stale_end, 4)
    assert budget.next_slot == before


async def test_tokens_are_leased_settled_and_given_back() -> None:
    """tpm: a worker waits for tokens it lacks, settles estimates locally, returns the rest."""
    clock, handle, (a,) = limiters(1, tpm=600)
    start = clock()
    await a.acquire(600)  # the whole first minute's bucket
    await a.acquire(300)  # half a minute more
    assert clock() - start == pytest.approx(30.0, abs=1.0)
    a.correct(300, 100)  # the response used 100 of the 300 estimated
    a.give_back()
    assert handle.actor.tokens >= 200 - 1
    await a.aclose()
