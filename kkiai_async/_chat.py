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
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, cast, overload

import msgspec
from typing_extensions import Unpack

from ._accumulate import ChatCompletionAccumulator
from ._chat_params import (
    REQUEST_OPTIONS,
    ChatParams,
    ParseParams,
    ToolObject,
    ToolRunParams,
    TypedResponseFormat,
    _TypedToolRunParams,
)
from ._config import USE_CLIENT_DEFAULT, Timeout, UseClientDefault
from ._exceptions import InvalidParameterError, request_id_from
from ._params import build_body
from ._stream import (
    BytesResponse,
    ChatCompletionEventStream,
    ChatCompletionStream,
    ParsedChatCompletionEventStream,
    ParsedChatCompletionStream,
    decode_completion,
    open_stream,
)
from .types import (
    ChatCompletion,
    ParsedChatCompletion,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
)

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._otel import ChatCall
    from ._structured import CompiledFormat
    from ._tool_loop import ToolRunResult, ToolRunStream
    from .tools import Toolbox, ToolLike

__all__ = [
    "AsyncCompletions",
    "Chat",
    "RawCompletions",
    "RawResponse",
    "ToolObject",
]

_ENCODER = msgspec.json.Encoder()

_T = TypeVar("_T")
_EventsT = TypeVar("_EventsT", bound=ChatCompletionEventStream)


class _Options(NamedTuple):
    """The request options of a call: how it is sent, not what."""

    extra_headers: Mapping[str, str] | None
    timeout: Timeout | float | UseClientDefault | None
    max_retries: int | None


class _Prepared(NamedTuple):
    """A call made ready to send: the checked body, how it is sent, and its type."""

    body: dict[str, object]
    options: _Options
    format: CompiledFormat | None
    """The compiled type when ``response_format`` was given as one: the answer is
    decoded into it."""


def _prepare(params: Mapping[str, Any], *, stream: bool) -> _Prepared:
    """Split a call's keywords into the checked body and the request options."""
    extra_headers: Mapping[str, str] | None = None
    timeout: Timeout | float | UseClientDefault | None = USE_CLIENT_DEFAULT
    max_retries: int | None = None
    if REQUEST_OPTIONS.isdisjoint(params):
        fields: Mapping[str, Any] = params
    else:
        fields = dict(params)
        extra_headers = fields.pop("extra_headers", None)
        timeout = fields.pop("timeout", USE_CLIENT_DEFAULT)
        max_retries = fields.pop("max_retries", None)
        # extra_body stays: it is part of the body, which build_body merges it into.
    if stream:
        fields = {**fields, "stream": True}
    elif "stream" in fields:
        fields = {k: v for k, v in fields.items() if k != "stream"}
    compiled: CompiledFormat | None = None
    response_format = fields.get("response_format")
    if response_format is not None and not isinstance(response_format, (Mapping, msgspec.Struct)):
        # A type: the schema code is loaded only by those who use it (and anything else
        # goes on to build_body, whose message is about dicts).
        from ._structured import compile_format, is_typed_format

        if is_typed_format(response_format):
            compiled = compile_format(response_format)
            fields = {**fields, "response_format": compiled.body()}
    return _Prepared(build_body(fields), _Options(extra_headers, timeout, max_retries), compiled)


def _parsed(
    completion: ChatCompletion, compiled: CompiledFormat | None, tools: object
) -> ChatCompletion:
    """The completion, decoded into the call's type when it gave one."""
    if compiled is None:
        return completion
    from ._structured import parse_completion

    return parse_completion(completion, compiled, _arg_types(tools))


def _accumulator(
    compiled: CompiledFormat | None, body: Mapping[str, object], tools: object
) -> ChatCompletionAccumulator:
    """The accumulator of a streamed call: typed answers, JSON answers, or plain text."""
    if compiled is not None:
        from ._structured import TypedAccumulator

        return TypedAccumulator(compiled, arg_types=_arg_types(tools))
    return ChatCompletionAccumulator(
        parse_content=_wants_json(body.get("response_format")), arg_types=_arg_types(tools)
    )


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
        stream: Literal[False] | None = False,
        response_format: type[_T] | TypedResponseFormat[_T],
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[_T]: ...

    @overload
    async def create(
        self,
        *,
        stream: Literal[True],
        response_format: type[_T] | TypedResponseFormat[_T],
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletionStream[_T]: ...

    @overload
    async def create(
        self, *, stream: Literal[False] | None = False, **params: Unpack[ChatParams]
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[ChatParams]
    ) -> ChatCompletionStream: ...

    @overload
    async def create(
        self, *, stream: bool | None = False, **params: Unpack[ChatParams]
    ) -> ChatCompletion | ChatCompletionStream: ...

    async def create(
        self, *, stream: bool | None = False, **params: Unpack[ChatParams]
    ) -> ChatCompletion | ChatCompletionStream:
        """Create a chat completion: whole, or streamed as chunks.

        The keywords are those of the API (every field of :class:`~kkiai_async.ChatParams`,
        each shown with its type by editors; ``seed`` is what the API's documentation
        calls ``seen``), plus the request options ``extra_body``, ``extra_headers``,
        ``timeout`` and ``max_retries``. ``None`` leaves a parameter out, so the
        server's default applies. Messages, tools, ``tool_choice`` and
        ``response_format`` are accepted as plain dicts of the API's shape or as the
        structs of :mod:`kkiai_async.types`; a tool may also be an object with a
        ``.definition`` (a ``@kk.tool`` function). Everything is checked before a byte
        is sent; a keyword the client does not know raises
        :class:`~kkiai_async.UnknownParameterError` (a ``TypeError``) naming the
        closest known one, and vendor parameters go in ``extra_body``.

        Retries: a failed attempt is retried (at most ``max_retries`` times, after a
        backoff that honours ``Retry-After``) when it got 408, 409, 429 or a 5xx, or
        when the connection failed or a connect/read timeout expired before the
        response headers arrived -- and, for a non-streamed request, while its body
        was read. A stream is never retried once this call has returned it. Each retry
        is logged at INFO on the ``"kkiai_async"`` logger.

        Args:
            stream: ``True`` to get a :class:`ChatCompletionStream` as soon as the
                response headers are in.
            **params: The request's parameters and options (:class:`ChatParams`).

        Returns:
            A :class:`ChatCompletion`; with ``stream=True`` a
            :class:`ChatCompletionStream` (use it with ``async with``).

        Raises:
            InvalidParameterError: A parameter is wrong; nothing was sent.
            UnknownParameterError: A keyword the client does not know.
            APIStatusError: The server answered with an error status (a subclass per
                status: ``RateLimitError``, ``AuthenticationError``...).
            APIConnectionError: The connection failed; ``APITimeoutError`` when a
                timeout expired.
            APIStreamError: The server answered ``200`` with an error object.
            APIProtocolError: The response is not a completion (or not an event stream).
            ClientClosedError: The client is closed.
        """
        self._client._check_open()
        body, options, compiled = _prepare(params, stream=bool(stream))
        if stream:
            # A chunk stream assembles plain text unless the answer is to be typed; then
            # only its final_completion() differs.
            accumulator = ChatCompletionAccumulator()
            stream_class: type[ChatCompletionStream] = ChatCompletionStream
            if compiled is not None:
                accumulator = _accumulator(compiled, body, params.get("tools"))
                stream_class = ParsedChatCompletionStream
            return await self._open(
                _encode(body),
                accumulator,
                accumulate=True,
                options=options,
                fields=body,
                stream_class=stream_class,
            )
        raw = await self._create_whole(body, options)
        return _parsed(raw.parse(), compiled, params.get("tools"))

    async def parse(
        self,
        *,
        response_format: type[_T] | TypedResponseFormat[_T],
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[_T]:
        """Create a chat completion whose answer is decoded into a type.

        The type (a ``msgspec.Struct``, dataclass, ``TypedDict`` or pydantic
        ``BaseModel``) is sent as a strict ``json_schema`` response format, built by the
        same code as tool schemas, and each choice's content is decoded into it (by
        msgspec; by pydantic for a pydantic model, so its validators run)::

            class Weather(msgspec.Struct):
                city: str
                celsius: float

            completion = await client.chat.completions.parse(
                model=..., messages=[...], response_format=Weather
            )
            weather = completion.choices[0].message.parsed  # a Weather, or None

        ``parsed`` is ``None`` when the model refused (``message.refusal`` says why).
        Pass ``kk.TypedResponseFormat(T, strict=False)`` for a type strict mode cannot
        take.

        Args:
            response_format: The type of the answer, or a
                :class:`~kkiai_async.TypedResponseFormat` of it.
            **params: As for :meth:`create` (:class:`ParseParams`: everything but
                ``stream`` and ``response_format``).

        Returns:
            A :class:`~kkiai_async.ParsedChatCompletion` whose
            ``choices[i].message.parsed`` is a ``T``.

        Raises:
            InvalidParameterError: A parameter is wrong, or the type cannot be described
                (or cannot be strict; the message names the field); nothing was sent.
            LengthFinishReasonError: An answer was cut off at the token limit.
            ContentFilterFinishReasonError: An answer was stopped by the content filter.
            OutputValidationError: An answer is not JSON or does not fit the type; it
                carries the raw ``content`` and the ``path`` where it failed.
            APIError: As for :meth:`create`.
        """
        self._client._check_open()
        if cast("Mapping[str, object]", params).get("stream"):
            raise InvalidParameterError(
                "stream",
                "parse() returns a whole completion; stream a typed answer with "
                "stream(response_format=T)",
            )
        from ._structured import is_typed_format

        if not is_typed_format(response_format):
            raise InvalidParameterError(
                "response_format",
                "parse() takes a type (a msgspec.Struct, dataclass, TypedDict or pydantic "
                f"model); got {type(response_format).__name__}: send a dict format with create()",
            )
        body, options, compiled = _prepare(
            {**params, "response_format": response_format}, stream=False
        )
        raw = await self._create_whole(body, options)
        return cast("ParsedChatCompletion[_T]", _parsed(raw.parse(), compiled, params.get("tools")))

    async def _create_whole(self, body: dict[str, object], options: _Options) -> RawResponse:
        """Send a non-streamed request; the completion with the response's metadata."""
        telemetry = self._client._telemetry_now()
        if telemetry is None:
            return await self._fetch_whole(body, options, None)
        call = telemetry.chat(body)
        try:
            with telemetry.current(call.span):
                raw = await self._fetch_whole(body, options, call)
        except BaseException as exc:
            call.fail(exc)
            raise
        call.done(raw.parse())
        return raw

    async def _fetch_whole(
        self, body: dict[str, object], options: _Options, call: ChatCall | None
    ) -> RawResponse:
        response, data = await self._client._send(
            _encode(body),
            stream=False,
            timeout=options.timeout,
            max_retries=options.max_retries,
            extra_headers=options.extra_headers,
            call=call,
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

    @overload
    def stream(
        self,
        *,
        response_format: type[_T] | TypedResponseFormat[_T],
        **params: Unpack[ParseParams],
    ) -> AbstractAsyncContextManager[ParsedChatCompletionEventStream[_T]]: ...

    @overload
    def stream(
        self, **params: Unpack[ChatParams]
    ) -> AbstractAsyncContextManager[ChatCompletionEventStream]: ...

    def stream(
        self, **params: Unpack[ChatParams]
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
        (``ToolCallDoneEvent.value``). When ``response_format`` is a type (as for
        :meth:`parse`), ``TextDoneEvent.parsed`` is the content decoded into it and
        ``final_completion()`` returns a :class:`~kkiai_async.ParsedChatCompletion`,
        raising what :meth:`parse` raises when an answer cannot be parsed.

        Args:
            **params: As for :meth:`create` (:class:`ChatParams`).

        Returns:
            An async context manager yielding a :class:`ChatCompletionEventStream`.

        Raises:
            InvalidParameterError: A parameter is wrong; nothing was sent.
            UnknownParameterError: A keyword the client does not know.
        """
        self._client._check_open()
        body, options, compiled = _prepare(params, stream=True)
        accumulator = _accumulator(compiled, body, params.get("tools"))
        events_class = (
            ChatCompletionEventStream if compiled is None else ParsedChatCompletionEventStream
        )
        return _EventStreamManager(self, _encode(body), accumulator, options, body, events_class)

    @overload
    async def run_tools(
        self,
        *,
        tools: Toolbox | Sequence[ToolLike],
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        response_format: type[_T] | TypedResponseFormat[_T],
        **params: Unpack[_TypedToolRunParams],
    ) -> ToolRunResult[ParsedChatCompletion[_T]]: ...

    @overload
    async def run_tools(
        self,
        *,
        tools: Toolbox | Sequence[ToolLike],
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        **params: Unpack[ToolRunParams],
    ) -> ToolRunResult: ...

    async def run_tools(
        self,
        *,
        tools: Toolbox | Sequence[ToolLike],
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        **params: Unpack[ToolRunParams],
    ) -> ToolRunResult[Any]:
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
            tools: The tools: ``@kk.tool`` functions, plain functions, definitions
                (which are offered but answered with an error when called), or a
                :class:`~kkiai_async.tools.Toolbox`.
            max_rounds: The most requests to send (at least 1).
            parallel: Run the calls of one turn concurrently; ``False`` runs them one
                after the other, in order (for tools that must not overlap). Unlike
                ``parallel_tool_calls``, this is not sent to the model.
            max_concurrency: The most tools running at once.
            tool_timeout: Seconds each tool may run (``None``: no limit); a tool that
                takes longer is answered with an error message.
            **params: The keywords of :meth:`create` but ``tools`` and ``stream``
                (:class:`ToolRunParams`); ``tool_choice`` is for the first request
                (see above), ``n`` must be 1 or ``None`` (a run follows one
                conversation), and ``timeout``/``max_retries`` apply to each request.

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
        from . import _tool_loop

        loop_params: dict[str, Any] = dict(params)
        messages = loop_params.pop("messages", None)
        tool_choice = loop_params.pop("tool_choice", None)
        return await _tool_loop.run_tools(
            self,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            params=loop_params,
            max_rounds=max_rounds,
            parallel=parallel,
            max_concurrency=max_concurrency,
            tool_timeout=tool_timeout,
        )

    @overload
    def stream_tools(
        self,
        *,
        tools: Toolbox | Sequence[ToolLike],
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        response_format: type[_T] | TypedResponseFormat[_T],
        **params: Unpack[_TypedToolRunParams],
    ) -> ToolRunStream[ParsedChatCompletion[_T]]: ...

    @overload
    def stream_tools(
        self,
        *,
        tools: Toolbox | Sequence[ToolLike],
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        **params: Unpack[ToolRunParams],
    ) -> ToolRunStream: ...

    def stream_tools(
        self,
        *,
        tools: Toolbox | Sequence[ToolLike],
        max_rounds: int = 8,
        parallel: bool = True,
        max_concurrency: int = 8,
        tool_timeout: float | None = None,
        **params: Unpack[ToolRunParams],
    ) -> ToolRunStream[Any]:
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
            tools: See :meth:`run_tools`.
            max_rounds: See :meth:`run_tools`.
            parallel: See :meth:`run_tools`.
            max_concurrency: See :meth:`run_tools`.
            tool_timeout: See :meth:`run_tools`.
            **params: As for :meth:`run_tools` (:class:`ToolRunParams`).

        Returns:
            A :class:`~kkiai_async.ToolRunStream`.

        Raises:
            InvalidParameterError: A parameter is wrong; nothing was sent.
            ToolDefinitionError: ``tools`` holds something that is not a tool.
        """
        from . import _tool_loop

        loop_params: dict[str, Any] = dict(params)
        messages = loop_params.pop("messages", None)
        tool_choice = loop_params.pop("tool_choice", None)
        return _tool_loop.stream_tools(
            self,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            params=loop_params,
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
        options: _Options,
        fields: Mapping[str, object],
        stream_class: type[ChatCompletionStream] = ChatCompletionStream,
    ) -> ChatCompletionStream:
        telemetry = self._client._telemetry_now()
        call = None if telemetry is None else telemetry.chat(fields)
        try:
            response, _ = await self._client._send(
                body,
                stream=True,
                timeout=options.timeout,
                max_retries=options.max_retries,
                extra_headers=options.extra_headers,
                call=call,
            )
            stream = await open_stream(
                response,
                accumulator,
                accumulate=accumulate,
                max_body_bytes=self._client._max_body_bytes,
                stream_class=stream_class,
            )
        except BaseException as exc:
            if call is not None:
                call.fail(exc)
            raise
        if call is not None:
            # The stream ends the span, however it stops (see _stream._stream_items).
            stream._call = call
        return stream


class _EventStreamManager(AbstractAsyncContextManager[_EventsT]):
    """What :meth:`AsyncCompletions.stream` returns: sends the request on entry."""

    __slots__ = (
        "_accumulator",
        "_body",
        "_completions",
        "_events",
        "_events_class",
        "_fields",
        "_options",
    )

    def __init__(
        self,
        completions: AsyncCompletions,
        body: bytes,
        accumulator: ChatCompletionAccumulator,
        options: _Options,
        fields: Mapping[str, object],
        events_class: type[_EventsT],
    ) -> None:
        self._completions = completions
        self._body = body
        self._fields = fields
        self._accumulator = accumulator
        self._options = options
        self._events_class = events_class
        self._events: _EventsT | None = None

    async def __aenter__(self) -> _EventsT:
        if self._events is not None:
            raise RuntimeError("a stream() context manager can be entered only once")
        stream = await self._completions._open(
            self._body,
            self._accumulator,
            accumulate=False,
            options=self._options,
            fields=self._fields,
        )
        self._events = self._events_class(stream, self._accumulator)
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

    async def create(self, **params: Unpack[ChatParams]) -> RawResponse:
        """Like :meth:`AsyncCompletions.create` (non-streamed), returning a :class:`RawResponse`.

        Args:
            **params: As for :meth:`AsyncCompletions.create` (:class:`ChatParams`).

        Raises:
            InvalidParameterError: ``stream=True`` (a stream has ``response_headers``),
                or any parameter error ``create()`` would raise.
        """
        if cast("Mapping[str, object]", params).get("stream"):
            raise InvalidParameterError(
                "stream",
                "with_raw_response is for whole completions; a stream carries "
                "response_headers and request_id itself",
            )
        self._completions._client._check_open()
        body, options, compiled = _prepare(params, stream=False)
        raw = await self._completions._create_whole(body, options)
        if compiled is not None:
            raw._completion = _parsed(raw._completion, compiled, params.get("tools"))
        return raw


class Chat:
    """``client.chat``: the chat resources."""

    __slots__ = ("completions",)

    def __init__(self, client: AsyncClient) -> None:
        """Bind the resources to their client."""
        self.completions = AsyncCompletions(client)
