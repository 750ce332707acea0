"""The httpx transport: choosing it, lending an httpx client, its error table, its total
timeout, closing, and the bytes it delivers.

Everything the user sees is also tested for both transports by the client, chat and
stream tests (the ``transport`` fixture of conftest); this module covers what only the
httpx transport has.
"""

from __future__ import annotations

import asyncio
import gzip
import pickle
import random
import shutil
import ssl
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
import pytest
from _conformance import Case, load_cases
from aiohttp import web
from conftest import JSON_HEADERS, MESSAGES, Reply, Server, chunk, completion_json, sse_body
from httpx_sse import aconnect_sse
from multidict import CIMultiDict

import kkiai_async as kk
from kkiai_async._sse import SSEDecoder
from kkiai_async._transport import _httpx
from kkiai_async._transport._httpx import (
    HttpxTransport,
    _Deadline,
    _TotalTimeout,
    translate_error,
)

OK = Reply(body=msgspec.json.encode(completion_json()), headers=JSON_HEADERS)
HELLO = sse_body(chunk("Hel", role="assistant"), chunk("lo"), chunk(finish="stop"))


async def _complete(client: kk.AsyncClient, **kwargs: Any) -> kk.ChatCompletion:
    return await client.chat.completions.create(model="m", messages=MESSAGES, **kwargs)  # type: ignore[no-any-return]


@pytest.fixture
async def httpx_client(server: Server) -> AsyncIterator[kk.AsyncClient]:
    """A client for the server over the httpx transport, without retries."""
    async with kk.AsyncClient(base_url=server.base_url, max_retries=0, transport="httpx") as c:
        yield c


# ------------------------------------------------------------------------------------
# Choosing the transport
# ------------------------------------------------------------------------------------


def test_import_does_not_import_httpx() -> None:
    """Importing the library, and making a default client, leaves httpx unimported."""
    code = (
        "import sys, kkiai_async as kk; kk.AsyncClient(); "
        "assert 'httpx' not in sys.modules, 'httpx was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


async def test_transport_httpx_uses_httpx(server: Server, httpx_client: kk.AsyncClient) -> None:
    """transport="httpx" sends with httpx, which names itself in the User-Agent."""
    server.queue(OK)
    await _complete(httpx_client)
    assert server.requests[0].headers["user-agent"].endswith(f" httpx/{httpx.__version__}")


def test_missing_httpx_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """transport="httpx" without httpx installed raises InvalidParameterError saying how."""
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "kkiai_async._transport._httpx")
    with pytest.raises(kk.InvalidParameterError) as info:
        kk.AsyncClient(transport="httpx")
    assert info.value.param == "transport"
    assert "pip install 'kkiai-async[httpx]'" in str(info.value)


@pytest.mark.parametrize(
    ("make", "kwargs", "param", "match"),
    [
        pytest.param(
            lambda: None, {"transport": "requests"}, "transport", "'aiohttp' or 'httpx'", id="name"
        ),
        pytest.param(object, {}, "session", "got builtins.object", id="not-a-session"),
        pytest.param(
            httpx.Client, {}, "session", "not the synchronous httpx.Client", id="sync-httpx"
        ),
        pytest.param(
            httpx.AsyncClient,
            {"transport": "aiohttp"},
            "session",
            "of httpx, but transport='aiohttp'",
            id="httpx-as-aiohttp",
        ),
        pytest.param(
            aiohttp.ClientSession,
            {"transport": "httpx"},
            "session",
            "of aiohttp, but transport='httpx'",
            id="aiohttp-as-httpx",
        ),
    ],
)
async def test_invalid_transport_or_session(
    make: Any, kwargs: dict[str, Any], param: str, match: str
) -> None:
    """An unknown transport, or a session that does not fit it, raises naming the parameter."""
    session = make()
    try:
        with pytest.raises(kk.InvalidParameterError, match=match) as info:
            kk.AsyncClient(session=session, **kwargs)
    finally:
        if isinstance(session, httpx.Client):
            session.close()
        elif isinstance(session, (httpx.AsyncClient, aiohttp.ClientSession)):
            await session.__aexit__(None, None, None)
    assert info.value.param == param


# ------------------------------------------------------------------------------------
# Owned and lent httpx clients
# ------------------------------------------------------------------------------------


async def test_owned_client_is_closed(server: Server) -> None:
    """The httpx client the library created is closed by aclose()."""
    server.queue(OK)
    # The transport "httpx" names, given as an object to look into its own client.
    transport = HttpxTransport()
    async with kk.AsyncClient(base_url=server.base_url, transport=transport) as c:
        await _complete(c)
        owned = transport._client
        assert isinstance(owned, httpx.AsyncClient)
        assert not owned.is_closed
    assert owned.is_closed


async def test_lent_client_is_used_and_not_closed(server: Server) -> None:
    """A lent httpx.AsyncClient is used (its headers too) and left open; no transport= needed."""
    server.queue(OK, OK)
    async with httpx.AsyncClient(headers={"X-App": "mine"}) as lent:
        async with kk.AsyncClient(base_url=server.base_url, session=lent) as c:
            await _complete(c)
        assert c.closed
        assert not lent.is_closed
        response = await lent.post(server.base_url + "/chat/completions", content=b"{}")
        assert response.status_code == 200
    assert server.requests[0].headers["x-app"] == "mine"
    assert server.requests[0].headers["user-agent"].endswith(f" httpx/{httpx.__version__}")


async def test_lent_client_closed_by_its_owner(server: Server) -> None:
    """A request through a lent client its owner closed raises ClientClosedError."""
    lent = httpx.AsyncClient()
    await lent.aclose()
    async with kk.AsyncClient(base_url=server.base_url, session=lent) as c:
        with pytest.raises(kk.ClientClosedError, match="lent"):
            await _complete(c)
    assert server.requests == []


async def test_lent_client_timeouts_are_replaced(server: Server) -> None:
    """The library's timeouts apply to every request, not the lent client's own."""
    server.queue(OK)
    lent = httpx.AsyncClient(timeout=httpx.Timeout(1e-9))
    async with lent, kk.AsyncClient(base_url=server.base_url, session=lent, max_retries=0) as c:
        completion = await _complete(c)
    assert completion.id == "chatcmpl-9"


async def test_lent_client_redirects_are_not_followed(server: Server) -> None:
    """Even a lent client that follows redirects does not: a 3xx is an APIStatusError."""
    moved = Reply(status=307, headers={"Location": "/v1/elsewhere"}, body=b"")
    server.queue(moved, OK)
    lent = httpx.AsyncClient(follow_redirects=True)
    async with lent, kk.AsyncClient(base_url=server.base_url, session=lent, max_retries=0) as c:
        with pytest.raises(kk.APIStatusError) as info:
            await _complete(c)
    assert info.value.status_code == 307
    assert len(server.requests) == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key for 127.0.0.1, made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    arguments = [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    ]
    subprocess.run(
        [openssl, *arguments, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_url(certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    """The base URL of an HTTPS server on loopback, with the self-signed certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(completion_json())

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()


async def test_owned_client_verifies_certificates(tls_url: str) -> None:
    """The library's own httpx client refuses a certificate no authority signed."""
    async with kk.AsyncClient(base_url=tls_url, transport="httpx", max_retries=0) as c:
        with pytest.raises(kk.APIConnectionError, match="certificate"):
            await _complete(c)


async def test_lent_client_decides_tls(tls_url: str, certificate: tuple[Path, Path]) -> None:
    """A lent client's TLS settings are used: here, the certificate's own authority."""
    lent = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(certificate[0])))
    async with lent, kk.AsyncClient(base_url=tls_url, session=lent, max_retries=0) as c:
        completion = await _complete(c)
    assert completion.id == "chatcmpl-9"


# ------------------------------------------------------------------------------------
# The error table
# ------------------------------------------------------------------------------------

T = kk.Timeout(connect=1.5, read=2.5, total=3.5)
REQUEST = httpx.Request("POST", "http://h:1/v1/chat/completions")


def _refused() -> httpx.ConnectError:
    exc = httpx.ConnectError("All connection attempts failed", request=REQUEST)
    inner = OSError("All connection attempts failed")
    inner.__cause__ = ConnectionRefusedError(111, "Connection refused")
    exc.__cause__ = inner
    return exc


@pytest.mark.parametrize(
    ("make", "phase", "cls", "detail"),
    [
        pytest.param(
            lambda: httpx.ConnectTimeout("t"), "send", kk.APITimeoutError, "connect", id="connect"
        ),
        pytest.param(
            lambda: httpx.PoolTimeout("t"), "send", kk.APITimeoutError, "connect", id="pool"
        ),
        pytest.param(
            lambda: httpx.ReadTimeout("t"), "send", kk.APITimeoutError, "read", id="read-headers"
        ),
        pytest.param(
            lambda: httpx.ReadTimeout("t"), "stream", kk.APITimeoutError, "read", id="read-body"
        ),
        pytest.param(
            lambda: httpx.WriteTimeout("t"), "send", kk.APITimeoutError, "read", id="write"
        ),
        pytest.param(_TotalTimeout, "stream", kk.APITimeoutError, "total", id="total"),
        pytest.param(
            _refused,
            "send",
            kk.APIConnectionError,
            "cannot connect to h:1: Connection refused",
            id="refused",
        ),
        pytest.param(
            lambda: httpx.ConnectError(
                "x", request=httpx.Request("POST", "https://api.example.com/v1")
            ),
            "send",
            kk.APIConnectionError,
            "cannot connect to api.example.com:443: ConnectError: x",
            id="refused-default-port",
        ),
        pytest.param(
            lambda: httpx.ConnectError("x"),
            "send",
            kk.APIConnectionError,
            "cannot connect to the server",
            id="refused-without-request",
        ),
        pytest.param(
            lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "send",
            kk.APIConnectionError,
            "before a response arrived: RemoteProtocolError: Server disconnected",
            id="disconnected-before-headers",
        ),
        pytest.param(
            lambda: httpx.RemoteProtocolError("peer closed connection"),
            "stream",
            kk.IncompleteStreamError,
            "before the stream ended: RemoteProtocolError: peer closed connection",
            id="disconnected-mid-stream",
        ),
        pytest.param(
            lambda: httpx.ReadError(""),
            "stream",
            kk.IncompleteStreamError,
            "before the stream ended: ReadError",
            id="read-error-mid-stream",
        ),
        pytest.param(
            lambda: httpx.ReadError("cut"),
            "read",
            kk.APIConnectionError,
            "reading the response: ReadError: cut",
            id="read-error-whole-body",
        ),
        pytest.param(
            lambda: httpx.DecodingError("bad gzip"),
            "stream",
            kk.IncompleteStreamError,
            "DecodingError: bad gzip",
            id="decoding-error",
        ),
        pytest.param(
            httpx.StreamClosed,
            "stream",
            kk.IncompleteStreamError,
            "before the stream ended: StreamClosed",
            id="closed-mid-stream",
        ),
        pytest.param(
            lambda: httpx.InvalidURL("x y"),
            "send",
            kk.InvalidParameterError,
            "base_url",
            id="invalid-url",
        ),
        pytest.param(
            lambda: ConnectionResetError(104, "Connection reset by peer"),
            "stream",
            kk.IncompleteStreamError,
            "ConnectionResetError",
            id="os-error",
        ),
    ],
)
def test_translate_error(make: Any, phase: str, cls: type[kk.KkiaiError], detail: str) -> None:
    """httpx's exceptions map to the library's tree, and timeouts to the one that fired."""
    mapped = translate_error(make(), T, phase)  # type: ignore[arg-type]
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
        pytest.param(httpx.StreamConsumed(), id="programming-error"),
    ],
)
def test_translate_error_leaves_other_exceptions(exc: Exception) -> None:
    """An exception that is not a transport error is not translated."""
    assert translate_error(exc, T, "send") is None


def test_translated_error_forgets_the_request() -> None:
    """The httpx exception behind a translated error no longer holds the API key."""
    request = httpx.Request("POST", "http://h/v1", headers={"Authorization": "Bearer sk-secret"})
    exc = httpx.ReadError("cut", request=request)
    assert b"sk-secret" in pickle.dumps(exc)
    translate_error(exc, T, "stream")
    assert b"sk-secret" not in pickle.dumps(exc)


# ------------------------------------------------------------------------------------
# The total timeout httpx lacks
# ------------------------------------------------------------------------------------


async def test_deadline_interrupts_an_await() -> None:
    """When the deadline passes, the await in progress ends with _TotalTimeout."""
    deadline = _Deadline(3600)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(deadline.run(never))
    await asyncio.sleep(0)
    deadline._expire()
    with pytest.raises(_TotalTimeout):
        await task
    deadline.cancel()
    assert never.cancelled()


async def test_deadline_passed_fails_at_once() -> None:
    """After the deadline, run() raises without awaiting (and closes the coroutine)."""
    deadline = _Deadline(3600)
    deadline._expire()
    started = []

    async def work() -> None:
        started.append(True)

    with pytest.raises(_TotalTimeout):
        await deadline.run(work())
    deadline.cancel()
    assert started == []


async def test_deadline_lets_other_cancellations_through() -> None:
    """A cancellation from elsewhere stays a cancellation, not a timeout."""
    deadline = _Deadline(3600)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(deadline.run(never))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline.cancel()
    assert not deadline.expired


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.10 does not count cancels")
async def test_deadline_and_a_cancellation_together() -> None:
    """When the deadline and another cancellation coincide, the cancellation wins."""
    deadline = _Deadline(3600)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(deadline.run(never))
    await asyncio.sleep(0)
    task.cancel()
    deadline._expire()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline.cancel()


@pytest.fixture
async def transport_total(server: Server) -> AsyncIterator[kk.AsyncClient]:
    """An httpx-transport client with a long total timeout (the deadline timer runs)."""
    async with kk.AsyncClient(
        base_url=server.base_url,
        max_retries=0,
        transport="httpx",
        timeout=kk.Timeout(read=None, total=3600),
    ) as c:
        yield c


async def test_caller_timeout_is_not_the_total(server: Server, transport_total: Any) -> None:
    """A caller's asyncio timeout around a stream cancels it; it is not reported as total."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    stream = await transport_total.chat.completions.create(
        model="m", messages=MESSAGES, stream=True
    )
    async with stream:
        await stream.__anext__()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.__anext__(), 0.05)
    await server.wait_disconnect()


async def test_total_timeout_between_reads(server: Server) -> None:
    """A total timeout that expires while the consumer is busy fails the next read."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    async with kk.AsyncClient(
        base_url=server.base_url,
        max_retries=0,
        transport="httpx",
        timeout=kk.Timeout(read=None, total=3600),
    ) as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            await stream.__anext__()
            stream._response._deadline._expire()  # type: ignore[attr-defined]
            with pytest.raises(kk.APITimeoutError) as info:
                await stream.__anext__()
    assert info.value.timeout == "total"
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "Hel"


# ------------------------------------------------------------------------------------
# Closing
# ------------------------------------------------------------------------------------


async def test_close_while_another_task_reads(server: Server, httpx_client: kk.AsyncClient) -> None:
    """close() from another task wakes the reading task with IncompleteStreamError."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    stream = await httpx_client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _ in stream:
            got_first.set()

    task = asyncio.create_task(consume())
    await got_first.wait()
    await asyncio.sleep(0)
    await stream.close()
    with pytest.raises(kk.IncompleteStreamError):
        await task
    await server.wait_disconnect()


async def test_reading_a_closed_response_fails(server: Server) -> None:
    """A body read after its response was closed raises, rather than ending cleanly."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    transport = HttpxTransport()
    try:
        url = server.base_url + "/chat/completions"
        response = await transport.send("POST", url, {}, b"{}", kk.Timeout(), True)
        pieces = response.iter_bytes()
        assert await pieces.__anext__() == HELLO[:cut]
        await response.aclose(reuse=False)
        with pytest.raises(kk.IncompleteStreamError, match="StreamClosed"):
            await pieces.__anext__()
    finally:
        await transport.aclose()
    await server.wait_disconnect()


async def test_body_left_open_after_done_is_closed(server: Server, client: kk.AsyncClient) -> None:
    """A server that keeps the body open after [DONE] gets the connection closed, briefly
    after the stream ended cleanly."""
    server.queue(Reply(body=HELLO + b": more to come\n\n", stall_after=len(HELLO)))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    completion = await stream.final_completion()
    assert completion.choices[0].message.content == "Hello"
    await server.wait_disconnect()
    assert server.disconnects == 1


async def test_drain_cut_short_leaks_nothing(
    server: Server, httpx_client: kk.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for a body's end after [DONE], cut short at any point, leaves no socket open."""
    monkeypatch.setattr(_httpx, "_DRAIN_GRACE", 0)
    server.queue(*(Reply(body=HELLO) for _ in range(40)))

    async def one() -> str | None:
        stream = await httpx_client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        )
        return (await stream.final_completion()).choices[0].message.content

    assert await asyncio.gather(*(one() for _ in range(40))) == ["Hello"] * 40


async def test_many_streams_share_the_pool(server: Server, httpx_client: kk.AsyncClient) -> None:
    """Streams read to their end one after another reuse one connection."""
    server.queue(*(Reply(body=HELLO, piece=9) for _ in range(3)))
    for _ in range(3):
        stream = await httpx_client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        )
        await stream.final_completion()
    assert len({r.port for r in server.requests}) == 1


# ------------------------------------------------------------------------------------
# Bytes and headers, the same through both transports
# ------------------------------------------------------------------------------------


async def test_gzip_stream_is_decoded(server: Server, client: kk.AsyncClient) -> None:
    """A gzip-encoded event stream is decoded, as aiohttp does."""
    headers = {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}
    server.queue(Reply(body=gzip.compress(HELLO), headers=headers))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    completion = await stream.final_completion()
    assert completion.choices[0].message.content == "Hello"


async def test_repeated_header_keeps_the_last(server: Server, client: kk.AsyncClient) -> None:
    """A header sent twice keeps its last value, not the two joined."""
    headers = CIMultiDict([("Content-Type", "text/event-stream"), ("X-Dup", "a"), ("X-Dup", "b")])
    server.queue(Reply(body=HELLO, headers=headers))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    await stream.final_completion()
    assert stream.response_headers["x-dup"] == "b"


CASES = [pytest.param(case, id=case.name.removeprefix("openai-python__")) for case in load_cases()]


@pytest.mark.parametrize("case", CASES)
async def test_bytes_match_and_httpx_sse_agrees(server: Server, case: Case) -> None:
    """The transport delivers a recorded stream's exact bytes, and our decoder finds in
    them the events httpx-sse finds in the same response."""
    url = server.base_url + "/chat/completions"
    server.queue(Reply(body=case.sse, piece=61), Reply(body=case.sse, piece=61))
    transport = HttpxTransport()
    try:
        response = await transport.send("POST", url, {}, b"{}", kk.Timeout(), True)
        pieces = [piece async for piece in response.iter_bytes()]
        await response.aclose(reuse=True)
    finally:
        await transport.aclose()
    assert b"".join(pieces) == case.sse
    decoder = SSEDecoder()
    ours = [(e.event, e.data) for e in [*decoder.feed(b"".join(pieces)), *decoder.flush()]]
    async with httpx.AsyncClient() as http, aconnect_sse(http, "POST", url) as source:
        theirs = [(e.event, e.data) async for e in source.aiter_sse()]
    assert ours == theirs
    assert len(ours) == case.sse.count(b"data: ")


# ------------------------------------------------------------------------------------
# Inflating gzip and deflate in bounded steps
# ------------------------------------------------------------------------------------


def _deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


INFLATE_CASES = [
    pytest.param("gzip", gzip.compress, id="gzip"),
    pytest.param("deflate", zlib.compress, id="deflate-zlib"),
    pytest.param("deflate", _deflate_raw, id="deflate-raw"),
]


@pytest.mark.parametrize(("encoding", "compress"), INFLATE_CASES)
@pytest.mark.parametrize("split", [1, 7, 4096, 1 << 20])
def test_inflater_is_exact_for_any_split(
    encoding: str, compress: Callable[[bytes], bytes], split: int
) -> None:
    """However the compressed body is split, the steps join to the body, none over a step."""
    # Random text and long runs: runs inflate past a step from a few input bytes.
    rng = random.Random(split)
    body = b"".join(
        bytes(rng.randrange(256) for _ in range(300)) + b"\0" * rng.randrange(600_000)
        for _ in range(4)
    )
    data = compress(body)
    inflater = _httpx._Inflater(encoding)
    out: list[bytes] = []
    for start in range(0, len(data), split):
        inflater.feed(data[start : start + split])
        while step := inflater.step():
            assert len(step) <= _httpx._INFLATE_STEP
            out.append(step)
    assert b"".join(out) == body


def test_inflater_refuses_what_is_not_compressed() -> None:
    """Bytes that are not gzip raise httpx.DecodingError (translated like a broken read)."""
    inflater = _httpx._Inflater("gzip")
    inflater.feed(b"plain text, not gzip")
    with pytest.raises(httpx.DecodingError, match="invalid compressed body"):
        inflater.step()
