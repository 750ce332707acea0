"""What a test tells the fake server to answer: scripted replies and faults.

Why a script at all: the default behaviour of :class:`~kkiai_async.testing.FakeServer`
is deterministic but generic. A test of a client usually needs one exact answer (this
text, in chunks of three characters, then ``finish_reason="length"``) or one exact
failure (a 429 with ``Retry-After: 1``, a connection cut after the second chunk). Each
queued :class:`Reply` or :class:`Fault` answers exactly one chat request, in the order
they were queued.

These are plain value objects: they hold no server state, so one reply may be queued
many times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

__all__ = ["Fault", "Reply", "ScriptItem", "ToolCall"]

_ENCODE = msgspec.json.encode

ReplyKind = Literal["message", "chunks"]
FaultKind = Literal["status", "html", "reset", "drop_after", "stall", "garbage", "error_event"]


def _check_chunking(chunk_size: int | None, delay: float) -> None:
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of characters, not {chunk_size}")
    if delay < 0:
        raise ValueError(f"delay must not be negative, not {delay}")


def _as_bytes(value: Mapping[str, Any] | str | bytes) -> bytes:
    """Bytes sent verbatim, text UTF-8 encoded, a mapping as compact JSON."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return _ENCODE(value)


class ToolCall:
    """One tool call a scripted :class:`Reply` makes.

    Args:
        name: The function's name.
        arguments: The arguments: a mapping is sent as compact JSON (as models write
            it); a string is sent verbatim, so a test can send invalid JSON on purpose.
        id: The call's id; a ``call_...`` id is generated when omitted.
    """

    __slots__ = ("arguments", "id", "name")

    def __init__(
        self, name: str, arguments: Mapping[str, Any] | str = "{}", *, id: str | None = None
    ) -> None:
        self.name = name
        self.arguments = (
            arguments if isinstance(arguments, str) else _ENCODE(dict(arguments)).decode()
        )
        self.id = id

    def __repr__(self) -> str:
        return f"ToolCall({self.name!r}, {self.arguments!r}, id={self.id!r})"

    @classmethod
    def coerce(cls, value: ToolCall | Mapping[str, Any] | tuple[str, Any]) -> ToolCall:
        """Accept a :class:`ToolCall`, a ``{"name", "arguments", "id"}`` dict or a pair.

        Raises:
            TypeError: For anything else, so that a typo in a test fails at once.
        """
        if isinstance(value, ToolCall):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return cls(value[0], value[1])
        if isinstance(value, Mapping) and isinstance(value.get("name"), str):
            return cls(value["name"], value.get("arguments", "{}"), id=value.get("id"))
        raise TypeError(f"not a tool call: {value!r}")


class Reply:
    """A scripted successful answer to one chat request.

    Build one with the class methods (:meth:`text`, :meth:`tool_calls`, ...). With
    ``n > 1`` every choice gets the same reply. Streamed, text is split into fragments
    of ``chunk_size`` characters (word-sized tokens when ``None``); ``delay`` seconds
    pass before each chunk is written.

    Attributes:
        kind: ``"message"``, or ``"chunks"`` for :meth:`chunks`.
        content: The text (``None``: ``content`` is null, as with tool-only replies).
        thinking: The ``reasoning_content``, if any.
        refusal_text: The refusal, if any.
        calls: The tool calls, in order.
        finish_reason: What the last chunk says.
        chunk_size: Characters per streamed fragment (``None``: token-sized).
        delay: Seconds before each streamed chunk.
        payloads: For :meth:`chunks`, the ``data:`` payloads.
        done: For :meth:`chunks`, whether ``[DONE]`` follows them.
    """

    __slots__ = (
        "calls",
        "chunk_size",
        "content",
        "delay",
        "done",
        "finish_reason",
        "kind",
        "payloads",
        "refusal_text",
        "thinking",
    )

    kind: ReplyKind
    content: str | None
    thinking: str | None
    refusal_text: str | None
    calls: tuple[ToolCall, ...]
    finish_reason: str
    chunk_size: int | None
    delay: float
    payloads: tuple[bytes, ...]
    done: bool

    def __init__(
        self,
        *,
        kind: ReplyKind = "message",
        content: str | None = None,
        thinking: str | None = None,
        refusal_text: str | None = None,
        calls: Sequence[ToolCall] = (),
        finish_reason: str = "stop",
        chunk_size: int | None = None,
        delay: float = 0.0,
        payloads: Sequence[bytes] = (),
        done: bool = True,
    ) -> None:
        _check_chunking(chunk_size, delay)
        self.kind = kind
        self.content = content
        self.thinking = thinking
        self.refusal_text = refusal_text
        self.calls = tuple(calls)
        self.finish_reason = finish_reason
        self.chunk_size = chunk_size
        self.delay = delay
        self.payloads = tuple(payloads)
        self.done = done

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("content", "thinking", "refusal_text", "calls", "finish_reason")
            if getattr(self, name) not in (None, ())
        )
        return f"Reply({self.kind}: {fields})"

    @classmethod
    def text(
        cls,
        text: str,
        *,
        chunk_size: int | None = None,
        delay: float = 0.0,
        finish_reason: str = "stop",
    ) -> Reply:
        """Answer with assistant text.

        Args:
            text: The whole content.
            chunk_size: Characters per streamed content fragment (``None``: word-sized).
            delay: Seconds to wait before each streamed chunk.
            finish_reason: Sent in the last chunk (``"length"`` to test truncation).
        """
        return cls(content=text, finish_reason=finish_reason, chunk_size=chunk_size, delay=delay)

    @classmethod
    def tool_calls(
        cls,
        calls: Sequence[ToolCall | Mapping[str, Any] | tuple[str, Any]],
        *,
        content: str | None = None,
        chunk_size: int | None = None,
        delay: float = 0.0,
        finish_reason: str = "tool_calls",
    ) -> Reply:
        """Answer with one or more (parallel) tool calls.

        Args:
            calls: :class:`ToolCall`\\ s, ``{"name": ..., "arguments": ...}`` dicts or
                ``(name, arguments)`` pairs; more than one makes parallel calls, streamed
                one after the other with ``index`` 0, 1, ...
            content: Text the model says before calling (some relays send both).
            chunk_size: Characters per streamed arguments (and content) fragment.
            delay: Seconds to wait before each streamed chunk.
            finish_reason: Sent in the last chunk.

        Raises:
            ValueError: When ``calls`` is empty.
        """
        coerced = [ToolCall.coerce(call) for call in calls]
        if not coerced:
            raise ValueError("Reply.tool_calls() needs at least one call")
        return cls(
            content=content,
            calls=coerced,
            finish_reason=finish_reason,
            chunk_size=chunk_size,
            delay=delay,
        )

    @classmethod
    def tool_call(
        cls,
        name: str,
        arguments: Mapping[str, Any] | str = "{}",
        *,
        id: str | None = None,
        chunk_size: int | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """Answer with a single tool call (shorthand for :meth:`tool_calls`)."""
        return cls.tool_calls(
            [ToolCall(name, arguments, id=id)], chunk_size=chunk_size, delay=delay
        )

    @classmethod
    def refusal(cls, text: str, *, chunk_size: int | None = None, delay: float = 0.0) -> Reply:
        """Answer with a refusal (``content`` null, ``refusal`` set)."""
        return cls(refusal_text=text, chunk_size=chunk_size, delay=delay)

    @classmethod
    def reasoning(
        cls,
        thinking: str,
        *,
        then: str = "",
        chunk_size: int | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """Answer as a relayed reasoning model: ``reasoning_content`` first, then text.

        Args:
            thinking: Streamed as ``reasoning_content`` deltas, before any content.
            then: The answer's content.
            chunk_size: Characters per streamed fragment.
            delay: Seconds to wait before each streamed chunk.
        """
        return cls(thinking=thinking, content=then, chunk_size=chunk_size, delay=delay)

    @classmethod
    def chunks(
        cls,
        payloads: Sequence[Mapping[str, Any] | str | bytes],
        *,
        done: bool = True,
        delay: float = 0.0,
    ) -> Reply:
        """Stream exactly these ``data:`` payloads (then ``[DONE]`` if ``done``).

        For relays' quirks the generator never produces (a chunk without ``index``,
        arguments as an object, a repeated role...). Only a streamed request can be
        answered this way; a non-streamed one gets a 500 saying so.

        Args:
            payloads: A mapping is JSON-encoded; a string or bytes is sent verbatim
                after ``data: ``.
            done: Whether ``data: [DONE]`` ends the stream.
            delay: Seconds to wait before each payload.
        """
        encoded = [_as_bytes(p) for p in payloads]
        return cls(kind="chunks", payloads=encoded, done=done, delay=delay)


class Fault:
    """A scripted failure for one chat request.

    HTTP-level faults (:meth:`status`, :meth:`html`, :meth:`reset`) replace the
    response. Stream faults (:meth:`drop_after`, :meth:`stall`, :meth:`garbage`,
    :meth:`error_event`) disturb the response the server would otherwise send: the
    ``reply`` given, or the default behaviour's answer when ``reply`` is ``None``.
    Chunks are counted from the first ``data:`` event (the role chunk is chunk 1).
    """

    __slots__ = (
        "after_chunks",
        "body",
        "data",
        "error",
        "event",
        "headers",
        "kind",
        "reply",
        "retry_after",
        "seconds",
        "status_code",
    )

    kind: FaultKind
    status_code: int
    retry_after: float | str | None
    body: bytes | None
    headers: dict[str, str]
    after_chunks: int
    seconds: float
    data: bytes
    error: dict[str, Any]
    event: str | None
    reply: Reply | None

    def __init__(
        self,
        kind: FaultKind,
        *,
        status_code: int = 200,
        retry_after: float | str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        after_chunks: int = 0,
        seconds: float = 0.0,
        data: bytes = b"",
        error: Mapping[str, Any] | None = None,
        event: str | None = None,
        reply: Reply | None = None,
    ) -> None:
        if after_chunks < 0:
            raise ValueError(f"a chunk count must not be negative, not {after_chunks}")
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, not {seconds}")
        self.kind = kind
        self.status_code = status_code
        self.retry_after = retry_after
        self.body = body
        self.headers = dict(headers or {})
        self.after_chunks = after_chunks
        self.seconds = seconds
        self.data = data
        self.error = dict(error or {})
        self.event = event
        self.reply = reply

    def __repr__(self) -> str:
        return f"Fault({self.kind}, status={self.status_code}, after_chunks={self.after_chunks})"

    @classmethod
    def status(
        cls,
        status: int,
        *,
        retry_after: float | str | None = None,
        body: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with an HTTP error status and an OpenAI-style error body.

        Args:
            status: The status code (429, 500, 503, ...).
            retry_after: Sent as the ``Retry-After`` header (seconds, or an HTTP date
                string), for testing that the client honours it.
            body: The body: a mapping is JSON-encoded, a string or bytes is sent
                verbatim; by default ``{"error": {...}}`` as the real API words it for
                that status.
            headers: Extra response headers (e.g. ``{"x-should-retry": "false"}``).
        """
        return cls(
            "status",
            status_code=status,
            retry_after=retry_after,
            body=None if body is None else _as_bytes(body),
            headers=headers,
        )

    @classmethod
    def html(cls, status: int = 502, *, body: str | None = None) -> Fault:
        """Answer as a proxy in front of the API would: an HTML error page.

        Args:
            status: The status code.
            body: The page; an nginx-style page for ``status`` by default.
        """
        return cls("html", status_code=status, body=None if body is None else body.encode())

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection before sending anything (the client sees a disconnect)."""
        return cls("reset")

    @classmethod
    def drop_after(cls, chunks: int = 1, *, reply: Reply | None = None) -> Fault:
        """Cut the TCP connection abruptly after ``chunks`` chunks.

        The terminating zero-length HTTP chunk is never sent, so a client sees an
        incomplete body (aiohttp raises ``ClientPayloadError``). A non-streamed
        request gets its headers and half of its body, then the cut.
        """
        return cls("drop_after", after_chunks=chunks, reply=reply)

    @classmethod
    def stall(
        cls, after_chunks: int = 0, seconds: float = 3600.0, *, reply: Reply | None = None
    ) -> Fault:
        """Send ``after_chunks`` chunks, then nothing for ``seconds``, then the rest.

        For read timeouts: the connection stays open and silent. A non-streamed
        request waits ``seconds`` before its response is sent.
        """
        return cls("stall", after_chunks=after_chunks, seconds=seconds, reply=reply)

    @classmethod
    def garbage(
        cls,
        after_chunks: int = 0,
        *,
        data: str | bytes = '{"id":"chatcmpl-garbage","object":"chat.completion.chunk","choi',
        reply: Reply | None = None,
    ) -> Fault:
        """Insert a ``data:`` line that is not valid JSON after ``after_chunks`` chunks.

        The stream then continues normally, as a relay that corrupted one event
        would. A non-streamed request gets ``data`` as its whole 200 body.
        """
        return cls(
            "garbage",
            after_chunks=after_chunks,
            data=data.encode() if isinstance(data, str) else data,
            reply=reply,
        )

    @classmethod
    def error_event(
        cls,
        after_chunks: int = 0,
        *,
        message: str = "The server had an error while processing your request. Sorry about that!",
        type: str = "server_error",
        code: str | None = None,
        param: str | None = None,
        event: str | None = None,
        reply: Reply | None = None,
    ) -> Fault:
        """Send ``data: {"error": {...}}`` after ``after_chunks`` chunks and end the stream.

        That is how OpenAI-compatible servers report a failure once a 200 has gone out;
        no ``[DONE]`` follows. ``event`` adds an ``event:`` line (some relays send
        ``event: error``). A non-streamed request gets the error object as a 200 body.
        """
        return cls(
            "error_event",
            after_chunks=after_chunks,
            error={"message": message, "type": type, "param": param, "code": code},
            event=event,
            reply=reply,
        )


ScriptItem = Reply | Fault
"""What :meth:`FakeServer.queue` takes."""
