"""OpenTelemetry spans and metrics, after the GenAI semantic conventions.

Why the library emits them itself: the calls, streams, retries and tool runs are all
here, and only here is it known when a stream's first chunk came, which attempt was
retried and why, or which tool call failed. A wrapper around the client sees none of it.

What is recorded (see ``docs/observability.md`` for the table):

- a ``chat {model}`` span (kind CLIENT) per request, with the request settings that
  were sent, the response's id, model, finish reasons and token usage, and
  ``error.type`` with an error status when it failed; a streamed request's span stays
  open until its stream ends, fails, is closed or is cancelled;
- a ``kkiai.retry`` event on that span per retried attempt (the status or error, the
  delay);
- ``execute_tool {name}`` spans under an ``invoke_workflow run_tools`` span for tool
  runs, and ``kkiai.batch.request`` spans under a ``kkiai.batch`` span for batch jobs;
- the metrics ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and,
  for streams, ``gen_ai.client.operation.time_to_first_chunk`` and
  ``gen_ai.client.operation.time_per_output_chunk``, with the conventions' buckets.

Nothing costs anything when nobody listens: whether telemetry is on is decided once
per client, at its first request (:func:`make_telemetry`). Without
``opentelemetry-api``, or with it but no SDK provider configured (the global providers
are still the API's proxies), the client holds ``None`` and each hook is one
``is not None`` test, none of them per chunk. When it is on, a stream does O(1) work per
network read (a counter and, once, the time of the first chunk), never a metric per
chunk: ``time_per_output_chunk`` is recorded once per stream, as the mean gap between
its chunks.

Message content (prompts, answers, tool arguments and results) is recorded only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true``, read when the
client decides; the API key is never anywhere in what is recorded (nothing here sees
the request's headers).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

import msgspec

from .types import ToolCallDoneEvent

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from ._accumulate import ChatCompletionAccumulator
    from .batch import BatchResult, BatchStats
    from .tools import Toolbox, ToolOutcome
    from .types import ChatCompletion, ChatCompletionMessageToolCall

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "PROVIDER_NAME",
    "ChatCall",
    "Job",
    "Run",
    "Telemetry",
    "make_telemetry",
]

PROVIDER_NAME = "kkiai"
"""``gen_ai.provider.name``: not one of the conventions' well-known values, so the
library's own (the conventions allow a custom value)."""

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# The conventions' advisory buckets: seconds for the durations, tokens for the usage.
_SECONDS_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

# Request body field -> span attribute, for the settings the conventions name.
_REQUEST_SETTINGS = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("seed", "gen_ai.request.seed"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
)

_INSTRUMENTATION = "kkiai_async"
_CLIENT_SPAN_KIND: Any = None  # SpanKind.CLIENT, set by make_telemetry (lazy import)

_T = TypeVar("_T")
_json = msgspec.json.Encoder()


def _version() -> str:
    from ._version import __version__

    return __version__


def _is_disabled(provider: object) -> bool:
    """Whether ``provider`` is the API's own (a proxy nobody configured, or a no-op)."""
    from opentelemetry import metrics, trace

    names = {type(provider).__name__}
    return isinstance(provider, (trace.NoOpTracerProvider, metrics.NoOpMeterProvider)) or bool(
        names & {"ProxyTracerProvider", "_ProxyMeterProvider"}
    )


def make_telemetry(
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
    base_url: str,
) -> Telemetry | None:
    """The client's telemetry, or ``None`` when nothing would be recorded.

    Args:
        tracer_provider: The client's own, or ``None`` for the global one.
        meter_provider: The client's own, or ``None`` for the global one.
        base_url: Where requests go, for ``server.address`` and ``server.port``.

    Returns:
        ``None`` when ``opentelemetry-api`` is not installed, or when neither provider
        records anything (no SDK configured); else the tracer and instruments to use.
    """
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return None
    if tracer_provider is None:
        tracer_provider = trace.get_tracer_provider()
    if meter_provider is None:
        meter_provider = metrics.get_meter_provider()
    tracing = not _is_disabled(tracer_provider)
    metering = not _is_disabled(meter_provider)
    if not tracing and not metering:
        return None
    global _CLIENT_SPAN_KIND
    _CLIENT_SPAN_KIND = trace.SpanKind.CLIENT
    tracer = (
        tracer_provider.get_tracer(_INSTRUMENTATION, _version()) if tracing else trace.NoOpTracer()
    )
    meter = (
        meter_provider.get_meter(_INSTRUMENTATION, _version())
        if metering
        else metrics.NoOpMeter(_INSTRUMENTATION)
    )
    if isinstance(tracer, trace.NoOpTracer) and isinstance(meter, metrics.NoOpMeter):
        # An SDK provider that was disabled (OTEL_SDK_DISABLED=true) hands out no-ops.
        return None
    return Telemetry(tracer, meter, base_url)


def _server(base_url: str) -> dict[str, Any]:
    parts = urlsplit(base_url)
    attributes: dict[str, Any] = {}
    if parts.hostname:
        attributes["server.address"] = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        attributes["server.port"] = port
    return attributes


class Telemetry:
    """A client's tracer and instruments, made once; :meth:`chat` starts each call's span."""

    __slots__ = (
        "capture",
        "duration",
        "server",
        "time_per_chunk",
        "time_to_first_chunk",
        "token_usage",
        "tracer",
    )

    def __init__(self, tracer: Tracer, meter: Any, base_url: str) -> None:
        self.tracer = tracer
        self.server = _server(base_url)
        self.capture = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self.token_usage: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.time_to_first_chunk: Histogram = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from issuing the request to receiving the first chunk.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self.time_per_chunk: Histogram = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            unit="s",
            description="Time per output chunk after the first (the mean over a stream).",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )

    def chat(self, body: Mapping[str, Any]) -> ChatCall:
        """Start the span of one chat request, from its checked body (before encoding)."""
        return ChatCall(self, body)

    # -- tool runs and batch jobs -------------------------------------------------------

    def start_span(self, name: str, attributes: Mapping[str, Any]) -> Span:
        """An INTERNAL span under the current one (a run's or a job's span)."""
        return self.tracer.start_span(name, attributes=attributes)

    @contextmanager
    def current(self, span: Span) -> Iterator[None]:
        """Make ``span`` the parent of what starts inside (no ``await`` may yield out)."""
        from opentelemetry import trace

        # The span's error is set by its owner, as the conventions say (error.type).
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield

    def run(self, workflow: str) -> Run:
        """Start the parent span of a tool run (``invoke_workflow {workflow}``)."""
        return Run(self, workflow)

    def job(self) -> Job:
        """Start the span of a batch job (``kkiai.batch``)."""
        return Job(self)


class Job:
    """The span of a batch job, the parent of a ``kkiai.batch.request`` span per request,
    itself the parent of that request's attempts' chat spans."""

    __slots__ = ("context", "span", "telemetry")

    def __init__(self, telemetry: Telemetry) -> None:
        from opentelemetry.trace import set_span_in_context

        self.telemetry = telemetry
        self.span = telemetry.start_span("kkiai.batch", {"gen_ai.provider.name": PROVIDER_NAME})
        self.context = set_span_in_context(self.span)

    async def request(
        self, custom_id: str, execute: Callable[[], Awaitable[BatchResult]]
    ) -> BatchResult:
        """Run one request of the job (``execute``) inside its span."""
        telemetry = self.telemetry
        span = telemetry.tracer.start_span(
            "kkiai.batch.request",
            context=self.context,
            attributes={"kkiai.batch.custom_id": custom_id},
        )
        try:
            with telemetry.current(span):
                result = await execute()
        except BaseException as exc:
            end_span(span, exc)
            raise
        span.set_attribute("kkiai.batch.attempts", result.attempts)
        if result.status_code is not None:
            span.set_attribute("http.response.status_code", result.status_code)
        end_span(span, result.error)
        return result

    def end(self, stats: BatchStats) -> None:
        """End the job's span with its counts."""
        span = self.span
        span.set_attribute("kkiai.batch.succeeded", stats.done)
        span.set_attribute("kkiai.batch.failed", stats.failed)
        span.set_attribute("kkiai.batch.retried", stats.retried)
        span.end()


class Run:
    """The span of a tool run, the parent of its requests' and tools' spans.

    A tool runs in a task of its own and a streamed run is an async generator, so the
    parent is given explicitly (:meth:`tool`, :meth:`enter`) rather than through the
    current context, which neither keeps.
    """

    __slots__ = ("context", "span", "telemetry")

    def __init__(self, telemetry: Telemetry, workflow: str) -> None:
        from opentelemetry.trace import set_span_in_context

        self.telemetry = telemetry
        self.span = telemetry.start_span(
            f"invoke_workflow {workflow}",
            {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.provider.name": PROVIDER_NAME,
                "gen_ai.workflow.name": workflow,
            },
        )
        self.context = set_span_in_context(self.span)

    def current(self) -> AbstractContextManager[Any]:
        """Make the run's span the parent of the requests sent inside (a coroutine's)."""
        return self.telemetry.current(self.span)

    def enter(self, manager: AbstractAsyncContextManager[_T]) -> AbstractAsyncContextManager[_T]:
        """``manager`` whose entry (where a stream's request is sent) is under the run."""
        return _Parented(self.telemetry, manager, self.span)

    async def tool(
        self,
        box: Toolbox,
        call: ChatCompletionMessageToolCall | ToolCallDoneEvent,
        timeout: float | None,
    ) -> ToolOutcome:
        """Run a tool call inside its ``execute_tool {name}`` span."""
        if isinstance(call, ToolCallDoneEvent):
            name, call_id, arguments = call.name, call.id, call.arguments
        else:
            name, call_id, arguments = call.function.name, call.id, call.function.arguments
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.provider.name": PROVIDER_NAME,
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
        }
        if call_id:
            attributes["gen_ai.tool.call.id"] = call_id
        definition = getattr(box.get(name), "definition", None)
        description = getattr(getattr(definition, "function", None), "description", None)
        if isinstance(description, str) and description:
            attributes["gen_ai.tool.description"] = description
        capture = self.telemetry.capture
        if capture:
            attributes["gen_ai.tool.call.arguments"] = _text(arguments)
        span = self.telemetry.tracer.start_span(
            f"execute_tool {name}", context=self.context, attributes=attributes
        )
        try:
            outcome = await box.run(call, timeout=timeout)
        except BaseException as exc:
            end_span(span, exc)
            raise
        if capture:
            span.set_attribute("gen_ai.tool.call.result", _text(outcome.message.content))
        if outcome.failed:
            _set_error(span, "tool_error", "the tool failed; its message to the model says how")
        span.end()
        return outcome

    def end(self, ended: bool) -> None:
        """End the run's span from the ``finally`` of the run's generator.

        Args:
            ended: Whether the run ended cleanly; if not, the exception on its way out
                is the run's error, except ``GeneratorExit`` (the consumer of a streamed
                run stopped early). Not read when it ended: ``sys.exc_info()`` would be
                whatever the consumer was handling.
        """
        exc = None if ended else sys.exc_info()[1]
        end_span(self.span, None if isinstance(exc, GeneratorExit) else exc)


class _Parented(AbstractAsyncContextManager[_T], Generic[_T]):
    """Enters a context manager with a span current, for an async generator that cannot
    keep one current across its ``yield``s (the consumer's context would change)."""

    __slots__ = ("_manager", "_span", "_telemetry")

    def __init__(
        self, telemetry: Telemetry, manager: AbstractAsyncContextManager[_T], span: Span
    ) -> None:
        self._telemetry = telemetry
        self._manager = manager
        self._span = span

    async def __aenter__(self) -> _T:
        with self._telemetry.current(self._span):
            return await self._manager.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._manager.__aexit__(exc_type, exc, tb)


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: its class name (``RateLimitError``,
    ``APITimeoutError``, ``CancelledError``...), low in cardinality as asked."""
    return type(exc).__qualname__


def _set_error(span: Span, kind: str, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, description))


def end_span(span: Span, exc: BaseException | None = None) -> None:
    """End a run's or a job's span, with the error that ended it, if any."""
    if exc is not None:
        _set_error(span, error_type(exc), str(exc) or error_type(exc))
    span.end()


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return _json.encode(msgspec.to_builtins(value)).decode()
    except (TypeError, ValueError):
        return repr(value)


# --------------------------------------------------------------------------------------
# Message content, in the conventions' JSON shapes (opt-in only)
# --------------------------------------------------------------------------------------


def _parts(content: object) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append({"type": "text", "content": part.get("text", "")})
            elif isinstance(part, dict):
                parts.append({"type": str(part.get("type", "unknown"))})
    return parts


def _tool_call_parts(calls: object) -> list[dict[str, Any]]:
    parts = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
    return parts


def input_messages(messages: object) -> tuple[str | None, str]:
    """(``gen_ai.system_instructions``, ``gen_ai.input.messages``) as JSON text."""
    plain = msgspec.to_builtins(messages) if messages is not None else []
    system: list[dict[str, Any]] = []
    shown: list[dict[str, Any]] = []
    for message in plain if isinstance(plain, list) else []:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content")))
            continue
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        else:
            parts = _parts(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
        shown.append({"role": role, "parts": parts})
    instructions = _json.encode(system).decode() if system else None
    return instructions, _json.encode(shown).decode()


def output_messages(completion: ChatCompletion) -> str:
    """``gen_ai.output.messages`` as JSON text."""
    shown = []
    for choice in completion.choices:
        message = choice.message
        parts = _parts(message.content)
        if message.tool_calls:
            parts += _tool_call_parts(msgspec.to_builtins(message.tool_calls))
        shown.append(
            {
                "role": message.role or "assistant",
                "parts": parts,
                "finish_reason": choice.finish_reason or "",
            }
        )
    return _json.encode(shown).decode()


# --------------------------------------------------------------------------------------
# One chat request
# --------------------------------------------------------------------------------------


class ChatCall:
    """The span and timings of one chat request, whole or streamed.

    Made by :meth:`Telemetry.chat` before the request is sent; ended exactly once, by
    :meth:`done` (a whole completion), :meth:`stream_ended` (a stream, however it
    stopped) or :meth:`fail` (an error before there was a response).
    """

    __slots__ = (
        "chunks",
        "ended",
        "first",
        "metric_attributes",
        "span",
        "start",
        "telemetry",
    )

    def __init__(self, telemetry: Telemetry, body: Mapping[str, Any]) -> None:
        self.telemetry = telemetry
        model = body.get("model")
        common: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER_NAME,
        }
        if isinstance(model, str):
            common["gen_ai.request.model"] = model
        common.update(telemetry.server)
        self.metric_attributes = common
        attributes = dict(common)
        for field, name in _REQUEST_SETTINGS:
            value = body.get(field)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[name] = value
        stop = body.get("stop")
        if isinstance(stop, str):
            attributes["gen_ai.request.stop_sequences"] = [stop]
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
            attributes["gen_ai.request.stop_sequences"] = stop
        n = body.get("n")
        if isinstance(n, int) and n != 1:
            attributes["gen_ai.request.choice.count"] = n
        response_format = msgspec.to_builtins(body.get("response_format"))
        if isinstance(response_format, dict) and response_format.get("type") in (
            "json_object",
            "json_schema",
        ):
            attributes["gen_ai.output.type"] = "json"
        if telemetry.capture:
            instructions, messages = input_messages(body.get("messages"))
            if instructions is not None:
                attributes["gen_ai.system_instructions"] = instructions
            attributes["gen_ai.input.messages"] = messages
        name = f"chat {model}" if isinstance(model, str) else "chat"
        self.span = telemetry.tracer.start_span(name, kind=_CLIENT_SPAN_KIND, attributes=attributes)
        self.ended = False
        self.first = 0.0
        self.chunks = 0
        self.start = time.perf_counter()

    def retry(self, attempt: int, delay: float, failure: int | BaseException, reason: str) -> None:
        """An event for a retried attempt: what failed, why, and the wait before the next.

        Args:
            attempt: The retry's number (1 for the first).
            delay: The seconds waited before it.
            failure: The status the failed attempt got, or its error.
            reason: The reason logged for the retry.
        """
        attributes: dict[str, Any] = {
            "kkiai.retry.attempt": attempt,
            "kkiai.retry.delay": delay,
            "kkiai.retry.reason": reason,
        }
        if isinstance(failure, int):
            attributes["http.response.status_code"] = failure
        else:
            attributes["error.type"] = error_type(failure)
        self.span.add_event("kkiai.retry", attributes)

    def fail(self, exc: BaseException) -> None:
        """End the span with ``exc``: the request failed, or was cancelled, before a
        completion or a stream was handed out."""
        if self.ended:
            return
        self.ended = True
        kind = error_type(exc)
        _set_error(self.span, kind, str(exc) or kind)
        self._record_duration(time.perf_counter(), None, kind)
        self.span.end()

    def done(self, completion: ChatCompletion) -> None:
        """End the span of a whole completion."""
        if self.ended:
            return
        self.ended = True
        self._respond(completion, None, time.perf_counter())
        self.span.end()

    # -- streams ----------------------------------------------------------------------

    def read(self, payloads: int) -> None:
        """A network read of a stream brought ``payloads`` events: O(1), per read."""
        if not self.chunks:
            self.first = time.perf_counter()
        self.chunks += payloads

    def stream_ended(
        self, acc: ChatCompletionAccumulator, ended: bool, error: BaseException | None
    ) -> None:
        """End the span of a stream with what arrived, however it stopped.

        Args:
            acc: The stream's accumulator (what arrived).
            ended: Whether the stream ended cleanly.
            error: The error that ended it; ``GeneratorExit`` when the consumer closed
                it early (not an error); ``CancelledError`` when its task was cancelled.
        """
        if self.ended:
            return
        self.ended = True
        end = time.perf_counter()
        span = self.span
        kind: str | None = None
        if ended:
            outcome = "ended"
        elif error is None or isinstance(error, GeneratorExit):
            outcome = "closed"
        else:
            kind = error_type(error)
            outcome = "cancelled" if kind == "CancelledError" else "failed"
            _set_error(span, kind, str(error) or kind)
        span.set_attribute("kkiai.stream.outcome", outcome)
        if self.chunks:
            span.set_attribute("kkiai.stream.events", self.chunks)
            telemetry = self.telemetry
            attributes = dict(self.metric_attributes)
            if acc.model:
                attributes["gen_ai.response.model"] = acc.model
            telemetry.time_to_first_chunk.record(self.first - self.start, attributes)
            if self.chunks > 1:
                telemetry.time_per_chunk.record((end - self.first) / (self.chunks - 1), attributes)
        self._respond(acc.current_completion(), kind, end)
        span.end()

    # -- shared -----------------------------------------------------------------------

    def _respond(self, completion: ChatCompletion, kind: str | None, end: float) -> None:
        span = self.span
        telemetry = self.telemetry
        model = completion.model or None
        if completion.id:
            span.set_attribute("gen_ai.response.id", completion.id)
        if model is not None:
            span.set_attribute("gen_ai.response.model", model)
        reasons = [c.finish_reason for c in completion.choices if c.finish_reason]
        if reasons:
            span.set_attribute("gen_ai.response.finish_reasons", reasons)
        attributes = self._record_duration(end, model, kind)
        usage = completion.usage
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            attributes.pop("error.type", None)
            telemetry.token_usage.record(
                usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"}
            )
            telemetry.token_usage.record(
                usage.completion_tokens, {**attributes, "gen_ai.token.type": "output"}
            )
        if telemetry.capture and completion.choices:
            span.set_attribute("gen_ai.output.messages", output_messages(completion))

    def _record_duration(self, end: float, model: str | None, kind: str | None) -> dict[str, Any]:
        attributes = dict(self.metric_attributes)
        if model is not None:
            attributes["gen_ai.response.model"] = model
        if kind is not None:
            attributes["error.type"] = kind
        self.telemetry.duration.record(end - self.start, attributes)
        return attributes
