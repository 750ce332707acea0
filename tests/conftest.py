"""Shared fixtures: a scripted loopback HTTP server, a client pointed at it, and checks
that nothing is left unclosed.

The server is a real ``aiohttp.web`` application on 127.0.0.1 (port 0). Each test
queues the replies it wants -- status, headers, body bytes written a few at a time, a
dropped connection, a stall -- and reads back the requests it received, so the client is
exercised over real sockets, chunked encoding and connection pooling, not a mock.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiohttp import web

import kkiai_async as kk
from kkiai_async import _client
from kkiai_async._transport import TransportName

__all__ = ["TRANSPORTS", "Reply", "Seen", "Server", "TransportName", "completion_json", "sse_body"]

SSE_HEADERS = {"Content-Type": "text/event-stream"}
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Reply:
    """One scripted response.

    Attributes:
        body: The exact body bytes.
        status: The HTTP status.
        headers: The response headers.
        piece: Write the body this many bytes at a time, yielding to the event loop
            between writes (``0``: one write).
        drop_after: Abort the connection after this many body bytes.
        stall_after: Send this many body bytes, then send nothing more and keep the
            connection open until the client closes it.
        stall_before_headers: Send nothing at all, not even headers.
        abort_before_headers: Abort the connection without sending anything.
        chunked: Chunked transfer encoding (else ``Content-Length``).
    """

    body: bytes = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: dict(SSE_HEADERS))
    piece: int = 0
    drop_after: int | None = None
    stall_after: int | None = None
    stall_before_headers: bool = False
    abort_before_headers: bool = False
    chunked: bool = True


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int

    def json(self) -> Any:
        """The request body, decoded."""
        return msgspec.json.decode(self.body)


class Server:
    """The scripted loopback server; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.replies: deque[Reply] = deque()
        self.default: Reply | None = None
        self.disconnects = 0
        self._disconnected = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        self.replies.extend(replies)

    async def wait_disconnect(self) -> None:
        """Wait until a client closed a connection whose handler was still running."""
        await asyncio.wait_for(self._disconnected.wait(), 10)

    async def start(self) -> None:
        """Listen on 127.0.0.1, on a free port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that closes the connection cancels the handler,
        # which is how the tests see that a stream was closed, not pooled.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        """Release stalled handlers and shut down."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stall(self) -> None:
        await self._closing.wait()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            Seen(
                method=request.method,
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                port=peer[1] if peer else 0,
            )
        )
        reply = self.replies.popleft() if self.replies else self.default
        if reply is None:
            return web.Response(status=599, text="no reply scripted")
        try:
            return await self._respond(request, reply)
        except asyncio.CancelledError:
            self.disconnects += 1
            self._disconnected.set()
            raise

    async def _respond(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.stall_before_headers:
            await self._stall()
        if reply.abort_before_headers:
            assert request.transport is not None
            request.transport.abort()
            await self._stall()
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        data = reply.body
        if reply.chunked:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = len(data)
        await resp.prepare(request)
        end = len(data)
        if reply.drop_after is not None:
            end = min(end, reply.drop_after)
        if reply.stall_after is not None:
            end = min(end, reply.stall_after)
        step = reply.piece or max(end, 1)
        for start in range(0, end, step):
            await resp.write(data[start : start + step])
            if reply.piece:
                await asyncio.sleep(0)
        if reply.drop_after is not None and reply.drop_after < len(data):
            assert request.transport is not None
            request.transport.abort()
            await self._stall()
        if reply.stall_after is not None and reply.stall_after < len(data):
            await self._stall()
        await resp.write_eof()
        return resp


def sse_body(*payloads: object, done: bool = True) -> bytes:
    """An event stream of ``payloads`` (dicts are JSON-encoded, bytes sent as they are)."""
    parts = []
    for payload in payloads:
        data = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
        parts.append(b"data: " + data + b"\n\n")
    if done:
        parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def chunk(
    content: str | None = None,
    *,
    index: int = 0,
    finish: str | None = None,
    role: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A chunk dict with one choice."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    base: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "kk-test",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }
    base.update(extra)
    return base


def completion_json(content: str = "Hello!", **extra: Any) -> dict[str, Any]:
    """A non-streamed completion dict with one choice."""
    base: dict[str, Any] = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "kk-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    base.update(extra)
    return base


MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def _no_unclosed_resources() -> Iterator[None]:
    """After each test, collect garbage and fail on any ResourceWarning it emits.

    An unclosed aiohttp session, connector or connection warns only in ``__del__``,
    where a warning cannot propagate as an error; recording them makes them count.
    What survives is then frozen (``gc.freeze``), so that the next test's collection
    scans only the objects that test created: a full collection per test would cost
    tens of milliseconds.
    """
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    gc.freeze()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"unclosed resources: {leaks}"


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's backoff sleeps, recorded instead of waited."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(_client, "_sleep", fake_sleep)
    return recorded


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A scripted loopback server (see :class:`Server`)."""
    srv = Server()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


TRANSPORTS = [pytest.param("aiohttp", id="aiohttp"), pytest.param("httpx", id="httpx")]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> TransportName:
    """The HTTP transport under test: a test that uses it runs once with each.

    The ``client`` fixture uses it, so every test of the client's behaviour checks that
    both transports behave the same; a test that makes its own client passes it on.
    """
    name: TransportName = request.param
    return name


@pytest.fixture
async def client(server: Server, transport: TransportName) -> AsyncIterator[kk.AsyncClient]:
    """A client for ``server``, with a key and without retries, over ``transport``."""
    async with kk.AsyncClient(
        base_url=server.base_url, api_key="sk-test", max_retries=0, transport=transport
    ) as c:
        yield c
