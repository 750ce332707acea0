"""A chat page that streams answers and tool calls to a browser, built on kkiai-async.

Run it and open http://127.0.0.1:8080/::

    python examples/web/app.py --port 8080                  # an in-process FakeServer
    KKIAI_API_KEY=sk-... python examples/web/app.py --real  # the real service

What it shows:

- one long-lived :class:`kkiai_async.AsyncClient` shared by every request of the app;
- ``client.chat.completions.stream(...)`` events relayed to the browser as they arrive,
  each typed event as one ``data:`` line of JSON (``msgspec.json.encode(event)``):
  text deltas, a tool call starting, its arguments growing (parsed while incomplete),
  the call done;
- the tool (``get_delivery_date``) run here, its result sent to the page, and a second
  round streamed after the assistant's tool call and the ``tool`` message are sent back;
- closing the tab ends the upstream stream: aiohttp cancels the handler when the
  browser disconnects (``handler_cancellation=True``, off by default since aiohttp 3.9),
  and leaving ``async with`` closes the upstream response.

Why ``fetch()`` with a streamed ``POST`` body rather than ``EventSource``: the request
carries the whole conversation as JSON, which a ``GET`` URL cannot hold for long; and
``EventSource`` reconnects by itself when a response ends or breaks, which here would
send the question again and pay for a second completion. ``fetch()`` reads the same
``text/event-stream`` framing from a ``ReadableStream`` and stops with an
``AbortController`` (the page's Stop button), which the server sees as a disconnect.

The browser sends only ``user`` and ``assistant`` text turns; the system prompt and the
tool messages are added here, so a page cannot make the app call tools it did not offer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import logging
import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Reply, ToolCall
from kkiai_async.tools import call_tool, tool

__all__ = [
    "BEFORE_REQUEST",
    "CLIENT",
    "MODEL",
    "STATS",
    "StreamStats",
    "create_app",
    "get_delivery_date",
    "main",
    "pace_fake_model",
    "start",
]

log = logging.getLogger("kkiai.examples.web")

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_MODEL = "kkiai-chat"
MAX_ROUNDS = 4
"""Model rounds per question; the last one is sent with ``tool_choice="none"``."""

SYSTEM_PROMPT = (
    "You are the assistant of an online shop. When a customer asks when an order will "
    "arrive, call get_delivery_date with the order ID and answer from its result."
)

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    # Reverse proxies (nginx) buffer responses by default, which would hold every token
    # back until the answer is complete.
    "X-Accel-Buffering": "no",
}

# Everything the page uses comes from this app: the browser refuses anything else.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_encode = msgspec.json.Encoder().encode


# --------------------------------------------------------------------------------------
# The tool
# --------------------------------------------------------------------------------------

_CARRIERS = ("DHL", "UPS", "La Poste", "GLS")


@tool
async def get_delivery_date(order_id: str) -> dict[str, str]:
    """Get the estimated delivery date of a customer's order.

    Call this whenever the customer asks when their order will arrive.

    Args:
        order_id: The customer's order ID, e.g. "ORD-1042".
    """
    # A stand-in for a database lookup: the same order always gets the same answer.
    digest = zlib.crc32(order_id.strip().upper().encode())
    when = datetime.date.today() + datetime.timedelta(days=2 + digest % 6)
    return {
        "order_id": order_id,
        "delivery_date": when.isoformat(),
        "carrier": _CARRIERS[digest % len(_CARRIERS)],
    }


TOOLS = [get_delivery_date]


# --------------------------------------------------------------------------------------
# Application state
# --------------------------------------------------------------------------------------


@dataclass
class StreamStats:
    """What happened to the answers the app streamed, for logs and tests.

    A mutable object in the app rather than counters set on it: aiohttp freezes an
    application's mapping once it is running.
    """

    started: int = 0
    completed: int = 0
    cancelled: int = 0
    failed: int = 0
    open: int = 0


BeforeRequest = Callable[[Sequence[Any]], None]
"""Called with the messages just before each upstream request (the demo paces the
FakeServer with it)."""

CLIENT = web.AppKey("client", kk.AsyncClient)
MODEL = web.AppKey("model", str)
STATS = web.AppKey("stats", StreamStats)
BACKEND = web.AppKey("backend", str)
BEFORE_REQUEST: web.AppKey[BeforeRequest] = web.AppKey("before_request")


class _Turn(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant"]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=8000)]


class _ChatBody(msgspec.Struct, forbid_unknown_fields=True):
    messages: Annotated[list[_Turn], msgspec.Meta(min_length=1, max_length=50)]


_decode_body = msgspec.json.Decoder(_ChatBody).decode


# --------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _info(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response({"model": app[MODEL], "backend": app[BACKEND]})


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _send(response: web.StreamResponse, payload: bytes) -> None:
    # msgspec escapes line breaks inside strings, so each payload is one line and one
    # ``data:`` field is the whole event (WHATWG HTML, "Server-sent events", 9.2.6).
    await response.write(b"data: " + payload + b"\n\n")


async def _chat(request: web.Request) -> web.StreamResponse:
    """``POST /chat``: answer the conversation in the body as a stream of events."""
    try:
        body = _decode_body(await request.read())
    except msgspec.ValidationError as exc:
        return _bad_request(f"invalid request: {exc}")
    except msgspec.DecodeError:
        return _bad_request('the body must be JSON: {"messages": [{"role", "content"}]}')
    if body.messages[-1].role != "user":
        return _bad_request("the last message must be the user's")

    app = request.app
    stats = app[STATS]
    response = web.StreamResponse(headers=_SSE_HEADERS)
    await response.prepare(request)
    stats.started += 1
    stats.open += 1
    try:
        await _converse(app, body.messages, response)
    except asyncio.CancelledError:
        # The browser went away and aiohttp cancelled this handler; the cancellation
        # has already left the ``async with`` around the upstream stream, which closed
        # the upstream connection.
        stats.cancelled += 1
        log.info("browser disconnected: upstream stream cancelled")
        raise
    except ConnectionResetError:
        # The same disconnect seen by a write when the server runs without
        # handler_cancellation: the upstream stream was closed on the way out too.
        stats.cancelled += 1
        log.info("browser disconnected: upstream stream closed after a failed write")
    except kk.KkiaiError as exc:
        stats.failed += 1
        log.warning("upstream failed: %s", exc)
        with contextlib.suppress(ConnectionResetError):
            await _send(response, _encode({"type": "error", "message": str(exc)}))
    else:
        stats.completed += 1
    finally:
        stats.open -= 1
    return response


async def _converse(app: web.Application, turns: list[_Turn], response: web.StreamResponse) -> None:
    client = app[CLIENT]
    model = app[MODEL]
    before_request = app.get(BEFORE_REQUEST)
    messages: list[Any] = [{"role": "system", "content": SYSTEM_PROMPT}]
    messages.extend({"role": turn.role, "content": turn.content} for turn in turns)

    for round_number in range(1, MAX_ROUNDS + 1):
        await _send(response, _encode({"type": "round.started", "round": round_number}))
        if before_request is not None:
            before_request(messages)
        async with client.chat.completions.stream(
            model=model,
            messages=messages,
            tools=TOOLS,
            # The last round must answer in words, whatever the model would rather do.
            tool_choice="none" if round_number == MAX_ROUNDS else None,
            stream_options={"include_usage": True},
        ) as events:
            async for event in events:
                await _send(response, _encode(event))
            completion = await events.final_completion()

        message = completion.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.to_param())
        for call in message.tool_calls:
            answer = await call_tool(TOOLS, call, timeout=30)
            result = {
                "type": "tool.result",
                "id": call.id,
                "name": call.function.name,
                "content": answer.content,
            }
            await _send(response, _encode(result))
            messages.append(answer)
    await _send(response, b'{"type":"done"}')


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


def create_app(
    client: kk.AsyncClient,
    *,
    model: str = DEFAULT_MODEL,
    backend: str = "kkiai",
    before_request: BeforeRequest | None = None,
) -> web.Application:
    """Build the web application around a client it borrows (and never closes).

    Args:
        client: The client every request uses; its connection pool is shared.
        model: The model asked for.
        backend: Shown in the page's header (``"FakeServer"`` or ``"kkiai"``).
        before_request: Called with the messages before each upstream request.

    Returns:
        The application; serve it with :func:`start`, which turns on handler
        cancellation so that a closed tab ends its upstream stream.
    """
    app = web.Application()
    app[CLIENT] = client
    app[MODEL] = model
    app[BACKEND] = backend
    app[STATS] = StreamStats()
    if before_request is not None:
        app[BEFORE_REQUEST] = before_request
    app.router.add_get("/", _index)
    app.router.add_get("/info", _info)
    app.router.add_post("/chat", _chat)
    app.router.add_static("/static", STATIC)
    app.on_response_prepare.append(_security_headers)
    return app


async def start(
    app: web.Application, host: str, port: int, *, handler_cancellation: bool = True
) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (0: a free port, see ``runner.addresses``).

    Args:
        app: From :func:`create_app`.
        host: The interface to listen on.
        port: The port.
        handler_cancellation: Cancel a handler when its client disconnects. Without
            it the app notices the disconnect at its next write, a token later.

    Returns:
        The running runner; ``await runner.cleanup()`` stops it.
    """
    runner = web.AppRunner(app, handler_cancellation=handler_cancellation, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


# --------------------------------------------------------------------------------------
# The demo's fake model
# --------------------------------------------------------------------------------------

_ORDER_ID = re.compile(r"\b(?:[A-Za-z]{2,5}-)?\d{2,}\b")
_ASK_FOR_ID = (
    "I can tell you when an order will arrive: what is its order ID? (For example ORD-1042.)"
)


def pace_fake_model(
    server: FakeServer, *, delay: float = 0.04, chunk_size: int = 3
) -> BeforeRequest:
    """A ``before_request`` hook that scripts the FakeServer to answer slowly enough to watch.

    The FakeServer's own answers arrive all at once; this queues, before each request,
    a scripted reply streamed in ``chunk_size``-character pieces ``delay`` seconds apart:
    a ``get_delivery_date`` call for the order ID the user wrote, then an answer in words
    from the tool's result. A question without an order ID is answered with a request
    for one.

    Args:
        server: The FakeServer the app's client talks to.
        delay: Seconds between streamed chunks.
        chunk_size: Characters per streamed chunk.
    """

    def before_request(messages: Sequence[Any]) -> None:
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") == "user":
            match = _ORDER_ID.search(str(last.get("content", "")))
            if match is None:
                server.queue(Reply.text(_ASK_FOR_ID, chunk_size=chunk_size, delay=delay))
                return
            call = ToolCall(get_delivery_date.name, {"order_id": match.group()})
            server.queue(
                Reply.tool_calls(
                    [call],
                    content="Let me look that order up.",
                    chunk_size=chunk_size,
                    delay=delay,
                )
            )
        elif isinstance(last, kk.ToolMessage) and isinstance(last.content, str):
            server.queue(Reply.text(_answer(last.content), chunk_size=chunk_size, delay=delay))

    return before_request


def _answer(tool_content: str) -> str:
    try:
        result = msgspec.json.decode(tool_content)
        when = datetime.date.fromisoformat(result["delivery_date"])
        return (
            f"Good news: order {result['order_id']} is on its way with {result['carrier']} "
            f"and should arrive on {when:%A %d %B %Y} ({when.isoformat()})."
        )
    except (msgspec.DecodeError, KeyError, TypeError, ValueError):
        return f"Sorry, I could not look that order up. {tool_content}"


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


async def serve(host: str, port: int, *, real: bool, model: str | None, delay: float) -> None:
    """Run the app until cancelled, with a FakeServer in-process unless ``real``."""
    async with contextlib.AsyncExitStack() as stack:
        before_request: BeforeRequest | None = None
        if real:
            client = kk.AsyncClient()
            backend = "kkiai"
        else:
            server = await stack.enter_async_context(FakeServer())
            client = kk.AsyncClient(api_key="fake-key", base_url=server.base_url)
            before_request = pace_fake_model(server, delay=delay)
            backend = "FakeServer"
        await stack.enter_async_context(client)
        app = create_app(
            client, model=model or DEFAULT_MODEL, backend=backend, before_request=before_request
        )
        runner = await start(app, host, port)
        stack.push_async_callback(runner.cleanup)
        bound = runner.addresses[0][1]
        print(f"kkiai web example on http://{host}:{bound}/ ({backend})", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--real", action="store_true", help="use the real service (needs KKIAI_API_KEY)"
    )
    parser.add_argument("--model", default=None, help=f"default: {DEFAULT_MODEL}")
    parser.add_argument(
        "--delay",
        type=float,
        default=0.04,
        help="seconds between the FakeServer's chunks (default: 0.04)",
    )
    args = parser.parse_args(argv)
    if args.real and not os.environ.get("KKIAI_API_KEY"):
        parser.error("--real needs the KKIAI_API_KEY environment variable")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, real=args.real, model=args.model, delay=args.delay))


if __name__ == "__main__":
    main()
