"""Batch jobs against a loopback server that injects faults."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from _ray_server import completion_for, fault_for
from _waiting import Changes
from aiohttp import web

import kkiai_async as kk
from kkiai_async import _retry, batch
from kkiai_async._ratelimit import RateLimiter
from kkiai_async.testing import FakeServer

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_700_000_000.0  # a fixed "current time" for HTTP-date Retry-After values


class BatchServer:
    """A chat completions server that records arrivals and injects planned faults.

    ``changes`` is notified at every arrival and every answer, so tests wait on it. With
    ``hold`` set, requests whose prompt ``hold`` accepts wait for ``release`` before they
    are answered.
    """

    def __init__(self, rates: dict[str, float] | None = None, delay: float = 0.0) -> None:
        self.rates = rates or {}
        self.delay = delay
        self.attempts: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self.bodies: list[dict[str, Any]] = []
        self.changes = Changes()
        self.hold: Any = None
        self.release = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request)
        self.changes.notify()
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        self.arrivals.append(asyncio.get_running_loop().time())
        self.bodies.append(body)
        self.attempts[prompt] += 1
        self.changes.notify()
        if self.hold is not None and self.hold(prompt):
            await self.release.wait()
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
    server = BatchServer()
    # p0..p149 are answered; later ones wait, so the kill comes mid-job.
    server.hold = lambda prompt: int(prompt[1:]) >= 150
    await make_server(server)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 400)
    script = tmp_path / "job.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), server.url, str(inp), str(out), env=env
    )
    try:
        await server.changes.until(
            lambda: sum(server.successes.values()) == 150, "150 requests answered"
        )
        assert proc.returncode is None, "the job ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    written_before = out.read_bytes().count(b"\n")
    assert written_before <= 150
    server.hold = None
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        stats = await batch.run_file(client, inp, out, concurrency=8)
    ids = [msgspec.json.decode(line)["custom_id"] for line in out.read_bytes().splitlines()]
    assert Counter(ids) == Counter(f"id-{i}" for i in range(400))
    assert stats.skipped >= written_before


async def test_stopping_lets_in_flight_requests_finish(make_server: Any) -> None:
    """stop() takes no new requests; the five in flight still deliver their results."""
    server = BatchServer()
    server.hold = lambda prompt: prompt != "p0"  # p0 is answered, the rest wait
    await make_server(server)
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        run = batch.run(client, requests(100), concurrency=5)
        results = [await run.__anext__()]
        # p0's worker has taken p5: five requests are in flight, none can be taken.
        await server.changes.until(lambda: len(server.arrivals) == 6, "six requests sent")
        run.stop()
        server.release.set()
        results += [r async for r in run]
        await run.aclose()
    assert [r.custom_id for r in results[:1]] == ["id-0"]
    assert sorted(r.custom_id for r in results) == [f"id-{i}" for i in range(6)]
    assert all(r.ok for r in results)
    # Every request that was sent delivered its result, and no other was sent.
    assert sum(server.attempts.values()) == 6


async def test_breaking_out_cancels_in_flight_requests(make_server: Any) -> None:
    """With on_cancel='cancel', leaving the loop cancels the five requests in flight."""
    server = BatchServer()
    arrived: list[str] = []
    cancelled: list[str] = []

    async def first_fast_rest_held(request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        arrived.append(prompt)
        server.changes.notify()
        if prompt != "p0":
            try:
                await asyncio.Event().wait()  # only cancellation ends this
            except asyncio.CancelledError:
                cancelled.append(prompt)
                server.changes.notify()
                raise
        return web.json_response(completion_for(prompt))

    server.handle = first_fast_rest_held  # type: ignore[method-assign]
    await make_server(server)
    client = kk.AsyncClient(api_key="k", base_url=server.url)
    async with client, batch.run(client, requests(100), concurrency=5, on_cancel="cancel") as run:
        async for result in run:
            assert result.custom_id == "id-0"
            # p0's worker has taken p5: five requests are held, none can be taken.
            await server.changes.until(lambda: len(arrived) == 6, "six requests sent")
            break
    assert run.stats.in_flight == 0
    # The server sees the closed connections a moment later.
    await server.changes.until(lambda: len(cancelled) == 5, "five handlers cancelled")
    assert sorted(cancelled) == [f"p{i}" for i in range(1, 6)]
    assert sorted(arrived) == [f"p{i}" for i in range(6)]


# --------------------------------------------------------------------------------------
# Retries: the client's one policy
# --------------------------------------------------------------------------------------


@pytest.fixture
def batch_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The runner's backoff sleeps, recorded instead of waited."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(batch, "_sleep", fake_sleep)
    return recorded


def fail_first(status: int, headers: Mapping[str, str]) -> Any:
    """A handler whose first answer to each prompt is ``status`` with ``headers``."""
    seen: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        prompt = (await request.json())["messages"][-1]["content"]
        seen[prompt] += 1
        if seen[prompt] == 1:
            error = {"error": {"message": "try later", "code": "x"}}
            return web.json_response(error, status=status, headers=headers)
        return web.json_response(completion_for(prompt))

    return handle


@pytest.mark.parametrize(
    ("status", "headers", "attempts"),
    [
        pytest.param(501, {}, 2, id="501-retried"),
        pytest.param(529, {}, 2, id="529-retried"),
        pytest.param(503, {"x-should-retry": "false"}, 1, id="should-retry-false"),
        pytest.param(400, {"x-should-retry": "true"}, 2, id="should-retry-true"),
        pytest.param(422, {}, 1, id="422-not-retried"),
    ],
)
async def test_retries_follow_the_clients_table(
    make_server: Any,
    batch_sleeps: list[float],
    status: int,
    headers: dict[str, str],
    attempts: int,
) -> None:
    """The runner retries what the client retries: its status table, x-should-retry first."""
    server = BatchServer()
    server.handle = fail_first(status, headers)  # type: ignore[method-assign]
    await make_server(server)
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        [result] = [r async for r in batch.run(client, requests(1))]
    assert result.attempts == attempts
    assert result.ok == (attempts == 2)
    assert (attempts == 2) == _retry.retry_decision(status, headers, None)
    assert len(batch_sleeps) == attempts - 1


async def test_http_date_retry_after_is_honoured(
    make_server: Any, batch_sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Retry-After HTTP-date four minutes ahead is waited for (the client would not)."""
    monkeypatch.setattr(_retry, "time", SimpleNamespace(time=lambda: NOW))
    when = email.utils.formatdate(NOW + 240, usegmt=True)
    server = BatchServer()
    server.handle = fail_first(503, {"retry-after": when})  # type: ignore[method-assign]
    await make_server(server)
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        [result] = [r async for r in batch.run(client, requests(1))]
    assert result.ok and result.attempts == 2
    assert batch_sleeps == [240.0]


async def test_retry_after_over_five_minutes_falls_back_to_backoff(
    make_server: Any, batch_sleeps: list[float]
) -> None:
    """A Retry-After beyond five minutes is not obeyed: the runner's own backoff is used."""
    server = BatchServer()
    server.handle = fail_first(503, {"retry-after": "301"})  # type: ignore[method-assign]
    await make_server(server)
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        [result] = [
            r async for r in batch.run(client, requests(1), backoff_base=0.25, backoff_cap=0.25)
        ]
    assert result.ok and result.attempts == 2
    assert len(batch_sleeps) == 1 and 0.0 <= batch_sleeps[0] <= 0.25


@pytest.mark.parametrize(
    ("options", "param"),
    [
        pytest.param({"max_attempts": 0}, "max_attempts", id="no-attempts"),
        pytest.param({"backoff_base": -1.0}, "backoff_base", id="negative-backoff"),
    ],
)
def test_run_checks_its_retry_settings(options: dict[str, Any], param: str) -> None:
    """Retry settings that make no sense are refused when the run is made."""
    client = kk.AsyncClient(api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(kk.InvalidParameterError) as info:
        batch.run(client, [], **options)
    assert info.value.param == param


# --------------------------------------------------------------------------------------
# Lines: the body is the wire body; a bad one fails alone
# --------------------------------------------------------------------------------------

NEW_KEYS: dict[str, Any] = {
    "store": True,
    "metadata": {"job": "nightly"},
    "reasoning_effort": "minimal",
    "service_tier": "flex",
    "verbosity": "low",
    "prompt_cache_key": "k1",
    "safety_identifier": "user-1",
}


def line_body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": prompt}], **extra}


async def test_line_bodies_are_sent_as_given(make_server: Any) -> None:
    """Known keys (the new ones too) and vendor keys reach the server as the line has them."""
    server = await make_server(BatchServer())
    bodies = {
        "plain": line_body("p0", **NEW_KEYS, top_k=40),
        "streamed": line_body("p1", **NEW_KEYS, stream=True, top_k=40, thinking={"on": 1}),
    }
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        run = batch.run(
            client, [batch.BatchRequest(custom_id=k, body=v) for k, v in bodies.items()]
        )
        results = {r.custom_id: r async for r in run}
    assert all(r.ok for r in results.values()), results
    assert sorted(server.bodies, key=lambda b: b["messages"][0]["content"]) == list(bodies.values())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(line_body("x", temperature="hot"), "temperature", id="wrong-type"),
        pytest.param(line_body("x", temperature=3), "temperature", id="out-of-range"),
        pytest.param(line_body("x", store="yes", stream=True), "store", id="streamed-wrong-type"),
        pytest.param({"messages": [{"role": "user", "content": "x"}]}, "model", id="no-model"),
        pytest.param(
            line_body("x", stream_options={"include_usage": True}),
            "stream_options",
            id="stream-options-without-stream",
        ),
        pytest.param(["not", "an", "object"], "body", id="not-an-object"),
    ],
)
async def test_an_invalid_line_fails_alone(make_server: Any, body: Any, param: str) -> None:
    """A body that cannot be sent is a failed result naming the parameter; others go on."""
    server = await make_server(BatchServer())
    bad = batch.BatchRequest(custom_id="bad", body=body)
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        stats = batch.BatchStats()
        results = {
            r.custom_id: r
            async for r in batch.run(client, [*requests(3, stream=True), bad], stats=stats)
        }
    failed = results.pop("bad")
    assert isinstance(failed.error, kk.InvalidParameterError)
    assert failed.error.param == param
    assert failed.attempts == 0 and failed.status_code is None
    assert all(r.ok for r in results.values()) and len(results) == 3
    assert (stats.done, stats.failed) == (3, 1)
    assert len(server.bodies) == 3


class FailingLimiter(RateLimiter):
    """A rate limiter with a bug: it raises for the second request it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def acquire(self, tokens: int = 0) -> None:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("limiter bug")
        await super().acquire(tokens)


async def test_an_unexpected_error_fails_one_request_visibly(
    make_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception that is no KkiaiError fails its request, logged at ERROR; the job goes on."""
    server = await make_server(BatchServer())
    async with kk.AsyncClient(api_key="k", base_url=server.url) as client:
        run = batch.run(client, requests(4), concurrency=1, limiter=FailingLimiter())
        results = {r.custom_id: r async for r in run}
    crashed = results.pop("id-1")
    assert isinstance(crashed.error, kk.KkiaiError)
    assert str(crashed.error) == "unexpected error: RuntimeError: limiter bug"
    assert isinstance(crashed.error.__cause__, RuntimeError)
    assert all(r.ok for r in results.values()) and len(results) == 3
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "id-1" in record.getMessage() and record.exc_info is not None


async def kkiai_batch(*args: str) -> tuple[int, str]:
    """Run `python -m kkiai_async batch ARGS` as a user would; its status and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KKIAI_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kkiai_async",
        "batch",
        *args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    _, stderr = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, stderr.decode()


async def test_cli_reports_a_bad_line_and_answers_the_rest(tmp_path: Path) -> None:
    """`kkiai batch` on mixed lines: exit 1, good ones answered, the bad one named, no traceback."""
    lines = [
        ("plain", line_body("q0", **NEW_KEYS)),
        ("streamed", line_body("q1", **NEW_KEYS, stream=True)),
        ("streamed-usage", line_body("q2", stream=True, stream_options={"include_usage": True})),
        ("vendor", line_body("q3", top_k=40, store=False)),
        ("hot", line_body("q4", temperature="hot", stream=True, store=True)),
    ]
    inp, out, err = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    inp.write_text(
        "".join(
            json.dumps(
                {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": b}
            )
            + "\n"
            for cid, b in lines
        )
    )
    async with FakeServer() as server:
        code, stderr = await kkiai_batch(
            str(inp), str(out), "--errors", str(err), "--base-url", server.base_url
        )
        sent = [r.body for r in server.requests]
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert "4 succeeded, 1 failed" in stderr.splitlines()[-1]
    answered = {
        json.loads(line)["custom_id"]: json.loads(line) for line in out.read_text().splitlines()
    }
    assert sorted(answered) == ["plain", "streamed", "streamed-usage", "vendor"]
    assert all(line["response"]["status_code"] == 200 for line in answered.values())
    [failed] = [json.loads(line) for line in err.read_text().splitlines()]
    assert failed["custom_id"] == "hot" and failed["response"] is None
    assert failed["error"] == {
        "code": "InvalidParameterError",
        "message": "invalid parameter 'temperature': must be a number, got str",
        "param": "temperature",
    }
    assert sorted(sent, key=lambda b: b["messages"][0]["content"]) == [b for _, b in lines[:4]]


def test_estimate_tokens_counts_prompt_and_budget() -> None:
    """The token estimate is about a token per four prompt characters plus the budget."""
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50, "n": 2}
    assert batch.estimate_tokens(body) == (400 + 16) // 4 + 1 + 100


@pytest.mark.parametrize(
    ("make_input", "output", "message"),
    [
        pytest.param(None, "out.jsonl", "No such file or directory", id="missing-input"),
        pytest.param(
            json.dumps({"custom_id": "a", "body": line_body("x")}) + "\n",
            "missing/out.jsonl",
            "No such file or directory",
            id="no-output-folder",
        ),
        pytest.param(
            '{"custom_id": "a", "body": 5}\n',
            "out.jsonl",
            "line 1: body must be a JSON object, not int",
            id="body-not-an-object",
        ),
        pytest.param("{not json\n", "out.jsonl", "line 1: not valid JSON", id="not-json"),
    ],
)
async def test_cli_reports_bad_files_in_one_line(
    tmp_path: Path, make_input: str | None, output: str, message: str
) -> None:
    """A missing, unreadable or malformed batch file is one line on stderr, exit 1, no traceback."""
    inp = tmp_path / "in.jsonl"
    if make_input is not None:
        inp.write_text(make_input)
    code, stderr = await kkiai_batch(
        str(inp), str(tmp_path / output), "--base-url", "http://127.0.0.1:9/v1"
    )
    assert code == 1
    assert stderr.startswith("kkiai: ") and stderr.count("\n") == 1, stderr
    assert message in stderr
