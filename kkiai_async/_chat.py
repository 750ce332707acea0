"""``client.chat.completions``: the request parameters, the typed overloads, and the
choice between a whole completion, a chunk stream and an event stream.

The parameters are checked (:func:`~kkiai_async._params.build_body`) and encoded before
anything is sent, so a mistake fails at the call, naming the parameter. The body is
encoded and a non-streamed response decoded by ``msgspec`` coders built once, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import msgspec

from . import _tool_loop
from ._accumulate import ChatCompletionAccumulator
from ._exceptions import InvalidParameterError, request_id_from
from ._params import build_body
from ._retry import Timeout
from ._stream import (
    BytesResponse,
    ChatCompletionEventStream,
    ChatCompletionStream,
    decode_completion,
    open_stream,
)
from .tools import Toolbox, ToolLike
from .types import (
    ChatCompletion,
    ChatCompletionMessage,
    Message,
    ResponseFormat,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
    StreamOptions,
    Tool,
    ToolChoice,
)

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = [
    "AsyncCompletions",
    "Chat",
    "RawCompletions",
    "RawResponse",
    "ToolObject",
]

_ENCODER = msgspec.json.Encoder()


class ToolObject(Protocol):
    """A tool given as an object (a ``@kk.tool`` function): its definition is sent.

    When it also has ``name`` and ``arguments_type``, :meth:`AsyncCompletions.stream`
    decodes that tool's arguments into ``arguments_type``
    (:attr:`~kkiai_async.types.ToolCallDoneEvent.value`).
    """

    @property
    def definition(self) -> Tool | Mapping[str, Any]:
        """The tool as the API takes it."""
        ...


def _encode(body: dict[str, object]) -> bytes:
    try:
        return _ENCODER.encode(body)
    except (TypeError, ValueError) as exc:
        # build_body checked the parameters it knows; this is a value inside a dict
        # (or extra_body) that JSON cannot hold.
        raise InvalidParameterError("body", f"cannot be encoded as JSON: {exc}") from None


def _wants_json(response_format: object) -> bool:
    if isinstance(response_format, (ResponseFormatJSONObject, ResponseFormatJSONSchema)):
        return True
    return isinstance(response_format, Mapping) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )


def _arg_types(tools: object) -> dict[str, type]:
    found: dict[str, type] = {}
    if isinstance(tools, Sequence):
        for tool in tools:
            name = getattr(tool, "name", None)
            arguments_type = getattr(tool, "arguments_type", None)
            if isinstance(name, str) and isinstance(arguments_type, type):
                found[name] = arguments_type
    return found


class AsyncCompletions:
    """Chat completions: ``create()`` for a completion or a chunk stream, ``stream()`` for
    typed events."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncClient) -> None:
        """Bind the resource to its client; ``client.chat.completions`` is this object."""
        self._client = client

    @overload
    async def create(
        self,
        *,
        messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
        model: str,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        stream: Literal[False] | None = False,
        stop: str | Sequence[str] | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: Mapping[int, float] | Mapping[str, float] | None = None,
        user: str | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | None = None,
        seed: int | None = None,
        tools: Sequence[Tool | Mapping[str, Any] | ToolObject] | None = None,
        tool_choice: ToolChoice | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
        model: str,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        stream: Literal[True],
        stop: str | Sequence[str] | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: Mapping[int, float] | Mapping[str, float] | None = None,
        user: str | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | None = None,
        seed: int | None = None,
        tools: Sequence[Tool | Mapping[str, Any] | ToolObject] | None = None,
        tool_choice: ToolChoice | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> ChatCompletionStream: ...

    @overload
    async def create(
        self,
        *,
        messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
        model: str,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        stream: bool | None = False,
        stop: str | Sequence[str] | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: Mapping[int, float] | Mapping[str, float] | None = None,
        user: str | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | None = None,
        seed: int | None = None,
        tools: Sequence[Tool | Mapping[str, Any] | ToolObject] | None = None,
        tool_choice: ToolChoice | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> ChatCompletion | ChatCompletionStream: ...

    async def create(
        self,
        *,
        messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
        model: str,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        stream: bool | None = False,
        stop: str | Sequence[str] | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: Mapping[int, float] | Mapping[str, float] | None = None,
        user: str | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | None = None,
        seed: int | None = None,
        tools: Sequence[Tool | Mapping[str, Any] | ToolObject] | None = None,
        tool_choice: ToolChoice | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> ChatCompletion | ChatCompletionStream:
        """Create a chat completion: whole, or streamed as chunks.

        The parameters are those of the API (``seed`` is what its documentation calls
        ``seen``); ``None`` leaves one out, so the server's default applies. Messages,
        tools, ``tool_choice`` and ``response_format`` are accepted as plain dicts of
        the API's shape or as the structs of :mod:`kkiai_async.types`; a tool may also be
        an object with a ``.definition`` (a ``@kk.tool`` function).

        Retries: a failed attempt is retried (at most ``max_retries`` times, after a
        backoff that honours ``Retry-After``) when it got 408, 409, 429 or a 5xx, or
        when the connection failed or a connect/read timeout expired before the
        response headers arrived -- and, for a non-streamed request, while its body
        was read. A stream is never retried once this call has returned it. Each retry
        is logged at INFO on the ``"kkiai_async"`` logger.

        Args:
            messages: The conversation so far.
            model: The model's id.
            temperature: Sampling temperature, 0 to 2.
            top_p: Nucleus sampling mass, 0 to 1.
            n: How many choices to generate.
            stream: ``True`` to get a :class:`ChatCompletionStream` as soon as the
                response headers are in.
            stop: Up to 4 sequences where generation stops.
            max_tokens: The most tokens to generate.
            max_completion_tokens: The newer name of ``max_tokens``, counting
                reasoning tokens too.
            presence_penalty: -2 to 2.
            frequency_penalty: -2 to 2.
            logit_bias: Token id -> bias (-100 to 100).
            user: An id of the end user, for abuse monitoring.
            response_format: ``{"type": "json_object"}`` or ``{"type": "json_schema",
                "json_schema": {...}}`` for JSON replies.
            seed: For best-effort deterministic sampling.
            tools: The tools the model may call.
            tool_choice: ``"none"``, ``"auto"``, ``"required"`` or a named function.
            parallel_tool_calls: Whether the model may call several tools at once.
            logprobs: Return the log probabilities of the output tokens.
            top_logprobs: With ``logprobs``, how many alternatives per token (0-20).
            stream_options: ``{"include_usage": True}`` for a final usage chunk.
            extra_body: Vendor parameters, merged into the body last, unchecked.
            extra_headers: Headers for this request only.
            timeout: This request's limits (:class:`Timeout` or seconds); ``None``
                uses the client's. Pass ``kk.Timeout(None, None, None)`` for none.
            max_retries: This request's retry count; ``None`` uses the client's.

        Returns:
            A :class:`ChatCompletion`; with ``stream=True`` a
            :class:`ChatCompletionStream` (use it with ``async with``).

        Raises:
            InvalidParameterError: A parameter is wrong; nothing was sent.
            APIStatusError: The server answered with an error status (a subclass per
                status: ``RateLimitError``, ``AuthenticationError``...).
            APIConnectionError: The connection failed; ``APITimeoutError`` when a
                timeout expired.
            APIStreamError: The server answered ``200`` with an error object.
            APIProtocolError: The response is not a completion (or not an event stream).
            ClientClosedError: The client is closed.
        """
        params = {
            "messages": messages,
            "model": model,
            "temperature": temperature,
            "top_p": top_p,
            "n": n,
            "stream": True if stream else None,
            "stop": stop,
            "max_tokens": max_tokens,
            "max_completion_tokens": max_completion_tokens,
            "presence_penalty": presence_penalty,
            "frequency_penalty": frequency_penalty,
            "logit_bias": logit_bias,
            "user": user,
            "response_format": response_format,
            "seed": seed,
            "tools": tools,
            "tool_choice": tool_choice,
            "parallel_tool_calls": parallel_tool_calls,
            "logprobs": logprobs,
            "top_logprobs": top_logprobs,
            "stream_options": stream_options,
            "extra_body": extra_body,
        }
        if stream:
            self._client._check_open()
            return await self._open(
                _encode(build_body(params)),
                ChatCompletionAccumulator(),
                accumulate=True,
                extra_headers=extra_headers,
                timeout=timeout,
                max_retries=max_retries,
            )
        raw = await self._create_whole(
            params, extra_headers=extra_headers, timeout=timeout, max_retries=max_retries
        )
        return raw.parse()

    async def _create_whole(
        self,
        params: Mapping[str, object],
        *,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> RawResponse:
        """Send a non-streamed request; the completion with the response's metadata."""
        self._client._check_open()
        encoded = _encode(build_body(params))
        response, data = await self._client._send(
            encoded,
            stream=False,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )
        request_id = request_id_from(response.headers)
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media == "text/event-stream":
            # A relay that streams whatever it is asked: assemble the stream.
            chunks = ChatCompletionStream(BytesResponse(response.status, response.headers, data))
            completion = await chunks.final_completion()
        else:
            completion = decode_completion(data, request_id)
        return RawResponse(response.status, response.headers, request_id, completion)

    @property
    def with_raw_response(self) -> RawCompletions:
        """``create()`` that also returns the response's status and headers.

        For callers that read ``x-ratelimit-*`` headers or the request id of a
        non-streamed request (a stream carries them as ``response_headers``)::

            raw = await client.chat.completions.with_raw_response.create(...)
            raw.headers["x-ratelimit-remaining-requests"], raw.parse()
        """
        return RawCompletions(self)

    def stream(
        self,
        *,
        messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
        model: str,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        stop: str | Sequence[str] | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: Mapping[int, float] | Mapping[str, float] | None = None,
        user: str | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | None = None,
        seed: int | None = None,
        tools: Sequence[Tool | Mapping[str, Any] | ToolObject] | None = None,
        tool_choice: ToolChoice | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> AbstractAsyncContextManager[ChatCompletionEventStream]:
        """Stream a chat completion as typed events.

        Use it with ``async with``; the parameters are checked here, and the request is
        sent when the block is entered (so HTTP errors raise at ``async with``)::

            async with client.chat.completions.stream(model=..., messages=[...]) as events:
                async for event in events:
                    match event:
                        case kk.TextDeltaEvent(delta=delta):
                            print(delta, end="")
                completion = await events.final_completion()

        Content is parsed as JSON while it arrives when ``response_format`` asks for
        JSON (``TextDeltaEvent.parsed``); a tool object with ``name`` and
        ``arguments_type`` gets its arguments decoded into that type
        (``ToolCallDoneEvent.value``).

        Args:
            messages: As for :meth:`create`, and every other parameter too.
            model: The model's id.
            temperature: See :meth:`create`.
            top_p: See :meth:`create`.
            n: See :meth:`create`.
            stop: See :meth:`create`.
            max_tokens: See :meth:`create`.
            max_completion_tokens: See :meth:`create`.
            presence_penalty: See :meth:`create`.
            frequency_penalty: See :meth:`create`.
            logit_bias: See :meth:`create`.
            user: See :meth:`create`.
            response_format: See :meth:`create`.
            seed: See :meth:`create`.
            tools: See :meth:`create`.
            tool_choice: See :meth:`create`.
            parallel_tool_calls: See :meth:`create`.
            logprobs: See :meth:`create`.
            top_logprobs: See :meth:`create`.
            stream_options: See :meth:`create`.
            extra_body: See :meth:`create`.
            extra_headers: See :meth:`create`.
            timeout: See :meth:`create`.
            max_retries: See :meth:`create`.

        Returns:
            An async context manager yielding a :class:`ChatCompletionEventStream`.

        Raises:
            InvalidParameterError: A parameter is wrong; nothing was sent.
        """
        self._client._check_open()
        body = build_body(
            {
                "messages": messages,
                "model": model,
                "temperature": temperature,
                "top_p": top_p,
                "n": n,
                "stream": True,
                "stop": stop,
                "max_tokens": max_tokens,
                "max_completion_tokens": max_completion_tokens,
                "presence_penalty": presence_penalty,
                "frequency_penalty": frequency_penalty,
                "logit_bias": logit_bias,
                "user": user,
                "response_format": response_format,
                "seed": seed,
                "tools": tools,
                "tool_choice": tool_choice,
                "parallel_tool_calls": parallel_tool_calls,
                "logprobs": logprobs,
                "top_logprobs": top_logprobs,
                "stream_options": stream_options,
                "extra_body": extra_body,
            }
        )
        accumulator = ChatCompletionAccumulator(
            parse_content=_wants_json(response_format), arg_types=_arg_types(tools)
        )
        return _EventStreamManager(
            self,
            _encode(body),
            accumulator,
            extra_headers=extra_headers,
            timeout=timeout,
            max_retries=max_retries,
        )

    async def run_tools(
        self,
        *,
        messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
        model: str,
        tools: Toolbox | Sequence[ToolLike],
        tool_choice: ToolChoice | Mapping[str, Any] | None = None,
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        stop: str | Sequence[str] | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: Mapping[int, float] | Mapping[str, float] | None = None,
        user: str | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | None = None,
        seed: int | None = None,
        parallel_tool_calls: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> _tool_loop.ToolRunResult:
        """Run a conversation with tools to its end: request, run the calls, repeat.

        Each round sends the conversation; when the model calls tools, they are run
        (concurrently, at most ``max_concurrency`` at a time, unless ``parallel=False``)
        with :meth:`kkiai_async.tools.Toolbox.call`, and the assistant turn and the
        ``tool`` messages (in the order of the calls) are added for the next round.
        The run ends when the model answers without calling a tool::

            result = await client.chat.completions.run_tools(
                model=..., messages=[...], tools=[get_weather]
            )
            print(result.completion.choices[0].message.content)

        A tool that fails (invalid arguments, an exception, ``tool_timeout``) is
        answered with an ``"Error: ..."`` message and the run goes on: the model reads
        it and can correct itself. ``tool_choice="required"`` or a forced function
        applies to the first request only; later ones use ``"auto"``, so the model can
        stop. The ``messages`` given are not modified. Cancelling the awaiting task
        cancels the running tools (and waits until they have finished).

        Args:
            messages: The conversation so far.
            model: The model's id.
            tools: The tools: ``@kk.tool`` functions, plain functions, definitions
                (which are offered but answered with an error when called), or a
                :class:`~kkiai_async.tools.Toolbox`.
            tool_choice: For the first request; see above for the later ones.
            max_rounds: The most requests to send (at least 1).
            parallel: Run the calls of one turn concurrently; ``False`` runs them one
                after the other, in order (for tools that must not overlap). Unlike
                ``parallel_tool_calls``, this is not sent to the model.
            max_concurrency: The most tools running at once.
            tool_timeout: Seconds each tool may run (``None``: no limit); a tool that
                takes longer is answered with an error message.
            temperature: See :meth:`create`, and every parameter below too.
            top_p: See :meth:`create`.
            n: Must be 1 or ``None``: a run follows one conversation.
            stop: See :meth:`create`.
            max_tokens: See :meth:`create`.
            max_completion_tokens: See :meth:`create`.
            presence_penalty: See :meth:`create`.
            frequency_penalty: See :meth:`create`.
            logit_bias: See :meth:`create`.
            user: See :meth:`create`.
            response_format: See :meth:`create`.
            seed: See :meth:`create`.
            parallel_tool_calls: See :meth:`create`.
            logprobs: See :meth:`create`.
            top_logprobs: See :meth:`create`.
            stream_options: See :meth:`create`.
            extra_body: See :meth:`create`.
            extra_headers: See :meth:`create`.
            timeout: See :meth:`create` (for each request, not for the run).
            max_retries: See :meth:`create` (for each request).

        Returns:
            A :class:`~kkiai_async.ToolRunResult`: the last ``completion``, the whole
            conversation as ``messages``, and the number of ``rounds``.

        Raises:
            MaxRoundsExceededError: The model still called tools in the
                ``max_rounds``-th completion (those calls are not run); the error
                carries ``messages`` and ``completion``.
            InvalidParameterError: A parameter is wrong.
            ToolDefinitionError: ``tools`` holds something that is not a tool.
            APIError: As for :meth:`create`, from any round.
        """
        params = {
            "model": model,
            "temperature": temperature,
            "top_p": top_p,
            "n": n,
            "stop": stop,
            "max_tokens": max_tokens,
            "max_completion_tokens": max_completion_tokens,
            "presence_penalty": presence_penalty,
            "frequency_penalty": frequency_penalty,
            "logit_bias": logit_bias,
            "user": user,
            "response_format": response_format,
            "seed": seed,
            "parallel_tool_calls": parallel_tool_calls,
            "logprobs": logprobs,
            "top_logprobs": top_logprobs,
            "stream_options": stream_options,
            "extra_body": extra_body,
            "extra_headers": extra_headers,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        return await _tool_loop.run_tools(
            self,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            params=params,
            max_rounds=max_rounds,
            parallel=parallel,
            max_concurrency=max_concurrency,
            tool_timeout=tool_timeout,
        )

    def stream_tools(
        self,
        *,
        messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
        model: str,
        tools: Toolbox | Sequence[ToolLike],
        tool_choice: ToolChoice | Mapping[str, Any] | None = None,
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        stop: str | Sequence[str] | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: Mapping[int, float] | Mapping[str, float] | None = None,
        user: str | None = None,
        response_format: ResponseFormat | Mapping[str, Any] | None = None,
        seed: int | None = None,
        parallel_tool_calls: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> _tool_loop.ToolRunStream:
        """:meth:`run_tools` as events: each round's stream, and each tool's result.

        Use it with ``async with``; the first request is sent when iteration starts::

            async with client.chat.completions.stream_tools(
                model=..., messages=[...], tools=[get_weather]
            ) as run:
                async for event in run:
                    match event:
                        case kk.TextDeltaEvent(delta=delta):
                            print(delta, end="")
                        case kk.ToolResultEvent(name=name, content=content):
                            print(f"[{name}: {content}]")
                completion = await run.final_completion()
            run.messages

        The events of a round are a :class:`~kkiai_async.RoundStartedEvent`, the events
        of :meth:`stream` for that request, then one
        :class:`~kkiai_async.ToolResultEvent` per tool call, in the order the tools
        finish. A tool starts as soon as its call is complete in the stream
        (:class:`~kkiai_async.types.ToolCallDoneEvent`), with the arguments already
        decoded into its type. Leaving the block, or cancelling the task iterating,
        ends the request and cancels the running tools.

        Args:
            messages: As for :meth:`run_tools`, and every other parameter too.
            model: See :meth:`run_tools`.
            tools: See :meth:`run_tools`.
            tool_choice: See :meth:`run_tools`.
            max_rounds: See :meth:`run_tools`.
            parallel: See :meth:`run_tools`.
            max_concurrency: See :meth:`run_tools`.
            tool_timeout: See :meth:`run_tools`.
            temperature: See :meth:`create`.
            top_p: See :meth:`create`.
            n: Must be 1 or ``None``.
            stop: See :meth:`create`.
            max_tokens: See :meth:`create`.
            max_completion_tokens: See :meth:`create`.
            presence_penalty: See :meth:`create`.
            frequency_penalty: See :meth:`create`.
            logit_bias: See :meth:`create`.
            user: See :meth:`create`.
            response_format: See :meth:`create`.
            seed: See :meth:`create`.
            parallel_tool_calls: See :meth:`create`.
            logprobs: See :meth:`create`.
            top_logprobs: See :meth:`create`.
            stream_options: See :meth:`create`.
            extra_body: See :meth:`create`.
            extra_headers: See :meth:`create`.
            timeout: See :meth:`create`.
            max_retries: See :meth:`create`.

        Returns:
            A :class:`~kkiai_async.ToolRunStream`.

        Raises:
            InvalidParameterError: A parameter is wrong; nothing was sent.
            ToolDefinitionError: ``tools`` holds something that is not a tool.
        """
        params = {
            "model": model,
            "temperature": temperature,
            "top_p": top_p,
            "n": n,
            "stop": stop,
            "max_tokens": max_tokens,
            "max_completion_tokens": max_completion_tokens,
            "presence_penalty": presence_penalty,
            "frequency_penalty": frequency_penalty,
            "logit_bias": logit_bias,
            "user": user,
            "response_format": response_format,
            "seed": seed,
            "parallel_tool_calls": parallel_tool_calls,
            "logprobs": logprobs,
            "top_logprobs": top_logprobs,
            "stream_options": stream_options,
            "extra_body": extra_body,
            "extra_headers": extra_headers,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        return _tool_loop.stream_tools(
            self,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            params=params,
            max_rounds=max_rounds,
            parallel=parallel,
            max_concurrency=max_concurrency,
            tool_timeout=tool_timeout,
        )

    async def _open(
        self,
        body: bytes,
        accumulator: ChatCompletionAccumulator,
        *,
        accumulate: bool,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> ChatCompletionStream:
        response, _ = await self._client._send(
            body,
            stream=True,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )
        return await open_stream(response, accumulator, accumulate=accumulate)


class _EventStreamManager(AbstractAsyncContextManager[ChatCompletionEventStream]):
    """What :meth:`AsyncCompletions.stream` returns: sends the request on entry."""

    __slots__ = ("_accumulator", "_body", "_completions", "_events", "_options")

    def __init__(
        self,
        completions: AsyncCompletions,
        body: bytes,
        accumulator: ChatCompletionAccumulator,
        *,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> None:
        self._completions = completions
        self._body = body
        self._accumulator = accumulator
        self._options = (extra_headers, timeout, max_retries)
        self._events: ChatCompletionEventStream | None = None

    async def __aenter__(self) -> ChatCompletionEventStream:
        if self._events is not None:
            raise RuntimeError("a stream() context manager can be entered only once")
        extra_headers, timeout, max_retries = self._options
        stream = await self._completions._open(
            self._body,
            self._accumulator,
            accumulate=False,
            extra_headers=extra_headers,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._events = ChatCompletionEventStream(stream, self._accumulator)
        return self._events

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._events is not None:
            await self._events.close()


class RawResponse:
    """A non-streamed completion with its HTTP status and headers.

    Attributes:
        status_code: The HTTP status (200).
        headers: The response headers, lower-case names.
        request_id: The server's id for the request, if it sent one.
    """

    __slots__ = ("_completion", "headers", "request_id", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        request_id: str | None,
        completion: ChatCompletion,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.request_id = request_id
        self._completion = completion

    def parse(self) -> ChatCompletion:
        """The completion (already decoded; this only returns it)."""
        return self._completion

    def __repr__(self) -> str:
        return f"<RawResponse {self.status_code} request_id={self.request_id!r}>"


class RawCompletions:
    """``client.chat.completions.with_raw_response``."""

    __slots__ = ("_completions",)

    def __init__(self, completions: AsyncCompletions) -> None:
        self._completions = completions

    async def create(
        self,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        **params: Any,
    ) -> RawResponse:
        """Like :meth:`AsyncCompletions.create` (non-streamed), returning a :class:`RawResponse`.

        Raises:
            InvalidParameterError: ``stream=True`` (a stream has ``response_headers``),
                or any parameter error ``create()`` would raise.
        """
        if params.get("stream"):
            raise InvalidParameterError(
                "stream",
                "with_raw_response is for whole completions; a stream carries "
                "response_headers and request_id itself",
            )
        return await self._completions._create_whole(
            params, extra_headers=extra_headers, timeout=timeout, max_retries=max_retries
        )


class Chat:
    """``client.chat``: the chat resources."""

    __slots__ = ("completions",)

    def __init__(self, client: AsyncClient) -> None:
        """Bind the resources to their client."""
        self.completions = AsyncCompletions(client)
