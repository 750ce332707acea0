"""What the client needs from an HTTP library: one request out, one response back.

The client and the stream objects talk to this interface only, never to aiohttp
directly, so that a second transport (httpx) can be added and tests can replace the
transport without a network. It is deliberately small: one request with a byte body,
and a response whose body is read whole (within a bound on its size) or in the pieces
the socket delivers. A transport of the caller's own is any object with these members
(``AsyncClient(transport=...)``); nothing needs to inherit from these protocols.

The error contract is part of the interface. A transport raises only errors of the
library's tree (:mod:`kkiai_async._exceptions`), translated in one place per transport:

- from :meth:`Transport.send`: :class:`APIConnectionError` (the connection could not be
  made or broke before the response headers arrived), :class:`APITimeoutError`
  (``"connect"``, ``"read"`` -- no response headers in time -- or ``"total"``) and
  :class:`ClientClosedError` (the transport, or a session lent to it, is closed);
- from :meth:`Response.read`: :class:`APIConnectionError`, :class:`APITimeoutError`,
  and :class:`APIProtocolError` for a body over the bound it was given;
- from iterating :meth:`Response.iter_bytes`: :class:`IncompleteStreamError` (the
  connection broke mid-body) and :class:`APITimeoutError` (``"read"`` or ``"total"``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Protocol

from .._exceptions import APIProtocolError

if TYPE_CHECKING:
    from .._config import Timeout

__all__ = ["Response", "Transport", "body_too_large", "check_pool"]


class Response(Protocol):
    """One HTTP response whose headers have arrived and whose body has not been read.

    Attributes:
        status: The HTTP status.
        headers: The response headers as a plain dict with lower-case names (a repeated
            header keeps its last value).
    """

    status: int
    headers: Mapping[str, str]

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body in the pieces the connection delivers, never empty, until its end.

        Raises:
            IncompleteStreamError: The connection broke before the body ended.
            APITimeoutError: A read or total timeout expired.
        """
        ...

    async def read(self, max_bytes: int | None = None, *, truncate: bool = False) -> bytes:
        """The whole body, decompressed, read within a bound on its size.

        The bound is what keeps a hostile or broken server (a gzip body of half a
        megabyte that inflates to half a gigabyte) from costing the client the memory of
        the whole body: the body is read and inflated piece by piece, and reading stops
        as soon as the bytes so far pass ``max_bytes``, so memory grows with the bound,
        not with the body. A body cut off there is never handed to the next request: its
        connection is closed at once, not returned to the pool.

        Args:
            max_bytes: The most decompressed bytes to accept; ``None`` for no bound.
            truncate: What a body over the bound gives. ``False``: an error. ``True``:
                its first ``max_bytes`` bytes, without an error -- for an error status,
                whose body is only shown as an excerpt (an HTML error page too large
                to keep still makes a status error).

        Returns:
            The body, or its first ``max_bytes`` bytes with ``truncate``.

        Raises:
            APIProtocolError: The body is over ``max_bytes`` (and ``truncate`` is false).
            APIConnectionError: The connection broke before the body ended.
            APITimeoutError: A read or total timeout expired.
        """
        ...

    async def aclose(self, *, reuse: bool) -> None:
        """End the response; idempotent.

        Args:
            reuse: ``True`` when the body was read to its end (or nearly: a transport may
                wait briefly for the end of a body whose last event has arrived), so the
                connection may go back to the pool. A connection whose body was not read
                to its end is always closed, whatever ``reuse`` says: it would hand the
                rest of this response to the next request.
        """
        ...

    def abort(self) -> None:
        """Close the connection now, synchronously; idempotent.

        For finalizers and other places that cannot ``await``.
        """
        ...


class Transport(Protocol):
    """Sends requests; owns (or borrows) the connection pool.

    Attributes:
        user_agent: The HTTP library and its version (``"aiohttp/3.10.5"``), for the
            ``User-Agent`` header.
    """

    user_agent: str

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (or a borrowed session was closed)."""
        ...

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
        stream: bool,
    ) -> Response:
        """Send one request and return once the response headers have arrived.

        Args:
            method: The HTTP method.
            url: The absolute URL.
            headers: The request headers, exactly as to be sent.
            body: The request body, already encoded.
            timeout: The connect, read and total limits of this request; ``total``
                covers reading the body too, until the response is closed.
            stream: Whether the body will be read in pieces (a hint; a transport may
                ignore it).

        Returns:
            The response, body unread. The caller must close it.
        """
        ...

    async def aclose(self) -> None:
        """Release the connection pool if this transport owns it; idempotent."""
        ...


def check_pool(
    *, loop: asyncio.AbstractEventLoop | None, pool_closed: bool, pool: str, owned: bool
) -> None:
    """Refuse to send through a connection pool that cannot work any more.

    Both transports bind their pool to the event loop that created it; using it from
    another loop fails deep inside the HTTP library with a confusing error (typical with
    per-test event loops), so it is refused here with one that says what to do.

    Raises:
        ClientClosedError: The pool belongs to another loop, or was closed (by its
            owner, when it was lent to the client).
    """
    from .._exceptions import ClientClosedError

    if loop is not None and loop is not asyncio.get_running_loop():
        raise ClientClosedError(
            "the client's connection pool belongs to another event loop: create "
            "the client in the event loop that uses it"
        )
    if pool_closed:
        raise ClientClosedError(
            f"the {pool} of the client is closed"
            + ("" if owned else " (it was lent to the client and closed by its owner)")
        )


def body_too_large(max_bytes: int) -> APIProtocolError:
    """The error for a body over the bound of :meth:`Response.read`, the same in both
    transports (the client names its setting ``max_body_bytes``)."""
    return APIProtocolError(
        f"the response body is over {max_bytes} bytes (max_body_bytes); its connection "
        "was closed without reading the rest"
    )
