"""The fake server's rate limiter and its ``x-ratelimit-*`` headers.

Why: clients (and the batch runner above them) must slow down on 429s and may read the
``x-ratelimit-remaining-*`` headers to pace themselves; both need a server that limits
like the real one. The real API refills its limits continuously over a minute, which
is a token bucket of capacity ``rpm`` (or ``tpm``) refilling at ``rpm / 60`` per
second; that is what is modelled here.

A request costs one request and its token estimate: prompt tokens plus ``max_tokens``
(or ``max_completion_tokens``) times ``n``, because the real API reserves the most a
request can produce before it knows what it will produce.

With no limit configured nothing is refused, and the headers report a fixed nominal
budget (:data:`NOMINAL_REQUESTS`, :data:`NOMINAL_TOKENS`) that never runs down.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["NOMINAL_REQUESTS", "NOMINAL_TOKENS", "RateLimiter", "format_reset"]

NOMINAL_REQUESTS = 10_000
NOMINAL_TOKENS = 10_000_000


def format_reset(seconds: float) -> str:
    """A duration as the API writes ``x-ratelimit-reset-*``: ``"20ms"``, ``"1.5s"``, ``"6m0s"``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    shown = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{shown}s" if minutes else f"{shown}s"


class _Bucket:
    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = capacity
        self.level = float(capacity)
        self.rate = capacity / 60.0
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 when it is); inf if it never fits."""
        if amount <= self.level:
            return 0.0
        if amount > self.capacity:
            return math.inf
        return (amount - self.level) / self.rate

    def until_full(self) -> float:
        return (self.capacity - self.level) / self.rate


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets.

    Args:
        rpm: Requests per minute, or ``None`` for no request limit.
        tpm: Tokens per minute, or ``None`` for no token limit.
        clock: Monotonic seconds; replaceable so tests control time without sleeping.
    """

    __slots__ = ("_clock", "_requests", "_tokens")

    def __init__(self, rpm: int | None, tpm: int | None, clock: Callable[[], float]) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer or None, not {value}")
        now = clock()
        self._clock = clock
        self._requests = _Bucket(rpm, now) if rpm is not None else None
        self._tokens = _Bucket(tpm, now) if tpm is not None else None

    def acquire(self, tokens: int) -> tuple[float, str]:
        """Take one request and ``tokens`` tokens, or say how long to wait.

        Returns:
            ``(0.0, "")`` when admitted; otherwise the seconds to wait (``inf`` when the
            request can never fit) and which limit refused it (``"requests"`` or
            ``"tokens"``). Nothing is taken from either bucket on refusal.
        """
        now = self._clock()
        for bucket in (self._requests, self._tokens):
            if bucket is not None:
                bucket.refill(now)
        if self._requests is not None:
            wait = self._requests.wait_for(1)
            if wait:
                return wait, "requests"
        if self._tokens is not None:
            wait = self._tokens.wait_for(tokens)
            if wait:
                return wait, "tokens"
        if self._requests is not None:
            self._requests.level -= 1
        if self._tokens is not None:
            self._tokens.level -= tokens
        return 0.0, ""

    def limit(self, kind: str) -> int:
        """The configured (or nominal) limit of ``"requests"`` or ``"tokens"``."""
        bucket = self._requests if kind == "requests" else self._tokens
        if bucket is None:
            return NOMINAL_REQUESTS if kind == "requests" else NOMINAL_TOKENS
        return bucket.capacity

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers describing the buckets now."""
        now = self._clock()
        out: dict[str, str] = {}
        for kind, bucket, nominal in (
            ("requests", self._requests, NOMINAL_REQUESTS),
            ("tokens", self._tokens, NOMINAL_TOKENS),
        ):
            if bucket is None:
                limit, remaining, reset = nominal, nominal, 0.0
            else:
                bucket.refill(now)
                limit, remaining, reset = bucket.capacity, int(bucket.level), bucket.until_full()
            out[f"x-ratelimit-limit-{kind}"] = str(limit)
            out[f"x-ratelimit-remaining-{kind}"] = str(max(remaining, 0))
            out[f"x-ratelimit-reset-{kind}"] = format_reset(reset)
        return out
