"""The tool loop: ask the model, run the tools it calls, send the results back, repeat.

Why a module of its own: the loop is the one place where a conversation, the tools and
the transport meet, and getting it right takes more than ten lines -- running the calls
of one turn concurrently yet answering them in order, bounding the number of turns,
not forcing a tool forever, and cancelling running tools when the caller goes away.
:meth:`AsyncCompletions.run_tools` and :meth:`AsyncCompletions.stream_tools` are the
public doors; everything here is built on ``create()``, ``stream()`` and
:class:`~kkiai_async.tools.Toolbox`.

Decisions, and why:

- **The conversation is the caller's, copied.** The ``messages`` given are never
  modified; the run's :attr:`messages` is a new list: what was given, then each
  assistant turn (``message.to_param()``) and the ``tool`` messages answering it, in
  the order of the calls (the API pairs them by ``tool_call_id``, but some relays and
  models read them in order).
- **Tool errors are the model's to handle.** :meth:`Toolbox.call` turns an unknown
  tool, invalid arguments, an exception or a timeout into an ``"Error: ..."`` tool
  message; the loop sends it and goes on. Only cancellation, and errors of the request
  itself (``APIError``...), end a run.
- **A bound, and a clear error past it.** ``max_rounds`` counts requests. When the
  last allowed one still calls tools, :class:`MaxRoundsExceededError` is raised without
  running them: their results could never reach the model. Its ``messages`` is the
  conversation as last sent, which can be sent again as it is (with
  ``tool_choice="none"`` to get an answer from what the model has).
- **``tool_choice`` cannot loop.** ``"required"`` or a forced function apply to the
  first request only; later ones use ``"auto"``, else the model would have to call a
  tool on every turn and the loop could never end.
- **A tool starts as soon as its call is complete.** In a stream, a call is complete
  at its :class:`ToolCallDoneEvent`, often before the model has written the next one:
  starting then overlaps the tools with the rest of the stream. Its typed ``value`` is
  what the tool gets, decoded once.
- **Nothing outlives the run.** Leaving ``async with``, breaking out of ``async for``,
  an error or cancelling the task cancels the running tools and waits for them to
  finish, so a tool sees ``asyncio.CancelledError`` and its clean-up has run by the
  time the caller goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, cast

import msgspec
from typing_extensions import Self, TypeVar

from ._exceptions import (
    ClientClosedError,
    InvalidParameterError,
    KkiaiError,
    MaxRoundsExceededError,
)
from .tools import Toolbox, ToolLike, ToolOutcome
from .types import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    Message,
    NamedToolChoice,
    StreamEvent,
    ToolCallDoneEvent,
    ToolChoice,
    ToolMessage,
)

if TYPE_CHECKING:
    from ._chat import AsyncCompletions
    from ._otel import Run
    from ._stream import ChatCompletionEventStream

__all__ = [
    "RoundStartedEvent",
    "ToolResultEvent",
    "ToolRunEvent",
    "ToolRunResult",
    "ToolRunStream",
    "run_tools",
    "stream_tools",
]

_logger = logging.getLogger("kkiai_async.tools")

Conversation: TypeAlias = list[Message | ChatCompletionMessage | Mapping[str, Any]]
"""A run's messages: as the caller gave them, then the turns the run added."""


class RoundStartedEvent(
    msgspec.Struct, kw_only=True, gc=False, tag_field="type", tag="round.started"
):
    """A new request of a tool run is about to be sent: ``round`` counts from 1."""

    round: int

    @property
    def type(self) -> str:
        """The event's tag, as in its JSON: ``"round.started"``."""
        return self.__struct_config__.tag  # type: ignore[return-value]


class ToolResultEvent(msgspec.Struct, kw_only=True, gc=False, tag_field="type", tag="tool.result"):
    """A tool of a run finished; ``content`` is what the model is sent.

    Attributes:
        round: The round whose completion made the call.
        index: The call's place among that completion's tool calls.
        tool_call_id: The call's id, which the ``tool`` message answers.
        name: The tool's name.
        content: The tool message's content: the result as text (JSON for anything but
            a ``str``), or ``"Error: ..."`` saying what went wrong.
        error: Whether the tool failed (an unknown tool, invalid arguments, an
            exception, a timeout); ``content`` then says how.
    """

    round: int
    index: int
    tool_call_id: str
    name: str
    content: str
    error: bool = False

    @property
    def type(self) -> str:
        """The event's tag, as in its JSON: ``"tool.result"``."""
        return self.__struct_config__.tag  # type: ignore[return-value]


ToolRunEvent: TypeAlias = StreamEvent | RoundStartedEvent | ToolResultEvent
"""What ``async for event in run`` yields for a :class:`ToolRunStream`."""


_CompletionT = TypeVar("_CompletionT", bound=ChatCompletion, default=ChatCompletion)
"""The completions of a run: :class:`ParsedChatCompletion` when ``response_format`` is a type."""


class ToolRunResult(Generic[_CompletionT]):
    """The outcome of :meth:`AsyncCompletions.run_tools`.

    ``ToolRunResult`` alone is a run's with plain completions; with ``response_format=T``
    it is a ``ToolRunResult[ParsedChatCompletion[T]]``, for the type checker too.

    Attributes:
        completion: The last completion: the model's answer without tool calls.
        messages: The whole conversation: the caller's messages, every assistant turn
            and tool result, and the final answer (``to_param()``) -- ready for the next
            user message.
        rounds: How many requests were sent.
    """

    __slots__ = ("completion", "messages", "rounds")

    def __init__(self, completion: _CompletionT, messages: Conversation, rounds: int) -> None:
        self.completion = completion
        self.messages = messages
        self.rounds = rounds

    async def final_completion(self) -> _CompletionT:
        """The last completion; awaitable, as every ``final_completion()`` of the library."""
        return self.completion

    def __repr__(self) -> str:
        return f"<ToolRunResult rounds={self.rounds} messages={len(self.messages)}>"


# --------------------------------------------------------------------------------------
# The calls of one round
# --------------------------------------------------------------------------------------


class _Started:
    __slots__ = ("arguments", "name", "task")

    def __init__(self, name: str, arguments: str, task: asyncio.Task[ToolOutcome]) -> None:
        self.name = name
        self.arguments = arguments
        self.task = task


class _Round:
    """The tool calls of one completion, each run in its own task once it is known.

    Tasks are keyed by the call's position in the message. ``parallel=False`` chains
    them, so each waits for the one before it; otherwise a semaphore shared by the run
    bounds how many run at once.
    """

    __slots__ = ("_box", "_last", "_limit", "_run", "_stale", "_started", "_timeout")

    def __init__(
        self,
        box: Toolbox,
        limit: asyncio.Semaphore | None,
        timeout: float | None,
        run: Run | None = None,
    ) -> None:
        self._box = box
        self._limit = limit
        self._timeout = timeout
        self._run = run
        self._started: dict[int, _Started] = {}
        self._stale: list[asyncio.Task[ToolOutcome]] = []
        self._last: asyncio.Task[ToolOutcome] | None = None

    async def _call(
        self,
        call: ChatCompletionMessageToolCall | ToolCallDoneEvent,
        before: asyncio.Task[ToolOutcome] | None,
    ) -> ToolOutcome:
        if self._limit is not None:
            async with self._limit:
                return await self._execute(call)
        if before is not None:
            # Waits without raising: the previous call's outcome is its own business.
            await asyncio.wait((before,))
        return await self._execute(call)

    async def _execute(
        self, call: ChatCompletionMessageToolCall | ToolCallDoneEvent
    ) -> ToolOutcome:
        if self._run is not None:
            # In an execute_tool span under the run's (telemetry is on).
            return await self._run.tool(self._box, call, self._timeout)
        return await self._box.run(call, timeout=self._timeout)

    def start(self, index: int, call: ChatCompletionMessageToolCall | ToolCallDoneEvent) -> None:
        """Run ``call`` (the one at ``index`` in the message) in a task of its own."""
        if isinstance(call, ToolCallDoneEvent):
            name, arguments = call.name, call.arguments
        else:
            name, arguments = call.function.name, call.function.arguments
        before = None if self._limit is not None else self._last
        task = asyncio.ensure_future(self._call(call, before))
        self._last = task
        old = self._started.get(index)
        if old is not None:
            self._stale.append(old.task)
            old.task.cancel()
        self._started[index] = _Started(name, arguments, task)

    def tasks_for(self, calls: Sequence[ChatCompletionMessageToolCall]) -> list[_Started]:
        """The running calls answering ``calls``, in their order; missing ones are started.

        A call started from a stream event is kept only if the completion agrees on its
        name and arguments (it always should: the event is made from the same text).
        """
        for index, call in enumerate(calls):
            known = self._started.get(index)
            if known is None or (known.name, known.arguments) != (
                call.function.name,
                call.function.arguments,
            ):
                self.start(index, call)
        for index in [i for i in self._started if i >= len(calls)]:
            extra = self._started.pop(index)
            self._stale.append(extra.task)
            extra.task.cancel()
        return [self._started[i] for i in range(len(calls))]

    async def close(self) -> None:
        """Cancel every call still running and wait until each has finished."""
        tasks = [s.task for s in self._started.values()] + self._stale
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _answer(call: ChatCompletionMessageToolCall, started: _Started) -> ToolMessage:
    """The tool message for ``call``, with the id the completion gave the call."""
    message = started.task.result().message
    if message.tool_call_id == call.id:
        return message
    return ToolMessage(content=message.content, tool_call_id=call.id)


def _content(message: ToolMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def _later_tool_choice(
    tool_choice: ToolChoice | Mapping[str, Any] | None,
) -> ToolChoice | Mapping[str, Any] | None:
    """``tool_choice`` for the requests after the first: never one that forces a call."""
    if tool_choice == "required" or isinstance(tool_choice, NamedToolChoice):
        return "auto"
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") == "function":
        return "auto"
    return tool_choice


class _Options:
    """The loop's own parameters, checked before anything is sent."""

    __slots__ = ("box", "limit", "max_rounds", "parallel", "run", "timeout")

    def __init__(
        self,
        tools: Toolbox | Iterable[ToolLike],
        *,
        max_rounds: int,
        parallel: bool,
        max_concurrency: int,
        tool_timeout: float | None,
        params: Mapping[str, object],
    ) -> None:
        if type(max_rounds) is not int or max_rounds < 1:
            raise InvalidParameterError(
                "max_rounds", f"must be a positive integer, not {max_rounds!r}"
            )
        if type(max_concurrency) is not int or max_concurrency < 1:
            raise InvalidParameterError(
                "max_concurrency", f"must be a positive integer, not {max_concurrency!r}"
            )
        if tool_timeout is not None and (
            isinstance(tool_timeout, bool)
            or not isinstance(tool_timeout, (int, float))
            or not tool_timeout > 0
        ):
            raise InvalidParameterError(
                "tool_timeout",
                f"must be a positive number of seconds or None, not {tool_timeout!r}",
            )
        n = params.get("n")
        if n is not None and n != 1:
            raise InvalidParameterError(
                "n", f"a tool run follows one conversation: n must be 1 or None, not {n!r}"
            )
        self.box = tools if isinstance(tools, Toolbox) else Toolbox(tools)
        self.max_rounds = max_rounds
        self.parallel = parallel
        self.timeout = tool_timeout
        self.limit = max_concurrency
        self.run: Run | None = None  # the run's telemetry, when it is on

    def new_round(self, limit: asyncio.Semaphore | None) -> _Round:
        return _Round(self.box, limit, self.timeout, self.run)

    def semaphore(self) -> asyncio.Semaphore | None:
        # Made inside the run: on Python 3.10 a semaphore binds the loop it is made in.
        return asyncio.Semaphore(self.limit) if self.parallel else None

    @property
    def tools(self) -> list[Any]:
        """What ``tools=`` gets: tool objects keep their ``arguments_type`` for streams."""
        return list(self.box.values())


def _tool_calls(completion: ChatCompletion) -> list[ChatCompletionMessageToolCall]:
    if not completion.choices:
        return []
    return completion.choices[0].message.tool_calls or []


# --------------------------------------------------------------------------------------
# run_tools
# --------------------------------------------------------------------------------------


async def run_tools(
    completions: AsyncCompletions,
    *,
    messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
    tools: Toolbox | Iterable[ToolLike],
    tool_choice: ToolChoice | Mapping[str, Any] | None,
    params: Mapping[str, Any],
    max_rounds: int,
    parallel: bool,
    max_concurrency: int,
    tool_timeout: float | None,
) -> ToolRunResult:
    """The loop of :meth:`AsyncCompletions.run_tools` (see there)."""
    options = _Options(
        tools,
        max_rounds=max_rounds,
        parallel=parallel,
        max_concurrency=max_concurrency,
        tool_timeout=tool_timeout,
        params=params,
    )
    telemetry = completions._client._telemetry_now()
    if telemetry is None:
        return await _run_rounds(completions, options, messages, tool_choice, params)
    from ._otel import end_span

    run = options.run = telemetry.run("run_tools")
    try:
        with run.current():
            result = await _run_rounds(completions, options, messages, tool_choice, params)
    except BaseException as exc:
        end_span(run.span, exc)
        raise
    end_span(run.span)
    return result


async def _run_rounds(
    completions: AsyncCompletions,
    options: _Options,
    messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
    tool_choice: ToolChoice | Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> ToolRunResult:
    conversation: Conversation = list(messages)
    definitions = options.tools or None
    limit = options.semaphore()
    choice = tool_choice
    rounds = 0
    while True:
        completion = await completions.create(
            messages=conversation,
            tools=definitions,
            tool_choice=choice,
            stream=False,
            **params,
        )
        rounds += 1
        calls = _tool_calls(completion)
        if not calls:
            if completion.choices:
                conversation.append(completion.choices[0].message.to_param())
            return ToolRunResult(completion, conversation, rounds)
        if rounds >= options.max_rounds:
            raise MaxRoundsExceededError(rounds, conversation, completion)
        _logger.debug("round %d: running %d tool call(s)", rounds, len(calls))
        batch = options.new_round(limit)
        try:
            started = batch.tasks_for(calls)
            await asyncio.wait([s.task for s in started])
            answers = [_answer(call, s) for call, s in zip(calls, started, strict=True)]
        finally:
            await batch.close()
        conversation.append(completion.choices[0].message.to_param())
        conversation.extend(answers)
        choice = _later_tool_choice(choice)


# --------------------------------------------------------------------------------------
# stream_tools
# --------------------------------------------------------------------------------------


class _RunState:
    """What the event generator tells its :class:`ToolRunStream`, without referencing it."""

    __slots__ = ("completion", "ended", "error", "messages", "rounds")

    def __init__(self, messages: Conversation) -> None:
        self.messages = messages
        self.completion: ChatCompletion | None = None
        self.rounds = 0
        self.ended = False
        self.error: KkiaiError | None = None


async def _run_events(
    completions: AsyncCompletions,
    first: AbstractAsyncContextManager[ChatCompletionEventStream],
    options: _Options,
    state: _RunState,
    tool_choice: ToolChoice | Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> AsyncGenerator[ToolRunEvent, None]:
    conversation = state.messages
    limit = options.semaphore()
    choice = tool_choice
    manager: AbstractAsyncContextManager[ChatCompletionEventStream] | None = first
    batch: _Round | None = None
    telemetry = completions._client._telemetry_now()
    run = options.run = None if telemetry is None else telemetry.run("stream_tools")
    try:
        while True:
            number = state.rounds + 1
            yield RoundStartedEvent(round=number)
            if manager is None:
                manager = completions.stream(
                    messages=conversation, tools=options.tools or None, tool_choice=choice, **params
                )
            # The calls of the last allowed round will not be run: do not start them.
            batch = options.new_round(limit) if number < options.max_rounds else None
            async with manager if run is None else run.enter(manager) as events:
                async for event in events:
                    if (
                        batch is not None
                        and type(event) is ToolCallDoneEvent
                        and event.choice_index == 0
                    ):
                        batch.start(event.index, event)
                    yield event
                completion: ChatCompletion = await events.final_completion()
            manager = None
            state.rounds = number
            state.completion = completion
            calls = _tool_calls(completion)
            if not calls:
                if completion.choices:
                    conversation.append(completion.choices[0].message.to_param())
                state.ended = True
                return
            if batch is None:
                raise MaxRoundsExceededError(number, list(conversation), completion)
            _logger.debug("round %d: running %d tool call(s)", number, len(calls))
            started = batch.tasks_for(calls)
            position = {s.task: i for i, s in enumerate(started)}
            pending: set[asyncio.Task[ToolOutcome]] = set(position)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=position.__getitem__):
                    index = position[task]
                    call = calls[index]
                    outcome = task.result()
                    yield ToolResultEvent(
                        round=number,
                        index=index,
                        tool_call_id=call.id,
                        name=call.function.name,
                        content=_content(outcome.message),
                        error=outcome.failed,
                    )
            answers = [_answer(call, s) for call, s in zip(calls, started, strict=True)]
            await batch.close()
            batch = None
            conversation.append(completion.choices[0].message.to_param())
            conversation.extend(answers)
            choice = _later_tool_choice(choice)
    except KkiaiError as exc:
        state.error = exc
        raise
    finally:
        if batch is not None:
            await batch.close()
        if run is not None:
            run.end(state.ended)


class ToolRunStream(Generic[_CompletionT]):
    """A tool run as events: every round's stream events, and each tool's result.

    Returned by :meth:`AsyncCompletions.stream_tools`; use it with ``async with`` and
    iterate it::

        async with client.chat.completions.stream_tools(...) as run:
            async for event in run:
                match event:
                    case kk.RoundStartedEvent(round=n): ...
                    case kk.TextDeltaEvent(delta=delta): ...
                    case kk.ToolResultEvent(name=name, content=content): ...
            completion = await run.final_completion()
        run.messages

    Each round yields a :class:`RoundStartedEvent` (the request is sent next), the
    events of ``client.chat.completions.stream()`` for that request, then, when the
    model called tools, one :class:`ToolResultEvent` per call, in the order they finish.

    Leaving the ``async with`` block (or cancelling the task iterating) ends the
    request in flight and cancels the tools still running.
    """

    __slots__ = ("_events", "_state")

    def __init__(
        self,
        completions: AsyncCompletions,
        first: AbstractAsyncContextManager[ChatCompletionEventStream],
        options: _Options,
        messages: Conversation,
        tool_choice: ToolChoice | Mapping[str, Any] | None,
        params: Mapping[str, Any],
    ) -> None:
        self._state = _RunState(messages)
        self._events = _run_events(completions, first, options, self._state, tool_choice, params)

    def __aiter__(self) -> AsyncIterator[ToolRunEvent]:
        return self._events

    async def __anext__(self) -> ToolRunEvent:
        return await self._events.__anext__()

    @property
    def messages(self) -> Conversation:
        """The conversation so far (a copy): given messages, then each finished round."""
        return list(self._state.messages)

    @property
    def rounds(self) -> int:
        """How many rounds' completions have arrived."""
        return self._state.rounds

    @property
    def completion(self) -> _CompletionT | None:
        """The completion of the last round that finished, if any."""
        return cast("_CompletionT | None", self._state.completion)

    async def final_completion(self) -> _CompletionT:
        """Run what is left of the loop (events unread are dropped); the last completion.

        Raises:
            MaxRoundsExceededError: The model was still calling tools at ``max_rounds``.
            KkiaiError: The error that ended the run (again, if iteration raised it).
            ClientClosedError: The run was closed before it ended.
        """
        async for _ in self._events:
            pass
        state = self._state
        if state.error is not None:
            raise state.error
        if not state.ended or state.completion is None:
            raise ClientClosedError(
                "the tool run was closed before it ended", partial=state.completion
            )
        # A ParsedChatCompletion when the rounds were typed (create() and stream() parse).
        return cast("_CompletionT", state.completion)

    async def close(self) -> None:
        """End the request in flight and cancel the running tools; idempotent."""
        # RuntimeError: another task is iterating right now; cancelling it is what
        # stops it.
        with contextlib.suppress(RuntimeError):
            await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = self._state
        status = "ended" if state.ended else "failed" if state.error else "open"
        return f"<ToolRunStream {status} rounds={state.rounds}>"


def stream_tools(
    completions: AsyncCompletions,
    *,
    messages: Sequence[Message | ChatCompletionMessage | Mapping[str, Any]],
    tools: Toolbox | Iterable[ToolLike],
    tool_choice: ToolChoice | Mapping[str, Any] | None,
    params: Mapping[str, Any],
    max_rounds: int,
    parallel: bool,
    max_concurrency: int,
    tool_timeout: float | None,
) -> ToolRunStream:
    """What :meth:`AsyncCompletions.stream_tools` returns (see there).

    The first round's request is built here, so a bad parameter raises at the call.
    """
    options = _Options(
        tools,
        max_rounds=max_rounds,
        parallel=parallel,
        max_concurrency=max_concurrency,
        tool_timeout=tool_timeout,
        params=params,
    )
    conversation: Conversation = list(messages)
    first = completions.stream(
        messages=conversation, tools=options.tools or None, tool_choice=tool_choice, **params
    )
    return ToolRunStream(completions, first, options, conversation, tool_choice, params)
