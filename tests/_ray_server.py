"""A chat completions server in its own process, for the Ray tests: planned faults, a log.

Why its own process: a Ray driver blocks while it consumes a Dataset, and Ray's workers
are other processes; a server inside the test's event loop would stall with the driver.

Run: ``python tests/_ray_server.py --rates 429=0.05,500=0.02,drop=0.01 [--api-key K]
[--delay S]``; it prints its base URL on the first line of stdout. ``GET /stats`` answers
the attempts and successes per prompt and the arrival times (``time.monotonic()``, one
clock for the whole machine) of every request; ``POST /reset`` clears them.

Faults are a deterministic plan, the one tests/test_batch.py uses too (it imports
``fault_for`` and ``completion_for`` from here): the first attempt of a prompt whose
hash falls in a rate's share fails that way; every later attempt succeeds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections import Counter
from typing import Any

from aiohttp import web


def fault_for(prompt: str, attempt: int, rates: dict[str, float]) -> str | None:
    """Which first attempts fail, and how."""
    if attempt > 1:
        return None
    x = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for kind, rate in rates.items():
        edge += rate
        if x < edge:
            return kind
    return None


def completion_for(prompt: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + prompt,
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "re: " + prompt},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


class Server:
    def __init__(self, rates: dict[str, float], api_key: str | None, delay: float) -> None:
        self.rates = rates
        self.api_key = api_key
        self.delay = delay
        self.attempts: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self.unauthorized = 0
        # One planned 429 for the whole job: the `pause_at`-th arrival gets it, with
        # `Retry-After: retry_after`.
        self.pause_at = 0
        self.retry_after = 0.0
        self.paused_at: float | None = None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        if self.api_key is not None and (
            request.headers.get("Authorization") != f"Bearer {self.api_key}"
        ):
            self.unauthorized += 1
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        self.arrivals.append(arrived)
        number = len(self.arrivals)
        self.attempts[prompt] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = fault_for(prompt, self.attempts[prompt], self.rates)
        headers = {"x-request-id": f"req_{prompt}_{self.attempts[prompt]}"}
        if number == self.pause_at:
            self.paused_at = arrived
            return web.json_response(
                {"error": {"message": "slow down", "type": "rate_limit", "code": "rate_limit"}},
                status=429,
                headers={**headers, "retry-after": str(self.retry_after)},
            )
        if fault == "429":
            return web.json_response(
                {"error": {"message": "slow down", "type": "rate_limit", "code": "rate_limit"}},
                status=429,
                headers={**headers, "retry-after": "0"},
            )
        if fault == "500":
            return web.json_response({"error": {"message": "boom"}}, status=500, headers=headers)
        if fault == "drop":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if body.get("stream"):
            response = web.StreamResponse(headers={**headers, "content-type": "text/event-stream"})
            await response.prepare(request)
            for piece, finish in (("re: ", None), (prompt, None), ("", "stop")):
                delta = {"content": piece} if piece else {}
                chunk = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            self.successes[prompt] += 1
            return response
        self.successes[prompt] += 1
        return web.json_response(completion_for(prompt), headers=headers)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "attempts": self.attempts,
                "successes": self.successes,
                "arrivals": self.arrivals,
                "unauthorized": self.unauthorized,
                "paused_at": self.paused_at,
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.attempts.clear()
        self.successes.clear()
        self.arrivals.clear()
        self.unauthorized = 0
        self.paused_at = None
        return web.json_response({})

    async def set_rates(self, request: web.Request) -> web.Response:
        settings = await request.json()
        self.rates = {k: float(v) for k, v in settings["rates"].items()}
        self.delay = float(settings.get("delay", 0.0))
        self.pause_at = int(settings.get("pause_at", 0))
        self.retry_after = float(settings.get("retry_after", 0.0))
        return web.json_response({})


async def main(args: argparse.Namespace) -> None:
    rates = {}
    for part in filter(None, args.rates.split(",")):
        kind, _, rate = part.partition("=")
        rates[kind] = float(rate)
    server = Server(rates, args.api_key, args.delay)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    app.router.add_get("/stats", server.stats)
    app.router.add_post("/reset", server.reset)
    app.router.add_post("/rates", server.set_rates)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="")
    parser.add_argument("--api-key")
    parser.add_argument("--delay", type=float, default=0.0)
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
