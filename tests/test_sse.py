"""Tests for kkiai_async._sse: the WHATWG event-stream decoder, exact for any split."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkiai_async._sse import ServerSentEvent, SSEDecoder, SSEProtocolError

E = ServerSentEvent
BOM = b"\xef\xbb\xbf"


def decode(stream: bytes, cuts: Iterable[int] = ()) -> tuple[list[E], list[E]]:
    """Feed ``stream`` cut at ``cuts``; return (events from feed, events from flush)."""
    decoder = SSEDecoder()
    events: list[E] = []
    previous = 0
    for cut in sorted(cuts):
        events += decoder.feed(stream[previous:cut])
        previous = cut
    events += decoder.feed(stream[previous:])
    return events, decoder.flush()


def decode_bytewise(stream: bytes) -> tuple[list[E], list[E]]:
    """Feed ``stream`` one byte at a time."""
    return decode(stream, range(1, len(stream)))


# --- A plain reference of the spec, on the whole decoded text --------------------------

_LINE_END = re.compile("\r\n|\r|\n")
_DIGITS = re.compile("[0-9]+")


def reference(stream: bytes) -> tuple[list[E], list[E]]:
    """The spec's algorithm written plainly: decode everything, split lines, interpret.

    Returns what the spec dispatches, then what ``flush`` adds (the unterminated last
    line interpreted, then a blank line).
    """
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    *lines, last = _LINE_END.split(text)
    events: list[E] = []
    data: list[str] = []
    state: dict[str, str] = {"event": "", "id": ""}
    retry: list[int | None] = [None]

    def interpret(line: str) -> None:
        if not line:
            if data:
                events.append(
                    E(
                        event=state["event"] or "message",
                        data="\n".join(data),
                        id=state["id"],
                        retry=retry[0],
                    )
                )
                data.clear()
            state["event"] = ""
            retry[0] = None
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            state["event"] = value
        elif name == "id" and "\0" not in value:
            state["id"] = value
        elif name == "retry" and _DIGITS.fullmatch(value):
            retry[0] = int(value)

    for line in lines:
        interpret(line)
    dispatched = list(events)
    events.clear()
    if last:
        interpret(last)
    interpret("")
    return dispatched, events


# --- The spec's own examples --------------------------------------------------------

SPEC_EXAMPLES = [
    pytest.param(
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [E(data="YHOO\n+2\n10")],
        [],
        id="stock-ticker",
    ),
    pytest.param(
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        [E(data="first event", id="1"), E(data="second event"), E(data=" third event")],
        [],
        id="comment-id-reset-two-spaces",
    ),
    pytest.param(
        b"data\n\ndata\ndata\n\ndata:",
        [E(data=""), E(data="\n")],
        # The spec discards the last block; flush() hands it over (relays omit the
        # final blank line).
        [E(data="")],
        id="empty-data-and-unterminated-block",
    ),
    pytest.param(
        b"data:test\n\ndata: test\n\n",
        [E(data="test"), E(data="test")],
        [],
        id="space-after-colon-optional",
    ),
    pytest.param(
        b"data: This is the first message.\n\n"
        b"data: This is the second message, it\ndata: has two lines.\n\n"
        b"data: This is the third message.\n\n",
        [
            E(data="This is the first message."),
            E(data="This is the second message, it\nhas two lines."),
            E(data="This is the third message."),
        ],
        [],
        id="introduction-messages",
    ),
    pytest.param(
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
        [
            E(event="add", data="73857293"),
            E(event="remove", data="2153"),
            E(event="add", data="113411"),
        ],
        [],
        id="event-types",
    ),
]


@pytest.mark.parametrize(("stream", "dispatched", "flushed"), SPEC_EXAMPLES)
def test_spec_examples(stream: bytes, dispatched: list[E], flushed: list[E]) -> None:
    """The WHATWG spec's example streams give the events the spec describes."""
    assert decode(stream) == (dispatched, flushed)


@pytest.mark.parametrize(("stream", "dispatched", "flushed"), SPEC_EXAMPLES)
def test_spec_examples_bytewise(stream: bytes, dispatched: list[E], flushed: list[E]) -> None:
    """The spec's examples decode the same when fed one byte at a time."""
    assert decode_bytewise(stream) == (dispatched, flushed)


@pytest.mark.parametrize(("stream", "dispatched", "flushed"), SPEC_EXAMPLES)
def test_spec_examples_match_reference(
    stream: bytes, dispatched: list[E], flushed: list[E]
) -> None:
    """The test's plain reference agrees with the spec's examples (it is fit to be an oracle)."""
    assert reference(stream) == (dispatched, flushed)


# --- Line ends ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"event: e\ndata: a\ndata: b\n\n", id="lf"),
        pytest.param(b"event: e\rdata: a\rdata: b\r\r", id="cr"),
        pytest.param(b"event: e\r\ndata: a\r\ndata: b\r\n\r\n", id="crlf"),
        pytest.param(b"event: e\rdata: a\r\ndata: b\n\r\n", id="mixed"),
        pytest.param(b"event: e\r\ndata: a\rdata: b\n\r", id="mixed-cr-last"),
    ],
)
def test_line_end_styles(stream: bytes) -> None:
    """CR, LF and CRLF each end a line, in any mix."""
    assert decode(stream) == ([E(event="e", data="a\nb")], [])
    assert decode_bytewise(stream) == ([E(event="e", data="a\nb")], [])


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    """A chunk ending in CR and the next starting with LF make one line end, not two."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [E(data="a\nb")]
    assert decoder.feed(b"\n") == []
    assert decoder.flush() == []


def test_cr_then_empty_feed_then_lf() -> None:
    """An empty chunk between the CR and the LF of a CRLF changes nothing."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [E(data="a")]


def test_cr_followed_by_cr_lf_is_two_line_ends() -> None:
    """CR then CRLF across a split is two line ends: the second is the blank line."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r\ndata: b\n\n") == [E(data="a"), E(data="b")]


def test_lone_cr_at_chunk_end_ends_the_line_at_once() -> None:
    """A trailing CR ends its line immediately; the event does not wait for the next chunk."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [E(data="a")]
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\r") == [E(data="b")]


# --- BOM ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cuts",
    [
        pytest.param((), id="whole"),
        pytest.param((1,), id="split-1"),
        pytest.param((2,), id="split-2"),
        pytest.param((1, 2), id="split-1-2"),
        pytest.param((3,), id="split-after"),
        pytest.param((1, 2, 3, 4), id="bytewise"),
    ],
)
def test_leading_bom_is_skipped(cuts: tuple[int, ...]) -> None:
    """One UTF-8 BOM at the start of the stream is dropped, however it is split."""
    assert decode(BOM + b"data: x\n\n", cuts) == ([E(data="x")], [])


def test_second_bom_at_start_is_part_of_the_first_line() -> None:
    """Only one BOM is dropped: a second makes the field name unknown, so it is ignored."""
    assert decode(BOM + BOM + b"data: x\n\ndata: y\n\n") == ([E(data="y")], [])


def test_bom_not_at_start_is_kept_as_data() -> None:
    """A BOM inside the stream is ordinary data (U+FEFF)."""
    assert decode(b"data: " + BOM + b"x\n\n") == ([E(data="\ufeffx")], [])


def test_bom_prefix_that_is_not_a_bom_is_kept() -> None:
    """Bytes that begin like a BOM but are not one are not lost."""
    stream = b"\xef\xbbdata: x\n\ndata: y\n\n"
    assert decode(stream, (1,)) == reference(stream)
    assert decode(stream, (1,)) == ([E(data="y")], [])


def test_bom_only_stream_and_truncated_bom() -> None:
    """A stream that is only a BOM, or part of one, yields nothing."""
    assert decode(BOM) == ([], [])
    assert decode(BOM[:2]) == ([], [])


# --- UTF-8 ----------------------------------------------------------------------------

UTF8_STREAM = "event: é\nid: ñ€\ndata: héllo €𝄞 wörld\n\n".encode()


@pytest.mark.parametrize("cut", range(1, len(UTF8_STREAM)))
def test_multibyte_utf8_split_at_every_position(cut: int) -> None:
    """A split anywhere, including inside a multi-byte character, decodes exactly."""
    expected = [E(event="é", data="héllo €𝄞 wörld", id="ñ€")]
    assert decode(UTF8_STREAM, (cut,)) == (expected, [])


def test_invalid_utf8_becomes_replacement_character() -> None:
    """Invalid UTF-8 decodes to U+FFFD in data, event type and id; data_bytes stays raw."""
    (event,), flushed = decode(b"event: a\xffb\nid: \xe2\x82\ndata: x\xc3\n\n")
    assert flushed == []
    assert event == E(event="a\ufffdb", data="x\ufffd", id="\ufffd")
    assert event.data_bytes == b"x\xc3"


# --- Fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        pytest.param(b": comment\ndata: x\n: another\n\n", [E(data="x")], id="comments"),
        pytest.param(b":\n\n", [], id="bare-colon"),
        pytest.param(b"foo: bar\nData: y\ndata: x\ndatax: z\n\n", [E(data="x")], id="unknown"),
        pytest.param(b"data: x\nretry: 3000\n\n", [E(data="x", retry=3000)], id="retry"),
        pytest.param(b"data: x\nretry:0\n\n", [E(data="x", retry=0)], id="retry-0"),
        pytest.param(b"data: x\nretry: 12a\n\n", [E(data="x")], id="retry-letters"),
        pytest.param(b"data: x\nretry: -1\n\n", [E(data="x")], id="retry-negative"),
        pytest.param(b"data: x\nretry:  5\n\n", [E(data="x")], id="retry-two-spaces"),
        pytest.param(b"data: x\nretry:\n\n", [E(data="x")], id="retry-empty"),
        pytest.param(b"data: x\nretry: 1.5\n\n", [E(data="x")], id="retry-float"),
        pytest.param(
            "data: x\nretry: \u0663\n\n".encode(), [E(data="x")], id="retry-non-ascii-digit"
        ),
        pytest.param(
            b"retry: 5\ndata: x\nretry: z\n\n", [E(data="x", retry=5)], id="retry-keeps-valid"
        ),
        pytest.param(b"data: x\nid: a\0b\n\n", [E(data="x")], id="id-with-nul-ignored"),
        pytest.param(b"id: 1\ndata: x\nid: a\0b\n\n", [E(data="x", id="1")], id="id-nul-keeps"),
        pytest.param(b"event: ping\n\n", [], id="event-without-data-not-dispatched"),
        pytest.param(b"event: ping\n\ndata: x\n\n", [E(data="x")], id="event-type-reset"),
        pytest.param(b"event:\ndata: x\n\n", [E(data="x")], id="empty-event-is-message"),
        pytest.param(b"\n\n\ndata: x\n\n\n\n", [E(data="x")], id="extra-blank-lines"),
        pytest.param(b"data: a\ndata:\ndata: c\n\n", [E(data="a\n\nc")], id="multi-line"),
        pytest.param(b"data:x\n\n", [E(data="x")], id="no-space"),
        pytest.param(b"data:  x\n\n", [E(data=" x")], id="two-spaces-one-kept"),
        pytest.param(b"data: x \n\n", [E(data="x ")], id="trailing-space-kept"),
        pytest.param(b"data:\tx\n\n", [E(data="\tx")], id="tab-kept"),
        pytest.param(b"data: a:b: c\n\n", [E(data="a:b: c")], id="colons-in-value"),
        pytest.param(b"data\n\n", [E(data="")], id="name-without-colon"),
        pytest.param(b" data: x\n\n", [], id="leading-space-in-name"),
    ],
)
def test_fields(stream: bytes, expected: list[E]) -> None:
    """Each field follows the spec's interpretation rules."""
    assert decode(stream) == (expected, [])
    assert decode_bytewise(stream) == (expected, [])
    assert reference(stream) == (expected, [])


def test_last_event_id_persists_across_events() -> None:
    """An event without an id field carries the last id seen; an empty id clears it."""
    stream = b"id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\nid:\ndata: d\n\n"
    events, _ = decode(stream)
    assert [(e.data, e.id) for e in events] == [("a", "7"), ("b", "7"), ("c", "8"), ("d", "")]


def test_decoder_state_attributes() -> None:
    """The decoder exposes the last event id, the reconnection time and a comment count."""
    decoder = SSEDecoder()
    decoder.feed(b": keep-alive\n: keep-alive\nid: 3\nretry: 250\n\nretry: x\n\n")
    assert (decoder.last_event_id, decoder.retry, decoder.comments) == ("3", 250, 2)


def test_last_event_id_is_set_only_by_a_blank_line() -> None:
    """Per spec the last event ID is committed when the block ends, not mid-block."""
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\n\nid: 2\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"\n")
    assert decoder.last_event_id == "2"


def test_huge_retry_is_ignored() -> None:
    """A retry too long for int() (sys.int_max_str_digits) is ignored, not an error."""
    if not hasattr(sys, "set_int_max_str_digits"):
        pytest.skip("no int digit limit on this Python")
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(4300)
    try:
        assert decode(b"data: x\nretry: " + b"9" * 5000 + b"\n\n") == ([E(data="x")], [])
    finally:
        sys.set_int_max_str_digits(old)


# --- The fast path for runs of single-line data events ---------------------------------


def test_run_of_data_events_continues_a_pending_event() -> None:
    """An event begun in one chunk completes before a run of events in the next."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 9\nevent: x\ndata: a\n") == []
    assert decoder.feed(b"data: b\n\ndata: c\n\ndata: d\n\ndata: e\n\ndata: f") == [
        E(event="x", data="a\nb", id="9"),
        E(data="c", id="9"),
        E(data="d", id="9"),
        E(data="e", id="9"),
    ]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [E(data="f", id="9")]


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"data: a\n\ndata: b\n\n: ping\n\ndata: c\n\ndata: d\n\n", id="comment"),
        pytest.param(b"data: a\n\ndata: b\n\ndata:c\n\ndata: d\n\n", id="no-space"),
        pytest.param(b"data: a\n\ndata: b\ndata: c\n\ndata: d\n\n", id="multi-line"),
        pytest.param(b"data: a\n\ndata: b\n\nevent: e\n\ndata: d\n\n", id="event-only-block"),
        pytest.param(b"data: a\n\nid: 1\n\ndata: b\n\nretry: 5\ndata: d\n\n", id="id-retry"),
        pytest.param(b"data: a\n\ndata: b\n\ndata: c\n\ndata: d\n", id="unterminated"),
        pytest.param(b"data: a\n\n\ndata: b\n\ndata: c\n\n\ndata: d\n\n", id="odd-blanks"),
        pytest.param(b"data: a\r\n\r\ndata: b\r\n\r\ndata: c\r\n\r\ndata: d", id="crlf"),
        pytest.param(b"data: a\ndata: b\ndata: c\ndata: d\n", id="no-blank-line"),
    ],
)
def test_runs_broken_by_other_lines_match_the_reference(stream: bytes) -> None:
    """Chunks that mix single-line data events with anything else decode per spec."""
    assert decode(stream) == reference(stream)
    assert decode(stream + stream) == reference(stream + stream)
    assert decode_bytewise(stream) == reference(stream)


@pytest.mark.parametrize(
    ("read", "events"),
    [
        pytest.param(b"data: {}\n\n", [E(data="{}")], id="one-event"),
        pytest.param(b"data:{}\n\n", [E(data="{}")], id="no-space"),
        pytest.param(b"data:  {}\n\n", [E(data=" {}")], id="two-spaces"),
        pytest.param(b"data: \n\n", [E(data="")], id="empty-data"),
        pytest.param(b"data:\n\n", [E(data="")], id="empty-data-no-space"),
        pytest.param(b"data: a\r\n\r\n", [E(data="a")], id="crlf"),
        pytest.param(b"datum: a\n\n", [], id="other-field"),
        pytest.param(b": ping\n\n", [], id="comment"),
        pytest.param(b"data: a\nb\n", [], id="two-lines"),
    ],
)
def test_reads_of_one_event(read: bytes, events: list[E]) -> None:
    """Reads that each hold one whole event (token streams) decode as the spec says."""
    decoder = SSEDecoder()
    assert decoder.feed(b": open\n\n") == []
    for _ in range(3):
        assert decoder.feed(read) == events
    assert decoder.flush() == reference(b": open\n\n" + read * 3)[1]


def test_reads_of_one_event_keep_the_last_event_id() -> None:
    """An id set before a run of one-event reads is their id and the last event ID."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 7\ndata: a\n\n") == [E(data="a", id="7")]
    assert decoder.feed_payloads(b"data: b\n\n") == [b"b"]
    assert decoder.feed(b"data: c\n\n") == [E(data="c", id="7")]
    assert decoder.feed(b"data: d\n\ndata: e\n\n") == [E(data="d", id="7"), E(data="e", id="7")]
    assert decoder.last_event_id == "7"


def test_one_event_read_over_the_line_bound_raises() -> None:
    """A whole one-line event longer than max_line_bytes raises, even alone in its read."""
    decoder = SSEDecoder(max_line_bytes=10)
    assert decoder.feed(b"data: 1234\n\n") == [E(data="1234")]
    with pytest.raises(SSEProtocolError, match=r"max_line_bytes=10"):
        decoder.feed_payloads(b"data: 12345\n\n")


_ONE_EVENT_READS = st.sampled_from(
    [
        b"data: {}\n\n",
        b"data:{}\n\n",
        b"data:  {}\n\n",
        b"data: \n\n",
        b"data:\n\n",
        b"data: a\r\n\r\n",
        b"data: a\n\n\n",
        b"data: a\nb\n",
        b"data: a\n",
        b"data: a",
        b"\n\n",
        b"\n",
        b"\r",
        b": ping\n\n",
        b"id: 3\n",
        b"id: 4\n\n",
        b"event: error\n",
        b"retry: 5\n",
        b"datum: a\n\n",
        b"data: 0123456789\n\n",
        b"data: 01234567890\n\n",
        BOM + b"data: x\n\n",
        b"data: \xe2\x82\n\n",
    ]
)


def _outcome(feed: Callable[[bytes], list[Any]], read: bytes) -> list[Any] | str:
    try:
        events = feed(read)
    except SSEProtocolError as exc:
        return str(exc)
    return [e.data_bytes if isinstance(e, E) and e.event == "message" else e for e in events]


@given(st.lists(_ONE_EVENT_READS, max_size=30))
def test_one_event_fast_path_matches_the_general_path(reads: list[bytes]) -> None:
    """feed_payloads' fast path for a read of one event gives what the general path gives."""
    fast = SSEDecoder(max_line_bytes=16)
    general = SSEDecoder(max_line_bytes=16)
    for read in reads:
        got = _outcome(fast.feed_payloads, read)
        assert got == _outcome(general.feed, read)
        assert (fast.last_event_id, fast.retry) == (general.last_event_id, general.retry)
        if isinstance(got, str):
            return
    assert fast.flush() == general.flush()


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"data: a\n\nevent: error\ndata: b\n\ndata: c\n\n", id="error-event"),
        pytest.param(b"data: a\n\nid: 3\ndata: b\n\ndata: c\n\n", id="id"),
        pytest.param(b"data: a\ndata: b\n\ndata: c\n\n", id="multi-line"),
        pytest.param(b"data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\n", id="crlf"),
        pytest.param(b"event: x\ndata: b\n\n", id="typed-only"),
    ],
)
def test_feed_payloads_gives_messages_as_bytes(stream: bytes) -> None:
    """feed_payloads: the events of feed, with each "message" event as its data bytes."""
    events, flushed = decode(stream)
    expected = [e.data_bytes if e.event == "message" else e for e in events]
    decoder = SSEDecoder()
    assert decoder.feed_payloads(stream) == expected
    assert decoder.flush() == flushed


_CHAT_EVENT = st.one_of(
    st.sampled_from(['{"a": 1}', "[DONE]", "", " x", "é😀"]).map(lambda d: f"data: {d}\n\n"),
    st.sampled_from(["{}", ""]).map(lambda d: f"data:{d}\n\n"),
    st.sampled_from([": keep-alive\n\n", "id: 5\n", "event: error\n", "data: a\ndata: b\n\n"]),
    st.sampled_from(["\n", "retry: 10\n", "data: x\r\n\r\n"]),
)


@given(st.data(), st.lists(_CHAT_EVENT, max_size=40))
def test_chat_shaped_streams_any_split_match_reference(
    data: st.DataObject, events: list[str]
) -> None:
    """Runs of one-line data events mixed with other lines decode per spec, split anywhere."""
    stream = "".join(events).encode()
    cuts = data.draw(_cuts(stream))
    assert decode(stream, cuts) == reference(stream)
    dispatched, flushed = reference(stream)
    decoder = SSEDecoder()
    got: list[bytes | E] = []
    for start, stop in pairwise([0, *sorted(cuts), len(stream)]):
        got += decoder.feed_payloads(stream[start:stop])
    assert got == [e.data_bytes if e.event == "message" else e for e in dispatched]
    assert decoder.flush() == flushed


# --- End of stream --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "flushed"),
    [
        pytest.param(b"data: [DONE]", [E(data="[DONE]")], id="no-newline"),
        pytest.param(b"data: [DONE]\n", [E(data="[DONE]")], id="no-blank-line"),
        pytest.param(b"data: [DONE]\r", [E(data="[DONE]")], id="no-blank-line-cr"),
        pytest.param(b"data: [DONE]\n\n", [], id="terminated"),
        pytest.param(b"event: ping\n", [], id="no-data"),
        pytest.param(b"event: end\ndata: x", [E(event="end", data="x")], id="with-type"),
        pytest.param(b"", [], id="empty"),
    ],
)
def test_flush_returns_unterminated_last_event(stream: bytes, flushed: list[E]) -> None:
    """flush() dispatches a pending event with data that lacks its final blank line."""
    events, got = decode(stream)
    assert got == flushed
    assert events == ([E(data="[DONE]")] if stream == b"data: [DONE]\n\n" else [])


def test_flush_readies_decoder_for_a_new_stream() -> None:
    """After flush a new stream starts clean (a BOM is skipped again); the id persists."""
    decoder = SSEDecoder()
    decoder.feed(b"id: 5\nretry: 10\ndata: a\n\ndata: partial")
    assert decoder.flush() == [E(data="partial", id="5")]
    assert decoder.feed(BOM + b"data: b\n\n") == [E(data="b", id="5")]
    assert (decoder.last_event_id, decoder.retry) == ("5", 10)
    assert decoder.flush() == []


def test_flush_after_trailing_cr_does_not_swallow_next_stream_lf() -> None:
    """A CR that ended one stream does not pair with an LF that starts the next."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.flush() == [E(data="a")]
    assert decoder.feed(b"\ndata: b\n\n") == [E(data="b")]


# --- Size bounds ----------------------------------------------------------------------


def test_incomplete_line_over_bound_raises_before_newline() -> None:
    """A line still waiting for its newline raises once it exceeds max_line_bytes."""
    decoder = SSEDecoder(max_line_bytes=10)
    assert decoder.feed(b"data: ") == []
    assert decoder.feed(b"1234") == []
    with pytest.raises(SSEProtocolError, match=r"max_line_bytes=10"):
        decoder.feed(b"5")


def test_incomplete_line_over_bound_in_one_chunk_raises() -> None:
    """A chunk with no newline that is longer than max_line_bytes raises at once."""
    with pytest.raises(SSEProtocolError, match=r"11 bytes .* max_line_bytes=10"):
        SSEDecoder(max_line_bytes=10).feed(b"data: 12345")


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"data: 12345\n\n", id="complete-line"),
        pytest.param(b"data: 1\n\ndata: 12345\n\ndata: 2\n\ndata: 3\n\n", id="inside-a-run"),
        pytest.param(b"data: 1\n\ndata: 2\n\ndata: 12345", id="tail"),
        pytest.param(b": 123456789\n\n", id="comment"),
    ],
)
def test_complete_line_over_bound_raises(stream: bytes) -> None:
    """A line longer than max_line_bytes raises, wherever it sits in the chunk."""
    with pytest.raises(SSEProtocolError, match=r"max_line_bytes=10"):
        SSEDecoder(max_line_bytes=10).feed(stream)


def test_line_exactly_at_bound_is_accepted() -> None:
    """max_line_bytes counts the line without its line end, and is inclusive."""
    decoder = SSEDecoder(max_line_bytes=10)
    assert decoder.feed(b"data: 1234\r\n\r\ndata: 5678\n\ndata: 9") == [
        E(data="1234"),
        E(data="5678"),
    ]
    assert decoder.feed(b"876") == []
    assert decoder.feed(b"\n\n") == [E(data="9876")]


def test_event_data_over_bound_raises_before_dispatch() -> None:
    """Data lines that together exceed max_event_bytes raise as the excess arrives."""
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: 12345\n") == []
    with pytest.raises(SSEProtocolError, match=r"max_event_bytes=10"):
        decoder.feed(b"data: 12345\n")


def test_empty_data_lines_count_toward_event_bound() -> None:
    """Each data line adds its joining newline, so bare "data" lines can exceed the bound."""
    decoder = SSEDecoder(max_event_bytes=2)
    assert decoder.feed(b"data\ndata\ndata\n") == []
    with pytest.raises(SSEProtocolError, match=r"3 bytes .* max_event_bytes=2"):
        decoder.feed(b"data\n")


def test_single_line_event_over_event_bound_raises() -> None:
    """One data line longer than max_event_bytes (but within the line bound) raises."""
    decoder = SSEDecoder(max_line_bytes=100, max_event_bytes=10)
    with pytest.raises(SSEProtocolError, match=r"11 bytes .* max_event_bytes=10"):
        decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 12345678901\n\ndata: 3\n\n")


def test_event_exactly_at_bound_is_accepted() -> None:
    """max_event_bytes counts the joined data, newlines included, and is inclusive."""
    decoder = SSEDecoder(max_event_bytes=10)
    stream = b"data: 12345\ndata: 1234\n\n" + b"data: 1\n\n" * 20
    assert decoder.feed(stream) == [E(data="12345\n1234")] + [E(data="1")] * 20


def test_decoder_stays_failed_after_protocol_error() -> None:
    """After a protocol error every later call raises the same error."""
    decoder = SSEDecoder(max_line_bytes=4)
    with pytest.raises(SSEProtocolError) as first:
        decoder.feed(b"data: x")
    with pytest.raises(SSEProtocolError) as again:
        decoder.feed(b"\n\n")
    with pytest.raises(SSEProtocolError) as flushed:
        decoder.flush()
    assert again.value is first.value
    assert flushed.value is first.value


def test_protocol_error_is_caught_as_a_value_error() -> None:
    """A line over the bound is caught by ``except ValueError``: the bytes received are
    unacceptable, which is not an I/O failure."""
    with pytest.raises(ValueError, match="max_line_bytes"):
        SSEDecoder(max_line_bytes=4).feed(b"data: too long\n\n")


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param({"max_line_bytes": 0}, id="line"),
        pytest.param({"max_event_bytes": 0}, id="event"),
    ],
)
def test_non_positive_limits_are_rejected(limits: dict[str, int]) -> None:
    """Limits must be positive."""
    with pytest.raises(ValueError, match="must be positive"):
        SSEDecoder(**limits)


# --- ServerSentEvent ------------------------------------------------------------------


def test_event_defaults_repr_and_equality() -> None:
    """An event has the spec's defaults, a readable repr and value equality."""
    event = E()
    assert (event.event, event.data, event.id, event.retry) == ("message", "", "", None)
    assert repr(E(event="e", data="d", id="1", retry=5)) == (
        "ServerSentEvent(event='e', data='d', id='1', retry=5)"
    )
    assert E(data="x") == E(data="x")
    assert E(data="x") != E(data="y")
    assert E(data="x") != E(data="x", retry=1)
    assert E(data="x") != "x"


def test_data_bytes_of_decoded_and_built_events() -> None:
    """data_bytes is the raw joined data; for a built event, the UTF-8 encoding of data."""
    (event,), _ = decode("data: é\ndata: 2\n\n".encode())
    assert event.data_bytes == "é\n2".encode()
    assert event.data == "é\n2"
    assert E(data="ü").data_bytes == "ü".encode()


def test_events_are_not_hashable() -> None:
    """Events are mutable and compared by value, so they cannot be hashed."""
    with pytest.raises(TypeError):
        hash(E())


# --- Property tests -------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_RETRY = st.one_of(
    st.integers(0, 10**9).map(str),
    st.sampled_from(["", "1a", "-1", " 5", "\u0663", "1.5", "+3", "0x10"]),
)
_FIELD = st.one_of(
    st.tuples(st.just("data"), _TEXT),
    st.tuples(st.just("event"), _TEXT),
    st.tuples(st.just("id"), st.one_of(_TEXT, _TEXT.map(lambda t: t + "\0"))),
    st.tuples(st.just("retry"), _RETRY),
    st.tuples(st.just(""), _TEXT),  # a comment
    st.tuples(st.sampled_from(["foo", "Data", "dat", "datum", "ids", "retry2"]), _TEXT),
)


@st.composite
def event_streams(draw: st.DrawFn) -> tuple[bytes, list[E]]:
    """A stream of random blocks and line ends, and the events it must give."""
    blocks = draw(st.lists(st.lists(_FIELD, max_size=5), max_size=8))
    lines: list[str] = []
    expected: list[E] = []
    last_id = ""
    for block in blocks:
        data: list[str] = []
        event_type = "message"
        retry = None
        for name, value in block:
            space = value.startswith(" ") or draw(st.booleans())
            if name == "data" and not value and draw(st.booleans()):
                lines.append("data")
            else:
                lines.append(f"{name}:{' ' if space else ''}{value}")
            if name == "data":
                data.append(value)
            elif name == "event":
                event_type = value or "message"
            elif name == "id" and "\0" not in value:
                last_id = value
            elif name == "retry" and value.isascii() and value.isdigit():
                retry = int(value)
        lines.append("")
        if data:
            expected.append(E(event=event_type, data="\n".join(data), id=last_id, retry=retry))
    ends = draw(
        st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=len(lines), max_size=len(lines))
    )
    for i in range(1, len(lines)):
        # A CR then an LF-ended blank line would be one CRLF: the blank line would vanish.
        if ends[i - 1] == "\r" and not lines[i] and ends[i] == "\n":
            ends[i] = "\r\n"
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    bom = BOM if draw(st.booleans()) else b""
    return bom + text.encode(), expected


def _cuts(stream: bytes) -> st.SearchStrategy[list[int]]:
    return st.one_of(
        st.lists(st.integers(0, len(stream)), max_size=20),
        st.just(list(range(1, len(stream)))),
    )


@given(st.data(), event_streams())
def test_random_streams_any_split(data: st.DataObject, case: tuple[bytes, list[E]]) -> None:
    """Random events, line ends and splits decode to the generator's events, split or not."""
    stream, expected = case
    cuts = data.draw(_cuts(stream))
    assert decode(stream) == (expected, [])
    assert decode(stream, cuts) == (expected, [])


_TOKENS = st.sampled_from(
    [
        b"data",
        b"data:",
        b"data: ",
        b"event:",
        b"id:",
        b"id",
        b"retry:",
        b"retry: ",
        b":",
        b" ",
        b"\r",
        b"\n",
        b"\r\n",
        b"\n\n",
        b"\0",
        b"x",
        b"42",
        BOM,
        b"\xe2\x82\xac",
        b"\xe2\x82",
        b"\xff",
        b"\xf0\x9f\x98\x80",
        b"\xc3",
        b"\xed\xa0\x80",
    ]
)


@given(st.data(), st.lists(st.one_of(_TOKENS, st.binary(max_size=4)), max_size=60))
def test_arbitrary_bytes_match_reference(data: st.DataObject, tokens: list[bytes]) -> None:
    """Any bytes, split anywhere, decode as the plain whole-stream reference of the spec."""
    stream = b"".join(tokens)
    cuts = data.draw(_cuts(stream))
    assert decode(stream, cuts) == reference(stream)
