"""The default transport, over aiohttp: the only module of the client that imports it.

aiohttp is the asyncio HTTP client that streams best (``StreamReader.readany`` hands
over whatever bytes the socket delivered, with no per-line work) and lets a caller
lend its own ``ClientSession``. Everything aiohttp-specific lives here, in particular
:func:`translate_error`, the one place where aiohttp's exceptions become the library's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from .._config import Timeout
from .._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    IncompleteStreamError,
    InvalidParameterError,
    KkiaiError,
)
from ._base import body_too_large, check_pool

__all__ = ["AiohttpResponse", "AiohttpTransport", "translate_error"]

USER_AGENT = f"aiohttp/{aiohttp.__version__}"

# After a stream's last event (``data: [DONE]``) the end of the HTTP body (the empty
# chunk of chunked encoding) often arrives in a separate segment. Waiting a moment for
# it lets the connection go back to the pool instead of being closed; a server that
# keeps the body open longer than this, or keeps sending, gets its connection closed.
_DRAIN_GRACE = 0.25
_DRAIN_MAX_BYTES = 64 * 1024

Phase = Literal["send", "read", "stream"]


def translate_error(exc: BaseException, timeout: Timeout, phase: Phase) -> KkiaiError | None:
    """The library's error for an exception aiohttp (or the socket under it) raised.

    aiohttp tells the three timeouts apart by class: ``ConnectionTimeoutError`` for
    ``sock_connect``, ``SocketTimeoutError`` (a ``ServerTimeoutError``) for ``sock_read``
    -- silence between bytes, the wait for the response headers included -- and a plain
    ``asyncio.TimeoutError`` for the ``total`` timer, which cancels the waiting task and
    converts the cancellation at the edge of its timer context.

    Args:
        exc: What was raised.
        timeout: The limits of the request, to report the one that expired.
        phase: ``"send"`` until the response headers arrived; ``"read"`` while reading a
            whole body; ``"stream"`` while reading a streamed body, where a broken
            connection means the stream is incomplete.

    Returns:
        The translated error, or ``None`` when ``exc`` is not a transport error (the
        caller re-raises it unchanged, as it does the library's own errors).
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError("connect", timeout.connect)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return APITimeoutError("read", timeout.read)
    if isinstance(exc, asyncio.TimeoutError) and getattr(exc, "errno", None) is None:
        # (On 3.11+ this is the builtin TimeoutError, an OSError; one with an errno is
        # the operating system's, handled as a connection error below.)
        return APITimeoutError("total", timeout.total)
    if isinstance(exc, aiohttp.InvalidURL):
        return InvalidParameterError("base_url", f"not a valid URL: {exc}")
    if not isinstance(exc, (aiohttp.ClientError, OSError)):
        return None
    if isinstance(exc, aiohttp.ClientResponseError):
        _forget_request_headers(exc)
    detail = _describe(exc)
    if phase == "stream":
        return IncompleteStreamError(f"the connection broke before the stream ended: {detail}")
    if phase == "read":
        return APIConnectionError(f"the connection broke while reading the response: {detail}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(f"cannot connect to {exc.host}:{exc.port}: {detail}")
    return APIConnectionError(f"the request failed before a response arrived: {detail}")


def _forget_request_headers(exc: aiohttp.ClientResponseError) -> None:
    """Drop the request headers -- the API key -- that aiohttp keeps in the exception.

    ``ClientResponseError.request_info`` holds the request's headers, ``Authorization``
    included, and its ``repr()`` shows them; the exception becomes the ``__cause__`` of
    ours, where tracebacks, error trackers and pickles would carry it along.
    """
    info = exc.request_info
    safe = info._replace(headers=CIMultiDictProxy(CIMultiDict()))
    exc.request_info = safe
    exc.args = tuple(safe if arg is info else arg for arg in exc.args)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error
        return reason.strerror or str(reason) or type(reason).__name__
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _buffered(content: aiohttp.StreamReader) -> bytes:
    """The bytes still buffered in ``content`` after its connection failed, if any.

    aiohttp's ``readany`` raises the connection's error as soon as it is set, ahead of
    the bytes that arrived before it: a consumer that was busy (re-streaming to a slow
    browser) when the connection was cut would lose chunks that did arrive. The buffer
    has no public accessor; without the private one (another aiohttp), nothing is
    salvaged and the error is raised as before.
    """
    read = getattr(content, "_read_nowait", None)
    if read is None or not getattr(content, "_buffer", None):
        return b""
    try:
        data = read(-1)
    except asyncio.TimeoutError:
        # The read first checks the total timer (the only thing it raises): when that
        # expired too, the deadline wins, as it would have in readany -- the caller
        # raises the error it was handling and loses no bytes it could have had.
        return b""
    return data if isinstance(data, bytes) else b""


class _BodyIterator:
    """``async for`` over a body's pieces, with errors translated.

    A class rather than an async generator: nothing needs closing when the consumer
    stops early, so there is no generator left for the event loop to finalize.
    """

    __slots__ = ("_content", "_error", "_readany", "_timeout")

    def __init__(self, resp: aiohttp.ClientResponse, timeout: Timeout) -> None:
        self._content = resp.content
        self._readany = resp.content.readany
        self._timeout = timeout
        self._error: KkiaiError | None = None

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        if self._error is not None:
            raise self._error
        try:
            data = await self._readany()
        except Exception as exc:
            mapped = translate_error(exc, self._timeout, "stream")
            if mapped is None:
                raise
            left = _buffered(self._content)
            if left:
                # What arrived before the failure first; the error on the next call.
                mapped.__cause__ = exc
                self._error = mapped
                return left
            raise mapped from exc
        if data:
            return data
        raise StopAsyncIteration


class AiohttpResponse:
    """An aiohttp response behind the :class:`~kkiai_async._transport._base.Response` API."""

    __slots__ = ("_closed", "_resp", "_timeout", "headers", "status")

    status: int
    headers: Mapping[str, str]

    def __init__(self, resp: aiohttp.ClientResponse, timeout: Timeout) -> None:
        self._resp = resp
        self._timeout = timeout
        self._closed = False
        self.status = resp.status
        self.headers = {name.lower(): value for name, value in resp.headers.items()}

    def iter_bytes(self) -> _BodyIterator:
        """The body in the pieces the socket delivered (see ``Response.iter_bytes``)."""
        return _BodyIterator(self._resp, self._timeout)

    async def read(self, max_bytes: int | None = None, *, truncate: bool = False) -> bytes:
        """The body, within ``max_bytes`` (see ``Response.read``).

        Read with ``readany`` rather than aiohttp's ``read()``, which holds the whole
        body before it returns: aiohttp inflates a compressed body a bounded piece at a
        time as the buffer is emptied (since aiohttp 3.13.3, the fix of CVE-2025-69223;
        older versions inflate a whole network read at once), so what is held is the
        bytes so far plus a piece.
        """
        content = self._resp.content
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                data = await content.readany()
                if not data:
                    break
                size += len(data)
                if max_bytes is not None and size > max_bytes:
                    parts.append(data[: len(data) - (size - max_bytes)])
                    break
                parts.append(data)
        except Exception as exc:
            mapped = translate_error(exc, self._timeout, "read")
            if mapped is None:
                raise
            raise mapped from exc
        if max_bytes is not None and size > max_bytes:
            # The rest of the body is still on its way: the connection cannot be reused.
            self.abort()
            if not truncate:
                raise body_too_large(max_bytes)
        return b"".join(parts)

    async def aclose(self, *, reuse: bool) -> None:
        """End the response; back to the pool only if the body ended (see ``Response``)."""
        if self._closed:
            return
        self._closed = True
        resp = self._resp
        content = resp.content
        try:
            if reuse and not content.is_eof():
                await _drain(resp)
        finally:
            # aiohttp itself closes, rather than pools, a connection whose body did not
            # end; close() says so explicitly and also wakes any other task reading it.
            if reuse and content.is_eof():
                resp.release()
            else:
                resp.close()

    def abort(self) -> None:
        """Close the connection now (see ``Response.abort``)."""
        self._closed = True
        self._resp.close()


async def _drain(resp: aiohttp.ClientResponse) -> None:
    content = resp.content
    # One pass of the event loop first: the end of the body is usually already in the
    # socket buffer, and this costs no timer.
    await asyncio.sleep(0)
    if content.is_eof():
        return
    # Closing the response wakes the read below with an error: a bounded wait without
    # a task or a timeout context, which Python 3.10 lacks.
    handle = asyncio.get_running_loop().call_later(_DRAIN_GRACE, resp.close)
    try:
        drained = 0
        while not content.is_eof() and drained <= _DRAIN_MAX_BYTES:
            drained += len(await content.readany())
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
        pass
    finally:
        handle.cancel()


class AiohttpTransport:
    """Sends requests with an aiohttp ``ClientSession``, owned or borrowed.

    An owned session is created on the first request, inside the running event loop
    (aiohttp binds a session to its loop), with a pool sized for hundreds of
    concurrent streams, and closed by :meth:`aclose`. A borrowed session is the
    caller's: it is never closed here.
    """

    __slots__ = ("_client_timeouts", "_closed", "_connection_limit", "_loop", "_owns", "_session")

    user_agent = USER_AGENT

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        connection_limit: int = 1000,
    ) -> None:
        """Create the transport; no I/O and no event loop needed.

        Args:
            session: A session to borrow; ``None`` to own one.
            connection_limit: The most connections an owned session keeps open at once
                (``0`` for no limit). Each open stream holds one.
        """
        self._session = session
        self._owns = session is None
        self._connection_limit = connection_limit
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client_timeouts: dict[Timeout, aiohttp.ClientTimeout] = {}

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called, or a borrowed session was closed."""
        session = self._session
        return self._closed or (session is not None and session.closed)

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._connection_limit,
            # One API host: the per-host limit would only duplicate ``limit``.
            limit_per_host=0,
            ttl_dns_cache=300,
        )
        session = aiohttp.ClientSession(connector=connector)
        self._session = session
        self._loop = asyncio.get_running_loop()
        return session

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        found = self._client_timeouts.get(timeout)
        if found is None:
            # ``sock_read`` restarts on every received piece and also bounds the wait
            # for the response headers: exactly the library's "read" timeout.
            # ``total`` runs from the request until the response is closed, body included.
            found = aiohttp.ClientTimeout(
                total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
            )
            if len(self._client_timeouts) < 64:
                self._client_timeouts[timeout] = found
        return found

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
        stream: bool,
    ) -> AiohttpResponse:
        """Send one request; see ``Transport.send``."""
        if self._closed:
            raise ClientClosedError("the client is closed")
        session = self._session
        if session is None:
            session = self._open()
        else:
            check_pool(
                loop=self._loop,
                pool_closed=session.closed,
                pool="aiohttp session",
                owned=self._owns,
            )
        try:
            # No redirects: aiohttp would re-send the body -- the conversation -- to
            # wherever a Location points, and aiohttp versions we support kept the
            # Authorization header on an http -> https redirect to any port of the same
            # host (fixed by aio-libs/aiohttp#12275). The API never redirects: the
            # client reports a 3xx as an error instead.
            resp = await session.request(
                method,
                url,
                headers=headers,
                data=body,
                timeout=self._client_timeout(timeout),
                allow_redirects=False,
            )
        except Exception as exc:
            mapped = translate_error(exc, timeout, "send")
            if mapped is None:
                raise
            raise mapped from exc
        return AiohttpResponse(resp, timeout)

    async def aclose(self) -> None:
        """Close the session if it is ours; idempotent (see ``Transport.aclose``)."""
        if self._closed:
            return
        self._closed = True
        session = self._session
        if self._owns and session is not None:
            self._session = None
            await session.close()
