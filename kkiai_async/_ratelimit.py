"""An adaptive rate limiter shared by every request of a batch job.

Why it exists: a batch job that only bounds concurrency either leaves its rate limit
unused or runs into 429s, and a 429 seen by one request says the whole job is too fast.
This limiter spaces requests (``rpm``), meters estimated tokens (``tpm``), and pauses
*everyone* when the server says so — through ``x-ratelimit-remaining-*`` reaching zero
(until ``x-ratelimit-reset-*``) or a 429's ``Retry-After``.

Requests are spaced evenly rather than released in bursts: a burst at the start of a
minute followed by silence is what trips a server's sliding window; even spacing keeps
every window of any length under the limit.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["RateLimiter", "parse_reset"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Spacing slightly above 60/rpm keeps clock skew between client and server from
# showing one request too many in a window that starts exactly on a send.
_SPACING_MARGIN = 1.01


def parse_reset(value: str | None) -> float | None:
    """Seconds until an ``x-ratelimit-reset-*`` value such as ``"6m0s"``, ``"20ms"``, ``"2.5"``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            return None
        seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    if seconds < 0 or seconds != seconds:  # negative or NaN
        return None
    return min(seconds, 3600.0)


class RateLimiter:
    """Request and token pacing with a shared pause.

    Args:
        rpm: Requests per minute, or ``None`` for no request limit.
        tpm: Tokens per minute, or ``None`` for no token limit.
        clock: A monotonic clock (patched in tests).
        sleep: The sleep coroutine (patched in tests).
    """

    __slots__ = (
        "_clock",
        "_interval",
        "_lock",
        "_next_slot",
        "_paused_until",
        "_sleep",
        "_tokens",
        "_tokens_at",
        "_tpm",
    )

    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive")
        if tpm is not None and tpm <= 0:
            raise ValueError("tpm must be positive")
        self._interval = 60.0 / rpm * _SPACING_MARGIN if rpm else 0.0
        self._tpm = float(tpm) if tpm else None
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._tokens = float(tpm) if tpm else 0.0
        self._tokens_at = clock()
        self._lock = asyncio.Lock()

    @property
    def paused_for(self) -> float:
        """Seconds left in the current shared pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request of ``tokens`` estimated tokens may be sent.

        Callers queue on a lock, so the order of sending is the order of asking and no
        caller can be starved by later ones.
        """
        async with self._lock:
            while True:
                now = self._clock()
                wait = max(self._paused_until - now, self._next_slot - now)
                if self._tpm is not None:
                    self._refill(now)
                    need = min(float(tokens), self._tpm)  # one huge request still passes
                    if self._tokens < need:
                        wait = max(wait, (need - self._tokens) * 60.0 / self._tpm)
                if wait <= 0:
                    break
                await self._sleep(wait)
            if self._interval:
                self._next_slot = max(self._next_slot, now) + self._interval
            if self._tpm is not None:
                self._tokens -= tokens

    def correct(self, estimated: int, actual: int) -> None:
        """Settle a request's token estimate once its real ``usage`` is known."""
        if self._tpm is not None:
            self._tokens += estimated - actual

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (a 429, or a quota at zero)."""
        if seconds > 0:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt to a response's ``x-ratelimit-*`` headers.

        When the server says a quota is used up, everyone waits until it resets; when it
        reports how many tokens remain, :meth:`_server_tokens` takes the news.
        """
        for kind in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if remaining is None:
                continue
            try:
                left = float(remaining)
            except ValueError:
                continue
            if left <= 0:
                reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
                self.pause(reset if reset is not None else 1.0)
            elif kind == "tokens":
                self._server_tokens(left)

    def _server_tokens(self, left: float) -> None:
        """The server reports ``left`` tokens: fewer than we believe we have wins."""
        if self._tpm is not None:
            self._refill(self._clock())
            self._tokens = min(self._tokens, left)

    def _refill(self, now: float) -> None:
        assert self._tpm is not None
        self._tokens = min(self._tpm, self._tokens + (now - self._tokens_at) * self._tpm / 60.0)
        self._tokens_at = now
