"""Secrets and safety: the API key stays in the Authorization header and goes nowhere else.

Not in ``repr()``, not in any exception's text, chain or pickle (even when the server
echoes it back), not in logs at any level, not to another host on a redirect. TLS is
verified unless the caller lends a session that says otherwise, and ``base_url`` must be
``http(s)``, with a warning for plain http beyond loopback.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import shutil
import ssl
import subprocess
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _transports import RecordingTransport
from aiohttp import web

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Fault, Reply

KEY = "sk-kkiai-SECRET-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Hi"}]
COMPLETION = {
    "id": "chatcmpl-tls",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "over TLS"},
            "finish_reason": "stop",
        }
    ],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    """A FakeServer on loopback."""
    async with FakeServer() as server:
        yield server


def everything_about(exc: BaseException) -> str:
    """Every text an exception can end up as: str, repr, traceback, chain, pickle."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    link: BaseException | None = exc
    while link is not None:
        parts += [str(link), repr(link), repr(vars(link)) if hasattr(link, "__dict__") else ""]
        link = link.__cause__ or link.__context__
    parts.append(repr(pickle.dumps(exc)))
    return "\n".join(parts)


@asynccontextmanager
async def app_server(
    handler: Any, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An aiohttp server on loopback; yields its root URL and the headers it received."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        await request.read()
        return await handler(request)  # type: ignore[no-any-return]

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------------
# repr, exceptions, pickles
# ------------------------------------------------------------------------------------


async def test_repr_never_shows_the_key(fake: FakeServer) -> None:
    """repr() of the client, its copies, streams and raw responses hide the key."""
    fake.queue(Reply.text("Hi"), Reply.text("Hi"))
    async with kk.AsyncClient(base_url=fake.base_url, api_key=KEY) as client:
        copy = client.with_options(max_retries=0)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            texts = [repr(client), str(client), repr(copy), repr(stream)]
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        texts.append(repr(raw))
    assert texts[0] == f"<AsyncClient base_url={fake.base_url!r} api_key=set>"
    assert all(KEY not in text for text in texts)


async def test_status_error_echoing_the_key_is_redacted(fake: FakeServer) -> None:
    """A server that echoes the Authorization header in an error: the key is cut out."""
    fake.queue(
        Fault.status(
            400,
            body={
                "error": {
                    "message": f"bad header Authorization: Bearer {KEY}",
                    "param": KEY,
                    "headers": {"authorization": f"Bearer {KEY}"},
                }
            },
            headers={"x-echo": f"Bearer {KEY}"},
        )
    )
    async with kk.AsyncClient(base_url=fake.base_url, api_key=KEY, max_retries=0) as client:
        with pytest.raises(kk.BadRequestError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    exc = info.value
    assert exc.message == "HTTP 400: bad header Authorization: Bearer [redacted]"
    assert exc.param == "[redacted]"
    assert exc.headers["x-echo"] == "Bearer [redacted]"
    assert exc.body == {
        "error": {
            "message": "bad header Authorization: Bearer [redacted]",
            "param": "[redacted]",
            "headers": {"authorization": "Bearer [redacted]"},
        }
    }
    assert KEY not in everything_about(exc)
    # The pickled error is still the same error.
    again = pickle.loads(pickle.dumps(exc))
    assert (type(again), again.message, again.status_code) == (
        kk.BadRequestError,
        exc.message,
        400,
    )


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.status(401), id="401"),
        pytest.param(Fault.status(500), id="500"),
        pytest.param(Fault.reset(), id="reset"),
        pytest.param(Fault.drop_after(2), id="dropped"),
        pytest.param(Fault.garbage(2), id="garbage"),
        pytest.param(Fault.error_event(2), id="error-event"),
        pytest.param(Fault.stall(2, seconds=60), id="read-timeout"),
        pytest.param(Fault.html(200), id="html"),
    ],
)
async def test_no_error_carries_the_key(fake: FakeServer, fault: Fault) -> None:
    """Every kind of failure yields an error whose text, chain and pickle lack the key."""
    fake.queue(fault)
    timeout = kk.Timeout(read=0.3)
    async with kk.AsyncClient(
        base_url=fake.base_url, api_key=KEY, max_retries=0, timeout=timeout
    ) as client:
        with pytest.raises(kk.KkiaiError) as info:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                async for _ in stream:
                    pass
    assert KEY not in everything_about(info.value)


async def test_aiohttp_exception_in_the_chain_forgets_the_headers() -> None:
    """aiohttp's ClientResponseError keeps the request headers; the cause is scrubbed."""

    async def oversized_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(oversized_header, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with kk.AsyncClient(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0
        ) as client:
            with pytest.raises(kk.APIConnectionError) as info:
                await client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        server.close()
        await server.wait_closed()
    cause = info.value.__cause__
    assert isinstance(cause, aiohttp.ClientResponseError)
    assert dict(cause.request_info.headers) == {}
    assert KEY not in everything_about(info.value)


# ------------------------------------------------------------------------------------
# Logs
# ------------------------------------------------------------------------------------


async def test_logs_never_show_the_key(fake: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, across every logger, successes, retries and failures never log the key."""
    caplog.set_level(logging.DEBUG)
    fake.queue(
        Fault.status(429, retry_after=0),
        Reply.text("Hi"),
        Fault.status(400, body={"error": {"message": f"echo {KEY}"}}),
        Fault.drop_after(2),
    )
    async with kk.AsyncClient(base_url=fake.base_url, api_key=KEY, max_retries=1) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(kk.BadRequestError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
        logging.getLogger("app").exception("request failed", exc_info=info.value)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(kk.IncompleteStreamError) as dropped:
            async with stream:
                async for _ in stream:
                    pass
        logging.getLogger("app").exception("stream failed", exc_info=dropped.value)
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert KEY not in text
    requests = [r.getMessage() for r in caplog.records if r.getMessage().startswith("POST http://")]
    assert len(requests) == 4
    assert "'Authorization': 'Bearer [redacted]'" in requests[0]
    assert any(m.startswith("HTTP 429 from POST /chat/completions") for m in caplog.messages)


async def test_debug_log_redacts_every_credential(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Credential-like headers and any header carrying the key are redacted at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="kkiai_async")
    headers = {"X-Api-Key": "other-secret-value", "X-Trace": f"t={KEY}", "X-Plain": "shown"}
    async with kk.AsyncClient(
        base_url=fake.base_url, api_key=KEY, default_headers=headers
    ) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    (line,) = [m for m in caplog.messages if m.startswith("POST ")]
    assert "'X-Api-Key': '[redacted]'" in line
    assert "'X-Trace': 't=[redacted]'" in line
    assert "'X-Plain': 'shown'" in line
    assert "other-secret-value" not in caplog.text
    assert KEY not in caplog.text


async def test_debug_log_hides_url_credentials(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A base_url with user:password@ is logged without them."""
    caplog.set_level(logging.DEBUG, logger="kkiai_async")
    url = fake.base_url.replace("http://", "http://user:hunter2pass@")
    async with kk.AsyncClient(base_url=url, api_key=None) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert f"POST {fake.base_url}/chat/completions headers=" in caplog.text
    assert "hunter2pass" not in caplog.text


def test_url_credentials_and_a_key_conflict() -> None:
    """user:password@ in base_url together with an api_key is refused at construction."""
    with pytest.raises(kk.InvalidParameterError) as info:
        kk.AsyncClient(base_url="https://user:pw@api.example.com/v1", api_key=KEY)
    assert info.value.param == "base_url"
    assert KEY not in str(info.value)
    assert "pw@" not in str(info.value)


# ------------------------------------------------------------------------------------
# Redirects
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_origin_is_not_followed(status: int) -> None:
    """A redirect to another host:port raises; that host receives nothing, key or body."""

    async def other(request: web.Request) -> web.StreamResponse:
        return web.json_response(COMPLETION)

    async with app_server(other) as (other_url, other_seen):
        target = f"{other_url}/v1/chat/completions"

        async def redirect(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": target})

        async with (
            app_server(redirect) as (url, seen),
            kk.AsyncClient(base_url=f"{url}/v1", api_key=KEY, max_retries=2) as client,
        ):
            with pytest.raises(kk.APIStatusError) as info:
                await client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == status
    assert info.value.message.startswith(
        f"HTTP {status}: the server redirected the request to {target}; redirects are not followed"
    )
    assert other_seen == []
    assert len(seen) == 1
    assert seen[0]["authorization"] == f"Bearer {KEY}"


async def test_redirect_within_the_origin_is_not_followed_either() -> None:
    """A same-origin redirect is reported too: the API never redirects a POST."""

    async def redirect(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/elsewhere"):
            return web.json_response(COMPLETION)
        return web.Response(status=307, headers={"Location": "/v1/elsewhere"})

    async with (
        app_server(redirect) as (url, seen),
        kk.AsyncClient(base_url=f"{url}/v1", api_key=KEY) as client,
    ):
        with pytest.raises(kk.APIStatusError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert info.value.status_code == 307
    assert len(seen) == 1


# ------------------------------------------------------------------------------------
# TLS
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
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
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    yield cert, key


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """The server side of TLS with the self-signed certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def completion(request: web.Request) -> web.StreamResponse:
    """Answer with a whole completion."""
    return web.json_response(COMPLETION)


async def test_owned_session_verifies_certificates(server_tls: ssl.SSLContext) -> None:
    """The client's own pool verifies TLS: a self-signed certificate is refused."""
    # The aiohttp transport with its own pool, wrapped to show that pool's session.
    transport = RecordingTransport()
    async with (
        app_server(completion, server_tls) as (url, seen),
        kk.AsyncClient(
            base_url=f"{url}/v1", api_key=KEY, max_retries=0, transport=transport
        ) as client,
    ):
        with pytest.raises(kk.APIConnectionError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
        connector = transport.session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector._ssl is True  # aiohttp's default: verify against the system CAs
    assert "certificate" in str(info.value).lower()
    assert seen == []
    assert KEY not in everything_about(info.value)


@pytest.mark.parametrize("how", ["trusted-ca", "verification-off"])
async def test_lent_session_decides_tls(
    server_tls: ssl.SSLContext, certificate: tuple[Path, Path], how: str
) -> None:
    """A lent session's TLS settings are used: its own CA, or verification off."""
    ssl_setting: ssl.SSLContext | bool
    if how == "trusted-ca":
        ssl_setting = ssl.create_default_context(cafile=str(certificate[0]))
    else:
        ssl_setting = False
    async with (
        app_server(completion, server_tls) as (url, seen),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_setting)) as session,
        kk.AsyncClient(base_url=f"{url}/v1", api_key=KEY, session=session) as client,
    ):
        result = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert result.choices[0].message.content == "over TLS"
    assert seen[0]["authorization"] == f"Bearer {KEY}"


# ------------------------------------------------------------------------------------
# base_url
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://api.example.com/v1", id="ftp"),
        pytest.param("ws://api.example.com/v1", id="ws"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("api.example.com/v1", id="no-scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("", id="empty"),
    ],
)
def test_base_url_must_be_http_or_https(url: str) -> None:
    """Anything but an http(s) URL with a host is an InvalidParameterError."""
    with pytest.raises(kk.InvalidParameterError) as info:
        kk.AsyncClient(base_url=url, api_key=KEY)
    assert info.value.param == "base_url"


async def test_with_options_checks_base_url_too() -> None:
    """with_options(base_url=...) applies the same check."""
    async with kk.AsyncClient(base_url="https://api.example.com/v1", api_key=KEY) as client:
        with pytest.raises(kk.InvalidParameterError) as info:
            client.with_options(base_url="gopher://api.example.com/v1")
    assert info.value.param == "base_url"


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        pytest.param("http://api.example.com/v1", True, id="http-remote"),
        pytest.param("http://10.0.0.7:8000/v1", True, id="http-private-ip"),
        pytest.param("http://user:hunter2pass@api.example.com/v1", True, id="http-userinfo"),
        pytest.param("https://api.example.com/v1", False, id="https"),
        pytest.param("http://127.0.0.1:8000/v1", False, id="loopback-v4"),
        pytest.param("http://[::1]:8000/v1", False, id="loopback-v6"),
        pytest.param("http://localhost:8000/v1", False, id="localhost"),
    ],
)
def test_plain_http_beyond_loopback_warns(
    caplog: pytest.LogCaptureFixture, url: str, warns: bool
) -> None:
    """Plain http to a non-loopback host logs a warning naming the host only."""
    caplog.set_level(logging.WARNING, logger="kkiai_async")
    kk.AsyncClient(base_url=url, api_key=None)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) is warns
    if warns:
        message = warnings[0].getMessage()
        assert "unencrypted" in message
        assert "hunter2pass" not in message


def test_key_is_only_in_the_authorization_header() -> None:
    """The key reaches the request only as `Authorization: Bearer <key>`."""
    client = kk.AsyncClient(base_url="https://api.example.com/v1", api_key=KEY)
    sent = client._json_headers  # what every request carries
    holding = {name for name, value in sent.items() if KEY in value}
    assert holding == {"Authorization"}
    assert sent["Authorization"] == f"Bearer {KEY}"
