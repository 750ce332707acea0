"""Backoff, and what is safe to retry: pure decisions, no I/O, no sleeping.

The client's send loop and the batch runner ask three questions after a failed attempt
-- *may I retry?* (:func:`retry_decision`), *how long do I wait?* (:func:`retry_delay`)
and *what do I log?* (:func:`describe_retry_reason`) -- and this module answers them
from the status, the response headers and the exception alone, so that both retry the
same statuses and read ``Retry-After`` the same way; they differ only in the settings of
their :class:`RetryPolicy` (the batch runner honours a longer server-requested wait).
Keeping the answers free of I/O and of the clock (``now`` and ``rng`` are parameters)
makes every rule testable as a table.

What is retried, and why:

- an ``x-should-retry: true|false`` response header wins when present: the server
  knows better than any status table (OpenAI and several relays send it);
- connection errors and connect/read timeouts *before the first byte* (the caller
  passes only those: once a stream has given the caller something, a retry would
  duplicate it, so :class:`IncompleteStreamError` is never retried here);
- 408 (request timeout), 409 (conflict, e.g. a lock), 429 (rate limit), 500-504 and
  529 (the "overloaded" status some relays pass through from Anthropic);
- never any other 4xx: the same request would fail the same way.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from datetime import timezone
from typing import Protocol

from ._config import RetryPolicy
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    IncompleteStreamError,
    KkiaiError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "describe_retry_reason",
    "retry_decision",
    "retry_delay",
]

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 501, 502, 503, 504, 529})
"""HTTP statuses retried when the server gives no ``x-should-retry`` header."""

# 2.0 ** 1024 overflows a float; no useful backoff needs more than a few doublings.
_MAX_DOUBLINGS = 62


class _RandomSource(Protocol):
    def uniform(self, a: float, b: float, /) -> float: ...


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` case-insensitively; ``name`` is lower-case.

    Transports hand us lower-cased plain dicts or aiohttp's case-insensitive multidict,
    where the direct lookup hits; the scan is for mappings built by hand in tests and
    by third-party transports.
    """
    value = headers.get(name)
    if value is not None:
        return value
    for key, v in headers.items():
        if key.lower() == name:
            return v
    return None


def retry_decision(
    status: int | None,
    headers: Mapping[str, str],
    exc: BaseException | None,
) -> bool:
    """Whether a failed attempt may be retried (ignoring how many retries are left).

    Args:
        status: The response status, or ``None`` when no response arrived. When it is
            ``None`` and ``exc`` is an :class:`APIStatusError`, the status and headers
            are read from the exception.
        headers: The response headers (empty when no response arrived).
        exc: The exception the attempt ended with, or ``None`` for a plain error status.
            Pass connection errors and timeouts only when nothing was yet given to the
            caller; whether a started stream may be retried is the caller's decision.

    Returns:
        ``True`` to retry. An ``x-should-retry`` header of ``true``/``false`` wins;
        otherwise connection errors, connect/read timeouts and the statuses in
        ``RETRYABLE_STATUSES`` are retried, and nothing else.
    """
    if isinstance(exc, IncompleteStreamError):
        # Part of the stream may already be in the caller's hands.
        return False
    if status is None and isinstance(exc, APIStatusError):
        status = exc.status_code
        headers = headers or exc.headers
    should = _header(headers, "x-should-retry") if headers else None
    if should is not None:
        verdict = should.strip().lower()
        if verdict == "true":
            return True
        if verdict == "false":
            return False
    if isinstance(exc, APITimeoutError):
        # A total timeout means the budget for the whole request is spent.
        return exc.timeout in ("connect", "read")
    if isinstance(exc, APIConnectionError):
        return True
    return status is not None and status in RETRYABLE_STATUSES


def _server_delay(headers: Mapping[str, str], now: float | None, limit: float) -> float | None:
    """The wait the server asked for, in seconds, when it is usable; else ``None``."""
    raw = _header(headers, "retry-after-ms")
    if raw is not None:
        try:
            seconds: float | None = float(raw) / 1000.0
        except ValueError:
            seconds = None
        if seconds is not None and 0.0 <= seconds <= limit:
            return seconds
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    try:
        # RFC 9110 says delay-seconds is an integer; relays send floats too.
        seconds = float(raw)
    except ValueError:
        seconds = _http_date_delay(raw, time.time() if now is None else now)
    if seconds is not None and 0.0 <= seconds <= limit:
        return seconds
    return None


def _http_date_delay(raw: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # "-0000" parses naive; an HTTP-date is always GMT (RFC 9110, section 5.6.7).
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp() - now


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    rng: _RandomSource | None = None,
) -> float:
    """How long to wait before the next attempt, in seconds.

    The server's wish comes first: ``retry-after-ms`` (milliseconds, may be
    fractional), then ``Retry-After`` as seconds (integer or float) or as an HTTP-date.
    A server value is honoured only when it is between 0 and
    :attr:`RetryPolicy.max_server_delay` seconds (60 by default: an interactive caller
    would rather fail than hang for minutes); a negative, unparsable or larger value (or
    a date in the past) falls back to our own backoff, which
    :attr:`RetryPolicy.backoff_cap` bounds. Otherwise: "full jitter" exponential
    backoff, ``uniform(0, min(cap, base * 2**attempt))``, which spreads out the retries
    of many clients failing at once instead of synchronising them.

    Args:
        policy: The base and cap of the backoff, and the longest server wait honoured.
        attempt: How many retries were already made: ``0`` before the first retry.
        headers: The failed response's headers (empty when no response arrived).
        now: The current Unix time, for an HTTP-date ``Retry-After``; default
            ``time.time()``.
        rng: The source of jitter (anything with ``uniform``); default the ``random``
            module. Pass a seeded ``random.Random`` for reproducible delays.

    Returns:
        The delay in seconds, ``>= 0``.
    """
    if headers:
        server = _server_delay(headers, now, policy.max_server_delay)
        if server is not None:
            return server
    ceiling = min(
        policy.backoff_cap, policy.backoff_base * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS)
    )
    if ceiling <= 0.0:
        return 0.0
    return (random if rng is None else rng).uniform(0.0, ceiling)


def describe_retry_reason(status: int | None, exc: BaseException | None) -> str:
    """Why an attempt is being retried, for the client's INFO log line.

    Args:
        status: The response status, or ``None`` when no response arrived.
        exc: The exception the attempt ended with, if any.

    Returns:
        A short phrase: ``"HTTP 429"``, ``"connect timeout"``, ``"read timeout"``,
        ``"connection error: <message>"``. Never includes request headers, so the API
        key cannot reach a log.
    """
    if status is None and isinstance(exc, APIStatusError):
        status = exc.status_code
    if status is not None:
        return f"HTTP {status}"
    if isinstance(exc, APITimeoutError):
        return f"{exc.timeout} timeout"
    if isinstance(exc, KkiaiError):
        kind = "connection error" if isinstance(exc, APIConnectionError) else type(exc).__name__
        return f"{kind}: {exc.message}"
    if exc is not None:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return "unknown reason"
