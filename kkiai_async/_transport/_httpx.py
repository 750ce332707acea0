"""The optional transport over httpx, for applications already built on it.

Chosen with ``AsyncClient(transport="httpx")``, or by lending an ``httpx.AsyncClient``
(``session=``), whose pool, proxies, TLS settings and event hooks are then used. It is
imported only then, so ``import kkiai_async`` never imports httpx; everything
httpx-specific lives here, in particular :func:`translate_error`, the one place where
httpx's exceptions become the library's.

What the user sees is the same as with the aiohttp transport: the same errors, the same
three timeouts, streams closed on ``break`` and cancellation, and -- because the body's
bytes go into the same SSE decoder and accumulator -- the same chunks, events and
completions. The differences are inside:

- **httpx-sse is not on the hot path.** Its ``EventSource`` refuses any content type
  but ``text/event-stream`` (the stream layer deliberately reads relays' mislabelled
  streams and turns a whole JSON completion into chunks) and its ``aiter_sse`` splits
  lines one ``str`` at a time, without our decoder's bound on line size. Using it would
  change which responses work and what they yield, and cost more per event. The body is
  read with ``Response.aiter_bytes()`` instead: the pieces as httpx decodes them (gzip
  and deflate included, as aiohttp does), fed to :class:`kkiai_async._sse.SSEDecoder`.
  httpx-sse serves the tests, as an independent decoder to check ours against.
- **httpx has no total timeout**, so :class:`_Deadline` implements one: a timer that
  cancels the request until its headers arrive and closes the response after, turned
  into ``APITimeoutError("total")``. It costs nothing when ``total`` is ``None`` (the
  default), and nothing per read when it is set.
- **gzip and deflate are undone here**, not by httpx, whose decoder inflates each
  64 KiB network read at once (64 MiB from a gzip bomb) before the size of the body
  can be checked; :class:`_Inflater` inflates a bounded step at a time, so
  ``read(max_bytes)`` and the stream's line bound hold memory to their bounds.
- **Connection reuse is httpcore's decision**: a connection whose body was read to its
  end goes back to the pool even when ``reuse`` is false (an error found in a complete
  body leaves the connection sound); any other is closed.
- **httpx closes only by awaiting**, so :meth:`HttpxResponse.abort` (for finalizers)
  schedules the close on the response's event loop instead of closing at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from typing import Any, Literal, NoReturn, TypeVar, cast

import httpx

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

__all__ = ["HttpxResponse", "HttpxTransport", "translate_error"]

USER_AGENT = f"httpx/{httpx.__version__}"

# As for aiohttp (see ``_aiohttp._DRAIN_GRACE``): after ``data: [DONE]`` the end of the
# chunked body often arrives a moment later; waiting for it keeps the connection pooled.
_DRAIN_GRACE = 0.25
_DRAIN_MAX_BYTES = 64 * 1024

_DEFAULT_PORTS = {"http": 80, "https": 443}

Phase = Literal["send", "read", "stream"]

_T = TypeVar("_T")


class _TotalTimeout(Exception):
    """Raised by :class:`_Deadline` when its time is up; translated to ``"total"``."""


def translate_error(exc: BaseException, timeout: Timeout, phase: Phase) -> KkiaiError | None:
    """The library's error for an exception httpx raised (or :class:`_Deadline`).

    httpx tells its timeouts apart by class. ``ReadTimeout`` is silence between two
    received pieces, the wait for the response headers included: the library's
    ``"read"``. ``WriteTimeout`` gets the same limit and name, as the server not taking
    the request's bytes is silence too (aiohttp's ``sock_read`` covers that case).
    ``PoolTimeout`` (waiting for a free connection) is never set by this transport --
    like aiohttp's, that wait is bounded by ``total`` only -- and is reported as the
    connect timeout it would be part of.

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
    error = _map(exc, timeout, phase)
    if error is not None and isinstance(exc, httpx.RequestError):
        # httpx keeps the request, Authorization header included, in the exception,
        # which becomes the __cause__ of ours: error trackers and pickles would carry
        # the key along.
        exc._request = None
    return error


def _map(exc: BaseException, timeout: Timeout, phase: Phase) -> KkiaiError | None:
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return APITimeoutError("connect", timeout.connect)
        return APITimeoutError("read", timeout.read)
    if isinstance(exc, _TotalTimeout):
        return APITimeoutError("total", timeout.total)
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return InvalidParameterError("base_url", f"not a valid URL: {exc}")
    if not isinstance(exc, (httpx.RequestError, httpx.StreamClosed, OSError)):
        return None
    detail = _describe(exc)
    if phase == "stream":
        return IncompleteStreamError(f"the connection broke before the stream ended: {detail}")
    if phase == "read":
        return APIConnectionError(f"the connection broke while reading the response: {detail}")
    if isinstance(exc, httpx.ConnectError):
        return APIConnectionError(f"cannot connect to {_address(exc)}: {detail}")
    return APIConnectionError(f"the request failed before a response arrived: {detail}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        # httpx raises from httpcore's error, which raises from the socket's; anyio puts
        # "All connection attempts failed" over the attempts. The innermost single
        # OSError says why, in the words aiohttp reports it with.
        reason: BaseException = exc
        while isinstance(reason.__cause__, OSError):
            reason = reason.__cause__
        if isinstance(reason, OSError):
            return reason.strerror or str(reason) or type(reason).__name__
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _address(exc: httpx.RequestError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised without its request
        return "the server"
    return f"{url.host}:{url.port or _DEFAULT_PORTS.get(url.scheme, '')}"


def _uncancel(task: asyncio.Task[Any]) -> bool:
    """Withdraw one cancellation of ``task``; whether others are still pending."""
    if sys.version_info >= (3, 11):
        return task.uncancel() > 0
    # Python 3.10 does not count cancellations: the timer's is taken to be the only one.
    return False


class _Deadline:
    """The ``total`` timeout that httpx lacks: one timer per request, headers to last byte.

    Until the response headers arrive, the timer cancels the task awaiting httpx's
    ``send`` through :meth:`run`, and the cancellation becomes :class:`_TotalTimeout`
    where it surfaces, as aiohttp's own total timer does; httpx cleans up a request
    cancelled there as it does for any cancelled task. Once the response exists, the
    timer closes it instead (:meth:`HttpxResponse.abort`), which wakes a pending read
    with an error that is then reported as the total timeout. Not a cancellation: the
    read of a body's end runs httpx's own cleanup (the connection goes back to the
    pool), and a cancellation landing in the middle of that leaves the socket open.
    Neither way needs a task per read, or ``asyncio.timeout``, which Python 3.10 lacks.
    """

    __slots__ = ("_handle", "_response", "_task", "expired")

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._task: asyncio.Task[Any] | None = None
        self._response: HttpxResponse | None = None
        self._handle = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.expired = True
        task = self._task
        if task is not None:
            task.cancel()
        elif self._response is not None:
            self._response.abort()

    def attach(self, response: HttpxResponse) -> None:
        """From now on, close ``response`` when the time is up."""
        self._response = response
        if self.expired:
            response.abort()

    def cancel(self) -> None:
        """Stop the timer (the response is closed)."""
        self._handle.cancel()

    def _has_expired(self) -> bool:
        # A method, not ``self.expired``: a type checker would keep the value narrowed
        # by the test before the await, which the timer may have changed since.
        return self.expired

    async def run(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` (the request, until its headers) unless the deadline passes.

        Raises:
            _TotalTimeout: The deadline passed, before or during the await.
        """
        if self.expired:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never awaited: close it, or Python warns
            raise _TotalTimeout
        task = asyncio.current_task()
        self._task = task
        try:
            return await awaitable
        except asyncio.CancelledError:
            # A cancellation from elsewhere (the caller's own timeout, task.cancel())
            # goes on; only the timer's becomes a timeout.
            if not self._has_expired() or task is None or _uncancel(task):
                raise
            raise _TotalTimeout from None
        finally:
            self._task = None


class _BodyIterator:
    """``async for`` over a body's pieces, with errors translated.

    A class rather than an async generator, so that no generator of ours is left for
    the event loop to finalize when the consumer stops early; httpx's own generator is
    held by the response, which closes it.
    """

    __slots__ = ("_next", "_owner")

    def __init__(self, owner: HttpxResponse, body: AsyncIterator[bytes]) -> None:
        self._owner = owner
        self._next = body.__anext__

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        owner = self._owner
        try:
            if owner._closed and not owner._ended:
                # Closed (by aclose(), abort() or the total timeout) before its end: a
                # stream cut short must not pass for one that ended cleanly.
                raise httpx.StreamClosed()
            return await self._next()
        except StopAsyncIteration:
            if owner._closed:
                _fail(owner, httpx.StreamClosed(), "stream")
            owner._ended = True
            raise
        except Exception as exc:
            _fail(owner, exc, "stream")


def _fail(owner: HttpxResponse, exc: Exception, phase: Phase) -> NoReturn:
    """Raise the translation of ``exc``, or ``exc`` itself if it is not httpx's.

    After the total timeout closed the response, the error that woke the read is
    reported as that timeout.
    """
    timeout = owner._timeout
    mapped = translate_error(exc, timeout, phase)
    if mapped is None:
        raise exc
    deadline = owner._deadline
    if deadline is not None and deadline.expired:
        mapped = translate_error(_TotalTimeout(), timeout, phase) or mapped
    raise mapped from exc


# The most bytes inflated in one step: a step's output is built in blocks joined at
# its end, so a step costs twice its size for a moment; steps keep that far below the
# bound (a step of the bound itself would double the memory the bound allows).
_INFLATE_STEP = 256 * 1024

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class _Inflater:
    """Undoes a gzip or deflate ``Content-Encoding`` a bounded step at a time.

    zlib's ``max_length`` stops inflating when the output reaches it and keeps the
    input it did not use (``unconsumed_tail``) for the next step: a body of a few
    hundred kilobytes that inflates to gigabytes is never inflated whole, so whoever
    reads the steps can stop at a bound having held little more than it.
    """

    __slots__ = ("_input", "_more", "_zlib")

    def __init__(self, encoding: str) -> None:
        # "deflate" waits for its first two bytes: see _sniff().
        self._zlib: zlib._Decompress | None = (
            None if encoding == "deflate" else zlib.decompressobj(_WBITS[encoding])
        )
        self._input = b""
        self._more = False

    def feed(self, data: bytes) -> None:
        """Add the next compressed piece, once :meth:`step` has returned ``b""``."""
        self._input = self._input + data if self._input else data

    def _sniff(self) -> zlib._Decompress:
        """The decompressor for "deflate", from the body's first two bytes.

        Servers send "deflate" as a zlib stream (RFC 9110) or, often, as raw deflate;
        a zlib stream starts with a header whose method is 8 and whose two bytes are a
        multiple of 31, which is how zlib itself checks it.
        """
        head = self._input[:2]
        wrapped = head[0] & 0x0F == 8 and int.from_bytes(head, "big") % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def step(self) -> bytes:
        """The next at most ``_INFLATE_STEP`` inflated bytes; ``b""``: feed more first.

        Raises:
            httpx.DecodingError: The body is not valid gzip or deflate.
        """
        inflater = self._zlib
        if inflater is None:
            if len(self._input) < 2:
                return b""
            inflater = self._zlib = self._sniff()
        while self._input or self._more:
            try:
                out = inflater.decompress(self._input, _INFLATE_STEP)
            except zlib.error as exc:
                raise httpx.DecodingError(f"invalid compressed body: {exc}") from exc
            # A full step may leave output held back even when all the input was used
            # (the rest of a long repetition); a short one used all it was given.
            self._more = len(out) == _INFLATE_STEP
            self._input = inflater.unconsumed_tail
            if out:
                return out
        return b""


class _InflatedBody:
    """The pieces of a gzip or deflate body, inflated here at most a step at a time.

    A class rather than an async generator, for the reason :class:`_BodyIterator`
    gives; the raw body's generator is httpx's, held and closed by the response.
    """

    __slots__ = ("_inflater", "_next")

    def __init__(self, raw: AsyncGenerator[bytes, None], inflater: _Inflater) -> None:
        self._next = raw.__anext__
        self._inflater = inflater

    def __aiter__(self) -> _InflatedBody:
        return self

    async def __anext__(self) -> bytes:
        inflater = self._inflater
        while True:
            out = inflater.step()
            if out:
                return out
            inflater.feed(await self._next())  # StopAsyncIteration: the body ended


# Closing tasks started by abort(), referenced until they finish (the event loop keeps
# only weak references to tasks).
_CLOSING: set[asyncio.Task[None]] = set()


class HttpxResponse:
    """An httpx response behind the :class:`~kkiai_async._transport._base.Response` API."""

    __slots__ = (
        "_body",
        "_closed",
        "_deadline",
        "_ended",
        "_loop",
        "_pieces",
        "_resp",
        "_timeout",
        "headers",
        "status",
    )

    status: int
    headers: Mapping[str, str]

    def __init__(self, resp: httpx.Response, timeout: Timeout, deadline: _Deadline | None) -> None:
        self._resp = resp
        self._timeout = timeout
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        # The body's generator in httpx, and the decoded pieces read from it.
        self._body: AsyncGenerator[bytes, None] | None = None
        self._pieces: AsyncIterator[bytes] | None = None
        self._closed = False
        self._ended = False  # the body was read to its end
        self.status = resp.status_code
        # multi_items(), not items(): httpx joins a repeated header's values with ", ",
        # where the interface keeps the last one (names are already lower-case).
        self.headers = dict(resp.headers.multi_items())
        if deadline is not None:
            deadline.attach(self)

    def iter_bytes(self) -> _BodyIterator:
        """The body in the pieces httpx delivers (see ``Response.iter_bytes``)."""
        return _BodyIterator(self, self._pieces or self._start_body())

    def _start_body(self) -> AsyncIterator[bytes]:
        """Begin reading the body: its decoded pieces, for ``iter_bytes`` and ``read``.

        A gzip or deflate body is read raw and inflated by :class:`_InflatedBody`, not
        by httpx's decoder, which inflates each network read whole -- 64 KiB of a gzip
        bomb is 64 MiB -- before anyone can count the bytes. Other encodings (brotli,
        zstd, several at once) and none are left to httpx (``aiter_bytes()``).
        """
        encoding = self._resp.headers.get("content-encoding", "").strip().lower()
        pieces: AsyncIterator[bytes]
        if encoding in _WBITS:
            raw = self._body = cast("AsyncGenerator[bytes, None]", self._resp.aiter_raw())
            pieces = _InflatedBody(raw, _Inflater(encoding))
        else:
            pieces = self._body = cast("AsyncGenerator[bytes, None]", self._resp.aiter_bytes())
        self._pieces = pieces
        return pieces

    async def read(self, max_bytes: int | None = None, *, truncate: bool = False) -> bytes:
        """The body, within ``max_bytes`` (see ``Response.read``).

        Not ``aread()``, which holds the whole body before it can be counted: the
        decoded pieces (see :meth:`_start_body`), counted as they come.
        """
        parts: list[bytes] = []
        size = 0
        limit = -1 if max_bytes is None else max_bytes
        try:
            if self._closed:
                raise httpx.StreamClosed()
            async for data in self._pieces or self._start_body():
                size += len(data)
                parts.append(data)
                if size > limit >= 0:
                    break
            else:
                self._ended = True
        except Exception as exc:
            _fail(self, exc, "read")
        if size > limit >= 0:
            # The rest of the body is still on its way: close the connection now.
            await self._close_now()
            if not truncate:
                raise body_too_large(limit)
            parts[-1] = parts[-1][: len(parts[-1]) - (size - limit)]
        return b"".join(parts)

    async def _close_now(self) -> None:
        self._closed = True
        if self._deadline is not None:
            self._deadline.cancel()
        await self._close()

    async def aclose(self, *, reuse: bool) -> None:
        """End the response; back to the pool only if the body ended (see ``Response``)."""
        if self._closed:
            return
        self._closed = True
        try:
            if reuse and self._body is not None and not self._resp.is_closed:
                await self._drain(self._body)
        finally:
            if self._deadline is not None:
                self._deadline.cancel()
            await self._close()

    async def _drain(self, body: AsyncGenerator[bytes, None]) -> None:
        # Closing the response wakes the read below with an error: a bounded wait that
        # cancels nothing inside httpx (see _Deadline).
        grace = self._loop.call_later(_DRAIN_GRACE, self._spawn_close)
        try:
            drained = 0
            while drained <= _DRAIN_MAX_BYTES:
                drained += len(await body.__anext__())
        except StopAsyncIteration:
            self._ended = True  # and httpx pooled the connection
        except (httpx.HTTPError, OSError):
            # No end in time (closed by the timer), or a broken connection.
            pass
        finally:
            grace.cancel()

    async def _close(self) -> None:
        body = self._body
        if body is not None:
            # RuntimeError: another task is reading the body right now; closing the
            # response below wakes it with a ReadError.
            with contextlib.suppress(RuntimeError):
                await body.aclose()
        # A connection that already broke may fail to close; it is gone either way.
        with contextlib.suppress(httpx.HTTPError, OSError):
            await self._resp.aclose()

    def abort(self) -> None:
        """Close the connection soon, from anywhere (see ``Response.abort``).

        httpx can only close a response by awaiting, so this schedules the close on the
        response's event loop; if that loop is already closed, so are its connections.
        """
        if self._closed:
            return
        self._closed = True
        if self._deadline is not None:
            self._deadline.cancel()
        loop = self._loop
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._spawn_close)

    def _spawn_close(self) -> None:
        task = self._loop.create_task(self._close())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)


class HttpxTransport:
    """Sends requests with an ``httpx.AsyncClient``, owned or borrowed.

    An owned client is created on the first request, inside the running event loop
    (httpcore's connections belong to it), and closed by :meth:`aclose`. Like aiohttp's
    default session, it has a pool sized for hundreds of concurrent streams, verifies
    certificates against the system's authorities, and reads no proxy settings (nor
    ``.netrc`` credentials) from the environment. A borrowed client is the caller's: its
    settings apply, except the timeouts and redirects of each request, which are the
    library's; it is never closed here.
    """

    __slots__ = ("_client", "_closed", "_connection_limit", "_httpx_timeouts", "_loop", "_owns")

    user_agent = USER_AGENT

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        connection_limit: int = 1000,
    ) -> None:
        """Create the transport; no I/O and no event loop needed.

        Args:
            client: An ``httpx.AsyncClient`` to borrow; ``None`` to own one.
            connection_limit: The most connections an owned client keeps open at once
                (``0`` for no limit). Each open stream holds one.
        """
        self._client = client
        self._owns = client is None
        self._connection_limit = connection_limit
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._httpx_timeouts: dict[Timeout, httpx.Timeout] = {}

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called, or a borrowed client was closed."""
        client = self._client
        return self._closed or (client is not None and client.is_closed)

    def _open(self) -> httpx.AsyncClient:
        limit = self._connection_limit or None
        client = httpx.AsyncClient(
            # Keep-alive for as many connections as may be open: a burst of streams
            # would otherwise close all but 20 (httpx's default) when they end.
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            # The system's certificate authorities, as aiohttp verifies against (httpx's
            # default is certifi's bundle, which lacks a company's own CA).
            verify=ssl.create_default_context(),
            timeout=None,
            trust_env=False,
        )
        self._client = client
        self._loop = asyncio.get_running_loop()
        return client

    def _httpx_timeout(self, timeout: Timeout) -> httpx.Timeout:
        found = self._httpx_timeouts.get(timeout)
        if found is None:
            # httpx's read timeout restarts on every received piece and also bounds the
            # wait for the response headers: exactly the library's "read". Waiting for a
            # free connection (pool) is bounded by the total only, as with aiohttp.
            found = httpx.Timeout(
                connect=timeout.connect, read=timeout.read, write=timeout.read, pool=None
            )
            if len(self._httpx_timeouts) < 64:
                self._httpx_timeouts[timeout] = found
        return found

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
        stream: bool,
    ) -> HttpxResponse:
        """Send one request; see ``Transport.send``."""
        if self._closed:
            raise ClientClosedError("the client is closed")
        client = self._client
        if client is None:
            client = self._open()
        else:
            check_pool(
                loop=self._loop,
                pool_closed=client.is_closed,
                pool="httpx client",
                owned=self._owns,
            )
        deadline = None if timeout.total is None else _Deadline(timeout.total)
        try:
            request = client.build_request(
                method, url, headers=headers, content=body, timeout=self._httpx_timeout(timeout)
            )
            # Always streamed: read() then reads the body under the total deadline.
            # No redirects, even if a lent client follows them: the body -- the
            # conversation -- and the key go only to base_url, and the client reports
            # a 3xx as an error (as with aiohttp).
            sending = client.send(request, stream=True, follow_redirects=False)
            resp = await (sending if deadline is None else deadline.run(sending))
        except Exception as exc:
            if deadline is not None:
                deadline.cancel()
            mapped = translate_error(exc, timeout, "send")
            if mapped is None:
                raise
            raise mapped from exc
        except BaseException:
            if deadline is not None:
                deadline.cancel()
            raise
        return HttpxResponse(resp, timeout, deadline)

    async def aclose(self) -> None:
        """Close the client if it is ours; idempotent (see ``Transport.aclose``)."""
        if self._closed:
            return
        self._closed = True
        client = self._client
        if self._owns and client is not None:
            self._client = None
            await client.aclose()
