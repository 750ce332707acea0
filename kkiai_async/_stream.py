"""The stream objects: a streamed response's bytes -> chunks -> events, and its lifecycle.

This is the hot path of every stream: per ``data:`` event it does one typed ``msgspec``
decode (by a decoder built once, here), one merge into the
:class:`ChatCompletionAccumulator` and one ``yield`` (of the chunk, or of the events the
merge made), inside one async generator, :func:`_stream_items`, for chunks and events
alike (cheaper to resume than a class's ``__anext__`` coroutine). Everything unusual --
the ``[DONE]`` sentinel, keep-alives, error objects, relays' odd payloads and vendors'
shapes -- leaves the common path through one test and is sorted out by
:func:`_classify`, so that rare cases cost nothing when they do not happen.

The other half of the module's job is closing what was opened: however the consumer
stops (the end, ``break``, an exception, task cancellation), the generator's ``finally``
ends the HTTP response, and the connection goes back to the pool only when its body was
read to the end. Nothing is closed from a finalizer: a stream dropped in the middle of
its loop is ended when the event loop finalizes its generator.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, cast

import msgspec
from typing_extensions import Self

from ._accumulate import ChatCompletionAccumulator
from ._exceptions import (
    APIProtocolError,
    APIStreamError,
    ClientClosedError,
    KkiaiError,
    TruncatedStreamError,
    request_id_from,
)
from ._sse import ServerSentEvent, SSEDecoder, SSEProtocolError
from ._transport import Response
from ._transport._base import body_too_large
from .types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChunkChoice,
    ContentT,
    ParsedChatCompletion,
    StreamEvent,
    TextDeltaEvent,
)

if TYPE_CHECKING:
    from ._otel import ChatCall

__all__ = [
    "BytesResponse",
    "ChatCompletionEventStream",
    "ChatCompletionStream",
    "ParsedChatCompletionEventStream",
    "ParsedChatCompletionStream",
    "completion_to_chunks",
    "decode_completion",
    "open_stream",
]

# Built once: a msgspec decoder caches what it learned about the type.
_CHUNK_DECODER = msgspec.json.Decoder(ChatCompletionChunk)
_COMPLETION_DECODER = msgspec.json.Decoder(ChatCompletion)
_ANY_DECODER = msgspec.json.Decoder()

# A sentinel chunk: _classify returns it for ``data: [DONE]``.
_DONE = ChatCompletionChunk(id="[DONE]")
_DONE_EVENT = b"data: [DONE]\n\n"

_EXCERPT = 200


def _excerpt(raw: bytes | str, limit: int = _EXCERPT) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _error_message(error: object, default: str) -> str:
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message
    elif isinstance(error, str) and error:
        return error
    return default


def _stream_error(payload: object, raw: bytes) -> APIStreamError:
    """The error for an error object sent in place of data (``{"error": {...}}``)."""
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if error is None:
        error = raw.decode("utf-8", "replace")
    return APIStreamError(
        "the server sent an error: " + _error_message(error, _excerpt(raw)), body=error
    )


def _part_texts(parts: object, kind: str) -> list[str]:
    """The ``text`` of each part of type ``kind`` in a list of content parts."""
    if not isinstance(parts, list):
        return []
    return [
        part["text"]
        for part in parts
        if isinstance(part, dict) and part.get("type") == kind and isinstance(part.get("text"), str)
    ]


def _read_content_parts(value: object, key: str = "delta") -> None:
    """Rewrite, in a decoded chunk or completion, each choice's ``key`` (its ``delta``, or
    its ``message``) whose ``content`` is a list of parts.

    Mistral sends ``[{"type": "text", "text": ...}]`` and, from its reasoning models,
    ``[{"type": "thinking", "thinking": [{"type": "text", "text": ...}]}]``, streamed or
    not: the text parts become ``content``, the thinking text ``reasoning_content``
    (after any it had), and the list is kept as it came in ``content_parts``, with parts
    of any other type (see :class:`~kkiai_async.types.ChoiceDelta` and
    :class:`~kkiai_async.types.ChatCompletionMessage`).
    """
    choices = value.get("choices") if isinstance(value, dict) else None
    if not isinstance(choices, list):
        return
    for choice in choices:
        holder = choice.get(key) if isinstance(choice, dict) else None
        if not isinstance(holder, dict) or not isinstance(holder.get("content"), list):
            continue
        parts = holder["content"]
        text = _part_texts(parts, "text")
        thinking: list[str] = []
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "thinking":
                inner = part.get("thinking")
                thinking += [inner] if isinstance(inner, str) else _part_texts(inner, "text")
        holder["content"] = "".join(text) if text else None
        if thinking:
            before = holder.get("reasoning_content")
            holder["reasoning_content"] = (before if isinstance(before, str) else "") + "".join(
                thinking
            )
        holder["content_parts"] = parts


def _lenient_chunk(raw: bytes, exc: msgspec.ValidationError) -> ChatCompletionChunk:
    """A chunk from a payload the typed decoder refused, when it can be read all the same.

    Relays send ``"choices": null``, ``"delta": null`` or ``"index": null`` where the
    API omits the field; dropping the nulls lets the defaults apply. Content sent as a
    list of parts (Mistral) is read as text and reasoning (:func:`_read_content_parts`).
    Only payloads the typed decoder refused come here: the common chunk pays nothing.
    """
    value = _ANY_DECODER.decode(raw)
    if isinstance(value, dict) and "error" in value and not value.get("choices"):
        raise _stream_error(value, raw)
    _read_content_parts(value)
    try:
        return msgspec.convert(_drop_nulls(value), ChatCompletionChunk, strict=False)
    except msgspec.ValidationError:
        raise APIProtocolError(
            f"a stream event is not a chat completion chunk ({exc}): {_excerpt(raw)}",
            body=raw.decode("utf-8", "replace"),
        ) from exc


def _classify(event: bytes | ServerSentEvent) -> ChatCompletionChunk | None:
    """The slow path for an event the fast path did not take.

    Args:
        event: The event, or the data of a plain ``message`` event (as
            :meth:`SSEDecoder.feed_payloads` gives it).

    Returns:
        The chunk; ``_DONE`` for the end sentinel; ``None`` for an event to ignore
        (keep-alives, whatever their disguise).

    Raises:
        APIStreamError: The event is an error (``event: error``, or ``{"error": ...}``).
        APIProtocolError: The data is not JSON, or not a chunk.
    """
    if type(event) is bytes:
        raw = event
        kind = "message"
    else:
        raw = event.data_bytes  # type: ignore[union-attr]
        kind = event.event  # type: ignore[union-attr]
    stripped = raw.strip()
    if stripped == b"[DONE]":
        return _DONE
    if kind == "error":
        # A bare SSE error event: its data may be JSON or plain text.
        try:
            payload: object = _ANY_DECODER.decode(raw)
        except msgspec.DecodeError:
            payload = raw.decode("utf-8", "replace")
        raise _stream_error(payload, raw)
    if not stripped or stripped[:1] == b":":
        # Keep-alives sent as data (``data: : keepalive``) rather than as SSE comments.
        return None
    try:
        chunk = _CHUNK_DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        return _lenient_chunk(raw, exc)
    except msgspec.DecodeError as exc:
        raise APIProtocolError(
            f"a stream event is not valid JSON ({exc}): {_excerpt(raw)}",
            body=raw.decode("utf-8", "replace"),
        ) from exc
    if chunk.choices or chunk.usage is not None:
        return chunk
    # Nothing to assemble: an error object, a keep-alive object ({"type": "keepalive"},
    # {}), or a real but empty chunk (Azure opens with one holding only filter results).
    value = _ANY_DECODER.decode(raw)
    if isinstance(value, dict) and "error" in value:
        raise _stream_error(value, raw)
    return chunk if chunk.id or chunk.model else None


class _State:
    """What the stream's generator tells its stream object, without referencing it."""

    __slots__ = ("closed", "ended", "error", "started")

    def __init__(self) -> None:
        self.started = False  # the generator runs: its ``finally`` ends the response
        self.ended = False  # the stream ended cleanly: final_completion() may answer
        self.closed = False  # the response was ended (by the generator or close())
        self.error: KkiaiError | None = None


def _attach(exc: KkiaiError, acc: ChatCompletionAccumulator, request_id: str | None) -> None:
    if exc.partial is None:
        exc.partial = acc.current_completion()
    if exc.request_id is None:
        exc.request_id = request_id


def _ignore(chunk: ChatCompletionChunk, emit: bool) -> None:
    """The merge of a stream whose consumer feeds the accumulator itself."""


async def _stream_items(
    response: Response,
    acc: ChatCompletionAccumulator,
    state: _State,
    request_id: str | None,
    merge: Callable[[ChatCompletionChunk, bool], Any],
    events: bool,
    call: ChatCall | None,
) -> AsyncGenerator[Any, None]:
    """What a stream hands out: its chunks, or the events they cause.

    The one loop over an event-stream body: SSE payloads are decoded to chunks and
    each chunk is merged into the accumulator by ``merge`` (its ``_merge``, or a no-op
    when the consumer feeds it) and yielded; with ``events``, the events the merge
    makes (what ``acc.process`` returns) are yielded instead, then those of
    ``acc.end()`` once the stream ended cleanly. One generator serves both, rather than
    an event generator driving a chunk generator: that would cost a second suspension
    and resumption per chunk (about 0.17 µs, an eighth of a text chunk's cost).

    Whatever way it stops, its ``finally`` ends the response; the connection is reused
    only if the body was read to its end.
    """
    state.started = True
    decoder = SSEDecoder()
    feed = decoder.feed_payloads
    decode: Callable[[bytes], ChatCompletionChunk] = _CHUNK_DECODER.decode
    # Anything but a plain message event's data bytes makes the decoder raise TypeError.
    not_a_chunk = (msgspec.MsgspecError, TypeError)
    # Events hand out no chunks: once the accumulator has what it needs from the first
    # ones, the rest are decoded without the fields it no longer reads.
    lean = events
    text_delta = TextDeltaEvent
    chunk: ChatCompletionChunk | None
    body = response.iter_bytes().__aiter__()
    more = True
    done = False
    reuse = False
    try:
        while more:
            # aiohttp hands over everything buffered, up to 256 KiB (a thousand events)
            # when the server is ahead of us. It is decoded at once: the payloads are
            # bytes and the chunks gc=False structs, none of them tracked by the cyclic
            # GC, so holding them all triggers no collection.
            try:
                data = await body.__anext__()
            except StopAsyncIteration:
                # The body ended; relays often end without "\n\n" (or without [DONE]).
                more = False
                reuse = True
                payloads: list[bytes | ServerSentEvent] = decoder.flush()  # type: ignore[assignment]
            else:
                payloads = feed(data)
            if call is not None and payloads:
                # Telemetry: per read, never per chunk (a counter, the first's time).
                call.read(len(payloads))
            for payload in payloads:
                # A plain message event comes as its data bytes and decodes to a chunk
                # with choices or usage; anything else (another event type: not bytes,
                # "[DONE]", an error object, a keep-alive) fails the decode or the test
                # after it, and is sorted out by _classify. No other test per payload.
                try:
                    chunk = decode(payload)  # type: ignore[arg-type]
                except not_a_chunk:
                    chunk = _classify(payload)
                    if chunk is None:
                        continue
                    if chunk is _DONE:
                        more = False
                        done = reuse = True
                        break
                else:
                    if not chunk.choices and chunk.usage is None:
                        # Decoded, so not "[DONE]".
                        chunk = _classify(payload)
                        if chunk is None:
                            continue
                if events:
                    # The one text delta event of the commonest chunk comes bare (no list
                    # built around it); anything else as a list, or () for none.
                    out = merge(chunk, True)
                    if type(out) is text_delta:
                        yield out
                    else:
                        for item in out:
                            yield item
                    if lean:
                        leaner = acc._events_decoder()
                        if leaner is not None:
                            decode = leaner
                            lean = False
                else:
                    merge(chunk, False)
                    yield chunk
                if chunk.error is not None:
                    # An error beside the chunk's choices (OpenRouter): what the chunk
                    # carried is assembled and handed out, and then the stream fails.
                    sent = {"error": chunk.error}
                    raise _stream_error(sent, msgspec.json.encode(sent))
        if not done and not acc.finished:
            raise TruncatedStreamError(
                "the stream ended before every choice finished (no [DONE] and no finish_reason)"
                if acc.current_completion().choices
                else "the stream ended without sending any chunk"
            )
        # A stream that ends without [DONE] after every choice finished ended cleanly.
        state.ended = True
    except SSEProtocolError as exc:
        reuse = False
        error = APIProtocolError(f"the event stream broke the protocol: {exc}")
        _attach(error, acc, request_id)
        state.error = error
        raise error from exc
    except KkiaiError as exc:
        reuse = False
        _attach(exc, acc, request_id)
        state.error = exc
        raise
    finally:
        state.closed = True
        if call is not None:
            # The span ends with the stream, however it stopped: what propagates is
            # its error, GeneratorExit (closed early) or CancelledError.
            call.stream_ended(acc, state.ended, sys.exc_info()[1])
        await response.aclose(reuse=reuse)
    if events:
        for item in acc.end():
            yield item


def _as_event_stream(chunks: Iterable[ChatCompletionChunk]) -> bytes:
    """The event-stream body that would have carried ``chunks``, ending with ``[DONE]``."""
    encode = msgspec.json.encode
    return b"".join([b"data: " + encode(chunk) + b"\n\n" for chunk in chunks]) + _DONE_EVENT


class ChatCompletionStream:
    """A streamed chat completion: ``async for chunk in stream`` yields its chunks.

    Returned by ``await client.chat.completions.create(..., stream=True)`` once the
    response headers are in (HTTP errors were raised by that ``await``). Use it as an
    async context manager: the response is ended however the block exits -- ``break``,
    an exception, task cancellation -- and its connection goes back to the pool only if
    the body was read to its end::

        stream = await client.chat.completions.create(..., stream=True)
        async with stream:
            async for chunk in stream:
                print(chunk.choices[0].delta.content or "", end="")
        completion = await stream.final_completion()

    Iterating to the end closes the stream by itself. The response is ended by the
    generator that reads it, in its ``finally``: a stream dropped in the middle of its
    iteration is ended when the event loop finalizes that generator (its connection is
    not reused). A stream dropped before it was iterated or closed emits a
    ``ResourceWarning`` and leaves its response to the transport. ``async with`` is the
    way to be sure of when.

    Errors while iterating carry ``.partial``, the completion assembled from everything
    received before them, and ``.request_id``:

    - :class:`APIStreamError`: the server sent an error object inside the stream;
    - :class:`IncompleteStreamError`: the connection broke before the stream ended;
    - :class:`TruncatedStreamError`: the body ended cleanly, but without ``[DONE]``
      while a choice had no ``finish_reason``;
    - :class:`APITimeoutError`: a read (or total) timeout expired mid-stream;
    - :class:`APIProtocolError`: a ``data:`` payload that is not JSON or not a chunk, or
      a line over the size bound.

    Attributes:
        response_headers: The response headers (lower-case names).
        request_id: The server's id of the request (``x-request-id``), if it sent one.
        status_code: The HTTP status (a 2xx).
    """

    __slots__ = (
        "__weakref__",
        "_acc",
        "_call",
        "_gen",
        "_merge",
        "_response",
        "_state",
        "request_id",
        "response_headers",
        "status_code",
    )

    _gen: AsyncGenerator[Any, None] | None

    def __init__(
        self,
        response: Response,
        accumulator: ChatCompletionAccumulator | None = None,
        *,
        chunks: Iterable[ChatCompletionChunk] | None = None,
        accumulate: bool = True,
    ) -> None:
        """Wrap a response whose headers have arrived; the library does this for you.

        Args:
            response: The transport's response, body unread (or already read, when
                ``chunks`` are given).
            accumulator: Where the chunks are assembled; a new one by default.
            chunks: Chunks to deliver instead of reading the body: for a relay that
                answered a streamed request with a whole completion. They are read as
                the event stream that would have carried them, by the same code.
            accumulate: ``False`` when the consumer feeds the accumulator itself (the
                event stream calls ``process``).
        """
        acc = ChatCompletionAccumulator() if accumulator is None else accumulator
        headers = response.headers
        self._acc = acc
        self._state = _State()
        if chunks is not None:
            # The body was read and its response closed by the caller.
            self._state.closed = True
            response = BytesResponse(response.status, headers, _as_event_stream(chunks))
        self._response = response
        self._merge = acc._merge if accumulate else _ignore
        # Made on first use, as chunks or as events (see _event_source).
        self._gen = None
        # The request's telemetry (set by the chat resource when it is on).
        self._call: ChatCall | None = None
        self.response_headers: Mapping[str, str] = headers
        self.request_id = request_id_from(headers)
        self.status_code = response.status

    def _items(self, events: bool) -> AsyncGenerator[Any, None]:
        gen = _stream_items(
            self._response,
            self._acc,
            self._state,
            self.request_id,
            self._acc._merge if events else self._merge,
            events,
            self._call,
        )
        self._gen = gen
        return gen

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        gen = self._gen
        return self._items(False) if gen is None else gen

    async def __anext__(self) -> ChatCompletionChunk:
        gen = self._gen
        if gen is None:
            gen = self._items(False)
        chunk: ChatCompletionChunk = await gen.__anext__()
        return chunk

    def _event_source(self, acc: ChatCompletionAccumulator) -> AsyncGenerator[StreamEvent, None]:
        """The events of this stream, for :class:`ChatCompletionEventStream`.

        Raises:
            ValueError: ``acc`` is not the stream's accumulator.
            RuntimeError: The stream's chunks are already being read.
        """
        if acc is not self._acc:
            raise ValueError("the event stream must use the stream's accumulator")
        if self._gen is not None:
            raise RuntimeError("the stream's chunks are already being read")
        return self._items(True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End the response now; idempotent.

        The connection is closed, not pooled, unless the body had been read to its end.
        """
        gen = self._gen
        if gen is None:
            # Never iterated: a generator closed before it starts yields nothing.
            gen = self._items(False)
        try:
            await gen.aclose()
        except RuntimeError:
            # Another task is iterating right now; closing the response below wakes it
            # with IncompleteStreamError.
            pass
        finally:
            if self._call is not None:
                # A generator closed before it started never ran its finally.
                self._call.stream_ended(self._acc, self._state.ended, None)
            if not self._state.closed:
                self._state.closed = True
                await self._response.aclose(reuse=False)

    def current_completion(self) -> ChatCompletion:
        """What has arrived so far, assembled (finish reasons ``None`` where not yet known)."""
        return self._acc.current_completion()

    async def final_completion(self) -> ChatCompletion:
        """Read what is left of the stream and return the assembled completion.

        Returns:
            The completion, as a non-streamed request would have returned it.

        Raises:
            KkiaiError: The error that ended the stream (again, if iteration already
                raised it), with ``.partial``.
            ClientClosedError: The stream was closed before it ended.
        """
        async for _ in self:
            pass
        state = self._state
        if state.error is not None:
            raise state.error
        if not state.ended:
            raise ClientClosedError(
                "the stream was closed before it ended",
                request_id=self.request_id,
                partial=self._acc.current_completion(),
            )
        return self._acc.final_completion()

    def __del__(self) -> None:
        # No I/O here. A generator that began reading ends the response in its
        # ``finally`` (the event loop finalizes a suspended async generator); a stream
        # never iterated nor closed left its response open, which is the caller's bug.
        state = getattr(self, "_state", None)
        if state is not None and not state.closed and not state.started:
            warnings.warn(
                f"{self!r} was never iterated nor closed; use 'async with'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        state = self._state
        status = "ended" if state.ended else "failed" if state.error else "open"
        if state.closed and status == "open":
            status = "closed"
        return f"<ChatCompletionStream {status} request_id={self.request_id!r}>"


class ParsedChatCompletionStream(ChatCompletionStream, Generic[ContentT]):
    """A chunk stream whose ``response_format`` is a type: ``create(stream=True,
    response_format=T)``.

    The chunks are those of any stream; only :meth:`final_completion` differs, returning
    the completion with each choice's content decoded into ``T``. The class exists for
    the type checker (so ``parsed`` is a ``T``); the decoding is the accumulator's.
    """

    __slots__ = ()

    async def final_completion(self) -> ParsedChatCompletion[ContentT]:
        """Read what is left of the stream; the completion with ``parsed`` answers.

        Raises:
            LengthFinishReasonError: A choice was cut off at the token limit.
            ContentFilterFinishReasonError: A choice was stopped by the content filter.
            OutputValidationError: A choice's content is not JSON or does not fit ``T``.
            KkiaiError: As for :meth:`ChatCompletionStream.final_completion`.
        """
        completion = await super().final_completion()
        return cast("ParsedChatCompletion[ContentT]", completion)


async def _text_deltas(events: AsyncIterator[StreamEvent]) -> AsyncGenerator[str, None]:
    async for event in events:
        if type(event) is TextDeltaEvent:
            yield event.delta


class ChatCompletionEventStream:
    """A streamed chat completion as typed events: ``async for event in events``.

    Yielded by ``async with client.chat.completions.stream(...) as events``. The events
    (:data:`kkiai_async.types.StreamEvent`) are those of
    :meth:`ChatCompletionAccumulator.process`, then :meth:`~ChatCompletionAccumulator.end`
    when the stream is over: text, refusal and reasoning deltas, tool calls started,
    their arguments as they arrive (parsed so far) and done (parsed and, for tools with
    a typed arguments struct, decoded), choices finished, usage. Errors are those of
    :class:`ChatCompletionStream`, with ``.partial``.
    """

    __slots__ = ("_acc", "_events", "_stream")

    def __init__(self, stream: ChatCompletionStream, accumulator: ChatCompletionAccumulator):
        """Wrap a stream built with ``accumulate=False``; the library does this for you.

        Args:
            stream: The chunk stream.
            accumulator: The accumulator whose ``process`` makes the events.
        """
        self._stream = stream
        self._acc = accumulator
        self._events = stream._event_source(accumulator)

    @property
    def request_id(self) -> str | None:
        """The server's id of the request, if it sent one."""
        return self._stream.request_id

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The response headers (lower-case names)."""
        return self._stream.response_headers

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the text deltas (``TextDeltaEvent.delta``) of every choice, in order.

        It draws from the same events as ``async for event in events``: the two share
        one position in the stream. With ``n > 1`` the choices' texts interleave; use
        the events (``choice_index``) to tell them apart.
        """
        return _text_deltas(self._events)

    def current_completion(self) -> ChatCompletion:
        """What has arrived so far, assembled."""
        return self._acc.current_completion()

    async def final_completion(self) -> ChatCompletion:
        """Read the rest of the events and return the assembled completion.

        Raises:
            KkiaiError: The error that ended the stream, with ``.partial``.
            ClientClosedError: The stream was closed before it ended.
        """
        async for _ in self._events:
            pass
        return await self._stream.final_completion()

    async def close(self) -> None:
        """End the response now; idempotent."""
        try:
            await self._events.aclose()
        except RuntimeError:
            pass
        finally:
            await self._stream.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class ParsedChatCompletionEventStream(ChatCompletionEventStream, Generic[ContentT]):
    """The events of ``stream(response_format=T)``, with a typed final completion.

    ``TextDeltaEvent.parsed`` is the answer parsed so far (plain JSON values: the
    partial document cannot be a ``T`` yet), ``TextDoneEvent.parsed`` the answer decoded
    into ``T``, and :meth:`final_completion` the completion whose
    ``choices[i].message.parsed`` is a ``T``, as :meth:`AsyncCompletions.parse` returns it.
    """

    __slots__ = ()

    async def final_completion(self) -> ParsedChatCompletion[ContentT]:
        """Read the rest of the events; the completion with ``parsed`` answers.

        Raises:
            LengthFinishReasonError: A choice was cut off at the token limit.
            ContentFilterFinishReasonError: A choice was stopped by the content filter.
            OutputValidationError: A choice's content is not JSON or does not fit ``T``.
            KkiaiError: The error that ended the stream, with ``.partial``.
        """
        completion = await super().final_completion()
        return cast("ParsedChatCompletion[ContentT]", completion)


# --------------------------------------------------------------------------------------
# Whole bodies: non-streamed completions, and streams that are not event streams
# --------------------------------------------------------------------------------------


def decode_completion(body: bytes, request_id: str | None) -> ChatCompletion:
    """Decode the body of a ``200`` to a non-streamed request.

    Args:
        body: The response body.
        request_id: For the errors.

    Returns:
        The completion.

    Raises:
        APIStreamError: The body is an error object (``{"error": {...}}``).
        APIProtocolError: The body is not JSON, or not a chat completion.
    """
    try:
        completion = _COMPLETION_DECODER.decode(body)
    except msgspec.MsgspecError as exc:
        try:
            value = _ANY_DECODER.decode(body)
        except msgspec.DecodeError:
            raise APIProtocolError(
                f"the response is not JSON: {_excerpt(body)}",
                body=body.decode("utf-8", "replace"),
                request_id=request_id,
            ) from exc
        completion = _completion_from_value(value, body, request_id, exc)
    else:
        if completion.choices:
            return completion
        completion = _completion_from_value(_ANY_DECODER.decode(body), body, request_id, None)
    return completion


def _completion_from_value(
    value: object, body: bytes, request_id: str | None, exc: msgspec.MsgspecError | None
) -> ChatCompletion:
    if isinstance(value, dict) and "error" in value and not value.get("choices"):
        error = _stream_error(value, body)
        error.request_id = request_id
        raise error
    if isinstance(value, dict) and value.get("choices") is not None:
        # Content sent as a list of parts (Mistral) is read as text and reasoning.
        _read_content_parts(value, "message")
        try:
            completion = msgspec.convert(_drop_nulls(value), ChatCompletion, strict=False)
        except msgspec.ValidationError as err:
            exc = err
        else:
            if completion.choices:
                return completion
    why = f" ({exc})" if exc is not None else ""
    raise APIProtocolError(
        f"the response is not a chat completion{why}: {_excerpt(body)}",
        body=value,
        request_id=request_id,
    )


def completion_to_chunks(completion: ChatCompletion) -> list[ChatCompletionChunk]:
    """The chunks a stream of ``completion`` would have sent.

    For relays that ignore ``stream: true`` and answer with a whole completion: turning
    it into chunks lets ``async for`` and the events work unchanged. One chunk per
    choice carries its role, text, tool calls and finish reason; usage follows in a
    chunk of its own, as with ``stream_options.include_usage``.

    Args:
        completion: The whole completion.

    Returns:
        The equivalent chunks, in order.
    """
    meta: dict[str, Any] = {
        "id": completion.id,
        "created": completion.created,
        "model": completion.model,
        "system_fingerprint": completion.system_fingerprint,
        "service_tier": completion.service_tier,
    }
    chunks = []
    for choice in completion.choices:
        message = choice.message
        tool_calls = None
        if message.tool_calls:
            tool_calls = [
                ChoiceDeltaToolCall(
                    index=i,
                    id=call.id,
                    type=call.type,
                    function=ChoiceDeltaToolCallFunction(
                        name=call.function.name, arguments=call.function.arguments
                    ),
                )
                for i, call in enumerate(message.tool_calls)
            ]
        function_call = None
        if message.function_call is not None:
            function_call = ChoiceDeltaFunctionCall(
                name=message.function_call.name, arguments=message.function_call.arguments
            )
        delta = ChoiceDelta(
            role=message.role,
            content=message.content,
            refusal=message.refusal,
            reasoning_content=message.reasoning_content,
            tool_calls=tool_calls,
            function_call=function_call,
            content_parts=message.content_parts,
        )
        chunks.append(
            ChatCompletionChunk(
                **meta,
                choices=[
                    ChunkChoice(
                        index=choice.index,
                        delta=delta,
                        finish_reason=choice.finish_reason,
                        logprobs=choice.logprobs,
                    )
                ],
            )
        )
    if completion.usage is not None:
        chunks.append(ChatCompletionChunk(**meta, usage=completion.usage))
    return chunks


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


async def open_stream(
    response: Response,
    accumulator: ChatCompletionAccumulator,
    *,
    accumulate: bool = True,
    max_body_bytes: int | None = None,
    stream_class: type[ChatCompletionStream] = ChatCompletionStream,
) -> ChatCompletionStream:
    """Make the stream object for a ``2xx`` response to a streamed request.

    An event stream is the normal case. A relay that ignored ``stream`` and answered
    with a whole JSON completion is delivered as an equivalent stream; a JSON error
    object raises here; an HTML page (a proxy's error page) raises here with an
    excerpt. Other or missing content types are read as event streams, because relays
    mislabel them (``text/plain``, nothing).

    Args:
        response: The response, body unread; it is closed on error.
        accumulator: Where the chunks are assembled.
        accumulate: As for :class:`ChatCompletionStream`.
        max_body_bytes: The bound of a JSON body read whole (the client's
            ``max_body_bytes``); an HTML page is cut to it, for its excerpt.
        stream_class: :class:`ParsedChatCompletionStream` when the accumulator
            parses the answer into a type.

    Returns:
        The stream.

    Raises:
        APIStreamError: The body is a JSON error object.
        APIProtocolError: The body is HTML, or JSON that is not a completion.
        APIConnectionError: The connection broke while reading a JSON or HTML body.
    """
    media = _media_type(response.headers)
    if media == "text/event-stream" or not (media.endswith("json") or media == "text/html"):
        return stream_class(response, accumulator, accumulate=accumulate)
    request_id = request_id_from(response.headers)
    reuse = False
    try:
        body = await response.read(max_body_bytes, truncate=media == "text/html")
        reuse = max_body_bytes is None or len(body) < max_body_bytes
    except KkiaiError as exc:
        exc.request_id = exc.request_id or request_id
        raise
    finally:
        await response.aclose(reuse=reuse)
    if media == "text/html":
        raise APIProtocolError(
            f"expected an event stream, got an HTML page: {_excerpt(body)}",
            body=body.decode("utf-8", "replace"),
            request_id=request_id,
        )
    completion = decode_completion(body, request_id)
    return stream_class(
        response, accumulator, chunks=completion_to_chunks(completion), accumulate=accumulate
    )


class _OnePiece:
    __slots__ = ("_piece",)

    def __init__(self, piece: bytes) -> None:
        self._piece = piece

    def __aiter__(self) -> _OnePiece:
        return self

    async def __anext__(self) -> bytes:
        piece = self._piece
        if not piece:
            raise StopAsyncIteration
        self._piece = b""
        return piece


class BytesResponse:
    """A :class:`Response` over a body already read, to assemble it like a stream.

    Used when a non-streamed request is answered with an event stream (relays that
    always stream): the body goes through exactly the stream's code.
    """

    __slots__ = ("_body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """Hold ``body`` as the response to stream from.

        Args:
            status: The HTTP status.
            headers: The response headers (lower-case names).
            body: The whole body.
        """
        self.status = status
        self.headers = headers
        self._body = body

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body, as one piece."""
        return _OnePiece(self._body)

    async def read(self, max_bytes: int | None = None, *, truncate: bool = False) -> bytes:
        """The body, within ``max_bytes`` as :meth:`Response.read` says.

        Raises:
            APIProtocolError: The body is over ``max_bytes`` (and ``truncate`` is false).
        """
        body = self._body
        if max_bytes is None or len(body) <= max_bytes:
            return body
        if truncate:
            return body[:max_bytes]
        raise body_too_large(max_bytes)

    async def aclose(self, *, reuse: bool) -> None:
        """Nothing to close."""

    def abort(self) -> None:
        """Nothing to close."""
