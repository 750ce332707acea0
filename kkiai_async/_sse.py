"""Incremental server-sent-events decoder: bytes in, events out, no I/O.

Every streamed chat completion arrives as a ``text/event-stream``. The transport hands
us bytes in whatever sizes the socket delivers them; this module turns them into
:class:`ServerSentEvent` objects following the WHATWG HTML "event stream interpretation"
rules (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
exactly for any split of the byte stream -- inside a multi-byte UTF-8 character, inside a
leading BOM, or between the ``\\r`` and ``\\n`` of a CRLF.

It is the hot path of every stream, so the work is done with ``bytes`` methods on whole
chunks (``replace``, ``split``, ``join``) and only the values that are needed are decoded.
The spec's per-line steps are the general path. Chat streams are runs of one-line
``data:`` events, and a read holds one or many of them: such a run is taken apart by one
split, with no per-line work, and anything else in the read goes through the per-line
steps. :meth:`SSEDecoder.feed_payloads` hands plain ``message`` events over as their data
bytes, without building event objects, and recognises a read of exactly one such event
(a token stream as it arrives) with a few tests before anything else: a third of the
general path's cost there. The tests hold each shortcut equal to the general path and to
a plain reference of the spec. The decoder knows nothing about HTTP or chat; the async
layer feeds it bytes.
"""

from __future__ import annotations

from contextlib import suppress
from typing import NoReturn

from ._exceptions import SSEProtocolError

__all__ = ["SSEDecoder", "SSEProtocolError", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"
# Single bytes are searched for as integers: CPython (3.11 at least) first tries to read a
# ``bytes`` argument of ``in`` and ``find`` as an integer, and raises and clears a
# TypeError (with its message formatted) before searching: a cost per call that the
# one-event reads of a token stream pay on every event.
_LF = 10
_CR = 13

# The async layer must never buffer a hostile or broken stream without bound. A chat
# chunk is a few hundred bytes; 8 MiB leaves room for any single tool-call payload.
_DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024


class ServerSentEvent:
    """One dispatched event of an event stream.

    ``data`` is decoded from UTF-8 lazily, on first access: the chat hot path hands
    :attr:`data_bytes` straight to ``msgspec``, which decodes JSON from bytes, so the
    decode-then-encode round trip is never paid there.

    Attributes:
        event: The event type; ``"message"`` when the stream gave none or an empty one.
        id: The last event ID at dispatch time. Per the spec it persists across events
            until an ``id`` field changes it, so reconnection can send ``Last-Event-ID``.
        retry: The reconnection time in milliseconds from a valid ``retry`` field in this
            event's block, or ``None``.
    """

    __slots__ = ("_data", "_data_bytes", "event", "id", "retry")

    event: str
    id: str
    retry: int | None
    _data: str | None
    _data_bytes: bytes | None

    def __init__(
        self,
        event: str = "message",
        data: str = "",
        id: str = "",
        retry: int | None = None,
    ) -> None:
        """Build an event, for tests and for callers that synthesise events.

        Args:
            event: The event type.
            data: The event data (multi-line data joined with ``\\n``).
            id: The last event ID.
            retry: The reconnection time in milliseconds, or ``None``.
        """
        self.event = event
        self._data = data
        self._data_bytes = None
        self.id = id
        self.retry = retry

    @property
    def data(self) -> str:
        """The event data as text; invalid UTF-8 becomes U+FFFD, as the spec's decoder does."""
        data = self._data
        if data is None:
            # _data and _data_bytes are never both None: the decoder sets the bytes.
            data = self._data = self._data_bytes.decode("utf-8", "replace")  # type: ignore[union-attr]
        return data

    @property
    def data_bytes(self) -> bytes:
        """The event data as the raw UTF-8 bytes received (lines joined with ``b"\\n"``)."""
        raw = self._data_bytes
        if raw is None:
            raw = self._data_bytes = self._data.encode()  # type: ignore[union-attr]
        return raw

    def __repr__(self) -> str:
        return (
            f"ServerSentEvent(event={self.event!r}, data={self.data!r}, "
            f"id={self.id!r}, retry={self.retry!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (
            self.event == other.event
            and self.data == other.data
            and self.id == other.id
            and self.retry == other.retry
        )

    # Mutable and compared by value, so not hashable.
    __hash__ = None  # type: ignore[assignment]


_new_event = object.__new__


class SSEDecoder:
    """Incremental WHATWG event-stream decoder: :meth:`feed` bytes, get events.

    Two choices about what relays really send:

    * A block with no ``data`` field (``event: ping`` then a blank line) dispatches
      nothing, exactly as the spec says; relays that send such blocks as keep-alives are
      tolerated silently (only their ``id`` and ``retry`` fields take effect).
    * At end of stream the spec discards an event that lacks its terminating blank line.
      Real relays end the last ``data: [DONE]`` without the blank line, sometimes without
      even a newline, so :meth:`flush` -- a deliberate deviation -- interprets the
      unterminated last line and dispatches a pending event that has data. The caller
      decides what to trust.

    Attributes:
        last_event_id: The last event ID, committed (per spec) by the blank line that
            ends a block; persists across events and across :meth:`flush`, as the spec's
            ``EventSource`` keeps it for a reconnection's ``Last-Event-ID`` header.
        retry: The last valid reconnection time (ms) received, or ``None``; persists.
        comments: How many ``:`` comment lines were seen (keep-alives, mostly).
    """

    __slots__ = (
        "_clean",
        "_data",
        "_data_size",
        "_error",
        "_event_retry",
        "_event_type",
        "_fast_limit",
        "_id_buffer",
        "_max_event_bytes",
        "_max_line_bytes",
        "_pending",
        "_pending_size",
        "_skip_lf",
        "_start",
        "comments",
        "last_event_id",
        "retry",
    )

    last_event_id: str
    retry: int | None
    comments: int
    _max_line_bytes: int
    _max_event_bytes: int
    _error: SSEProtocolError | None
    _start: bytes | None  # bytes held while deciding whether a BOM starts the stream
    _skip_lf: bool  # the previous chunk ended in "\r": a leading "\n" is its pair
    _pending: list[bytes]  # pieces of the incomplete last line
    _pending_size: int
    _data: list[bytes]  # the spec's data buffer, one item per data line
    _data_size: int  # len(b"\n".join(_data)) + 1, kept without joining
    _event_type: str  # the spec's event type buffer, "message" when empty
    _event_retry: int | None  # a valid retry field of the current block
    _id_buffer: str  # the spec's last event ID buffer
    _clean: bool  # between blocks, nothing pending, no BOM or CRLF half to look for
    _fast_limit: int  # chunks up to this size (with any pending line) break no limit

    def __init__(
        self,
        *,
        max_line_bytes: int = _DEFAULT_MAX_LINE_BYTES,
        max_event_bytes: int = _DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        """Create a decoder for one stream (and its reconnections).

        Args:
            max_line_bytes: The longest line accepted, in bytes, without its line end.
                Checked while the line is still arriving, so a stream that never sends a
                newline cannot make the decoder buffer without bound.
            max_event_bytes: The largest data an event may accumulate, in bytes, counted
                as ``len(event.data_bytes)`` (data lines plus the ``\\n`` joining them).

        Raises:
            ValueError: If a limit is not a positive integer.
        """
        if max_line_bytes < 1 or max_event_bytes < 1:
            raise ValueError("max_line_bytes and max_event_bytes must be positive")
        self._max_line_bytes = max_line_bytes
        self._max_event_bytes = max_event_bytes
        self._fast_limit = min(max_line_bytes, max_event_bytes)
        self.last_event_id = ""
        self.retry = None
        self.comments = 0
        self._error = None
        self._reset_stream()

    def _reset_stream(self) -> None:
        # The start of a stream: a BOM may come, nothing is pending. The ID buffer starts
        # from the persisted last event ID, as browsers do on reconnection.
        self._start = b""
        self._skip_lf = False
        self._pending = []
        self._pending_size = 0
        self._data = []
        self._data_size = 0
        self._event_type = "message"
        self._event_retry = None
        self._id_buffer = self.last_event_id
        self._clean = False  # a BOM may come first

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next piece of the stream.

        Args:
            chunk: The bytes as the transport delivered them; any size, any split. Must
                be ``bytes`` (events keep slices of it as ``data_bytes``).

        Returns:
            The events completed by this chunk, in stream order (often none).

        Raises:
            SSEProtocolError: If a line or an event exceeds its limit, or a previous call
                already failed.
        """
        return self._feed(chunk, False)  # type: ignore[return-value]

    def feed_payloads(self, chunk: bytes) -> list[bytes | ServerSentEvent]:
        """Decode the next piece of the stream, giving plain messages as their data bytes.

        The same events as :meth:`feed`, in the same order, except that an event of the
        default type ``"message"`` is given as its ``data_bytes`` alone: a consumer that
        only needs the data (the chat stream hands it to ``msgspec``) then pays for no
        event object. Other events (``event: error`` ...) are :class:`ServerSentEvent`\\s.
        The ``id`` of a message given as bytes is still tracked in :attr:`last_event_id`.

        Args:
            chunk: As for :meth:`feed`.

        Returns:
            The data of each completed message event, and the other completed events.

        Raises:
            SSEProtocolError: As for :meth:`feed`.
        """
        if (
            self._clean
            and chunk.find(_LF) == len(chunk) - 2
            and chunk[-1] == _LF
            and _CR not in chunk
            and chunk.startswith(b"data:")
            and len(chunk) <= self._fast_limit
        ):
            # The one fast path: a read that holds one whole one-line event, as a token
            # stream arrives. The general path (_events) gives the same, for about three
            # times the cost of these tests (benchmarks.micro, "one event per read"); a
            # test holds the two equal on the same reads.
            self.last_event_id = self._id_buffer
            return [chunk[6:-2] if chunk[5] == 32 else chunk[5:-2]]
        return self._feed(chunk, True)

    def _feed(self, chunk: bytes, raw: bool) -> list[bytes | ServerSentEvent]:
        events = self._decode(chunk, raw)
        # Between two blocks, with no BOM or CRLF half to look for, the next chunk may
        # begin with a run of events (see _events). (A failed decoder raised above.)
        self._clean = (
            self._start is None
            and not self._skip_lf
            and not self._pending
            and not self._data
            and self._event_type == "message"
            and self._event_retry is None
        )
        return events

    def _decode(self, chunk: bytes, raw: bool) -> list[bytes | ServerSentEvent]:
        if self._error is not None:
            raise self._error
        if not chunk:
            return []
        if self._skip_lf:
            # CRLF split across chunks: the "\r" already ended the line (spec: CRLF is one
            # line end), so this "\n" ends nothing.
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if self._start is not None:
            # Spec: one leading U+FEFF is dropped, only at the very start of the stream;
            # its three bytes may arrive in separate chunks.
            chunk = self._start + chunk
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._start = chunk
                return []
            self._start = None
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
                if not chunk:
                    return []
        if _CR in chunk:
            # CR and CRLF become LF; UTF-8 never uses 0x0D inside a character, so this is
            # safe on raw bytes. A trailing "\r" ends its line now; remember to swallow
            # a "\n" that may start the next chunk.
            if chunk[-1] == _CR:
                self._skip_lf = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[bytes | ServerSentEvent] = []
        if self._pending_size + len(chunk) > self._fast_limit:
            # Only a chunk this large can break a limit: the per-line steps check them.
            self._lines(chunk, events, raw)
        else:
            self._events(chunk, events, raw)
        return events

    def _events(self, chunk: bytes, events: list[bytes | ServerSentEvent], raw: bool) -> None:
        # A chunk whose line ends are all "\n". Chat streams are runs of one-line "data:"
        # events, each followed by a blank line, and a read holds one or more of them
        # (one, as a token stream arrives; a thousand, when the server is ahead). Such a
        # run is taken apart by one split on the blank line plus the next event's field
        # name and needs no per-line parsing; whatever else the chunk holds goes through
        # the spec's per-line steps (_lines), which the tests hold this path equal to.
        prefix = b"data: "
        parts = chunk.split(b"\n\ndata: ")
        if len(parts) == 1:
            # Relays that write "data:" without the optional space (and, since no "data: "
            # follows a blank line in this chunk, none of these payloads loses a space).
            prefix = b"data:"
            parts = chunk.split(b"\n\ndata:")
        first = parts[0]
        # A chunk that starts between two blocks with a "data:" line starts the run:
        # its first part is a payload like the others, once its field name is cut.
        head = b""
        if self._clean and first.startswith(b"data:"):
            head = b"data: " if first[5:6] == b" " else b"data:"
            parts[0] = first[len(head) :]
        elif len(parts) == 1:
            self._lines(chunk, events, raw)
            return
        else:
            del parts[0]
        last = parts.pop()
        # The parts before the last are payloads if they hold no line end (else their
        # events have more lines: an "id:", more data...). A search of them joined is a
        # memory copy and a memchr; counting line ends would cost more.
        if parts and _LF in (parts[0] if len(parts) == 1 else b"".join(parts)):
            self._lines(chunk, events, raw)
            return
        if not head:
            # The end of an event begun in an earlier chunk, or other lines: the spec's
            # steps, then the blank line the split consumed (which leaves no state).
            self._lines(first + b"\n\n", events, raw)
        if not parts and head:
            # The last part is the first: its line keeps the field name it came with.
            prefix = head
        end = last.find(_LF)
        if end < 0:
            # The last event's line continues in the next chunk.
            self._pending = [prefix, last]
            self._pending_size = len(prefix) + len(last)
            rest = b""
        elif last[end + 1 : end + 2] == b"\n":
            parts.append(last[:end])
            rest = last[end + 2 :]
        else:
            # A second line in the last event (an "id:", more data...): per line.
            self._pending = [prefix]
            self._pending_size = len(prefix)
            rest = last
        if parts:
            self.last_event_id = self._id_buffer
            if raw:
                events += parts
            else:
                events += self._messages(parts)
        if rest:
            self._lines(rest, events, raw)

    def _messages(self, payloads: list[bytes]) -> list[ServerSentEvent]:
        # The events of one-line "data:" blocks: type "message", no retry, the ID buffer.
        id_buffer = self._id_buffer
        new = _new_event
        cls = ServerSentEvent
        events: list[ServerSentEvent] = []
        append = events.append
        for payload in payloads:
            event = new(cls)
            event._data_bytes = payload
            event._data = None
            event.event = "message"
            event.id = id_buffer
            event.retry = None
            append(event)
        return events

    def _lines(self, chunk: bytes, events: list[bytes | ServerSentEvent], raw: bool) -> None:
        # The spec's per-line steps for a chunk whose line ends are all "\n".
        pending = self._pending
        if _LF not in chunk:
            # No line end: the current line continues. Bounded now, not when (if ever) its
            # newline arrives.
            pending.append(chunk)
            self._pending_size += len(chunk)
            if self._pending_size > self._max_line_bytes:
                self._fail_line(self._pending_size)
            return
        size = self._pending_size + len(chunk)
        lines = chunk.split(b"\n")
        if pending:
            pending.append(lines[0])
            lines[0] = b"".join(pending)
            pending.clear()
        tail = lines.pop()
        if tail:
            pending.append(tail)
        self._pending_size = len(tail)
        if size > self._max_line_bytes:
            # Only a chunk larger than the limit can hold an oversized line; checking
            # here keeps the loop of _process free of length checks.
            longest = max(len(tail), max(map(len, lines)))
            if longest > self._max_line_bytes:
                self._fail_line(longest)
        self._process(lines, events, raw)

    def flush(self) -> list[ServerSentEvent]:
        """End the stream, returning the last event if a relay left it unterminated.

        The spec discards an event without its final blank line; relays routinely end the
        stream on ``data: [DONE]`` without it (or without a newline), so the unterminated
        last line is interpreted and a pending event with data is dispatched here. The
        decoder is then ready for a new stream (a reconnection); ``last_event_id`` and
        ``retry`` persist, as they do for the spec's ``EventSource``.

        Returns:
            The pending event, if any, as a list (empty or one item).

        Raises:
            SSEProtocolError: If a previous call already failed, or the last event is
                larger than the limit.
        """
        if self._error is not None:
            raise self._error
        last = b"".join(self._pending) if self._start is None else self._start
        # A blank line after the unterminated line dispatches exactly what the spec
        # would have dispatched had the relay sent it.
        events: list[bytes | ServerSentEvent] = []
        self._process([last, b""] if last else [b""], events, False)
        self._reset_stream()
        return events  # type: ignore[return-value]

    def _fail_line(self, size: int) -> NoReturn:
        self._fail(
            f"server-sent event line of {size} bytes or more exceeds "
            f"max_line_bytes={self._max_line_bytes}"
        )

    def _fail(self, message: str) -> NoReturn:
        self._error = SSEProtocolError(message)
        self._reset_stream()  # release the buffered bytes; the decoder stays failed
        raise self._error

    def _fail_event(self, size: int) -> NoReturn:
        self._fail(
            f"server-sent event data of {size} bytes or more exceeds "
            f"max_event_bytes={self._max_event_bytes}"
        )

    def _process(
        self, lines: list[bytes], events: list[bytes | ServerSentEvent], raw: bool
    ) -> None:
        # The spec's per-line steps, appending dispatched events to ``events``. The state
        # is held in locals for speed and written back at the end.
        data = self._data
        data_size = self._data_size
        # data_size counts one "\n" per line, one more than the joined data holds.
        limit = self._max_event_bytes + 1
        event_type = self._event_type
        event_retry = self._event_retry
        id_buffer = self._id_buffer
        last_id = self.last_event_id
        new = _new_event
        cls = ServerSentEvent
        for line in lines:
            if line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                data.append(value)
                data_size += len(value) + 1
                if data_size > limit:
                    self._fail_event(data_size - 1)
            elif not line:
                # Spec: a blank line sets the last event ID from its buffer, then
                # dispatches only if the data buffer is non-empty (so "event: ping" alone
                # is no event); either way the event type buffer is reset.
                last_id = id_buffer
                if data:
                    if raw and event_type == "message":
                        events.append(b"\n".join(data))
                    else:
                        event = new(cls)
                        event._data_bytes = b"\n".join(data)
                        event._data = None
                        event.event = event_type
                        event.id = id_buffer
                        event.retry = event_retry
                        events.append(event)
                    data = []
                    data_size = 0
                event_type = "message"
                event_retry = None
            elif line[0] == 58:  # b":" starts a comment
                self.comments += 1
            else:
                # Spec: field name up to the first ":", value after it minus one leading
                # space; a line without ":" is a field name with an empty value.
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"event":
                    event_type = value.decode("utf-8", "replace") or "message"
                elif name == b"data":  # "data" without a colon: an empty data line
                    data.append(value)
                    data_size += len(value) + 1
                    if data_size > limit:
                        self._fail_event(data_size - 1)
                elif name == b"id":
                    # Spec: an id containing NUL is ignored (it could not be sent back in
                    # a Last-Event-ID header).
                    if 0 not in value:
                        id_buffer = value.decode("utf-8", "replace")
                elif name == b"retry" and value.isdigit():
                    # Spec: ASCII digits only (bytes.isdigit is ASCII-only), else ignored.
                    # int() refuses digit strings past sys.int_max_str_digits: ignored too.
                    with suppress(ValueError):
                        event_retry = self.retry = int(value)
                # Spec: any other field name is ignored.
        self._data = data
        self._data_size = data_size
        self._event_type = event_type
        self._event_retry = event_retry
        self._id_buffer = id_buffer
        self.last_event_id = last_id
