"""AsyncClient: configuration, headers, lifecycle, retries, timeouts, error translation."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator

import aiohttp
import httpx
import msgspec
import pytest
from _transports import RecordingTransport
from conftest import (
    JSON_HEADERS,
    MESSAGES,
    Reply,
    Server,
    TransportName,
    chunk,
    completion_json,
    sse_body,
)

import kkiai_async as kk
from kkiai_async._transport._aiohttp import translate_error

OK = Reply(body=msgspec.json.encode(completion_json()), headers=JSON_HEADERS)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KKIAI_* variable of the machine running the tests leaks in."""
    monkeypatch.delenv("KKIAI_API_KEY", raising=False)
    monkeypatch.delenv("KKIAI_BASE_URL", raising=False)


@pytest.fixture
async def bare(server: Server, transport: TransportName) -> AsyncIterator[kk.AsyncClient]:
    """A client for the server without an API key."""
    async with kk.AsyncClient(base_url=server.base_url, max_retries=0, transport=transport) as c:
        yield c


async def _complete(client: kk.AsyncClient, **kwargs: object) -> kk.ChatCompletion:
    return await client.chat.completions.create(model="m", messages=MESSAGES, **kwargs)  # type: ignore[call-overload, no-any-return]


# ------------------------------------------------------------------------------------
# Headers
# ------------------------------------------------------------------------------------


async def test_headers_with_key(
    server: Server, client: kk.AsyncClient, transport: TransportName
) -> None:
    """A client with a key sends Bearer auth, JSON content type and accept, and its UA."""
    server.queue(OK)
    await _complete(client)
    headers = server.requests[0].headers
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    library = {"aiohttp": aiohttp.__version__, "httpx": httpx.__version__}[transport]
    assert headers["user-agent"] == (
        f"kkiai-async/{kk.__version__} python/{python} {transport}/{library}"
    )
    assert server.requests[0].method == "POST"
    assert server.requests[0].path == "/v1/chat/completions"


async def test_no_authorization_without_key(server: Server, bare: kk.AsyncClient) -> None:
    """Without a key no Authorization header is sent at all."""
    server.queue(OK)
    await _complete(bare)
    assert "authorization" not in server.requests[0].headers


async def test_streaming_accepts_event_stream(server: Server, client: kk.AsyncClient) -> None:
    """A streamed request asks for text/event-stream."""
    server.queue(Reply(body=sse_body(chunk("a", finish="stop"))))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    await stream.final_completion()
    assert server.requests[0].headers["accept"] == "text/event-stream"


async def test_api_key_from_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch, transport: TransportName
) -> None:
    """KKIAI_API_KEY is the default key."""
    monkeypatch.setenv("KKIAI_API_KEY", "sk-env")
    server.queue(OK)
    async with kk.AsyncClient(base_url=server.base_url, transport=transport) as c:
        await _complete(c)
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"


async def test_base_url_from_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch, transport: TransportName
) -> None:
    """KKIAI_BASE_URL is the default base URL; a trailing slash is dropped."""
    monkeypatch.setenv("KKIAI_BASE_URL", server.base_url + "/")
    server.queue(OK)
    async with kk.AsyncClient(transport=transport) as c:
        assert c.base_url == server.base_url
        await _complete(c)
    assert server.requests[0].path == "/v1/chat/completions"


def test_default_base_url() -> None:
    """Without configuration the client talks to the kkiai API."""
    assert kk.AsyncClient().base_url == "https://www.kkiai.com/v1"


async def test_default_and_extra_headers(server: Server, transport: TransportName) -> None:
    """default_headers override the library's (case-insensitively); extra_headers win."""
    server.queue(OK)
    async with kk.AsyncClient(
        base_url=server.base_url,
        transport=transport,
        api_key="sk-a",
        default_headers={"authorization": "Token x", "X-Team": "a", "X-Both": "default"},
    ) as c:
        await _complete(c, extra_headers={"x-both": "extra"})
    headers = server.requests[0].headers
    assert headers["authorization"] == "Token x"
    assert headers["x-team"] == "a"
    assert headers["x-both"] == "extra"


def test_repr_hides_the_key() -> None:
    """repr() shows the base URL and whether a key is set, never the key."""
    c = kk.AsyncClient(api_key="sk-secret-123", base_url="https://example.invalid/v1")
    assert repr(c) == "<AsyncClient base_url='https://example.invalid/v1' api_key=set>"
    assert "sk-secret" not in repr(c)
    assert (
        repr(kk.AsyncClient()) == "<AsyncClient base_url='https://www.kkiai.com/v1' api_key=unset>"
    )


# ------------------------------------------------------------------------------------
# Configuration errors
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"base_url": "ftp://example.com/v1"}, "base_url", id="ftp"),
        pytest.param({"base_url": "example.com/v1"}, "base_url", id="no-scheme"),
        pytest.param({"base_url": "https://"}, "base_url", id="no-host"),
        pytest.param({"base_url": "https://h/v1?x=1"}, "base_url", id="query"),
        pytest.param({"max_retries": -1}, "max_retries", id="negative-retries"),
        pytest.param({"timeout": 0}, "timeout", id="zero-timeout"),
        pytest.param({"connection_limit": -5}, "connection_limit", id="negative-limit"),
        pytest.param({"api_key": 5}, "api_key", id="key-not-str"),
        pytest.param({"default_headers": {"X": 1}}, "default_headers['X']", id="header-not-str"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, object], param: str) -> None:
    """A bad setting raises InvalidParameterError naming it."""
    with pytest.raises(kk.InvalidParameterError) as info:
        kk.AsyncClient(**kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        pytest.param("http://api.example.com/v1", True, id="remote"),
        pytest.param("http://127.0.0.1:8000/v1", False, id="ipv4-loopback"),
        pytest.param("http://[::1]:8000/v1", False, id="ipv6-loopback"),
        pytest.param("http://localhost:8000/v1", False, id="localhost"),
        pytest.param("https://api.example.com/v1", False, id="https"),
    ],
)
def test_plain_http_warning(caplog: pytest.LogCaptureFixture, url: str, warns: bool) -> None:
    """Plain http to a host other than loopback logs a warning naming the host."""
    with caplog.at_level(logging.WARNING, logger="kkiai_async"):
        kk.AsyncClient(base_url=url)
    assert bool(caplog.records) is warns
    if warns:
        assert "api.example.com" in caplog.records[0].getMessage()


def test_timeout_number() -> None:
    """A number as timeout means that many seconds to connect and between bytes."""
    assert kk.AsyncClient(timeout=5).timeout == kk.Timeout(connect=5, read=5, total=None)


# ------------------------------------------------------------------------------------
# Lifecycle
# ------------------------------------------------------------------------------------


async def test_closed_client_refuses_requests(server: Server, transport: TransportName) -> None:
    """Using a client after aclose() raises ClientClosedError; aclose() is idempotent."""
    c = kk.AsyncClient(base_url=server.base_url, transport=transport)
    await c.aclose()
    await c.aclose()
    assert c.closed
    with pytest.raises(kk.ClientClosedError):
        await _complete(c)
    with pytest.raises(kk.ClientClosedError):
        c.chat.completions.stream(model="m", messages=MESSAGES)
    with pytest.raises(kk.ClientClosedError):
        async with c:
            pass
    assert server.requests == []


# aiohttp-specific: its session object, lent or owned. The same for a lent or owned
# httpx.AsyncClient is tested in test_httpx_transport.py.


async def test_owned_session_is_closed(server: Server) -> None:
    """The session the client created is closed by aclose()."""
    server.queue(OK)
    # The aiohttp transport with its own pool, wrapped to show that pool's session; the
    # client closes a transport object given to it, as httpx.AsyncClient does.
    transport = RecordingTransport()
    async with kk.AsyncClient(base_url=server.base_url, transport=transport) as c:
        await _complete(c)
        session = transport.session
        assert not session.closed
    assert session.closed


async def test_borrowed_session_is_not_closed(server: Server) -> None:
    """A session lent to the client is used and left open."""
    server.queue(OK)
    async with aiohttp.ClientSession() as session:
        async with kk.AsyncClient(base_url=server.base_url, session=session) as c:
            await _complete(c)
        assert not session.closed
        assert c.closed


async def test_borrowed_session_closed_by_its_owner(server: Server) -> None:
    """A request through a lent session its owner closed raises ClientClosedError."""
    session = aiohttp.ClientSession()
    await session.close()
    async with kk.AsyncClient(base_url=server.base_url, session=session) as c:
        with pytest.raises(kk.ClientClosedError, match="lent"):
            await _complete(c)


async def test_with_options_shares_the_pool(server: Server, client: kk.AsyncClient) -> None:
    """with_options() changes settings, shares the connection pool, and closes alone."""
    server.queue(OK, OK, OK)
    other = client.with_options(api_key="sk-other", default_headers={"X-Extra": "1"})
    await _complete(client)
    await _complete(other)
    await other.aclose()
    await _complete(client)
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer sk-test",
        "Bearer sk-other",
        "Bearer sk-test",
    ]
    assert server.requests[1].headers["x-extra"] == "1"
    assert len({r.port for r in server.requests}) == 1
    with pytest.raises(kk.ClientClosedError):
        await _complete(other)


# ------------------------------------------------------------------------------------
# Status errors
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        pytest.param(400, kk.BadRequestError, id="400"),
        pytest.param(401, kk.AuthenticationError, id="401"),
        pytest.param(403, kk.PermissionDeniedError, id="403"),
        pytest.param(404, kk.NotFoundError, id="404"),
        pytest.param(409, kk.ConflictError, id="409"),
        pytest.param(422, kk.UnprocessableEntityError, id="422"),
        pytest.param(429, kk.RateLimitError, id="429"),
        pytest.param(500, kk.InternalServerError, id="500"),
    ],
)
@pytest.mark.parametrize(
    "stream", [pytest.param(False, id="whole"), pytest.param(True, id="stream")]
)
async def test_status_errors(
    server: Server, client: kk.AsyncClient, status: int, cls: type[kk.APIStatusError], stream: bool
) -> None:
    """An error status raises its class at the await, with body, headers and request id."""
    error = {"error": {"message": "nope", "type": "t", "code": "c", "param": "p"}}
    headers = {**JSON_HEADERS, "X-Request-Id": "req-1"}
    server.queue(Reply(status=status, body=msgspec.json.encode(error), headers=headers))
    with pytest.raises(cls) as info:
        await _complete(client, stream=stream)
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.body == error
    assert exc.request_id == "req-1"
    assert exc.headers["x-request-id"] == "req-1"
    assert (exc.code, exc.type, exc.param) == ("c", "t", "p")
    assert str(exc) == f"HTTP {status}: nope (request_id=req-1)"
    assert exc.partial is None


async def test_status_error_with_text_body(server: Server, client: kk.AsyncClient) -> None:
    """A non-JSON error body is kept as text."""
    server.queue(
        Reply(status=502, body=b"<h1>Bad gateway</h1>", headers={"Content-Type": "text/html"})
    )
    with pytest.raises(kk.InternalServerError) as info:
        await _complete(client)
    assert info.value.body == "<h1>Bad gateway</h1>"


# ------------------------------------------------------------------------------------
# Retries
# ------------------------------------------------------------------------------------


async def test_retry_after_is_honoured(
    server: Server, client: kk.AsyncClient, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 with Retry-After is retried after that delay, and the retry is logged."""
    limited = Reply(status=429, body=b"{}", headers={**JSON_HEADERS, "Retry-After": "0"})
    server.queue(limited, OK)
    with caplog.at_level(logging.INFO, logger="kkiai_async"):
        completion = await _complete(client, max_retries=2)
    assert completion.choices[0].message.content == "Hello!"
    assert len(server.requests) == 2
    assert sleeps == [0.0]
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "Retrying POST /chat/completions in 0.00 seconds (retry 1 of 2): HTTP 429"
    )


async def test_retries_use_the_client_default(
    server: Server, sleeps: list[float], transport: TransportName
) -> None:
    """max_retries on the client applies to every request; the last error propagates."""
    failing = Reply(status=503, body=b'{"error": {"message": "busy"}}', headers=JSON_HEADERS)
    server.queue(failing, failing, failing)
    async with kk.AsyncClient(base_url=server.base_url, max_retries=2, transport=transport) as c:
        with pytest.raises(kk.InternalServerError, match="busy"):
            await _complete(c)
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 8 for s in sleeps)


@pytest.mark.parametrize("status", [pytest.param(s, id=str(s)) for s in (400, 401, 404, 422)])
async def test_no_retry_of_client_errors(
    server: Server, client: kk.AsyncClient, status: int, sleeps: list[float]
) -> None:
    """A 4xx other than 408/409/429 is never retried."""
    server.queue(Reply(status=status, body=b"{}", headers=JSON_HEADERS), OK)
    with pytest.raises(kk.APIStatusError):
        await _complete(client, max_retries=3)
    assert len(server.requests) == 1
    assert sleeps == []


async def test_should_retry_header_wins(server: Server, client: kk.AsyncClient) -> None:
    """x-should-retry: false stops a retry of an otherwise retryable status."""
    server.queue(Reply(status=500, body=b"{}", headers={**JSON_HEADERS, "x-should-retry": "false"}))
    with pytest.raises(kk.InternalServerError):
        await _complete(client, max_retries=3)
    assert len(server.requests) == 1


async def test_connection_error_is_retried(server: Server, client: kk.AsyncClient) -> None:
    """A connection dropped before the response headers is retried."""
    server.queue(Reply(abort_before_headers=True), OK)
    completion = await _complete(client, max_retries=1)
    assert completion.id == "chatcmpl-9"
    assert len(server.requests) == 2


async def test_stream_connection_error_before_headers_is_retried(
    server: Server, client: kk.AsyncClient
) -> None:
    """A stream request whose connection drops before the headers is retried too."""
    server.queue(Reply(abort_before_headers=True), Reply(body=sse_body(chunk("a", finish="stop"))))
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, max_retries=1
    )
    assert (await stream.final_completion()).choices[0].message.content == "a"
    assert len(server.requests) == 2


async def test_started_stream_is_not_retried(server: Server, client: kk.AsyncClient) -> None:
    """Once create() returned a stream, a broken connection is not retried."""
    body = sse_body(chunk("a"), chunk("b", finish="stop"))
    server.queue(Reply(body=body, drop_after=20), Reply(body=body))
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, max_retries=3
    )
    with pytest.raises(kk.IncompleteStreamError):
        await stream.final_completion()
    assert len(server.requests) == 1


async def test_connection_refused(sleeps: list[float], transport: TransportName) -> None:
    """An unreachable server raises APIConnectionError after the retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with kk.AsyncClient(
        base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, transport=transport
    ) as c:
        with pytest.raises(kk.APIConnectionError, match=f"cannot connect to 127.0.0.1:{port}"):
            await _complete(c)
    assert len(sleeps) == 2


# ------------------------------------------------------------------------------------
# Timeouts
# ------------------------------------------------------------------------------------


async def test_read_timeout_waiting_for_headers(server: Server, client: kk.AsyncClient) -> None:
    """No response headers within the read timeout raises APITimeoutError('read')."""
    server.queue(Reply(stall_before_headers=True))
    with pytest.raises(kk.APITimeoutError) as info:
        await _complete(client, timeout=kk.Timeout(read=0.2))
    assert info.value.timeout == "read"
    assert info.value.seconds == 0.2
    assert info.value.partial is None


async def test_read_timeout_is_retried(server: Server, client: kk.AsyncClient) -> None:
    """A read timeout before the headers is retried."""
    server.queue(Reply(stall_before_headers=True), OK)
    completion = await _complete(client, timeout=kk.Timeout(read=0.2), max_retries=1)
    assert completion.id == "chatcmpl-9"
    assert len(server.requests) == 2


async def test_total_timeout_is_not_retried(server: Server, client: kk.AsyncClient) -> None:
    """A total timeout raises APITimeoutError('total') and is not retried."""
    server.queue(Reply(stall_before_headers=True), OK)
    with pytest.raises(kk.APITimeoutError) as info:
        await _complete(client, timeout=kk.Timeout(read=None, total=0.2), max_retries=2)
    assert info.value.timeout == "total"
    assert len(server.requests) == 1


# aiohttp-specific: its exception classes. httpx's table is in test_httpx_transport.py.

T = kk.Timeout(connect=1.5, read=2.5, total=3.5)


@pytest.mark.parametrize(
    ("exc", "phase", "cls", "detail"),
    [
        pytest.param(
            aiohttp.ConnectionTimeoutError(),
            "send",
            kk.APITimeoutError,
            "connect",
            id="connect-timeout",
        ),
        pytest.param(
            aiohttp.SocketTimeoutError(),
            "send",
            kk.APITimeoutError,
            "read",
            id="read-timeout-headers",
        ),
        pytest.param(
            aiohttp.SocketTimeoutError(),
            "stream",
            kk.APITimeoutError,
            "read",
            id="read-timeout-body",
        ),
        pytest.param(
            asyncio.TimeoutError(), "stream", kk.APITimeoutError, "total", id="total-timeout"
        ),
        pytest.param(
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                ConnectionRefusedError(111, "Connection refused"),
            ),
            "send",
            kk.APIConnectionError,
            "cannot connect to h:1: Connection refused",
            id="refused",
        ),
        pytest.param(
            aiohttp.ServerDisconnectedError(),
            "send",
            kk.APIConnectionError,
            "before a response",
            id="disconnected-before-headers",
        ),
        pytest.param(
            aiohttp.ServerDisconnectedError(),
            "stream",
            kk.IncompleteStreamError,
            "before the stream ended",
            id="disconnected-mid-stream",
        ),
        pytest.param(
            aiohttp.ClientPayloadError("cut"),
            "stream",
            kk.IncompleteStreamError,
            "ClientPayloadError: cut",
            id="payload-error",
        ),
        pytest.param(
            aiohttp.ClientPayloadError("cut"),
            "read",
            kk.APIConnectionError,
            "reading the response",
            id="payload-error-whole-body",
        ),
        pytest.param(
            TimeoutError(110, "timed out"),
            "send",
            kk.APIConnectionError,
            "timed out",
            id="os-timeout-is-not-total",
        ),
        pytest.param(
            aiohttp.InvalidURL("x y"),
            "send",
            kk.InvalidParameterError,
            "base_url",
            id="invalid-url",
        ),
    ],
)
def test_translate_error(
    exc: BaseException, phase: str, cls: type[kk.KkiaiError], detail: str
) -> None:
    """aiohttp's exceptions map to the library's tree, and timeouts to the one that fired."""
    mapped = translate_error(exc, T, phase)  # type: ignore[arg-type]
    assert type(mapped) is cls
    if isinstance(mapped, kk.APITimeoutError):
        assert mapped.timeout == detail
        assert mapped.seconds == {"connect": 1.5, "read": 2.5, "total": 3.5}[detail]
    else:
        assert detail in str(mapped)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ValueError("x"), id="value-error"),
        pytest.param(kk.ClientClosedError("closed"), id="already-ours"),
    ],
)
def test_translate_error_leaves_other_exceptions(exc: Exception) -> None:
    """An exception that is not aiohttp's (nor the socket's) is not translated."""
    assert translate_error(exc, T, "send") is None


def test_owned_pool_is_bound_to_its_loop(transport: TransportName) -> None:
    """A client whose pool was made in one event loop refuses another, clearly."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = kk.AsyncClient(
        base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, transport=transport
    )

    async def first() -> None:
        with pytest.raises(kk.APIConnectionError):
            await _complete(client)

    async def second() -> None:
        with pytest.raises(kk.ClientClosedError, match="another event loop"):
            await _complete(client)
        await client.aclose()

    asyncio.run(first())
    asyncio.run(second())


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"default_headers": {"Authorization": b"Bearer sk-secret"}}, id="header"),
        pytest.param({"base_url": "ftp://user:sk-secret@example.com/v1"}, id="url"),
    ],
)
def test_configuration_errors_do_not_show_secrets(kwargs: dict[str, object]) -> None:
    """A configuration error names the problem without echoing a credential."""
    with pytest.raises(kk.InvalidParameterError) as info:
        kk.AsyncClient(**kwargs)  # type: ignore[arg-type]
    assert "sk-secret" not in str(info.value)


# ------------------------------------------------------------------------------------
# Bounded bodies
# ------------------------------------------------------------------------------------


async def test_whole_body_over_max_body_bytes_is_a_protocol_error(
    server: Server, transport: TransportName
) -> None:
    """A non-streamed body larger than max_body_bytes raises APIProtocolError naming the
    setting, and the client goes on working."""
    big = Reply(body=msgspec.json.encode(completion_json("x" * 5000)), headers=JSON_HEADERS)
    small = Reply(body=msgspec.json.encode(completion_json("ok")), headers=JSON_HEADERS)
    server.queue(big, small)
    async with kk.AsyncClient(
        base_url=server.base_url, transport=transport, max_body_bytes=4096, max_retries=0
    ) as client:
        with pytest.raises(kk.APIProtocolError, match="max_body_bytes"):
            await _complete(client)
        completion = await _complete(client)
    assert completion.choices[0].message.content == "ok"


async def test_large_error_body_still_gives_the_status_error(
    server: Server, client: kk.AsyncClient
) -> None:
    """An error page of megabytes is cut to its first bytes: the status error is raised
    with an excerpt, not a protocol error."""
    page = b"<html>" + b"<p>Bad gateway</p>" * 200_000 + b"</html>"
    server.queue(Reply(status=502, body=page, headers={"Content-Type": "text/html"}))
    with pytest.raises(kk.InternalServerError) as info:
        await _complete(client)
    assert isinstance(info.value.body, str)
    assert info.value.body.startswith("<html><p>Bad gateway</p>")
    assert len(info.value.body) <= 64 * 1024


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "1"])
def test_max_body_bytes_must_be_a_positive_int(value: object) -> None:
    """max_body_bytes is checked when the client is made."""
    with pytest.raises(kk.InvalidParameterError) as info:
        kk.AsyncClient(base_url="http://127.0.0.1:1/v1", max_body_bytes=value)  # type: ignore[arg-type]
    assert info.value.param == "max_body_bytes"


def test_connection_limit_with_a_transport_object_is_refused() -> None:
    """connection_limit sizes the client's own pool: with a transport object of the
    caller's it would be silently ignored, so it is an error."""
    from _transports import RecordingTransport

    with pytest.raises(kk.InvalidParameterError) as info:
        kk.AsyncClient(
            base_url="http://127.0.0.1:1/v1", transport=RecordingTransport(), connection_limit=5
        )
    assert info.value.param == "connection_limit"


async def test_stream_answered_with_a_large_json_body_is_bounded(
    server: Server, transport: TransportName
) -> None:
    """A streamed request answered with a whole JSON body is read within
    max_body_bytes too: over it, APIProtocolError, not the memory of the body."""
    big = Reply(body=msgspec.json.encode(completion_json("x" * 5000)), headers=JSON_HEADERS)
    server.queue(big)
    async with kk.AsyncClient(
        base_url=server.base_url, transport=transport, max_body_bytes=4096, max_retries=0
    ) as client:
        with pytest.raises(kk.APIProtocolError, match="max_body_bytes"):
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
