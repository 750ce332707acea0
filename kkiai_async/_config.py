"""Settings every layer reads: timeouts, the retry policy, and "use the client's default".

This module sits at the bottom of the package (it imports only the exceptions), so a
transport can take a :class:`Timeout` and the batch runner a :class:`RetryPolicy`
without importing the client, the chat resource or the retry decisions.

``USE_CLIENT_DEFAULT`` exists because ``None`` is a real value for a timeout: it means
"no limit". A per-request ``timeout=`` that is left out must mean "whatever the client
was configured with", which only a value no caller would pass can say unambiguously.
"""

from __future__ import annotations

import enum
import math
from typing import Final

import msgspec

from ._exceptions import InvalidParameterError

__all__ = [
    "USE_CLIENT_DEFAULT",
    "RetryPolicy",
    "Timeout",
    "UseClientDefault",
    "resolve_timeout",
]


class UseClientDefault(enum.Enum):
    """The type of :data:`USE_CLIENT_DEFAULT` (an enum, so that type checkers can narrow
    ``timeout is USE_CLIENT_DEFAULT``)."""

    USE_CLIENT_DEFAULT = "USE_CLIENT_DEFAULT"

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault.USE_CLIENT_DEFAULT
"""The default of per-request settings: "what the client was configured with"."""


def _check_limit(param: str, value: object) -> None:
    # bool is an int subclass: Timeout(read=True) is a mistake, not one second.
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(
            param, f"must be a positive number of seconds or None, got {type(value).__name__}"
        )
    if not (value > 0 and math.isfinite(value)):
        raise InvalidParameterError(
            param, f"must be a positive, finite number of seconds or None, got {value!r}"
        )


class Timeout(msgspec.Struct, frozen=True):
    """How long a request may take, in seconds; ``None`` means no limit.

    Three limits because they catch three different failures: an unreachable host
    (``connect``), a server that went silent mid-stream or never answered (``read``:
    the longest gap between two received pieces, including the wait for the first
    byte), and a request that as a whole runs too long (``total``, off by default
    because a long stream that keeps sending is healthy).

    Attributes:
        connect: Seconds to establish the connection (TCP and TLS).
        read: Seconds of silence tolerated between received bytes.
        total: Seconds for the whole request, headers to last byte.

    Raises:
        InvalidParameterError: If a limit is not a positive finite number or ``None``
            (``param`` is ``"timeout.connect"``, ``"timeout.read"`` or ``"timeout.total"``).
    """

    connect: float | None = 10.0
    read: float | None = 600.0
    total: float | None = None

    def __post_init__(self) -> None:
        _check_limit("timeout.connect", self.connect)
        _check_limit("timeout.read", self.read)
        _check_limit("timeout.total", self.total)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """Turn what a caller may pass as ``timeout=`` into a :class:`Timeout`.

        Args:
            value: A :class:`Timeout` (returned as is); a number ``t``, meaning
                ``connect=t, read=t`` with no total limit (the common "give up on a
                silent server after t seconds"); or ``None``, meaning no limits at all.

        Returns:
            The :class:`Timeout`.

        Raises:
            InvalidParameterError: If ``value`` is none of these (``param="timeout"``).
        """
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(connect=None, read=None, total=None)
        _check_limit("timeout", value)
        return cls(connect=value, read=value, total=None)


class RetryPolicy(msgspec.Struct, frozen=True):
    """How often and how patiently to retry.

    Attributes:
        max_retries: Retries after the first attempt (``0`` disables retrying).
        backoff_base: The first retry's maximum wait in seconds; it doubles per retry.
            ``0`` turns backoff off (tests), while a server's ``Retry-After`` is still
            honoured.
        backoff_cap: The largest wait our own backoff ever picks, in seconds.
        max_server_delay: The longest ``Retry-After`` (or ``retry-after-ms``) honoured,
            in seconds; a longer one falls back to our own backoff. 60 s suits an
            interactive caller, who would rather fail than hang; the batch runner,
            which has nobody waiting on one request, honours up to five minutes.

    Raises:
        InvalidParameterError: If ``max_retries`` is not a non-negative int, or a backoff
            or delay value is not a non-negative finite number.
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_server_delay: float = 60.0

    def __post_init__(self) -> None:
        n = self.max_retries
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidParameterError("max_retries", f"must be an int >= 0, got {n!r}")
        for name in ("backoff_base", "backoff_cap", "max_server_delay"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not (v >= 0 and math.isfinite(v))
            ):
                raise InvalidParameterError(
                    name, f"must be a non-negative, finite number of seconds, got {v!r}"
                )


def resolve_timeout(
    value: Timeout | float | UseClientDefault | None,
    default: Timeout,
) -> Timeout:
    """A per-request ``timeout=`` as a :class:`Timeout`, ``default`` when it was not given."""
    if value is USE_CLIENT_DEFAULT:
        return default
    return Timeout.coerce(value)
