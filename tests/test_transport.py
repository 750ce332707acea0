"""Both transports: bounded bodies (a gzip bomb, an oversized error page) and transport
objects given to ``make_transport``.

Every body comes from a real aiohttp application on loopback, which also records the
client port of each request: a connection that was reused shows the same port twice.
Memory is measured with :mod:`tracemalloc` (the peak of the Python heap while the
body is read) and the process's peak RSS; both are bounds on memory, not on time.
"""

from __future__ import annotations

import functools
import gzip
import resource
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import msgspec
import pytest
from _transports import RecordingTransport
from aiohttp import web
from conftest import JSON_HEADERS, Reply, Server, TransportName, completion_json

import kkiai_async as kk
from kkiai_async._config import Timeout
from kkiai_async._transport import Transport, make_transport

MiB = 1024 * 1024
# Big enough that the bound, not the constant cost of a request (about 3 MiB: buffers,
# the server's side of the body), is what the memory measurements see.
BOUND = 8 * MiB
BOMB_SIZE = 512 * MiB
ERROR_EXCERPT = 64 * 1024
# A completion-like JSON body well under the bound, compressible as real ones are.
SMALL = msgspec.json.encode({"choices": [{"text": f"token {i} " * 8} for i in range(2000)]})
PAGE = b"<html><body>" + b"<p>Bad gateway</p>" * 20_000 + b"</body></html>"


@functools.cache
def gzip_bomb() -> bytes:
    """512 MiB of zeros, gzip-compressed a mebibyte at a time (about 0.5 MB), built once."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(MiB)
    parts = [compressor.compress(zeros) for _ in range(BOMB_SIZE // MiB)]
    parts.append(compressor.flush())
    return b"".join(parts)


@dataclass
class App:
    """The loopback application: its URL and the (route, client port) of each request."""

    url: str
    seen: list[tuple[str, int]] = field(default_factory=list)

    def ports(self, route: str) -> list[int]:
        """The client ports of the requests for ``route``, in order."""
        return [port for name, port in self.seen if name == route]


def _compressed(body: bytes, encoding: str) -> web.Response:
    return web.Response(
        body=body,
        headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
    )


@pytest.fixture
async def app() -> AsyncIterator[App]:
    """The application on 127.0.0.1, with one route per kind of body."""
    state = App(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        name = request.match_info["name"]
        state.seen.append((name, request.transport.get_extra_info("peername")[1]))
        if name == "bomb":
            return _compressed(gzip_bomb(), "gzip")
        if name == "bomb-chunked":
            # The same bomb in chunked encoding, without a Content-Length to go by.
            resp = web.StreamResponse(
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            bomb = gzip_bomb()
            try:
                for start in range(0, len(bomb), 64 * 1024):
                    await resp.write(bomb[start : start + 64 * 1024])
            except ConnectionResetError:
                pass  # the client closed the connection, as it should
            return resp
        if name == "small":
            return _compressed(gzip.compress(SMALL), "gzip")
        if name == "deflate-zlib":
            return _compressed(zlib.compress(SMALL), "deflate")
        if name == "deflate-raw":
            raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            return _compressed(raw.compress(SMALL) + raw.flush(), "deflate")
        if name == "corrupt":
            return _compressed(gzip.compress(SMALL)[:20] + b"not deflate at all" * 100, "gzip")
        if name == "exact":
            return web.Response(body=b"x" * BOUND)
        if name == "page":
            return web.Response(status=502, body=PAGE, content_type="text/html")
        return web.Response(status=404)

    web_app = web.Application()
    web_app.router.add_route("POST", "/{name}", handle)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def http(transport: TransportName) -> AsyncIterator[Transport]:
    """The transport under test (each of the two), with a pool of its own."""
    made = make_transport(transport, None, 10)
    try:
        yield made
    finally:
        await made.aclose()


async def _read(
    http: Transport, url: str, max_bytes: int | None, *, truncate: bool = False
) -> bytes:
    """POST to ``url`` and read the body as the client does, closing the response."""
    response = await http.send("POST", url, {}, b"{}", Timeout(), False)
    reuse = False
    try:
        body = await response.read(max_bytes, truncate=truncate)
        reuse = True
    finally:
        await response.aclose(reuse=reuse)
    return body


# ------------------------------------------------------------------------------------
# Bounded bodies
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["bomb", "bomb-chunked"])
async def test_gzip_bomb_is_refused_within_memory_of_the_bound(
    app: App, http: Transport, path: str
) -> None:
    """A 0.5 MB gzip body inflating to 512 MiB is refused; memory grows by a few bounds only."""
    bomb = gzip_bomb()
    assert len(bomb) < MiB
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        with pytest.raises(kk.APIProtocolError, match=f"over {BOUND} bytes") as info:
            await _read(http, f"{app.url}/{path}", BOUND)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert "max_body_bytes" in str(info.value)
    # Measured: the bound plus 2-3 MiB on either transport (without the bound: 1 GiB).
    assert peak < 2 * BOUND, f"the heap grew by {peak / MiB:.1f} MiB"
    assert rss_growth < 4 * BOUND, f"the peak RSS grew by {rss_growth / MiB:.1f} MiB"


async def test_compressed_stream_comes_in_bounded_pieces(app: App, http: Transport) -> None:
    """A gzip bomb read as a stream comes in pieces of at most 1 MiB, never inflated whole."""
    response = await http.send("POST", f"{app.url}/bomb", {}, b"{}", Timeout(), True)
    largest = total = 0
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        try:
            async for piece in response.iter_bytes():
                largest = max(largest, len(piece))
                total += len(piece)
                if total > BOUND:
                    break
        finally:
            await response.aclose(reuse=False)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert total > BOUND
    assert largest <= MiB
    assert peak < BOUND, f"the heap grew by {peak / MiB:.1f} MiB"


async def test_refused_body_connection_is_not_reused(app: App, http: Transport) -> None:
    """After a body over the bound, the next request opens a new connection."""
    with pytest.raises(kk.APIProtocolError):
        await _read(http, f"{app.url}/bomb", BOUND)
    assert await _read(http, f"{app.url}/small", BOUND) == SMALL
    assert await _read(http, f"{app.url}/small", BOUND) == SMALL
    [refused] = app.ports("bomb")
    first, second = app.ports("small")
    assert first != refused
    assert second == first  # a body read to its end leaves its connection pooled


async def test_error_body_over_bound_is_truncated(app: App, http: Transport) -> None:
    """truncate=True gives the first bytes of an oversized error page, closes its connection."""
    response = await http.send("POST", f"{app.url}/page", {}, b"{}", Timeout(), False)
    assert response.status == 502
    try:
        body = await response.read(ERROR_EXCERPT, truncate=True)
    finally:
        await response.aclose(reuse=True)
    assert body == PAGE[:ERROR_EXCERPT]
    assert await _read(http, f"{app.url}/small", BOUND) == SMALL
    assert app.ports("small") != app.ports("page")


async def test_error_body_under_bound_is_whole(app: App, http: Transport) -> None:
    """truncate=True on a body within the bound gives all of it, and the connection is reused."""
    assert await _read(http, f"{app.url}/page", len(PAGE), truncate=True) == PAGE
    assert await _read(http, f"{app.url}/small", BOUND) == SMALL
    assert app.ports("small") == app.ports("page")


@pytest.mark.parametrize("path", ["small", "deflate-zlib", "deflate-raw"])
async def test_compressed_body_under_bound_reads_whole(
    app: App, http: Transport, path: str
) -> None:
    """A gzip or deflate (zlib or raw) body under the bound reads whole, inflated."""
    assert len(SMALL) < BOUND
    assert await _read(http, f"{app.url}/{path}", BOUND) == SMALL


async def test_corrupt_gzip_body_is_a_connection_error(app: App, http: Transport) -> None:
    """A body that is not the gzip its Content-Encoding says raises APIConnectionError."""
    with pytest.raises(kk.APIConnectionError, match="while reading the response"):
        await _read(http, f"{app.url}/corrupt", BOUND)


async def test_body_of_exactly_the_bound_reads_whole(app: App, http: Transport) -> None:
    """The bound is inclusive: a body of exactly max_bytes is accepted."""
    assert await _read(http, f"{app.url}/exact", BOUND) == b"x" * BOUND
    with pytest.raises(kk.APIProtocolError):
        await _read(http, f"{app.url}/exact", BOUND - 1)


async def test_no_bound_reads_whole(app: App, http: Transport) -> None:
    """max_bytes=None reads the whole body."""
    assert await _read(http, f"{app.url}/exact", None) == b"x" * BOUND


# ------------------------------------------------------------------------------------
# Transport objects
# ------------------------------------------------------------------------------------


def test_make_transport_takes_a_transport_object() -> None:
    """An object with the Transport protocol's members is used as it is."""
    mine = RecordingTransport()
    assert make_transport(mine, None, 10) is mine


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param(object(), "lacks .*send, aclose, closed, user_agent", id="object"),
        pytest.param(RecordingTransport, "a class, not an instance", id="class"),
        pytest.param(
            SimpleNamespace(send=print, aclose=print, closed="no", user_agent=1),
            "wrong type of\\) closed, user_agent",
            id="wrong-types",
        ),
    ],
)
def test_make_transport_refuses_what_is_not_a_transport(value: object, match: str) -> None:
    """A non-transport raises InvalidParameterError naming transport and what it lacks."""
    with pytest.raises(kk.InvalidParameterError, match=match) as info:
        make_transport(value, None, 10)  # type: ignore[arg-type]
    assert info.value.param == "transport"


async def test_make_transport_refuses_a_session_with_a_transport_object() -> None:
    """session= beside a transport object raises InvalidParameterError naming session."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        with pytest.raises(kk.InvalidParameterError, match="with a transport object") as info:
            make_transport(RecordingTransport(), session, 10)
    assert info.value.param == "session"


async def test_client_sends_through_a_transport_object(server: Server) -> None:
    """A client given a transport object sends through it; a failure it injects is retried."""
    server.queue(Reply(body=msgspec.json.encode(completion_json()), headers=JSON_HEADERS))
    mine = RecordingTransport()
    mine.fail_next(kk.APIConnectionError("injected"))
    async with kk.AsyncClient(
        base_url=server.base_url,
        api_key="sk-recorded",
        max_retries=1,
        transport=mine,
    ) as client:
        completion = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}]
        )
        assert completion.choices[0].message.content == "Hello!"
        assert mine.pool_state() == (0, 1)
    assert mine.closed
    assert [r.url for r in mine.requests] == [f"{server.base_url}/chat/completions"] * 2
    assert mine.requests[0].headers["authorization"] == "Bearer sk-recorded"
    assert len(server.requests) == 1
