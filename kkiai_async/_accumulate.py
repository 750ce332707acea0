"""Streamed chunks -> the assembled completion, and the typed events of the stream.

A streamed completion arrives as many small :class:`~kkiai_async.types.ChatCompletionChunk`\\s;
callers want the same :class:`~kkiai_async.types.ChatCompletion` a non-streamed request
would have returned, and (for :meth:`AsyncCompletions.stream`) typed events as pieces
arrive. This module does both, without I/O, for chunks from any source.

A chunk is merged into the assembled state in one place (``_merge``), and two entry
points use it:

- :meth:`ChatCompletionAccumulator.add`, the hot path of ``create(stream=True)``, merges
  and builds no objects at all: it appends the chunk's pieces to lists;
- :meth:`ChatCompletionAccumulator.process` merges the same way and also returns the
  events the chunk causes, with tool-call arguments (and JSON content) parsed
  incrementally by one :class:`~kkiai_async._partial_json.PartialJSONParser` per text, so
  the total parsing work stays linear in the length of the text.

Text is kept as lists of pieces and joined once when a completion is built; memory holds
the assembled state, never the list of chunks.

Relays that speak "OpenAI-compatible" differ in how they stream tool calls; the merge
rules (in the docstring of :class:`ChatCompletionAccumulator`) tolerate what they send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ._partial_json import PartialJSONParser
from .types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceDelta,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceFinishedEvent,
    ChoiceLogprobs,
    ChunkChoice,
    ChunkEvent,
    Function,
    FunctionCall,
    LogprobsEvent,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    StreamEvent,
    TextDeltaEvent,
    TextDoneEvent,
    ToolCallArgumentsDeltaEvent,
    ToolCallDoneEvent,
    ToolCallStartedEvent,
    Usage,
    UsageEvent,
)

__all__ = ["ChatCompletionAccumulator"]

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


class _ChunkBody(msgspec.Struct, kw_only=True, gc=False):
    """The fields of a chunk that :meth:`ChatCompletionAccumulator.process` reads once the
    completion's id, model and creation time are known.

    Decoding into it skips the strings a chunk repeats (``id``, ``object``, ``model``):
    about a sixth of the cost of decoding a text chunk.
    """

    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    error: Any = None


_BODY_DECODER = msgspec.json.Decoder(_ChunkBody)


def _listed(out: Any) -> list[StreamEvent]:
    """What :meth:`ChatCompletionAccumulator._merge` returns, as a list to append to.

    A list stays itself, a bare event becomes a list holding it, ``()`` a new list.
    """
    if type(out) is list:
        return out
    return [out] if out else []


def _joined(pieces: list[str]) -> str:
    """Join ``pieces`` and keep the result as the only piece.

    Later snapshots then join one long string and the few pieces that arrived since,
    instead of every piece again; what the pieces spell is unchanged.
    """
    if len(pieces) == 1:
        return pieces[0]
    text = "".join(pieces)
    pieces.clear()
    pieces.append(text)
    return text


class _ToolCall:
    """The assembled state of one tool call of one choice."""

    __slots__ = (
        "args",
        "closed",
        "id",
        "name",
        "parser",
        "position",
        "started",
        "type",
        "wire_index",
    )

    def __init__(self, position: int, id: str | None, wire_index: int | None) -> None:
        # ``position`` is the call's place in the message; ``wire_index`` the ``index``
        # the stream gave it, which relays may reuse or omit.
        self.position = position
        self.wire_index = wire_index
        self.id = id
        self.type: str | None = None
        self.name: str | None = None
        self.args: list[str] = []
        # Event-mode state: ``started``/``closed`` say whether the started/done events
        # were emitted; ``parser`` is this call's incremental arguments parser.
        self.started = False
        self.closed = False
        self.parser: PartialJSONParser | None = None


class _Choice:
    """The assembled state of one choice (one ``index``) of the stream."""

    __slots__ = (
        "by_id",
        "by_index",
        "calls",
        "closed",
        "content",
        "content_parser",
        "finish_reason",
        "fn_args",
        "fn_name",
        "has_fn",
        "index",
        "logprobs",
        "lp_content",
        "lp_refusal",
        "reasoning",
        "refusal",
        "role",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[_ToolCall] = []
        self.by_index: dict[int, _ToolCall] = {}
        self.by_id: dict[str, _ToolCall] = {}
        self.has_fn = False
        self.fn_name: str | None = None
        self.fn_args: list[str] = []
        self.logprobs = False
        self.lp_content: list[ChatCompletionTokenLogprob] | None = None
        self.lp_refusal: list[ChatCompletionTokenLogprob] | None = None
        self.finish_reason: str | None = None
        # Event-mode state: ``closed`` once the done events of this choice were emitted.
        self.closed = False
        self.content_parser: PartialJSONParser | None = None


class ChatCompletionAccumulator:
    """Assembles streamed chunks into the completion a non-streamed request returns.

    Feed every chunk of one stream, in order, to either :meth:`add` (assembly only) or
    :meth:`process` (assembly and events), then call :meth:`end` once the stream is over
    and :meth:`final_completion` for the result. Chunks may come from anywhere: this
    class does no I/O.

    Assembly rules, chosen so the result equals the non-streamed response:

    - choices are kept per ``index`` in whatever order they arrive (a first delta for
      choice 1 is normal with ``n > 1``) and are sorted by index in the completion;
    - ``content``, ``refusal`` and reasoning text (``reasoning_content``, or
      ``reasoning`` as some relays call it) are concatenated; a field stays ``None``
      when no non-empty piece of it arrived, even if the server sent ``""``, as the
      non-streamed API reports absent text;
    - tool calls are merged by their ``index`` (see "Tool calls" below); a call that
      never received an ``id`` gets ``""``; ``tool_calls`` is ``None`` when there were
      none;
    - legacy ``function_call`` deltas are assembled into ``message.function_call``;
    - logprobs lists are concatenated; ``logprobs`` is ``None`` when no chunk carried a
      logprobs object, and each of its lists is ``None`` until a chunk carried it;
    - ``finish_reason`` is the first non-empty one each choice received;
    - ``id``, ``model``, ``created``, ``system_fingerprint`` and ``service_tier`` come
      from the first chunk that carries a non-empty value;
    - ``usage`` is the last one a chunk carried (often a chunk with no choices); it is
      never estimated;
    - ``role`` is ``"assistant"`` unless a delta said otherwise.

    Tool calls. A tool-call fragment belongs to, in order of preference:

    1. the call with the fragment's ``id``: relays (DeepSeek, several proxies) repeat
       ``id`` and ``name`` on every fragment, and some end with a chunk repeating every
       call with empty arguments, sometimes all at ``index`` 0;
    2. the call at the fragment's ``index``, unless that call has a different ``id``:
       relays that send every parallel call at ``index`` 0 mark a new call only by a
       new ``id`` (a call that had no ``id`` yet takes the fragment's);
    3. with no ``id`` either: without ``index``, the latest call; with an ``index`` not
       seen yet, the latest call if it came without one (relays that omit ``index``
       stream one call at a time);
    4. otherwise a new call. A call without any ``id`` is kept, never dropped.

    ``type`` and ``name`` are taken from the first fragment that carries them; a later,
    different name for the same call is ignored (names are never concatenated).
    ``arguments`` are concatenated; relays that send them as a JSON object instead of a
    string have the object encoded to JSON text.

    Events. :meth:`process` emits :class:`ToolCallStartedEvent` once a call has a name
    and an id, or its first arguments; :class:`ToolCallDoneEvent` when the next call of
    the choice starts (if the call's arguments are by then a whole JSON value: some
    relays interleave the fragments of parallel calls), else when the choice finishes or
    at :meth:`end`. Its ``parsed_arguments`` is the exact decode of the whole text, with
    no arguments text at all meaning ``{}`` (a function without parameters).
    ``parsed`` values on delta events are the partial parser's live objects. Chunks fed
    to :meth:`add` before :meth:`process` is used are assembled alike, but cause no
    events of their own.

    Args:
        parse_content: Parse each choice's content as JSON while it arrives (for
            ``response_format`` JSON modes): :class:`TextDeltaEvent` and
            :class:`TextDoneEvent` then carry ``parsed``.
        arg_types: Tool name -> type to decode that tool's arguments into (anything
            ``msgspec`` can decode: a ``Struct``, a dataclass, a ``TypedDict`` ...);
            :attr:`ToolCallDoneEvent.value` holds the decoded value, and a validation
            failure goes to its ``error`` instead of being raised out of the stream.
        chunk_events: Also emit a :class:`ChunkEvent` first for each processed chunk.
        content_decoder: With ``parse_content``, what decodes a choice's whole content
            for :attr:`TextDoneEvent.parsed` (plain JSON by default; the decoder of a
            ``response_format`` type for structured outputs). A ``ValueError`` it raises
            leaves ``parsed`` ``None``.

    Raises:
        TypeError: An ``arg_types`` value is not a type ``msgspec`` can decode into.
    """

    __slots__ = (
        "_arg_decoders",
        "_arg_types",
        "_choices",
        "_chunk_events",
        "_content_decoder",
        "_created",
        "_extra_todo",
        "_id",
        "_meta_todo",
        "_model",
        "_parse_content",
        "_service_tier",
        "_system_fingerprint",
        "_todo",
        "_unfinished",
        "_usage",
    )

    def __init__(
        self,
        *,
        parse_content: bool = False,
        arg_types: Mapping[str, type] | None = None,
        chunk_events: bool = False,
        content_decoder: Callable[[str], Any] | None = None,
    ) -> None:
        self._parse_content = parse_content
        self._content_decoder: Callable[[str], Any] = content_decoder or _json_decode
        self._chunk_events = chunk_events
        self._arg_types: dict[str, type] = dict(arg_types or {})
        # Decoders are built once, here, so that an unsupported type fails at
        # construction and not in the middle of a stream.
        self._arg_decoders: dict[str, msgspec.json.Decoder[Any]] = {
            name: msgspec.json.Decoder(tp) for name, tp in self._arg_types.items()
        }
        self._choices: dict[int, _Choice] = {}
        self._unfinished = 0
        self._usage: Usage | None = None
        self._id = ""
        self._model = ""
        self._created = 0
        self._system_fingerprint: str | None = None
        self._service_tier: str | None = None
        self._meta_todo = True
        self._extra_todo = True
        # Whether _merge has anything to do before the choices (see _take_todo).
        self._todo = True

    # ----------------------------------------------------------------------------------
    # Properties
    # ----------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether at least one choice arrived and every choice has a finish reason."""
        return self._unfinished == 0 and bool(self._choices)

    @property
    def usage(self) -> Usage | None:
        """The usage the server reported, or ``None`` if no chunk carried it (yet)."""
        return self._usage

    @property
    def id(self) -> str:
        """The completion's id (``""`` until a chunk carried one)."""
        return self._id

    @property
    def model(self) -> str:
        """The model that answered (``""`` until a chunk named it)."""
        return self._model

    # ----------------------------------------------------------------------------------
    # Feeding
    # ----------------------------------------------------------------------------------

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Assemble one chunk, building no event objects.

        This is the per-chunk cost of every ``create(stream=True)`` stream: the merge of
        :meth:`process` without the events.

        Args:
            chunk: The next chunk of the stream.
        """
        self._merge(chunk, False)

    def process(self, chunk: ChatCompletionChunk) -> list[StreamEvent]:
        """Assemble one chunk and return the events it causes, in order.

        Per choice, in the order the choices appear in the chunk: reasoning, text,
        refusal, tool-call events, logprobs; then, if the choice got its finish reason,
        the done events of whatever it had open and :class:`ChoiceFinishedEvent`. A
        :class:`UsageEvent` comes last. With ``chunk_events`` a :class:`ChunkEvent`
        comes first.

        Args:
            chunk: The next chunk of the stream.

        Returns:
            The events, possibly none (a role-only chunk causes nothing).
        """
        return _listed(self._merge(chunk, True))

    def _merge(
        self, chunk: ChatCompletionChunk, emit: bool
    ) -> TextDeltaEvent | list[StreamEvent] | tuple[()]:
        """Merge one chunk into the assembled state: the only place that does it.

        With ``emit`` false (:meth:`add`) no event object is built; with ``emit`` true
        (:meth:`process`, and the event stream's loop, which calls this directly) the
        events are returned: the :class:`TextDeltaEvent` itself when it is the only one
        (the commonest chunk), else a list of them, or ``()`` for none, so that the common
        chunk builds no list around its one event and a caller tells the cases apart by
        one type test. The merge is the same either way.

        This runs once per chunk of every stream, so the common delta (text or tool-call
        fragments of a choice already seen) is kept to the fewest tests: one for
        everything looked for only at the start (metadata, ``chunk_events``), one for
        all the rare fields of a delta (their work is in :meth:`_merge_rare`).

        Returns:
            The events: one text delta event, a list of events, or ``()`` (always ``()``
            when not ``emit``).
        """
        out: Any = ()
        # Servers that never send ``system_fingerprint`` or ``service_tier`` leave the
        # metadata incomplete for good: a chunk without them is ruled out by two tests,
        # not a call.
        if self._todo and (
            self._meta_todo or chunk.system_fingerprint or chunk.service_tier or self._chunk_events
        ):
            out = self._take_todo(chunk, emit)
        choices = self._choices
        for ch in chunk.choices:
            st = choices.get(ch.index)
            if st is None:
                st = self._new_choice(ch.index)
            d = ch.delta
            text = d.content
            if text:
                st.content.append(text)
                if emit:
                    if self._parse_content:
                        event = TextDeltaEvent(
                            choice_index=st.index,
                            delta=text,
                            parsed=self._parse_content_piece(st, text),
                        )
                    else:
                        event = TextDeltaEvent(choice_index=st.index, delta=text)
                    if out:
                        out = _listed(out)
                        out.append(event)
                    else:
                        out = event
            # Role, reasoning, refusal and legacy function calls are rare (the role comes
            # once): one test for all of them keeps the common delta cheap.
            if (
                d.role is not None
                or d.reasoning_content is not None
                or d.reasoning is not None
                or d.refusal is not None
                or d.function_call is not None
            ):
                out = self._merge_rare(st, d, emit, out, text)
            if d.tool_calls:
                if emit:
                    if type(out) is not list:
                        out = [out] if out else []
                    self._merge_tool_calls(st, d.tool_calls, out)
                else:
                    self._merge_tool_calls(st, d.tool_calls, None)
            if ch.logprobs is not None:
                lp = ch.logprobs
                _merge_logprobs(st, lp)
                if emit and (lp.content or lp.refusal):
                    out = _listed(out)
                    out.append(
                        LogprobsEvent(
                            choice_index=st.index,
                            content=lp.content or None,
                            refusal=lp.refusal or None,
                        )
                    )
            # Some relays send ``"finish_reason": ""`` on every unfinished delta.
            if ch.finish_reason and st.finish_reason is None:
                st.finish_reason = ch.finish_reason
                self._unfinished -= 1
                if emit:
                    out = _listed(out)
                    self._close_choice(st, out)
                    out.append(
                        ChoiceFinishedEvent(choice_index=st.index, finish_reason=ch.finish_reason)
                    )
        if chunk.usage is not None:
            self._usage = chunk.usage
            if emit:
                out = _listed(out)
                out.append(UsageEvent(usage=chunk.usage))
        return out  # type: ignore[no-any-return]

    def _merge_rare(
        self, st: _Choice, d: ChoiceDelta, emit: bool, out: Any, text: str | None
    ) -> Any:
        """The part of :meth:`_merge` for a delta's rare fields; ``out`` as it returns.

        ``text`` is the delta's content: when it was not empty its event (with ``emit``)
        is the last of ``out``, and reasoning goes before it (the documented order is
        reasoning, text, refusal).
        """
        if d.role and st.role is None:
            st.role = d.role
        reasoning = d.reasoning_content or d.reasoning
        if reasoning:
            st.reasoning.append(reasoning)
            if emit:
                out = _listed(out)
                event = ReasoningDeltaEvent(choice_index=st.index, delta=reasoning)
                if text:
                    out.insert(len(out) - 1, event)
                else:
                    out.append(event)
        refusal = d.refusal
        if refusal:
            st.refusal.append(refusal)
            if emit:
                out = _listed(out)
                out.append(RefusalDeltaEvent(choice_index=st.index, delta=refusal))
        if d.function_call is not None:
            self._merge_function_call(st, d.function_call)
        return out

    def _take_todo(self, chunk: ChatCompletionChunk, emit: bool) -> list[StreamEvent] | tuple[()]:
        """What :meth:`_merge` does first while a chunk may still carry metadata it lacks.

        Returns:
            ``[ChunkEvent]`` when events are emitted with ``chunk_events``, else ``()``.
        """
        out: list[StreamEvent] | tuple[()] = ()
        if emit and self._chunk_events:
            out = [ChunkEvent(chunk=chunk)]
        if self._meta_todo:
            self._take_meta(chunk)
        if self._extra_todo:
            self._take_extra(chunk)
        self._todo = self._meta_todo or self._extra_todo or self._chunk_events
        return out

    def _events_decoder(self) -> Callable[[bytes], ChatCompletionChunk] | None:
        """A decoder of chunks for :meth:`process` that skips what it no longer reads.

        For the stream's own loop, once events are all its consumer gets: ``None`` while
        the metadata is still looked for or chunks are handed out in :class:`ChunkEvent`.
        """
        if self._meta_todo or self._chunk_events:
            return None
        return _BODY_DECODER.decode  # type: ignore[return-value]

    def end(self) -> list[StreamEvent]:
        """Close what is still open because the stream is over.

        For each choice that never got a finish reason, the done events of its text,
        refusal, reasoning and tool calls are emitted (so a consumer waiting for them is
        not left hanging), but no :class:`ChoiceFinishedEvent`: the choice did not
        finish. Calling it again emits nothing more.

        Returns:
            The closing events, in choice-index order.
        """
        events: list[StreamEvent] = []
        for index in sorted(self._choices):
            st = self._choices[index]
            if st.finish_reason is None:
                self._close_choice(st, events)
        return events

    # ----------------------------------------------------------------------------------
    # Results
    # ----------------------------------------------------------------------------------

    def current_completion(self) -> ChatCompletion:
        """A snapshot of what has arrived so far, as a completion.

        Chunks added later do not change the snapshot: its lists and strings are its
        own, and the objects it shares (the reported usage, token logprobs) are never
        modified by the accumulator. Its cost is proportional to the size of the
        completion.

        Returns:
            The completion assembled so far (finish reasons ``None`` where not yet
            received).
        """
        choices = self._choices
        return ChatCompletion(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[_build_choice(choices[i]) for i in sorted(choices)],
            usage=self._usage,
            system_fingerprint=self._system_fingerprint,
            service_tier=self._service_tier,
        )

    def final_completion(self) -> ChatCompletion:
        """The assembled completion, once the stream is over.

        It does not check that the stream finished (see :attr:`finished`): the stream
        layer decides whether an unfinished stream is an error, and its error then
        carries this completion as ``.partial``.

        Returns:
            The assembled completion.
        """
        return self.current_completion()

    # ----------------------------------------------------------------------------------
    # Internals
    # ----------------------------------------------------------------------------------

    def _new_choice(self, index: int) -> _Choice:
        st = _Choice(index)
        self._choices[index] = st
        self._unfinished += 1
        return st

    def _take_meta(self, chunk: ChatCompletionChunk) -> None:
        # Azure-style relays open with a chunk whose id and model are empty (it carries
        # only prompt filter results), so "first chunk" means the first one with a value.
        # ``system_fingerprint`` and ``service_tier`` have a flag of their own: many servers
        # never send them, and this method would then run for every chunk.
        if not self._id:
            self._id = chunk.id
        if not self._model:
            self._model = chunk.model
        if not self._created:
            self._created = chunk.created
        self._meta_todo = not (self._id and self._model and self._created)

    def _take_extra(self, chunk: ChatCompletionChunk) -> None:
        # Looked for on every chunk until both arrived: many servers never send them.
        if self._system_fingerprint is None and chunk.system_fingerprint:
            self._system_fingerprint = chunk.system_fingerprint
        if self._service_tier is None and chunk.service_tier:
            self._service_tier = chunk.service_tier
        self._extra_todo = self._system_fingerprint is None or self._service_tier is None

    def _merge_tool_calls(
        self,
        st: _Choice,
        deltas: list[ChoiceDeltaToolCall],
        events: list[StreamEvent] | None,
    ) -> None:
        """Merge tool-call fragments into the choice's calls (rules: class docstring).

        ``events`` is ``None`` on the :meth:`add` path, which builds no events.
        """
        by_index = st.by_index
        for tc in deltas:
            idx = tc.index
            # The common fragment: more arguments for the call at a known index.
            call = by_index.get(idx) if idx is not None and not tc.id else None
            if call is None:
                call = self._find_call(st, tc.id or None, idx, events)
            fn = tc.function
            if call.type is None and tc.type:
                call.type = tc.type
            if fn is None:
                continue
            if fn.name and call.name is None:
                call.name = fn.name
                # Waiting for the id too (unless arguments come first) gives consumers
                # the id on the started event when a relay sends the name first.
                if events is not None and call.id is not None and not call.started:
                    self._start_call(st, call, events)
            args = fn.arguments
            if args is None:
                continue
            if not isinstance(args, str):
                args = _json_encode(args).decode()
            if not args:
                continue
            call.args.append(args)
            if events is not None:
                if not call.started:
                    self._start_call(st, call, events)
                parser = call.parser
                if parser is None:
                    parser = call.parser = PartialJSONParser()
                    # Arguments assembled by ``add()`` before events were asked for.
                    if len(call.args) > 1:
                        parser.feed("".join(call.args[:-1]))
                events.append(
                    ToolCallArgumentsDeltaEvent(
                        choice_index=st.index,
                        index=call.position,
                        id=call.id,
                        name=call.name or "",
                        delta=args,
                        parsed_arguments=parser.feed_value(args),
                    )
                )

    def _find_call(
        self,
        st: _Choice,
        call_id: str | None,
        idx: int | None,
        events: list[StreamEvent] | None,
    ) -> _ToolCall:
        """The call a fragment belongs to, made if it is new (rules: class docstring)."""
        call: _ToolCall | None = None
        if call_id is not None:
            call = st.by_id.get(call_id)
        if call is None:
            if idx is not None:
                call = st.by_index.get(idx)
                if call is not None and call_id is not None:
                    if call.id is None:
                        # The id arrived after the first fragment of the call.
                        call.id = call_id
                        st.by_id[call_id] = call
                    else:
                        call = None
                elif call is None and call_id is None and st.calls:
                    # The latest call began without an index and this is its first
                    # fragment that has one.
                    latest = st.calls[-1]
                    if latest.wire_index is None:
                        call = latest
                        call.wire_index = idx
                        st.by_index[idx] = call
            elif call_id is None and st.calls:
                call = st.calls[-1]
            if call is None:
                call = self._new_call(st, call_id, idx, events)
        return call

    def _new_call(
        self,
        st: _Choice,
        call_id: str | None,
        idx: int | None,
        events: list[StreamEvent] | None,
    ) -> _ToolCall:
        if events is not None:
            # Models stream parallel calls one after the other, so a new call usually
            # means the previous ones are complete; only calls whose arguments are a
            # whole JSON value are closed, because a few relays interleave the
            # fragments of parallel calls (the rest close when the choice finishes).
            for prev in st.calls:
                if not prev.closed and prev.parser is not None and prev.parser.complete:
                    self._close_call(st, prev, events)
        call = _ToolCall(len(st.calls), call_id, idx)
        st.calls.append(call)
        if idx is not None:
            st.by_index[idx] = call
        if call_id is not None:
            st.by_id[call_id] = call
        return call

    @staticmethod
    def _merge_function_call(st: _Choice, fc: ChoiceDeltaFunctionCall) -> None:
        st.has_fn = True
        if fc.name and st.fn_name is None:
            st.fn_name = fc.name
        if fc.arguments:
            st.fn_args.append(fc.arguments)

    @staticmethod
    def _parse_content_piece(st: _Choice, text: str) -> Any:
        parser = st.content_parser
        if parser is None:
            parser = st.content_parser = PartialJSONParser()
            # Content assembled by ``add()`` before events were asked for.
            if len(st.content) > 1:
                parser.feed("".join(st.content[:-1]))
        # Content that turns out not to be JSON freezes the parser at its first error:
        # later pieces cost nothing and ``parsed`` keeps the value before the error.
        return parser.feed_value(text)

    @staticmethod
    def _start_call(st: _Choice, call: _ToolCall, events: list[StreamEvent]) -> None:
        call.started = True
        events.append(
            ToolCallStartedEvent(
                choice_index=st.index, index=call.position, id=call.id, name=call.name or ""
            )
        )

    def _close_call(self, st: _Choice, call: _ToolCall, events: list[StreamEvent]) -> None:
        if not call.started:
            self._start_call(st, call, events)
        call.closed = True
        call.parser = None
        arguments = _joined(call.args) if call.args else ""
        name = call.name or ""
        # A call of a function without parameters may arrive with no arguments text at
        # all; it means "no arguments", as ``{}`` does.
        text = arguments if arguments.strip() else "{}"
        parsed: Any = None
        value: Any = None
        error: str | None = None
        try:
            parsed = _json_decode(text)
        except msgspec.DecodeError as exc:
            error = f"arguments are not valid JSON: {exc}"
        else:
            decoder = self._arg_decoders.get(name)
            if decoder is not None:
                try:
                    value = decoder.decode(text)
                except msgspec.DecodeError as exc:
                    type_name = getattr(self._arg_types[name], "__name__", repr(decoder.type))
                    error = f"arguments do not match {type_name}: {exc}"
        events.append(
            ToolCallDoneEvent(
                choice_index=st.index,
                index=call.position,
                id=call.id,
                name=name,
                arguments=arguments,
                parsed_arguments=parsed,
                value=value,
                error=error,
            )
        )

    def _close_choice(self, st: _Choice, events: list[StreamEvent]) -> None:
        if st.closed:
            return
        st.closed = True
        ci = st.index
        if st.content:
            text = _joined(st.content)
            parsed: Any = None
            if self._parse_content:
                st.content_parser = None
                try:
                    parsed = self._content_decoder(text)
                except ValueError:  # msgspec's DecodeError, pydantic's ValidationError
                    parsed = None
            events.append(TextDoneEvent(choice_index=ci, text=text, parsed=parsed))
        if st.refusal:
            events.append(RefusalDoneEvent(choice_index=ci, refusal=_joined(st.refusal)))
        if st.reasoning:
            events.append(ReasoningDoneEvent(choice_index=ci, reasoning=_joined(st.reasoning)))
        for call in st.calls:
            if not call.closed:
                self._close_call(st, call, events)


def _merge_logprobs(st: _Choice, lp: ChoiceLogprobs) -> None:
    # A list stays None until a chunk carries it, even empty: the API sends
    # ``"refusal": null`` throughout an answer that is not a refusal.
    st.logprobs = True
    if lp.content is not None:
        if st.lp_content is None:
            st.lp_content = []
        st.lp_content += lp.content
    if lp.refusal is not None:
        if st.lp_refusal is None:
            st.lp_refusal = []
        st.lp_refusal += lp.refusal


def _build_choice(st: _Choice) -> Choice:
    tool_calls = None
    if st.calls:
        tool_calls = [
            ChatCompletionMessageToolCall(
                id=call.id or "",
                type=call.type or "function",
                function=Function(
                    name=call.name or "",
                    arguments=_joined(call.args) if call.args else "",
                ),
            )
            for call in st.calls
        ]
    function_call = None
    if st.has_fn:
        function_call = FunctionCall(
            name=st.fn_name or "", arguments=_joined(st.fn_args) if st.fn_args else ""
        )
    message = ChatCompletionMessage(
        role=st.role or "assistant",
        content=_joined(st.content) if st.content else None,
        refusal=_joined(st.refusal) if st.refusal else None,
        reasoning_content=_joined(st.reasoning) if st.reasoning else None,
        tool_calls=tool_calls,
        function_call=function_call,
    )
    logprobs = None
    if st.logprobs:
        logprobs = ChoiceLogprobs(
            content=None if st.lp_content is None else list(st.lp_content),
            refusal=None if st.lp_refusal is None else list(st.lp_refusal),
        )
    return Choice(
        index=st.index, message=message, finish_reason=st.finish_reason, logprobs=logprobs
    )
