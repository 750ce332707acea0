"""Fault injection: retries, timeouts, broken streams and cancellation, over real sockets.

Every fault is injected by a real server on loopback -- the library's
:class:`~kkiai_async.testing.FakeServer` (``Fault.*``) or, where a fault needs bytes the
FakeServer does not write (a truncated HTTP chunk, a line that never ends, a one-byte
drip), a small server written here. Each test asserts the exact error class, the exact
``partial`` completion, how many requests the server saw and the exact backoff delays
(the conftest records the client's sleeps instead of waiting them), and that a broken
stream's connection is closed rather than pooled.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import socket
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from _transports import RecordingTransport
from _waiting import eventually
from aiohttp import web

import kkiai_async as kk
from kkiai_async import _client, _retry
from kkiai_async.testing import FakeServer, Fault, Reply
from kkiai_async.types import ChatCompletionMessage, Choice

MESSAGES = [{"role": "user", "content": "Hi"}]
TEXT = "Hello there, world!"  # in fragments of 4: "Hell" "o th" "ere," " wor" "ld!"
REPLY = Reply.text(TEXT, chunk_size=4)
# Chunk 1 is the role chunk: after 3 chunks the client holds "Hell" + "o th".
AFTER_3 = "Hello th"
REQUEST_ID = re.compile(r"req_[0-9a-f]{32}")
# A reply whose end is far away in time: a fault injected early leaves the body open.
SLOW_TAIL = Reply.text(TEXT + " and so on" * 40, chunk_size=4, delay=0.02)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    """A FakeServer on loopback."""
    async with FakeServer() as server:
        yield server


# The transport of each client make_client() made, to look into its connection pool.
_TRANSPORTS: weakref.WeakKeyDictionary[kk.AsyncClient, RecordingTransport] = (
    weakref.WeakKeyDictionary()
)


def make_client(base_url: str, **options: Any) -> kk.AsyncClient:
    """A client with a key long enough to be redacted, and no retries unless asked."""
    options.setdefault("max_retries", 0)
    transport = RecordingTransport()
    client = kk.AsyncClient(
        base_url=base_url, api_key="sk-chaos-0123456789", transport=transport, **options
    )
    _TRANSPORTS[client] = transport
    return client


def pool_state(client: kk.AsyncClient) -> tuple[int, int]:
    """(connections in use, idle connections kept alive) in the client's aiohttp pool."""
    return _TRANSPORTS[client].pool_state()


def open_server_connections(runner: web.AppRunner) -> int:
    """Connections the raw aiohttp server has open."""
    assert runner.server is not None
    return len(runner.server.connections)


async def read_stream(
    client: kk.AsyncClient, **options: Any
) -> tuple[kk.ChatCompletionStream, list[kk.ChatCompletionChunk], kk.KkiaiError | None]:
    """Open a stream and read it to its end or its error."""
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, **options
    )
    chunks: list[kk.ChatCompletionChunk] = []
    try:
        async with stream:
            async for chunk in stream:
                chunks.append(chunk)
    except kk.KkiaiError as exc:
        return stream, chunks, exc
    return stream, chunks, None


def partial_message(exc: kk.KkiaiError) -> Choice:
    """The one choice of an error's partial completion."""
    assert exc.partial is not None
    assert len(exc.partial.choices) == 1
    return exc.partial.choices[0]


def unfinished(content: str | None) -> Choice:
    """A choice cut short after ``content``: no finish reason."""
    message = ChatCompletionMessage(role="assistant", content=content)
    return Choice(index=0, message=message, finish_reason=None)


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, web.AppRunner]]:
    """An aiohttp server on loopback answering every request with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1", runner
    finally:
        await runner.cleanup()


def sse(*payloads: dict[str, Any]) -> bytes:
    """``data:`` events of ``payloads``."""
    return b"".join(b"data: " + msgspec.json.encode(p) + b"\n\n" for p in payloads)


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    """A minimal one-choice chunk."""
    delta: dict[str, Any] = {} if content is None else {"content": content}
    if content == "":
        delta["role"] = "assistant"
    return {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


RAW_HEAD = sse(chunk(""), chunk("Hel"), chunk("lo"))  # the client holds "Hello"
RAW_REQUEST_ID = "req_raw"


async def begin_stream(request: web.Request) -> web.StreamResponse:
    """Read the request and start an event-stream response."""
    await request.read()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "x-request-id": RAW_REQUEST_ID}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


@pytest.fixture
def seeded_jitter(monkeypatch: pytest.MonkeyPatch) -> random.Random:
    """Make the backoff's jitter reproducible; returns a twin of the client's source."""
    monkeypatch.setattr(_retry, "random", random.Random(1234))
    return random.Random(1234)


# ------------------------------------------------------------------------------------
# Retries
# ------------------------------------------------------------------------------------

RETRIED = [408, 409, 429, 500, 501, 502, 503, 504, 529]


@pytest.mark.parametrize("status", [pytest.param(s, id=str(s)) for s in RETRIED])
async def test_retryable_status_is_retried_with_full_jitter(
    fake: FakeServer, sleeps: list[float], seeded_jitter: random.Random, status: int
) -> None:
    """408, 409, 429 and 500-504, 529 are retried after full-jitter waits, then succeed."""
    fake.queue(Fault.status(status), Fault.status(status), REPLY)
    async with make_client(fake.base_url, max_retries=2) as client:
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == TEXT
    assert len(fake.requests) == 3
    assert sleeps == [seeded_jitter.uniform(0, 0.5), seeded_jitter.uniform(0, 1.0)]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(400, kk.BadRequestError, id="400"),
        pytest.param(401, kk.AuthenticationError, id="401"),
        pytest.param(403, kk.PermissionDeniedError, id="403"),
        pytest.param(404, kk.NotFoundError, id="404"),
        pytest.param(413, kk.APIStatusError, id="413"),
        pytest.param(418, kk.APIStatusError, id="418"),
        pytest.param(422, kk.UnprocessableEntityError, id="422"),
    ],
)
async def test_other_client_errors_are_never_retried(
    fake: FakeServer, sleeps: list[float], status: int, error: type[kk.APIStatusError]
) -> None:
    """Any other 4xx raises its own class at once: one request, no wait."""
    fake.queue(Fault.status(status), REPLY)
    async with make_client(fake.base_url, max_retries=2) as client:
        with pytest.raises(kk.APIStatusError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert type(info.value) is error
    assert info.value.status_code == status
    assert len(fake.requests) == 1
    assert sleeps == []


async def test_last_attempt_error_propagates_unwrapped(
    fake: FakeServer, sleeps: list[float]
) -> None:
    """After max_retries the third 503's own error is raised, with its request id."""
    fake.queue(
        Fault.status(503, body={"error": {"message": "first"}}),
        Fault.status(503, body={"error": {"message": "second"}}),
        Fault.status(503, body={"error": {"message": "third"}}),
        REPLY,
    )
    async with make_client(fake.base_url, max_retries=2) as client:
        with pytest.raises(kk.InternalServerError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert str(info.value).startswith("HTTP 503: third (request_id=req_")
    assert info.value.__cause__ is None
    assert REQUEST_ID.fullmatch(info.value.request_id or "")
    assert len(fake.requests) == 3
    assert len(sleeps) == 2
    assert fake.pending == 1


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        pytest.param(3, 3.0, id="integer-seconds"),
        pytest.param("1.5", 1.5, id="float-seconds"),
        pytest.param(0, 0.0, id="zero"),
    ],
)
async def test_retry_after_seconds(
    fake: FakeServer, sleeps: list[float], retry_after: int | str, delay: float
) -> None:
    """Retry-After in seconds is the exact wait before the retry."""
    fake.queue(Fault.status(429, retry_after=retry_after), REPLY)
    async with make_client(fake.base_url, max_retries=1) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert sleeps == [delay]
    assert len(fake.requests) == 2


async def test_retry_after_http_date(
    fake: FakeServer, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retry-After as an HTTP date waits until that date."""
    now = 1_800_000_000.0
    monkeypatch.setattr(_retry, "time", SimpleNamespace(time=lambda: now))
    fake.queue(Fault.status(503, retry_after=email.utils.formatdate(now + 7, usegmt=True)), REPLY)
    async with make_client(fake.base_url, max_retries=1) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert sleeps == [7.0]


async def test_retry_after_ms_wins(fake: FakeServer, sleeps: list[float]) -> None:
    """retry-after-ms (milliseconds) is preferred to Retry-After."""
    fake.queue(Fault.status(429, retry_after=9, headers={"retry-after-ms": "250"}), REPLY)
    async with make_client(fake.base_url, max_retries=1) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert sleeps == [0.25]


@pytest.mark.parametrize(
    ("status", "header", "requests"),
    [
        pytest.param(503, "false", 1, id="false-stops-a-503"),
        pytest.param(400, "true", 2, id="true-retries-a-400"),
    ],
)
async def test_x_should_retry_header_decides(
    fake: FakeServer, sleeps: list[float], status: int, header: str, requests: int
) -> None:
    """x-should-retry overrides the status table both ways."""
    fake.queue(Fault.status(status, headers={"x-should-retry": header}), REPLY)
    async with make_client(fake.base_url, max_retries=1) as client:
        if requests == 1:
            with pytest.raises(kk.APIStatusError) as info:
                await client.chat.completions.create(model="m", messages=MESSAGES)
            assert info.value.status_code == status
        else:
            completion = await client.chat.completions.create(model="m", messages=MESSAGES)
            assert completion.choices[0].message.content == TEXT
    assert len(fake.requests) == requests
    assert len(sleeps) == requests - 1


@pytest.mark.parametrize(
    "stream", [pytest.param(False, id="whole"), pytest.param(True, id="stream")]
)
async def test_connection_reset_before_headers_is_retried(
    fake: FakeServer, sleeps: list[float], stream: bool
) -> None:
    """A connection closed before any response is retried, streamed or not."""
    fake.queue(Fault.reset(), REPLY)
    async with make_client(fake.base_url, max_retries=1) as client:
        if stream:
            _, chunks, error = await read_stream(client)
            assert error is None
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            completion = await client.chat.completions.create(model="m", messages=MESSAGES)
            text = completion.choices[0].message.content or ""
    assert text == TEXT
    assert len(fake.requests) == 2
    assert len(sleeps) == 1


async def test_read_timeout_before_headers_is_retried(
    fake: FakeServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """No response headers within `read` is retried, and the retry is logged as such."""
    fake.queue(Fault.stall(seconds=60), REPLY)
    caplog.set_level(logging.INFO, logger="kkiai_async")
    async with make_client(fake.base_url, max_retries=1, timeout=kk.Timeout(read=0.3)) as client:
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == TEXT
    assert len(fake.requests) == 2
    assert [r.getMessage().rsplit(": ", 1)[1] for r in caplog.records] == ["read timeout"]


async def test_started_stream_is_never_retried(fake: FakeServer, sleeps: list[float]) -> None:
    """A stream cut after it reached the caller raises; the next reply is not requested."""
    fake.queue(Fault.drop_after(3, reply=REPLY), REPLY)
    async with make_client(fake.base_url, max_retries=2) as client:
        _, _, error = await read_stream(client)
    assert isinstance(error, kk.IncompleteStreamError)
    assert len(fake.requests) == 1
    assert fake.pending == 1
    assert sleeps == []


async def test_streamed_request_is_retried_before_its_headers(
    fake: FakeServer, sleeps: list[float]
) -> None:
    """An error status for a streamed request is retried; the stream then assembles."""
    fake.queue(Fault.status(529, retry_after=0), REPLY)
    async with make_client(fake.base_url, max_retries=1) as client:
        stream, _, error = await read_stream(client)
        assert error is None
        completion = await stream.final_completion()
    assert completion.choices[0].message.content == TEXT
    assert sleeps == [0.0]


async def test_each_retry_is_logged_at_info(
    fake: FakeServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """Every retry logs one INFO line with its delay, its number and its reason."""
    fake.queue(
        Fault.status(429, retry_after=3),
        Fault.status(503, headers={"retry-after-ms": "250"}),
        Fault.reset(),
        REPLY,
    )
    caplog.set_level(logging.INFO, logger="kkiai_async")
    async with make_client(fake.base_url, max_retries=3, backoff_base=0) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "kkiai_async"]
    assert lines[:2] == [
        (logging.INFO, "Retrying POST /chat/completions in 3.00 seconds (retry 1 of 3): HTTP 429"),
        (logging.INFO, "Retrying POST /chat/completions in 0.25 seconds (retry 2 of 3): HTTP 503"),
    ]
    assert lines[2][0] == logging.INFO
    assert lines[2][1].startswith(
        "Retrying POST /chat/completions in 0.00 seconds (retry 3 of 3): connection error: "
    )
    assert len(lines) == 3
    assert sleeps == [3.0, 0.25, 0.0]


async def test_per_request_max_retries(fake: FakeServer, sleeps: list[float]) -> None:
    """max_retries= on create() overrides the client's, both ways."""
    async with make_client(fake.base_url, max_retries=2) as client:
        fake.queue(Fault.status(500), REPLY)
        with pytest.raises(kk.InternalServerError):
            await client.chat.completions.create(model="m", messages=MESSAGES, max_retries=0)
        assert len(fake.requests) == 1
        fake.clear()
    async with make_client(fake.base_url, max_retries=0) as client:
        fake.queue(Fault.status(500), Fault.status(500), Fault.status(500), REPLY)
        completion = await client.chat.completions.create(
            model="m", messages=MESSAGES, max_retries=3
        )
    assert completion.choices[0].message.content == TEXT
    assert len(fake.requests) == 4


async def test_client_backoff_base_and_cap(
    fake: FakeServer, sleeps: list[float], seeded_jitter: random.Random
) -> None:
    """backoff_base and backoff_cap set the full-jitter ceilings, kept per request."""
    fake.queue(Fault.status(500), Fault.status(500), Fault.status(500), REPLY)
    async with make_client(fake.base_url, backoff_base=2, backoff_cap=3) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES, max_retries=3)
    expected = [seeded_jitter.uniform(0, c) for c in (2.0, 3.0, 3.0)]
    assert sleeps == expected


async def test_per_request_timeout(fake: FakeServer) -> None:
    """timeout= on create() overrides the client's limits for that request."""
    fake.queue(Fault.stall(seconds=60))
    async with make_client(fake.base_url) as client:
        with pytest.raises(kk.APITimeoutError) as info:
            await client.chat.completions.create(
                model="m", messages=MESSAGES, timeout=kk.Timeout(read=0.3)
            )
    assert (info.value.timeout, info.value.seconds) == ("read", 0.3)


# ------------------------------------------------------------------------------------
# Timeouts: each one says which expired
# ------------------------------------------------------------------------------------


async def test_connect_timeout(sleeps: list[float], caplog: pytest.LogCaptureFixture) -> None:
    """A host that never completes the TCP handshake raises the connect timeout, retried."""
    # A listening socket whose accept queue is full drops further SYNs: connect hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    caplog.set_level(logging.INFO, logger="kkiai_async")
    try:
        timeout = kk.Timeout(connect=0.3, read=5)
        async with make_client(
            f"http://127.0.0.1:{port}/v1", timeout=timeout, max_retries=1
        ) as client:
            with pytest.raises(kk.APITimeoutError) as info:
                await client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert (info.value.timeout, info.value.seconds) == ("connect", 0.3)
    assert str(info.value) == "connect timeout of 0.3s expired (connecting to the server)"
    assert [r.getMessage().rsplit(": ", 1)[1] for r in caplog.records] == ["connect timeout"]


async def test_read_timeout_mid_stream(fake: FakeServer) -> None:
    """A server silent mid-stream raises the read timeout with what had arrived."""
    fake.queue(Fault.stall(after_chunks=3, seconds=60, reply=REPLY))
    async with make_client(fake.base_url, timeout=kk.Timeout(read=0.3)) as client:
        stream, chunks, error = await read_stream(client)
        assert isinstance(error, kk.APITimeoutError)
        assert (error.timeout, error.seconds) == ("read", 0.3)
        assert partial_message(error) == unfinished(AFTER_3)
        assert len(chunks) == 3
        assert error.request_id == stream.request_id
        assert REQUEST_ID.fullmatch(error.request_id or "")
        await fake.wait_for_connections(0)
        assert pool_state(client) == (0, 0)


async def test_read_timeout_before_the_first_chunk(fake: FakeServer) -> None:
    """Headers then silence: the read timeout covers the wait for the first body byte."""
    fake.queue(Fault.stall(after_chunks=0, seconds=60, reply=REPLY))
    async with make_client(fake.base_url, timeout=kk.Timeout(read=0.3), max_retries=2) as client:
        _, chunks, error = await read_stream(client)
        assert isinstance(error, kk.APITimeoutError)
        assert error.timeout == "read"
        assert error.partial is not None
        assert error.partial.choices == []
        assert chunks == []
        await fake.wait_for_connections(0)
        assert pool_state(client) == (0, 0)
    # The stream was already in the caller's hands: not retried.
    assert len(fake.requests) == 1


async def test_read_timeout_is_silence_not_duration() -> None:
    """A body dripped one byte at a time outlasts `read` and still completes exactly."""
    body = sse(chunk(""), chunk("Drip"), chunk(" drop"), chunk(finish="stop")) + b"data: [DONE]\n\n"

    async def drip(request: web.Request) -> web.StreamResponse:
        response = await begin_stream(request)
        for i in range(len(body)):
            await response.write(body[i : i + 1])
            await asyncio.sleep(0.005)
        await response.write_eof()
        return response

    timeout = kk.Timeout(read=0.4)
    async with raw_server(drip) as (base_url, _), make_client(base_url, timeout=timeout) as client:
        stream, chunks, error = await read_stream(client)
        assert error is None
        completion = await stream.final_completion()
    assert completion.choices[0].message.content == "Drip drop"
    assert completion.choices[0].finish_reason == "stop"
    assert len(chunks) == 4


async def test_total_timeout_covers_the_stream(fake: FakeServer, sleeps: list[float]) -> None:
    """`total` bounds the whole request, stream included; it raises with the partial."""
    fake.queue(Fault.stall(after_chunks=3, seconds=60, reply=REPLY))
    timeout = kk.Timeout(read=None, total=0.5)
    async with make_client(fake.base_url, timeout=timeout, max_retries=2) as client:
        _, _, error = await read_stream(client)
        assert isinstance(error, kk.APITimeoutError)
        assert (error.timeout, error.seconds) == ("total", 0.5)
        assert str(error).startswith("total timeout of 0.5s expired (the whole request)")
        assert partial_message(error) == unfinished(AFTER_3)
        await fake.wait_for_connections(0)
        assert pool_state(client) == (0, 0)
    assert sleeps == []


async def test_total_timeout_is_not_retried(fake: FakeServer, sleeps: list[float]) -> None:
    """A spent `total` budget is final, even with retries left."""
    fake.queue(Fault.stall(seconds=60), REPLY)
    timeout = kk.Timeout(read=None, total=0.3)
    async with make_client(fake.base_url, timeout=timeout, max_retries=2) as client:
        with pytest.raises(kk.APITimeoutError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.timeout == "total"
    assert len(fake.requests) == 1
    assert sleeps == []


# ------------------------------------------------------------------------------------
# Faults inside a stream: a typed error with the exact partial, the connection closed
# ------------------------------------------------------------------------------------


async def test_dropped_connection_mid_stream(fake: FakeServer) -> None:
    """A connection cut mid-stream raises IncompleteStreamError with exactly what came."""
    fake.queue(Fault.drop_after(3, reply=REPLY))
    async with make_client(fake.base_url) as client:
        stream, chunks, error = await read_stream(client)
        assert type(error) is kk.IncompleteStreamError
        assert partial_message(error) == unfinished(AFTER_3)
        assert len(chunks) == 3
        assert error.request_id == stream.request_id
        assert REQUEST_ID.fullmatch(error.request_id or "")
        await fake.wait_for_connections(0)
        assert pool_state(client) == (0, 0)


async def test_drop_while_the_consumer_is_busy_loses_nothing(fake: FakeServer) -> None:
    """Chunks that arrived before the cut reach the partial even if the consumer lagged."""
    fake.queue(Fault.drop_after(5, reply=Reply.text(TEXT, chunk_size=4, delay=0.01)))
    async with make_client(fake.base_url) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        count = 0
        with pytest.raises(kk.IncompleteStreamError) as info:
            async with stream:
                async for _ in stream:
                    count += 1
                    if count == 1:
                        # Busy elsewhere (a slow browser) while the rest and the cut arrive.
                        await fake.wait_for_connections(0)
        assert partial_message(info.value) == unfinished("Hello there, wor")
        assert count == 5
        assert pool_state(client) == (0, 0)


@pytest.mark.parametrize("cut", [pytest.param("fin", id="closed"), pytest.param("rst", id="reset")])
async def test_truncated_http_chunk(cut: str) -> None:
    """An HTTP chunk cut short (closed or reset) raises IncompleteStreamError."""
    payload = RAW_HEAD + sse(chunk(" world"))
    seen = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"x-request-id: req_raw\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b"%x\r\n%s\r\n" % (len(RAW_HEAD), RAW_HEAD))
        # The next chunk announces the whole event but carries only part of it.
        writer.write(b"%x\r\n%s" % (len(payload) - len(RAW_HEAD), payload[len(RAW_HEAD) : -12]))
        await writer.drain()
        seen.set()
        if cut == "rst":
            writer.transport.abort()
        else:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_client(f"http://127.0.0.1:{port}/v1") as client:
            stream, chunks, error = await read_stream(client)
            assert type(error) is kk.IncompleteStreamError
            assert partial_message(error) == unfinished("Hello")
            assert len(chunks) == 3
            assert error.request_id == "req_raw" == stream.request_id
            assert pool_state(client) == (0, 0)
    finally:
        server.close()
        await server.wait_closed()
    assert seen.is_set()


async def test_truncated_event_at_the_end_of_the_body() -> None:
    """A body that ends inside a data line raises APIProtocolError with the partial."""

    async def handle(request: web.Request) -> web.StreamResponse:
        response = await begin_stream(request)
        await response.write(RAW_HEAD + sse(chunk(" world"))[:-20])
        await response.write_eof()
        return response

    async with raw_server(handle) as (base_url, _), make_client(base_url) as client:
        _, chunks, error = await read_stream(client)
        assert type(error) is kk.APIProtocolError
        assert str(error).startswith("a stream event is not valid JSON")
        assert partial_message(error) == unfinished("Hello")
        assert error.request_id == RAW_REQUEST_ID
        assert len(chunks) == 3
        assert pool_state(client)[0] == 0


async def test_invalid_json_in_a_data_line(fake: FakeServer) -> None:
    """A data line that is not JSON raises APIProtocolError; the open body is closed."""
    fake.queue(Fault.garbage(3, reply=SLOW_TAIL))
    async with make_client(fake.base_url) as client:
        stream, chunks, error = await read_stream(client)
        assert type(error) is kk.APIProtocolError
        assert str(error).startswith(
            "a stream event is not valid JSON (Input data was truncated): "
            '\'{"id":"chatcmpl-garbage"'
        )
        assert partial_message(error) == unfinished(AFTER_3)
        assert len(chunks) == 3
        assert error.request_id == stream.request_id
        await fake.wait_for_connections(0)
        assert pool_state(client) == (0, 0)


@pytest.mark.parametrize(
    "event", [pytest.param(None, id="data-only"), pytest.param("error", id="event-error")]
)
async def test_error_object_in_the_stream(fake: FakeServer, event: str | None) -> None:
    """data: {"error": ...} mid-stream raises APIStreamError with code, type and partial."""
    fake.queue(
        Fault.error_event(
            3,
            message="Overloaded",
            type="server_error",
            code="overloaded",
            event=event,
            reply=REPLY,
        )
    )
    async with make_client(fake.base_url) as client:
        stream, chunks, error = await read_stream(client)
        assert type(error) is kk.APIStreamError
        assert error.message == "the server sent an error: Overloaded"
        assert (error.code, error.type) == ("overloaded", "server_error")
        assert partial_message(error) == unfinished(AFTER_3)
        assert len(chunks) == 3
        assert error.request_id == stream.request_id
        # The server ended the body after the error: its connection may be reused.
        assert pool_state(client)[0] == 0
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
        assert completion.choices[0].message.content


async def test_error_object_while_the_body_stays_open() -> None:
    """An error event on a body the server keeps open: the client closes the connection."""

    async def handle(request: web.Request) -> web.StreamResponse:
        response = await begin_stream(request)
        await response.write(RAW_HEAD + sse({"error": {"message": "boom", "code": "x"}}))
        await asyncio.sleep(3600)
        return response

    async with raw_server(handle) as (base_url, runner), make_client(base_url) as client:
        _, _, error = await read_stream(client)
        assert type(error) is kk.APIStreamError
        assert (error.message, error.code) == ("the server sent an error: boom", "x")
        assert partial_message(error) == unfinished("Hello")
        assert error.request_id == RAW_REQUEST_ID
        await eventually(lambda: open_server_connections(runner) == 0, "connection closed")
        assert pool_state(client) == (0, 0)


async def test_line_over_the_size_bound() -> None:
    """A line that never ends raises APIProtocolError past 8 MiB and closes the connection."""
    sent = 0

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = await begin_stream(request)
        await response.write(RAW_HEAD + b"data: ")
        piece = b"x" * 65536
        # Endless in effect: far past the bound, unless the client hangs up first.
        for _ in range(1024):
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
        return response

    async with raw_server(handle) as (base_url, runner), make_client(base_url) as client:
        _, chunks, error = await read_stream(client)
        assert type(error) is kk.APIProtocolError
        assert "exceeds max_line_bytes=8388608" in str(error)
        assert partial_message(error) == unfinished("Hello")
        assert error.request_id == RAW_REQUEST_ID
        assert len(chunks) == 3
        await eventually(lambda: open_server_connections(runner) == 0, "connection closed")
        assert pool_state(client) == (0, 0)
    assert sent < 1024 * 65536


async def test_html_page_instead_of_a_stream(fake: FakeServer) -> None:
    """A 200 HTML page (a proxy) raises APIProtocolError at create(), with an excerpt."""
    fake.queue(Fault.html(200))
    async with make_client(fake.base_url, max_retries=2) as client:
        with pytest.raises(kk.APIProtocolError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert str(info.value).startswith("expected an event stream, got an HTML page: '<html>")
    assert len(fake.requests) == 1


async def test_html_error_page_is_retried(fake: FakeServer, sleeps: list[float]) -> None:
    """A proxy's 502 HTML page is a retryable status; the retry streams normally."""
    fake.queue(Fault.html(502), REPLY)
    async with make_client(fake.base_url, max_retries=1) as client:
        stream, _, error = await read_stream(client)
        assert error is None
        assert (await stream.final_completion()).choices[0].message.content == TEXT
    assert len(fake.requests) == 2


async def test_reset_without_retries(fake: FakeServer) -> None:
    """A reset with no retry left raises APIConnectionError with no partial."""
    fake.queue(Fault.reset())
    async with make_client(fake.base_url) as client:
        with pytest.raises(kk.APIConnectionError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert type(info.value) is kk.APIConnectionError
    assert info.value.partial is None
    assert str(info.value).startswith("the request failed before a response arrived: ")


# ------------------------------------------------------------------------------------
# Cancellation and early exits close the response at once
# ------------------------------------------------------------------------------------


async def test_cancel_while_awaiting_a_chunk(fake: FakeServer) -> None:
    """Cancelling a task blocked on the next chunk closes its connection."""
    fake.queue(Fault.stall(after_chunks=3, seconds=3600, reply=REPLY))
    async with make_client(fake.base_url) as client:
        got = asyncio.Event()

        async def consume() -> None:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            count = 0
            async with stream:
                async for _ in stream:
                    count += 1
                    if count == 3:
                        got.set()

        task = asyncio.create_task(consume())
        await got.wait()
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool_state(client) == (0, 0)
        await fake.wait_for_connections(0)


async def test_cancel_while_holding_a_stream(fake: FakeServer) -> None:
    """Cancelling a task that awaits something else inside `async with` closes the stream."""
    fake.queue(Fault.stall(after_chunks=3, seconds=3600, reply=REPLY))
    async with make_client(fake.base_url) as client:
        holding = asyncio.Event()

        async def consume() -> None:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                await stream.__anext__()
                holding.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(consume())
        await holding.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool_state(client) == (0, 0)
        await fake.wait_for_connections(0)


async def test_cancel_while_awaiting_headers(fake: FakeServer) -> None:
    """Cancelling create() before the headers arrive closes the connection."""
    fake.queue(Fault.stall(seconds=3600))
    async with make_client(fake.base_url) as client:
        task = asyncio.create_task(client.chat.completions.create(model="m", messages=MESSAGES))
        await eventually(lambda: len(fake.requests) == 1, "the request arrived")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool_state(client) == (0, 0)
        await fake.wait_for_connections(0)


async def test_cancel_during_backoff(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancelling during a retry's wait stops: no further request is sent."""
    waiting = asyncio.Event()

    async def long_sleep(delay: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(_client, "_sleep", long_sleep)
    fake.queue(Fault.status(503), REPLY)
    async with make_client(fake.base_url, max_retries=2) as client:
        task = asyncio.create_task(client.chat.completions.create(model="m", messages=MESSAGES))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool_state(client)[0] == 0
    assert len(fake.requests) == 1


async def test_break_inside_async_with_closes_at_once(fake: FakeServer) -> None:
    """Breaking out of `async for` inside `async with` closes the connection on exit."""
    fake.queue(Fault.stall(after_chunks=3, seconds=3600, reply=REPLY))
    async with make_client(fake.base_url) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            async for _ in stream:
                break
        # Synchronously closed: nothing awaited since the block ended.
        assert pool_state(client) == (0, 0)
        await fake.wait_for_connections(0)
        assert stream.current_completion().choices == [unfinished(None)]


async def test_break_and_drop_without_async_with(fake: FakeServer) -> None:
    """A stream abandoned after `break` (no `async with`) closes when dropped."""
    fake.queue(Fault.stall(after_chunks=3, seconds=3600, reply=REPLY))
    async with make_client(fake.base_url) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in stream:
            break
        del stream
        # Ended by its generator's ``finally`` once the event loop finalizes it (no I/O
        # in a finalizer), so not synchronously: wait for the server to see it.
        await fake.wait_for_connections(0)
        assert pool_state(client) == (0, 0)


async def test_many_cancelled_streams_leave_no_connection(fake: FakeServer) -> None:
    """200 streams cancelled mid-body: the server sees all closed, the pool holds none."""
    fake.queue(*(Fault.stall(after_chunks=2, seconds=3600, reply=REPLY) for _ in range(200)))
    async with make_client(fake.base_url) as client:
        ready = 0
        all_ready = asyncio.Event()

        async def consume() -> None:
            nonlocal ready
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                await stream.__anext__()
                ready += 1
                if ready == 200:
                    all_ready.set()
                await stream.__anext__()
                await stream.__anext__()  # stalls here

        tasks = [asyncio.create_task(consume()) for _ in range(200)]
        await all_ready.wait()
        await fake.wait_for_connections(200)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert pool_state(client) == (0, 0)
        await fake.wait_for_connections(0)
