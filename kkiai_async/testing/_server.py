"""An OpenAI-compatible chat completions server on loopback, for tests and demos.

Why a real server rather than a mocked session: the library's promises (streams that
close their connections, retries that honour ``Retry-After``, errors that keep what
arrived) are about what happens on a socket. :class:`FakeServer` is a real
``aiohttp.web`` application on ``127.0.0.1`` that speaks the API byte for byte (see
:mod:`._wire`), answers deterministically when nothing is scripted (see
:mod:`._behaviour`), and can be told to answer or fail in any way a client must
survive (see :mod:`._script`).

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /v1/models/{id}``;
anything else is a 404 in the API's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import math
import secrets
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import msgspec
from aiohttp import web

from ._behaviour import IdMaker, conversation_hash, default_plans, prompt_tokens, usage_for
from ._limiter import RateLimiter, format_reset
from ._script import Fault, Reply, ScriptItem
from ._validate import ChatRequest, RequestError, validate_chat
from ._wire import (
    DONE,
    ChoicePlan,
    Envelope,
    PlannedCall,
    error_body,
    render_completion,
    render_stream,
)

__all__ = ["DEFAULT_MODEL", "FakeServer", "RecordedRequest", "run_forever", "serve"]

DEFAULT_MODEL = "kkiai-fake-1"
"""The model ``GET /v1/models`` lists when the server accepts any model."""

_SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
_MAX_BODY = 64 * 1024 * 1024
_NOT_JSON = object()
_sorted_encode = msgspec.json.Encoder(order="sorted").encode

_FAULT_MESSAGES: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.",
          "invalid_request_error", "model_not_found"),
    408: ("Request timed out.", "timeout", None),
    409: ("The request conflicts with another request.", "invalid_request_error", None),
    422: ("The request could not be processed.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again later.",
          "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
    529: ("The server is overloaded.", "server_error", "overloaded"),
}  # fmt: skip

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake server received, as it arrived.

    Attributes:
        method: ``"POST"``, ``"GET"``...
        path: The URL path (``"/v1/chat/completions"``), without the query.
        headers: The request headers, names lower-cased (the last one wins if repeated).
        body: The JSON body decoded, or the raw bytes when it was not JSON, or ``None``
            when there was no body.
        time: ``time.monotonic()`` when the request's body had been read.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float


class FakeServer:
    """An OpenAI-compatible server on loopback: ``async with FakeServer() as server:``.

    Args:
        host: The interface to listen on (loopback by default).
        port: The port; 0 picks a free one.
        api_key: When set, requests must send ``Authorization: Bearer <api_key>`` or get
            a 401; when ``None`` any key (or none) is accepted.
        models: The models that exist; any other gets a 404 ``model_not_found``. When
            ``None`` every non-empty model name is accepted.
        rpm: Requests per minute before 429s (``None``: unlimited).
        tpm: Tokens per minute before 429s (``None``: unlimited).
        clock: The limiter's monotonic clock, replaceable to test limits without waiting.
        system_fingerprint: Sent as ``system_fingerprint`` in every response.

    Attributes:
        requests: Every request received, oldest first (a plain list: clear it at will).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        system_fingerprint: str = "fp_kkiai0fake",
    ) -> None:
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._api_key = api_key
        self._models = None if models is None else frozenset(models)
        self._limiter = RateLimiter(rpm, tpm, clock)
        self._fingerprint = system_fingerprint
        self._script: deque[ScriptItem] = deque()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active = 0
        self.requests: list[RecordedRequest] = []

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<FakeServer {where} pending={len(self._script)}>"

    # ---------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The port the server listens on.

        Raises:
            RuntimeError: Before :meth:`start`.
        """
        if self._port is None:
            raise RuntimeError("the FakeServer is not started; use `async with FakeServer()`")
        return self._port

    @property
    def api_key(self) -> str | None:
        """The key requests must present, or ``None`` when any is accepted."""
        return self._api_key

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the server's root."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``: what a client takes as ``base_url``."""
        return f"{self.url}/v1"

    async def start(self) -> None:
        """Bind the port and start serving (idempotent)."""
        if self._runner is not None:
            return
        app = web.Application(middlewares=[self._track], client_max_size=_MAX_BODY)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)
        # handler_cancellation: a client that goes away mid-stall must not leave a
        # handler sleeping; shutdown_timeout is short because close() cancels first.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def close(self) -> None:
        """Stop serving: cancel in-flight handlers, close every connection (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---------------------------------------------------------------- scripting

    def queue(self, *items: ScriptItem) -> None:
        """Script the answers to the next chat requests, one item per request, in order.

        Only requests that pass authentication, validation and rate limiting consume an
        item; unscripted requests get the default behaviour.
        """
        for item in items:
            if not isinstance(item, (Reply, Fault)):
                raise TypeError(f"queue() takes Reply and Fault objects, not {item!r}")
        self._script.extend(items)

    @property
    def pending(self) -> int:
        """How many queued items have not been used yet."""
        return len(self._script)

    def clear(self) -> None:
        """Forget queued items and recorded requests."""
        self._script.clear()
        self.requests.clear()

    # ---------------------------------------------------------------- observation

    @property
    def open_connections(self) -> int:
        """TCP connections currently open to the server (idle keep-alive ones included).

        A connection the client closed is counted until the server has processed the
        close, a moment later: use :meth:`wait_for_connections` in tests.
        """
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    @property
    def active_requests(self) -> int:
        """Requests whose handler is running now (a stream being written counts)."""
        return self._active

    async def wait_for_connections(self, count: int, *, timeout: float = 5.0) -> None:
        """Wait until exactly ``count`` connections are open.

        Raises:
            TimeoutError: If that does not happen within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        polls = 0
        while self.open_connections != count:
            if loop.time() >= deadline:
                raise TimeoutError(f"{self.open_connections} connections open, expected {count}")
            polls += 1
            await asyncio.sleep(0 if polls < 20 else 0.005)

    # ---------------------------------------------------------------- handlers

    @web.middleware
    async def _track(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._active += 1
        try:
            return await handler(request)
        finally:
            self._active -= 1
            if task is not None:
                self._tasks.discard(task)

    def _record(self, request: web.Request, raw: bytes) -> Any:
        """Record the request; return its decoded JSON body, or ``_NOT_JSON``."""
        body: Any = None
        if raw:
            try:
                body = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                body = raw
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                time=time.monotonic(),
            )
        )
        return body if raw and body is not raw else _NOT_JSON

    def _error(
        self,
        status: int,
        message: str,
        headers: dict[str, str],
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> web.Response:
        return web.Response(
            status=status,
            body=error_body(message, type, param, code),
            headers=headers,
            content_type="application/json",
        )

    def _new_headers(self) -> dict[str, str]:
        return {"x-request-id": "req_" + secrets.token_hex(16)}

    def _check_key(self, request: web.Request, headers: dict[str, str]) -> web.Response | None:
        if self._api_key is None:
            return None
        auth = request.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return self._error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                headers,
            )
        key = key.strip()
        if not secrets.compare_digest(key.encode(), self._api_key.encode()):
            shown = f"{key[:3]}{'*' * max(len(key) - 7, 3)}{key[-4:]}" if len(key) > 8 else "***"
            return self._error(
                401, f"Incorrect API key provided: {shown}.", headers, code="invalid_api_key"
            )
        return None

    async def _unknown_route(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read())
        return self._error(
            404, f"Invalid URL ({request.method} {request.path})", self._new_headers()
        )

    def _model_object(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "kkiai"}

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read())
        headers = self._new_headers()
        denied = self._check_key(request, headers)
        if denied is not None:
            return denied
        names = sorted(self._models) if self._models is not None else [DEFAULT_MODEL]
        body = {"object": "list", "data": [self._model_object(name) for name in names]}
        return web.Response(
            body=msgspec.json.format(msgspec.json.encode(body), indent=2),
            headers=headers,
            content_type="application/json",
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read())
        headers = self._new_headers()
        denied = self._check_key(request, headers)
        if denied is not None:
            return denied
        model = request.match_info["model"]
        if self._models is not None and model not in self._models:
            return self._model_not_found(model, headers)
        body = msgspec.json.encode(self._model_object(model))
        return web.Response(
            body=msgspec.json.format(body, indent=2),
            headers=headers,
            content_type="application/json",
        )

    def _model_not_found(self, model: str, headers: dict[str, str]) -> web.Response:
        return self._error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            headers,
            code="model_not_found",
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = self._record(request, await request.read())
        headers = self._new_headers()
        denied = self._check_key(request, headers)
        if denied is not None:
            return denied
        if body is _NOT_JSON:
            headers.update(self._limiter.headers())
            return self._error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
                headers,
            )
        try:
            chat = validate_chat(body)
        except RequestError as exc:
            headers.update(self._limiter.headers())
            return self._error(
                exc.status, exc.message, headers, type=exc.type, param=exc.param, code=exc.code
            )
        if self._models is not None and chat.model not in self._models:
            return self._model_not_found(chat.model, headers)
        prompt = prompt_tokens(chat)
        cost = prompt + (chat.max_tokens or 0) * chat.n
        wait, kind = self._limiter.acquire(cost)
        headers.update(self._limiter.headers())
        if wait:
            return self._rate_limited(wait, kind, cost, headers)
        item = self._script.popleft() if self._script else None
        try:
            return await self._answer(request, chat, prompt, item, headers)
        except ConnectionError:
            # The client went away mid-response; aiohttp sees the closed transport too.
            return web.Response(status=499)

    def _rate_limited(
        self, wait: float, kind: str, cost: int, headers: dict[str, str]
    ) -> web.Response:
        unit = "RPM" if kind == "requests" else "TPM"
        limit = self._limiter.limit(kind)
        requested = 1 if kind == "requests" else cost
        if math.isinf(wait):
            wait = 60.0
            message = (
                f"Request too large for {kind} per min ({unit}): Limit {limit}, "
                f"Requested {requested}."
            )
        else:
            message = (
                f"Rate limit reached for {kind} per min ({unit}): Limit {limit}, "
                f"Requested {requested}. Please try again in {format_reset(wait)}."
            )
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        return self._error(429, message, headers, type=kind, code="rate_limit_exceeded")

    # ---------------------------------------------------------------- answering

    async def _answer(
        self,
        request: web.Request,
        chat: ChatRequest,
        prompt: int,
        item: ScriptItem | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        fault: Fault | None = None
        reply: Reply | None
        if isinstance(item, Fault):
            if item.kind == "status":
                return self._status_fault(item, headers)
            if item.kind == "html":
                return _html_page(item)
            if item.kind == "reset":
                if request.transport is not None:
                    request.transport.abort()
                return web.Response()
            fault, reply = item, item.reply
        else:
            reply = item
        if reply is not None and reply.kind == "chunks":
            if not chat.stream:
                return self._error(
                    500,
                    "FakeServer: Reply.chunks() can only answer a streamed request.",
                    headers,
                    type="server_error",
                )
            events = [b"data: " + payload + b"\n\n" for payload in reply.payloads]
            if reply.done:
                events.append(DONE)
            return await self._send_stream(request, events, reply.delay, fault, headers)

        ids = IdMaker(_sorted_encode(chat.body) if chat.seed is not None else None)
        env = Envelope(
            id=ids.make("chatcmpl-", 29),
            created=1_700_000_000 + ids.number(100_000_000) if ids.seeded else int(time.time()),
            model=chat.model,
            fingerprint=self._fingerprint,
            logprobs=chat.logprobs,
            top_logprobs=chat.top_logprobs,
            salt=str(conversation_hash(chat)),
            service_tier=chat.service_tier,
        )
        plans = default_plans(chat, ids) if reply is None else _reply_plans(reply, chat.n, ids)
        usage = usage_for(prompt, plans)
        chunk_size = reply.chunk_size if reply is not None else None
        delay = reply.delay if reply is not None else 0.0
        if chat.stream:
            events = render_stream(
                env, plans, usage, include_usage=chat.include_usage, chunk_size=chunk_size
            )
            return await self._send_stream(request, events, delay, fault, headers)
        return await self._send_completion(
            request, render_completion(env, plans, usage), fault, headers
        )

    def _status_fault(self, fault: Fault, headers: dict[str, str]) -> web.Response:
        status = fault.status_code
        if fault.retry_after is not None:
            value = fault.retry_after
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            headers["retry-after"] = str(value)
        headers.update(fault.headers)
        if fault.body is not None:
            content_type = "application/json" if fault.body[:1] in (b"{", b"[") else "text/plain"
            return web.Response(
                status=status, body=fault.body, headers=headers, content_type=content_type
            )
        default = (f"HTTP {status}", "server_error" if status >= 500 else "invalid_request_error")
        message, type_, code = _FAULT_MESSAGES.get(status, (*default, None))
        return self._error(status, message, headers, type=type_, code=code)

    async def _send_stream(
        self,
        request: web.Request,
        events: list[bytes],
        delay: float,
        fault: Fault | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=headers)
        response.headers["Content-Type"] = _SSE_CONTENT_TYPE
        await response.prepare(request)
        if fault is None:
            await _write(response, events, delay)
            return response
        cut = fault.after_chunks
        if fault.kind == "garbage":
            events = [*events[:cut], b"data: " + fault.data + b"\n\n", *events[cut:]]
        elif fault.kind == "error_event":
            line = b"" if fault.event is None else b"event: " + fault.event.encode() + b"\n"
            events = [*events[:cut], line + b"data: " + _compact({"error": fault.error}) + b"\n\n"]
        elif fault.kind == "drop_after":
            await _write(response, events[:cut], delay)
            await _abort(request)
            return response
        elif fault.kind == "stall":
            await _write(response, events[:cut], delay)
            await asyncio.sleep(fault.seconds)
            events = events[cut:]
        await _write(response, events, delay)
        return response

    async def _send_completion(
        self,
        request: web.Request,
        body: bytes,
        fault: Fault | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        if fault is not None:
            if fault.kind == "drop_after":
                response = web.StreamResponse(status=200, headers=headers)
                response.content_type = "application/json"
                response.content_length = len(body)
                await response.prepare(request)
                await response.write(body[: len(body) // 2])
                await _abort(request)
                return response
            if fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "garbage":
                body = fault.data
            elif fault.kind == "error_event":
                body = msgspec.json.format(_compact({"error": fault.error}), indent=4) + b"\n"
        return web.Response(body=body, headers=headers, content_type="application/json")


def _compact(value: Any) -> bytes:
    return msgspec.json.encode(value)


def _reply_plans(reply: Reply, n: int, ids: IdMaker) -> list[ChoicePlan]:
    return [
        ChoicePlan(
            content=reply.content,
            reasoning=reply.thinking,
            refusal=reply.refusal_text,
            calls=[
                PlannedCall(call.id or ids.make("call_", 24), call.name, call.arguments)
                for call in reply.calls
            ],
            finish_reason=reply.finish_reason,
        )
        for _ in range(n)
    ]


def _html_page(fault: Fault) -> web.Response:
    status = fault.status_code
    body = fault.body
    if body is None:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        title = f"{status} {phrase}"
        body = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        ).encode()
    return web.Response(status=status, body=body, content_type="text/html")


async def _write(response: web.StreamResponse, events: list[bytes], delay: float) -> None:
    """Write events: all in one write when there is no delay, else one by one."""
    if not events:
        return
    if not delay:
        await response.write(b"".join(events))
        return
    for event in events:
        await asyncio.sleep(delay)
        await response.write(event)


async def _abort(request: web.Request) -> None:
    """Cut the connection without the terminating chunk, once what was written is sent.

    ``abort()`` discards the transport's buffer, so the bytes already written must have
    left first for the client to see exactly the promised chunks before the cut.
    """
    transport = request.transport
    if transport is None:
        return
    for attempt in range(400):
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0 if attempt < 20 else 0.005)
    transport.abort()


async def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    models: Iterable[str] | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    on_ready: Callable[[FakeServer], None] | None = None,
) -> None:
    """Run a :class:`FakeServer` until cancelled (what ``kkiai serve`` runs).

    Args:
        host: The interface to listen on.
        port: The port (0 picks a free one; read it in ``on_ready``).
        api_key: Require this bearer key (``None``: accept any).
        models: Restrict the accepted models (``None``: accept any).
        rpm: Requests per minute (``None``: unlimited).
        tpm: Tokens per minute (``None``: unlimited).
        on_ready: Called with the started server, e.g. to print its ``base_url``.
    """
    async with FakeServer(
        host=host, port=port, api_key=api_key, models=models, rpm=rpm, tpm=tpm
    ) as server:
        if on_ready is not None:
            on_ready(server)
        await asyncio.Event().wait()


def _announce(server: FakeServer) -> None:
    print(f"kkiai fake server listening on {server.base_url}", file=sys.stderr, flush=True)


def run_forever(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    models: Iterable[str] | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    on_ready: Callable[[FakeServer], None] | None = _announce,
) -> None:
    """Run :func:`serve` in a new event loop until Ctrl-C or SIGTERM (blocking).

    Both signals close the server cleanly. By default the base URL is printed to
    stderr once the port is bound.
    """

    async def main() -> None:
        task = asyncio.current_task()
        if task is not None:
            # Where signals are not supported (Windows), Ctrl-C still works.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(
                host, port, api_key=api_key, models=models, rpm=rpm, tpm=tpm, on_ready=on_ready
            )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
