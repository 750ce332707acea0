"""OpenTelemetry: GenAI-convention spans and metrics for calls, streams, retries, tool runs
and batch jobs, recorded by the SDK's in-memory exporter and reader against the fake
server; nothing recorded without a provider, no content without the opt-in, the key never.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import kkiai_async as kk
from kkiai_async import _otel, batch
from kkiai_async.testing import FakeServer, Fault, Reply

KEY = "sk-otel-secret-key-0123456789"
MODEL = "kkiai-test"
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
SYSTEM = [{"role": "system", "content": "Be brief."}, *USER]


class Recorded:
    """The in-memory span exporter and metric reader behind one client's providers."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        (span,) = self.spans(name)
        return span

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found

    def everything(self) -> str:
        """Every span (attributes, events, status) and metric point, as text."""
        spans = [s.to_json() for s in self.spans()]
        data = self.reader.get_metrics_data()
        return "\n".join(spans) + (data.to_json() if data else "")

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """Per-test providers (the global ones are never set)."""
    rec = Recorded()
    yield rec
    rec.shutdown()


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    """The library's fake server, requiring the test key."""
    async with FakeServer(api_key=KEY) as server:
        yield server


@pytest.fixture
async def client(fake: FakeServer, recorded: Recorded) -> AsyncIterator[kk.AsyncClient]:
    """A client whose telemetry goes to ``recorded``."""
    async with kk.AsyncClient(
        api_key=KEY,
        base_url=fake.base_url,
        tracer_provider=recorded.tracer_provider,
        meter_provider=recorded.meter_provider,
    ) as c:
        yield c


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# --------------------------------------------------------------------------------------
# Whole completions
# --------------------------------------------------------------------------------------


async def test_a_call_is_a_client_span_with_the_request_and_response_attributes(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """A whole completion: `chat {model}`, kind CLIENT, the settings sent, the response's
    id, model, finish reasons and usage, and the server's address and port."""
    completion = await client.chat.completions.create(
        model=MODEL,
        messages=USER,
        temperature=0.5,
        top_p=0.9,
        max_tokens=50,
        seed=7,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        stop="\n\n",
        n=2,
    )
    span = recorded.span(f"chat {MODEL}")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = attrs(span)
    assert completion.usage is not None
    assert a == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "kkiai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.seed": 7,
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.2,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.request.choice.count": 2,
        "gen_ai.response.id": completion.id,
        "gen_ai.response.model": completion.model,
        "gen_ai.response.finish_reasons": ("stop", "stop"),
        "gen_ai.usage.input_tokens": completion.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": completion.usage.completion_tokens,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }


async def test_a_call_records_its_duration_and_token_usage(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """The duration and the input and output token counts, with the conventions' attributes."""
    completion = await client.chat.completions.create(model=MODEL, messages=USER)
    assert completion.usage is not None
    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.count == 1
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "kkiai",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": completion.model,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    assert tuple(duration.explicit_bounds) == _otel._SECONDS_BUCKETS
    tokens = {
        p.attributes["gen_ai.token.type"]: p for p in recorded.points("gen_ai.client.token.usage")
    }
    assert tokens["input"].sum == completion.usage.prompt_tokens
    assert tokens["output"].sum == completion.usage.completion_tokens
    assert tuple(tokens["input"].explicit_bounds) == _otel._TOKEN_BUCKETS
    assert recorded.points("gen_ai.client.operation.time_to_first_chunk") == []


async def test_a_failed_call_has_the_error_type_and_an_error_status(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """An error status ends the span with `error.type` (the error's class) and status ERROR;
    the duration is recorded with the error type."""
    fake.queue(Fault.status(400))
    with pytest.raises(kk.BadRequestError):
        await client.chat.completions.create(model=MODEL, messages=USER)
    span = recorded.span(f"chat {MODEL}")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "BadRequestError"
    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "BadRequestError"


async def test_each_retry_is_an_event_with_the_status_and_the_delay(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded, sleeps: list[float]
) -> None:
    """A retried call is one span with a `kkiai.retry` event per retried attempt."""
    fake.queue(Fault.status(500), Fault.status(429, retry_after=1))
    await client.chat.completions.create(model=MODEL, messages=USER)
    span = recorded.span(f"chat {MODEL}")
    assert span.status.status_code is StatusCode.UNSET
    events = [e for e in span.events if e.name == "kkiai.retry"]
    assert [e.attributes["http.response.status_code"] for e in events] == [500, 429]
    assert [e.attributes["kkiai.retry.attempt"] for e in events] == [1, 2]
    assert [e.attributes["kkiai.retry.delay"] for e in events] == sleeps


async def test_a_connection_error_retried_names_its_type(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """A retried connection failure carries `error.type` in its event."""
    fake.queue(Fault.reset())
    await client.chat.completions.create(model=MODEL, messages=USER)
    (event,) = recorded.span(f"chat {MODEL}").events
    assert event.attributes["error.type"] == "APIConnectionError"


# --------------------------------------------------------------------------------------
# Content and the key
# --------------------------------------------------------------------------------------


async def test_no_content_is_recorded_by_default(
    client: kk.AsyncClient, recorded: Recorded
) -> None:
    """Without the opt-in, neither the prompt nor the answer is in any span."""
    completion = await client.chat.completions.create(model=MODEL, messages=SYSTEM)
    text = recorded.everything()
    assert "Paris" not in text and "Be brief" not in text
    assert completion.choices[0].message.content
    assert completion.choices[0].message.content not in text
    assert "gen_ai.input.messages" not in attrs(recorded.span(f"chat {MODEL}"))


async def test_content_is_recorded_with_the_opt_in(
    fake: FakeServer, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true the system instructions,
    input and output messages are span attributes, in the conventions' JSON shapes."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    async with kk.AsyncClient(
        api_key=KEY,
        base_url=fake.base_url,
        tracer_provider=recorded.tracer_provider,
        meter_provider=recorded.meter_provider,
    ) as client:
        completion = await client.chat.completions.create(model=MODEL, messages=SYSTEM)
    a = attrs(recorded.span(f"chat {MODEL}"))
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": USER[0]["content"]}]}
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": completion.choices[0].message.content}],
            "finish_reason": "stop",
        }
    ]


async def test_the_key_is_in_no_attribute_or_event(
    fake: FakeServer, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with content captured, errors and retries, the API key is nowhere."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    async with kk.AsyncClient(
        api_key=KEY,
        base_url=fake.base_url,
        tracer_provider=recorded.tracer_provider,
        meter_provider=recorded.meter_provider,
    ) as client:
        fake.queue(Fault.status(500, body={"error": {"message": f"bad key {KEY}"}}))
        await client.chat.completions.create(model=MODEL, messages=USER)
        fake.queue(Fault.status(401, body={"error": {"message": f"bad key {KEY}"}}))
        with pytest.raises(kk.AuthenticationError):
            await client.chat.completions.create(model=MODEL, messages=USER, max_retries=0)
    text = recorded.everything()
    assert "kkiai.retry" in text and "AuthenticationError" in text
    assert KEY not in text


# --------------------------------------------------------------------------------------
# Off
# --------------------------------------------------------------------------------------


async def test_nothing_is_recorded_without_a_provider(fake: FakeServer) -> None:
    """With the API installed but no SDK provider (the global proxies), the client holds no
    telemetry at all: nothing is recorded and nothing is done."""
    from opentelemetry import metrics, trace

    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
    assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
    async with kk.AsyncClient(api_key=KEY, base_url=fake.base_url) as client:
        await client.chat.completions.create(model=MODEL, messages=USER)
        assert client._telemetry_now() is None


async def test_nothing_is_recorded_without_the_api(
    fake: FakeServer, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without opentelemetry-api importable, even given providers, the client holds none."""
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    async with kk.AsyncClient(
        api_key=KEY,
        base_url=fake.base_url,
        tracer_provider=recorded.tracer_provider,
        meter_provider=recorded.meter_provider,
    ) as client:
        await client.chat.completions.create(model=MODEL, messages=USER)
        assert client._telemetry_now() is None
    assert recorded.spans() == []


async def test_metrics_alone_are_recorded_with_only_a_meter_provider(
    fake: FakeServer, recorded: Recorded
) -> None:
    """A meter provider without a tracer provider: metrics, and no spans."""
    async with kk.AsyncClient(
        api_key=KEY, base_url=fake.base_url, meter_provider=recorded.meter_provider
    ) as client:
        await client.chat.completions.create(model=MODEL, messages=USER)
    assert recorded.spans() == []
    assert len(recorded.points("gen_ai.client.operation.duration")) == 1


async def test_a_copy_with_another_base_url_names_its_own_server(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """with_options() keeps the providers and reports its own server.address."""
    copy = client.with_options(base_url=fake.base_url.replace("127.0.0.1", "localhost"))
    await copy.chat.completions.create(model=MODEL, messages=USER)
    assert attrs(recorded.span(f"chat {MODEL}"))["server.address"] == "localhost"


# --------------------------------------------------------------------------------------
# Tool runs
# --------------------------------------------------------------------------------------


@kk.tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


@kk.tool
def broken(city: str) -> str:
    """A tool that fails."""
    raise RuntimeError("no weather today")


async def test_a_tool_run_has_a_parent_span_with_the_calls_and_tools_under_it(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """run_tools: an `invoke_workflow run_tools` span; under it each request's chat span and
    an `execute_tool {name}` span per tool call, with the tool's name and call id."""
    fake.queue(
        Reply.tool_calls([("get_weather", {"city": "Paris"}), ("broken", {"city": "Oslo"})]),
        Reply.text("Sunny."),
    )
    await client.chat.completions.run_tools(model=MODEL, messages=USER, tools=[get_weather, broken])
    run = recorded.span("invoke_workflow run_tools")
    assert attrs(run)["gen_ai.operation.name"] == "invoke_workflow"
    chats = recorded.spans(f"chat {MODEL}")
    assert len(chats) == 2
    assert all(c.parent is not None and c.parent.span_id == run.context.span_id for c in chats)
    ok = recorded.span("execute_tool get_weather")
    bad = recorded.span("execute_tool broken")
    for span in (ok, bad):
        assert span.parent is not None and span.parent.span_id == run.context.span_id
        assert span.kind is SpanKind.INTERNAL
        assert attrs(span)["gen_ai.operation.name"] == "execute_tool"
        assert attrs(span)["gen_ai.tool.call.id"]
    assert attrs(ok)["gen_ai.tool.name"] == "get_weather"
    assert ok.status.status_code is StatusCode.UNSET
    assert bad.status.status_code is StatusCode.ERROR
    assert attrs(bad)["error.type"] == "tool_error"
    assert "gen_ai.tool.call.arguments" not in attrs(ok)


async def test_tool_arguments_and_results_are_recorded_with_the_opt_in(
    fake: FakeServer, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the opt-in, an execute_tool span carries the call's arguments and result."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    fake.queue(Reply.tool_call("get_weather", {"city": "Paris"}), Reply.text("Sunny."))
    async with kk.AsyncClient(
        api_key=KEY, base_url=fake.base_url, tracer_provider=recorded.tracer_provider
    ) as client:
        await client.chat.completions.run_tools(model=MODEL, messages=USER, tools=[get_weather])
    a = attrs(recorded.span("execute_tool get_weather"))
    assert json.loads(a["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert a["gen_ai.tool.call.result"] == "Sunny in Paris"


async def test_a_run_that_fails_ends_its_span_with_the_error(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """A run ended by MaxRoundsExceededError: the run's span has the error."""
    fake.queue(Reply.tool_call("get_weather", {"city": "Paris"}))
    with pytest.raises(kk.MaxRoundsExceededError):
        await client.chat.completions.run_tools(
            model=MODEL, messages=USER, tools=[get_weather], max_rounds=1
        )
    run = recorded.span("invoke_workflow run_tools")
    assert run.status.status_code is StatusCode.ERROR
    assert attrs(run)["error.type"] == "MaxRoundsExceededError"


# --------------------------------------------------------------------------------------
# Batch jobs
# --------------------------------------------------------------------------------------


async def test_a_batch_job_has_a_span_per_request_under_the_job(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """kk.batch.run: one `kkiai.batch` span; under it a `kkiai.batch.request` span per
    request (its custom id, attempts), each with its attempts' chat spans under it."""
    fake.queue(Fault.status(500))
    requests = [
        batch.BatchRequest(custom_id=f"r{i}", body={"model": MODEL, "messages": USER})
        for i in range(3)
    ]
    results = [r async for r in batch.run(client, requests, concurrency=2, backoff_base=0)]
    assert all(r.ok for r in results)
    job = recorded.span("kkiai.batch")
    per_request = recorded.spans("kkiai.batch.request")
    assert sorted(attrs(s)["kkiai.batch.custom_id"] for s in per_request) == ["r0", "r1", "r2"]
    assert all(
        s.parent is not None and s.parent.span_id == job.context.span_id for s in per_request
    )
    ids = {s.context.span_id for s in per_request}
    chats = recorded.spans(f"chat {MODEL}")
    assert len(chats) == 4  # one request was tried twice
    assert all(c.parent is not None and c.parent.span_id in ids for c in chats)
    assert sorted(attrs(s)["kkiai.batch.attempts"] for s in per_request) == [1, 1, 2]


# --------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------


async def test_a_stream_span_stays_open_until_the_stream_ends(
    client: kk.AsyncClient, recorded: Recorded
) -> None:
    """A stream's span ends with the stream, and carries the id, model, finish reasons and
    usage that arrived; its time to first chunk and time per chunk are recorded."""
    stream = await client.chat.completions.create(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        async for _ in stream:
            assert recorded.spans(f"chat {MODEL}") == []
    completion = await stream.final_completion()
    span = recorded.span(f"chat {MODEL}")
    a = attrs(span)
    assert completion.usage is not None
    assert a["gen_ai.response.id"] == completion.id
    assert a["gen_ai.response.model"] == completion.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert a["kkiai.stream.outcome"] == "ended"
    assert span.status.status_code is StatusCode.UNSET
    (first,) = recorded.points("gen_ai.client.operation.time_to_first_chunk")
    (per_chunk,) = recorded.points("gen_ai.client.operation.time_per_output_chunk")
    assert first.count == per_chunk.count == 1
    assert dict(first.attributes)["gen_ai.response.model"] == completion.model
    assert len(recorded.points("gen_ai.client.operation.duration")) == 1


async def test_an_event_stream_has_the_same_span(
    client: kk.AsyncClient, recorded: Recorded
) -> None:
    """stream(): the span ends when the block ends, with the response's attributes."""
    async with client.chat.completions.stream(model=MODEL, messages=USER) as events:
        completion = await events.final_completion()
    a = attrs(recorded.span(f"chat {MODEL}"))
    assert a["gen_ai.response.id"] == completion.id
    assert a["kkiai.stream.outcome"] == "ended"


async def test_a_stream_closed_early_is_not_an_error(
    client: kk.AsyncClient, recorded: Recorded
) -> None:
    """Leaving the block after the first chunk ends the span, outcome `closed`, no error."""
    stream = await client.chat.completions.create(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        async for _ in stream:
            break
    span = recorded.span(f"chat {MODEL}")
    assert attrs(span)["kkiai.stream.outcome"] == "closed"
    assert "error.type" not in attrs(span)
    assert span.status.status_code is StatusCode.UNSET


async def test_a_stream_closed_before_iteration_ends_its_span(
    client: kk.AsyncClient, recorded: Recorded
) -> None:
    """A stream closed without being iterated still ends its span."""
    stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    await stream.close()
    assert attrs(recorded.span(f"chat {MODEL}"))["kkiai.stream.outcome"] == "closed"


async def test_a_cancelled_stream_has_the_cancellation_as_its_error(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """Cancelling the task reading a stream ends its span with error.type CancelledError."""
    fake.queue(Fault.stall(after_chunks=2))
    first = asyncio.Event()

    async def read() -> None:
        stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
        async with stream:
            async for _ in stream:
                first.set()

    task = asyncio.ensure_future(read())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = recorded.span(f"chat {MODEL}")
    assert attrs(span)["kkiai.stream.outcome"] == "cancelled"
    assert attrs(span)["error.type"] == "CancelledError"
    assert span.status.status_code is StatusCode.ERROR


async def test_a_stream_that_breaks_has_the_error_and_what_arrived(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """A connection cut mid-stream: error.type IncompleteStreamError, the response id kept."""
    fake.queue(Fault.drop_after(2))
    stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    with pytest.raises(kk.IncompleteStreamError) as caught:
        async with stream:
            async for _ in stream:
                pass
    span = recorded.span(f"chat {MODEL}")
    a = attrs(span)
    assert a["error.type"] == "IncompleteStreamError"
    assert a["kkiai.stream.outcome"] == "failed"
    assert caught.value.partial is not None
    assert a["gen_ai.response.id"] == caught.value.partial.id
    assert span.status.status_code is StatusCode.ERROR
    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "IncompleteStreamError"


async def test_a_stream_refused_at_its_status_fails_its_span(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """A stream answered 503 (retries exhausted) has its span ended with the error."""
    fake.queue(Fault.status(503), Fault.status(503), Fault.status(503))
    with pytest.raises(kk.InternalServerError):
        await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    span = recorded.span(f"chat {MODEL}")
    assert attrs(span)["error.type"] == "InternalServerError"
    assert len(span.events) == 2


async def test_a_streamed_tool_run_nests_its_requests_and_tools(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """stream_tools: the rounds' chat spans and the tool spans are under the run's span."""
    fake.queue(Reply.tool_call("get_weather", {"city": "Paris"}), Reply.text("Sunny."))
    async with client.chat.completions.stream_tools(
        model=MODEL, messages=USER, tools=[get_weather]
    ) as run:
        await run.final_completion()
    parent = recorded.span("invoke_workflow stream_tools")
    chats = recorded.spans(f"chat {MODEL}")
    tool = recorded.span("execute_tool get_weather")
    assert len(chats) == 2
    for span in (*chats, tool):
        assert span.parent is not None and span.parent.span_id == parent.context.span_id
    assert parent.status.status_code is StatusCode.UNSET


async def test_a_run_awaited_while_handling_an_error_does_not_take_that_error(
    client: kk.AsyncClient, fake: FakeServer, recorded: Recorded
) -> None:
    """A run that succeeds inside an `except` block of its caller has no error."""
    fake.queue(Reply.tool_call("get_weather", {"city": "Paris"}), Reply.text("Sunny."))
    try:
        raise LookupError("the caller's own")
    except LookupError:
        await client.chat.completions.run_tools(model=MODEL, messages=USER, tools=[get_weather])
    assert recorded.span("invoke_workflow run_tools").status.status_code is StatusCode.UNSET


async def test_a_disabled_sdk_records_nothing(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SDK providers made with OTEL_SDK_DISABLED=true hand out no-ops: the client holds none."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tracer_provider = TracerProvider()
    meter_provider = MeterProvider()
    async with kk.AsyncClient(
        api_key=KEY,
        base_url=fake.base_url,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    ) as client:
        await client.chat.completions.create(model=MODEL, messages=USER)
        assert client._telemetry_now() is None
    tracer_provider.shutdown()
    meter_provider.shutdown()
