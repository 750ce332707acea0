"""Waiting in tests: on a signal where something can give one, by polling only where not.

A test that waits for "the server saw the disconnect" should wake when the server says
so, not guess a sleep. So a test server (or an application, through its log) calls
:meth:`Changes.notify` whenever what tests look at may have changed, and the test
awaits :meth:`Changes.until` with the condition it needs. Only state that nothing can
announce -- aiohttp's set of open server connections, a ``FakeServer`` counter, a file
another process writes -- is polled, with :func:`eventually`.

Both take a hang guard, not a timing assertion: the limit is far above any normal wait
and only turns a hang into a failure that names what never happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

__all__ = ["HANG_GUARD", "Changes", "eventually", "log_changes"]

HANG_GUARD = 30.0
"""Seconds before a wait is declared hung (far above any healthy wait, even on CI)."""


async def _guarded(waiting: Awaitable[None], what: str, limit: float) -> None:
    try:
        await asyncio.wait_for(waiting, limit)
    except asyncio.TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


class Changes:
    """A "something changed" signal that a test server pokes and tests wait on.

    No wake-up can be lost: :meth:`until` checks the condition and registers its waiter
    with no ``await`` in between, so a :meth:`notify` either comes before the check
    (which then sees the new state) or finds the waiter registered.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake every waiter to check its condition again."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def until(
        self, predicate: Callable[[], bool], what: str, *, limit: float = HANG_GUARD
    ) -> None:
        """Return once ``predicate()`` is true, checking it at each notification.

        Raises:
            AssertionError: ``predicate()`` was still false after ``limit`` seconds.
        """
        await _guarded(self._until(predicate), what, limit)

    async def _until(self, predicate: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        while not predicate():
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)


async def eventually(
    predicate: Callable[[], bool], what: str, *, limit: float = HANG_GUARD
) -> None:
    """Poll ``predicate`` until it is true, for state that nothing can announce.

    The first checks only yield to the event loop (most conditions hold after a few
    callbacks have run); later ones sleep 5 ms between checks.

    Raises:
        AssertionError: ``predicate()`` was still false after ``limit`` seconds.
    """

    async def poll() -> None:
        polls = 0
        while not predicate():
            polls += 1
            await asyncio.sleep(0 if polls < 20 else 0.005)

    await _guarded(poll(), what, limit)


class _Notifier(logging.Handler):
    def __init__(self, changes: Changes) -> None:
        super().__init__(logging.DEBUG)
        self._changes = changes

    def emit(self, record: logging.LogRecord) -> None:
        self._changes.notify()


@contextlib.contextmanager
def log_changes(name: str) -> Iterator[Changes]:
    """A :class:`Changes` notified by every record of the logger ``name``.

    For an application that logs what it did (after doing it): the test wakes on the
    log line instead of polling the application's counters. Only records the logger
    lets through (its effective level) notify; the test sets the level it needs.
    """
    changes = Changes()
    log = logging.getLogger(name)
    handler = _Notifier(changes)
    log.addHandler(handler)
    try:
        yield changes
    finally:
        log.removeHandler(handler)
