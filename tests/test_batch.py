"""Batch jobs against a loopback server that injects faults."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

import kkiai_async as kk
from kkiai_async import batch

ROOT = Path(__file__).resolve().parent.parent


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


def fault_for(prompt: str, attempt: int, rates: dict[str, float]) -> str | None:
    """A deterministic fault plan: which first attempts fail, and how."""
    if attempt > 1:
        return None
    x = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for kind, rate in rates.items():
        edge += rate
        if x < edge:
            return kind
    return None


class BatchServer:
    """A chat completions server that records arrivals and injects planned faults."""

    def __init__(self, rates: dict[str, float] | None = None, delay: float = 0.0) -> None:
        self.rates = rates or {}
        self.delay = delay
        self.attempts: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        self.arrivals.append(asyncio.get_running_loop().time())
        self.attempts[prompt] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = fault_for(prompt, self.attempts[prompt], self.rates)
        headers = {"x-request-id": f"req_{prompt}_{self.attempts[prompt]}"}
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
            return await self.stream(request, prompt, headers)
        self.successes[prompt] += 1
        return web.json_response(completion_for(prompt), headers=headers)

    async def stream(
        self, request: web.Request, prompt: str, headers: dict[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={**headers, "content-type": "text/event-stream"})
        await response.prepare(request)
        for piece in ("re: ", prompt):
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        last = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await response.write(b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n")
        self.successes[prompt] += 1
        return response


@pytest.fixture
async def make_server() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(server: BatchServer) -> BatchServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", server.handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        server.url = f"http://127.0.0.1:{port}/v1"
        return server

    yield start
    for runner in runners:
        await runner.cleanup()


def requests(n: int, *, stream: bool = False) -> list[batch.BatchRequest]:
    return [
        batch.BatchRequest(
            custom_id=f"id-{i}",
            body={
                "model": "m",
                "messages": [{"role": "user", "content": f"p{i}"}],
                **({"stream": True} if stream else {}),
            },
        )
        for i in range(n)
    ]


def write_input(path: Path, n: int) -> None:
    with path.open("w") as f:
        for r in requests(n):
            line = {
                "custom_id": r.custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": r.body,
            }
            f.write(json.dumps(line) + "\n")


async def test_run_yields_one_result_per_request(make_server: Any) -> None:
    """Every request gives exactly one successful result with its completion."""
    server = await make_server(BatchServer())
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        results = [r async for r in batch.run(client, requests(50), concurrency=8)]
    assert sorted(r.custom_id for r in results) == sorted(f"id-{i}" for i in range(50))
    for r in results:
        assert r.ok and r.attempts == 1 and r.status_code == 200
        assert r.response is not None
        assert r.response.choices[0].message.content == "re: p" + r.custom_id[3:]
        assert r.request_id == f"req_p{r.custom_id[3:]}_1"


async def test_streamed_requests_are_assembled(make_server: Any) -> None:
    """A streaming request in a batch is reported as its assembled completion."""
    server = await make_server(BatchServer())
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        results = [r async for r in batch.run(client, requests(10, stream=True), concurrency=4)]
    assert {r.custom_id: r.response.choices[0].message.content for r in results if r.response} == {
        f"id-{i}": f"re: p{i}" for i in range(10)
    }


async def test_requests_are_read_lazily(make_server: Any) -> None:
    """The runner reads at most 2 x concurrency requests ahead of the consumer."""
    server = await make_server(BatchServer(delay=0.01))
    taken = 0

    def source() -> Any:
        nonlocal taken
        for r in requests(40):
            taken += 1
            yield r

    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        done = 0
        async for _ in batch.run(client, source(), concurrency=4):
            done += 1
            assert taken <= done + 2 * 4
    assert done == 40


async def test_faults_end_with_exactly_one_success_each(make_server: Any) -> None:
    """2,000 requests with 5% 429s, 2% 500s and 1% dropped connections all succeed once."""
    server = await make_server(BatchServer({"429": 0.05, "500": 0.02, "drop": 0.01}))
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        stats = batch.BatchStats()
        results = [
            r
            async for r in batch.run(
                client, requests(2000), concurrency=64, backoff_base=0.001, stats=stats
            )
        ]
    assert len(results) == 2000
    assert all(r.ok for r in results)
    assert Counter(r.custom_id for r in results) == Counter(f"id-{i}" for i in range(2000))
    faulted = sum(1 for i in range(2000) if fault_for(f"p{i}", 1, server.rates))
    assert faulted > 100  # the plan really injected faults
    assert stats.retried == faulted
    assert sum(r.attempts for r in results) == 2000 + faulted
    assert all(v == 1 for v in server.successes.values())


async def test_non_retryable_error_is_reported_not_retried(make_server: Any) -> None:
    """A 400 is a failed result after one attempt, with the status error attached."""
    server = await make_server(BatchServer())
    bad = batch.BatchRequest(
        custom_id="bad", body={"model": "m", "messages": [{"role": "user", "content": "x"}]}
    )

    async def reject(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "no"}}, status=400)

    server.handle = reject  # type: ignore[method-assign]
    app_server = await make_server(server)
    async with kk.AsyncClient(api_key="k", base_url=app_server.url) as client:
        [result] = [r async for r in batch.run(client, [bad])]
    assert not result.ok and result.attempts == 1
    assert isinstance(result.error, kk.BadRequestError)


async def test_rpm_is_never_exceeded_at_the_server(make_server: Any) -> None:
    """With rpm=600, the server never counts more than 100 requests in any 10 s window."""
    server = await make_server(BatchServer())
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        results = [r async for r in batch.run(client, requests(130), concurrency=32, rpm=600)]
    assert len(results) == 130
    times = sorted(server.arrivals)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t <= start + 10.0) <= 100


async def test_run_file_writes_openai_batch_lines(make_server: Any, tmp_path: Path) -> None:
    """run_file writes one output line per input line in the OpenAI Batch format."""
    server = await make_server(BatchServer())
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 20)
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        stats = await batch.run_file(client, inp, out, concurrency=4)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert stats.done == 20 and stats.failed == 0
    assert sorted(line["custom_id"] for line in lines) == sorted(f"id-{i}" for i in range(20))
    first = next(line for line in lines if line["custom_id"] == "id-3")
    assert set(first) == {"id", "custom_id", "response", "error"}
    assert first["error"] is None
    assert first["response"]["status_code"] == 200
    assert first["response"]["request_id"] == "req_p3_1"
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "re: p3"


async def test_run_file_reports_bad_input_before_sending(make_server: Any, tmp_path: Path) -> None:
    """Duplicate and missing custom_ids are all reported, and nothing is sent."""
    server = await make_server(BatchServer())
    inp = tmp_path / "in.jsonl"
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    inp.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"custom_id": "a", "body": body},
                {"custom_id": "a", "body": body},
                {"body": body},
                {"custom_id": "c", "url": "/v1/embeddings", "body": body},
            ]
        )
        + "\nnot json\n"
    )
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        with pytest.raises(batch.BatchInputError) as info:
            await batch.run_file(client, inp, tmp_path / "out.jsonl")
    assert [n for n, _ in info.value.problems] == [2, 3, 4, 5]
    assert "duplicate custom_id 'a'" in str(info.value)
    assert server.arrivals == []


async def test_errors_go_to_their_own_file(make_server: Any, tmp_path: Path) -> None:
    """With errors_path, failures are written there and successes to the output."""
    server = BatchServer()

    async def half_fail(request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        if int(prompt[1:]) % 2:
            return web.json_response({"error": {"message": "bad", "code": "x"}}, status=400)
        return web.json_response(completion_for(prompt))

    server.handle = half_fail  # type: ignore[method-assign]
    await make_server(server)
    inp, out, err = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    write_input(inp, 10)
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        stats = await batch.run_file(client, inp, out, errors_path=err)
    assert (stats.done, stats.failed) == (5, 5)
    errors = [json.loads(line) for line in err.read_text().splitlines()]
    assert sorted(e["custom_id"] for e in errors) == [f"id-{i}" for i in (1, 3, 5, 7, 9)]
    assert errors[0]["response"]["status_code"] == 400
    assert errors[0]["error"]["code"] == "x"
    assert len(out.read_text().splitlines()) == 5


async def test_resume_cuts_a_torn_line_and_skips_done_ids(make_server: Any, tmp_path: Path) -> None:
    """A torn last line is cut off; ids already written are not sent again."""
    server = await make_server(BatchServer())
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 6)
    done = {"id": "x", "custom_id": "id-0", "response": None, "error": None}
    out.write_text(json.dumps(done) + "\n" + '{"id": "y", "custom_id": "id-1", "resp')
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        stats = await batch.run_file(client, inp, out)
    assert stats.skipped == 1 and stats.done == 5
    ids = [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == [f"id-{i}" for i in range(6)]
    assert "p0" not in server.attempts


KILL_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import kkiai_async as kk
    from kkiai_async import batch

    async def main():
        async with kk.AsyncClient(api_key="k", base_url=sys.argv[1]) as client:
            await batch.run_file(client, sys.argv[2], sys.argv[3], concurrency=8)

    asyncio.run(main())
    """
)


async def test_killed_job_resumes_without_duplicates(make_server: Any, tmp_path: Path) -> None:
    """A job killed with SIGKILL half-way and resumed has no duplicate and no missing line."""
    server = await make_server(BatchServer(delay=0.005))
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 400)
    script = tmp_path / "job.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), server.url, str(inp), str(out), env=env
    )
    try:
        while not out.exists() or out.read_bytes().count(b"\n") < 150:
            assert proc.returncode is None, "the job ended before it could be killed"
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    written_before = out.read_bytes().count(b"\n")
    assert written_before < 400
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        stats = await batch.run_file(client, inp, out, concurrency=8)
    ids = [msgspec.json.decode(line)["custom_id"] for line in out.read_bytes().splitlines()]
    assert Counter(ids) == Counter(f"id-{i}" for i in range(400))
    assert stats.skipped >= written_before


async def test_stopping_lets_in_flight_requests_finish(make_server: Any) -> None:
    """stop() takes no new requests; those in flight still deliver their results."""
    server = await make_server(BatchServer(delay=0.05))
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        run = batch.run(client, requests(100), concurrency=5)
        results = [await run.__anext__()]
        run.stop()
        results += [r async for r in run]
        await run.aclose()
    assert 1 < len(results) <= 1 + 2 * 5
    assert all(r.ok for r in results)
    # Every request that was sent delivered its result: nothing in flight was lost.
    assert sum(server.attempts.values()) == len(results)


async def test_breaking_out_cancels_in_flight_requests(make_server: Any) -> None:
    """With on_cancel='cancel', leaving the loop cancels the requests in flight at once."""
    server = BatchServer()
    cancelled = 0

    async def first_fast_rest_slow(request: web.Request) -> web.Response:
        nonlocal cancelled
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        if prompt != "p0":
            try:
                await asyncio.sleep(60)  # only cancellation ends this in time
            except asyncio.CancelledError:
                cancelled += 1
                raise
        return web.json_response(completion_for(prompt))

    server.handle = first_fast_rest_slow  # type: ignore[method-assign]
    await make_server(server)
    client = kk.AsyncClient(api_key="k", base_url=server.url)
    async with client, batch.run(client, requests(100), concurrency=5, on_cancel="cancel") as run:
        async for result in run:
            assert result.custom_id == "id-0"
            break
    assert run.stats.in_flight == 0
    for _ in range(200):  # the server notices the closed connections a moment later
        if cancelled >= 4:
            break
        await asyncio.sleep(0.01)
    assert cancelled >= 4


def test_estimate_tokens_counts_prompt_and_budget() -> None:
    """The token estimate is about a token per four prompt characters plus the budget."""
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50, "n": 2}
    assert batch.estimate_tokens(body) == (400 + 16) // 4 + 1 + 100
