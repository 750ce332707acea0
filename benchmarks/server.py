"""The benchmark's OpenAI-compatible server, run in a process of its own.

``python -m benchmarks.server --preset default`` builds every response body of the preset
once, at startup, then serves ``POST /v1/chat/completions`` on 127.0.0.1, choosing the
body by the request's ``model``. Responses are written in large writes of pre-encoded
bytes, so the server costs a few microseconds per request whatever the client does and
is never what the clients wait for. It prints ``READY <port>`` on stdout once listening
and runs until stdin closes or it is terminated.

A payload with a barrier (``concurrent_1000``) sends its first chunk and then holds the
stream until that many streams of the same model are waiting (or a timeout passes), so
that the client has them all open at once when its memory is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys

import msgspec
from aiohttp import web

from benchmarks.scenarios import PRESETS, Payload, build_payloads

__all__ = ["create_app", "main"]

_WRITE_SIZE = 256 * 1024
# A client that cannot open every stream (a connection limit below the barrier) must not
# hang the run: the barrier opens anyway after this long and the run reports its figures.
_BARRIER_TIMEOUT_S = 60.0


class _Model(msgspec.Struct):
    model: str = ""


_decode_model = msgspec.json.Decoder(_Model).decode


class _Barrier:
    """Releases every waiting stream once ``parties`` are waiting; then starts afresh."""

    __slots__ = ("_event", "_parties", "_waiting")

    def __init__(self, parties: int) -> None:
        self._parties = parties
        self._waiting = 0
        self._event = asyncio.Event()

    async def wait(self) -> None:
        event = self._event
        self._waiting += 1
        if self._waiting >= self._parties:
            self._waiting = 0
            self._event = asyncio.Event()
            event.set()
            return
        try:
            await asyncio.wait_for(event.wait(), _BARRIER_TIMEOUT_S)
        except asyncio.TimeoutError:
            print(f"server: barrier opened by timeout at {self._waiting}", file=sys.stderr)
            self._waiting = 0
            self._event = asyncio.Event()
            event.set()


def create_app(payloads: dict[str, Payload]) -> web.Application:
    """The aiohttp application serving ``payloads`` (keyed by model name)."""
    barriers = {model: _Barrier(p.barrier) for model, p in payloads.items() if p.barrier}

    async def chat_completions(request: web.Request) -> web.StreamResponse:
        model = _decode_model(await request.read()).model
        payload = payloads.get(model)
        if payload is None:
            return web.json_response(
                {"error": {"message": f"unknown model {model!r}", "type": "invalid_request"}},
                status=404,
            )
        if not payload.request.stream:
            return web.Response(
                body=payload.head,
                content_type="application/json",
                headers={"x-request-id": "req_bench"},
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "x-request-id": "req_bench",
            }
        )
        await response.prepare(request)
        await _write(response, payload.head)
        if payload.tail:
            barrier = barriers.get(model)
            if barrier is not None:
                await barrier.wait()
            await _write(response, payload.tail)
        await response.write_eof()
        return response

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat_completions)
    return app


async def _write(response: web.StreamResponse, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _WRITE_SIZE):
        await response.write(view[start : start + _WRITE_SIZE])


async def _serve(preset_name: str, port: int, only: set[str] | None) -> None:
    payloads = build_payloads(PRESETS[preset_name], only)
    runner = web.AppRunner(create_app(payloads), access_log=None, handle_signals=True)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    site = web.SockSite(runner, sock, backlog=4096)
    await site.start()
    print(f"READY {sock.getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    # The suite ends the server by closing our stdin (or terminating us): no orphan
    # server survives a crashed suite.
    with contextlib.suppress(asyncio.CancelledError):
        await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.server``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--scenario", action="append", help="build only these scenarios")
    args = parser.parse_args(argv)
    only = set(args.scenario) if args.scenario else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.preset, args.port, only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
