"""The stream objects: chunks, events, errors with partials, and closing what was opened."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import msgspec
import pytest
from conftest import (
    JSON_HEADERS,
    MESSAGES,
    Reply,
    Server,
    chunk,
    completion_json,
    sse_body,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import kkiai_async as kk
from kkiai_async._stream import BytesResponse, completion_to_chunks

HELLO = sse_body(
    chunk("Hel", role="assistant"),
    chunk("lo"),
    chunk(" world"),
    chunk(finish="stop"),
)


async def _stream(client: kk.AsyncClient) -> kk.ChatCompletionStream:
    return await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


async def _collect(stream: kk.ChatCompletionStream) -> list[kk.ChatCompletionChunk]:
    async with stream:
        return [c async for c in stream]


def _text(completion: kk.ChatCompletion, index: int = 0) -> str | None:
    return completion.choices[index].message.content


# ------------------------------------------------------------------------------------
# Chunks and the assembled completion
# ------------------------------------------------------------------------------------


async def test_chunks_arrive_in_order_and_assemble(server: Server, client: kk.AsyncClient) -> None:
    """Every chunk is yielded in order and final_completion() assembles them."""
    server.queue(Reply(body=HELLO, piece=5))
    stream = await _stream(client)
    chunks = await _collect(stream)
    assert [c.choices[0].delta.content for c in chunks] == ["Hel", "lo", " world", None]
    completion = await stream.final_completion()
    assert _text(completion) == "Hello world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.id == "chatcmpl-1"
    assert completion.model == "kk-test"


async def test_final_completion_drains_the_rest(server: Server, client: kk.AsyncClient) -> None:
    """final_completion() reads whatever the caller did not iterate."""
    server.queue(Reply(body=HELLO))
    stream = await _stream(client)
    async with stream:
        first = await stream.__anext__()
        assert first.choices[0].delta.content == "Hel"
        completion = await stream.final_completion()
    assert _text(completion) == "Hello world"


async def test_final_completion_after_the_block(server: Server, client: kk.AsyncClient) -> None:
    """A stream read to its end still answers final_completion() after async with."""
    server.queue(Reply(body=HELLO))
    stream = await _stream(client)
    await _collect(stream)
    assert _text(await stream.final_completion()) == "Hello world"
    assert _text(await stream.final_completion()) == "Hello world"


async def test_current_completion_mid_stream(server: Server, client: kk.AsyncClient) -> None:
    """current_completion() is a snapshot of what arrived so far."""
    server.queue(Reply(body=HELLO))
    stream = await _stream(client)
    async with stream:
        await stream.__anext__()
        await stream.__anext__()
        snapshot = stream.current_completion()
        assert _text(snapshot) == "Hello"
        assert snapshot.choices[0].finish_reason is None
        await stream.final_completion()
    assert _text(snapshot) == "Hello"


async def test_request_id_and_headers(server: Server, client: kk.AsyncClient) -> None:
    """The stream exposes the response headers and the request id."""
    server.queue(
        Reply(body=HELLO, headers={"Content-Type": "text/event-stream", "X-Request-Id": "req-7"})
    )
    stream = await _stream(client)
    await _collect(stream)
    assert stream.request_id == "req-7"
    assert stream.response_headers["x-request-id"] == "req-7"
    assert stream.status_code == 200


async def test_usage_chunk_with_no_choices(server: Server, client: kk.AsyncClient) -> None:
    """The include_usage chunk (empty choices) is yielded and its usage assembled."""
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    body = sse_body(
        chunk("Hi", role="assistant"),
        chunk(finish="stop"),
        {"id": "chatcmpl-1", "model": "kk-test", "choices": [], "usage": usage},
    )
    server.queue(Reply(body=body))
    stream = await _stream(client)
    chunks = await _collect(stream)
    assert chunks[-1].usage == msgspec.convert(usage, kk.Usage)
    assert (await stream.final_completion()).usage == msgspec.convert(usage, kk.Usage)


async def test_interleaved_choices(server: Server, client: kk.AsyncClient) -> None:
    """With n > 1, interleaved choices assemble separately, by index."""
    body = sse_body(
        chunk("a", index=1),
        chunk("x", index=0),
        chunk("b", index=1, finish="stop"),
        chunk("y", index=0, finish="length"),
    )
    server.queue(Reply(body=body))
    stream = await _stream(client)
    await _collect(stream)
    completion = await stream.final_completion()
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "xy", "length"),
        (1, "ab", "stop"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(HELLO.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(HELLO.replace(b"\n", b"\r"), id="cr"),
        pytest.param(b"\xef\xbb\xbf" + HELLO, id="bom"),
        pytest.param(HELLO.replace(b"data: ", b"data:"), id="no-space"),
        pytest.param(HELLO[: -len(b"\n\n")], id="done-unterminated"),
        pytest.param(HELLO.replace(b"data: [DONE]\n\n", b""), id="no-done-but-finished"),
        pytest.param(
            HELLO.replace(b"data: [DONE]\n\n", b"data: [DONE]\n\ndata: {garbage}\n\n"),
            id="bytes-after-done",
        ),
        pytest.param(HELLO.replace(b'"object":"chat.completion.chunk",', b""), id="no-object"),
    ],
)
async def test_framing_variants(server: Server, client: kk.AsyncClient, body: bytes) -> None:
    """Line-end styles, a BOM, missing optional bits and trailing bytes all assemble."""
    server.queue(Reply(body=body, piece=4))
    stream = await _stream(client)
    await _collect(stream)
    assert _text(await stream.final_completion()) == "Hello world"


@pytest.mark.parametrize(
    "noise",
    [
        pytest.param(b": keep-alive\n\n", id="comment"),
        pytest.param(b"data: : keepalive\n\n", id="data-comment"),
        pytest.param(b'data: {"type":"keepalive"}\n\n', id="keepalive-object"),
        pytest.param(b"data: {}\n\n", id="empty-object"),
        pytest.param(b"event: ping\n\n", id="ping-without-data"),
        pytest.param(b"event: ping\ndata: {}\n\n", id="ping-with-data"),
        pytest.param(b"data:\n\n", id="empty-data"),
        pytest.param(b"retry: 1000\nid: 5\n\n", id="fields-only"),
    ],
)
async def test_keepalives_are_ignored(server: Server, client: kk.AsyncClient, noise: bytes) -> None:
    """Keep-alives, as comments or disguised as data, yield nothing and change nothing."""
    events = HELLO.split(b"\n\n")
    body = noise + (b"\n\n" + noise).join(events)
    server.queue(Reply(body=body))
    stream = await _stream(client)
    chunks = await _collect(stream)
    assert len(chunks) == 4
    assert _text(await stream.final_completion()) == "Hello world"


async def test_empty_chunk_with_an_id_is_delivered(server: Server, client: kk.AsyncClient) -> None:
    """A real chunk with no choices (Azure's prompt filter results) is yielded."""
    opener = {"id": "", "model": "", "choices": [], "prompt_filter_results": []}
    real = {"id": "chatcmpl-1", "model": "kk-test", "choices": []}
    server.queue(Reply(body=sse_body(opener, real, chunk("ok", finish="stop"))))
    stream = await _stream(client)
    chunks = await _collect(stream)
    assert [c.id for c in chunks] == ["chatcmpl-1", "chatcmpl-1"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"id": "c", "choices": None}, id="choices-null"),
        pytest.param({"id": "c", "choices": [{"index": 0, "delta": None}]}, id="delta-null"),
        pytest.param(
            {"id": "c", "choices": [{"index": None, "delta": {"content": "zz"}}]},
            id="index-null",
        ),
        pytest.param({"id": "c", "created": "17", "choices": []}, id="created-string"),
    ],
)
async def test_lenient_chunks(server: Server, client: kk.AsyncClient, payload: Any) -> None:
    """Relay chunks with nulls where the API omits a field are accepted."""
    server.queue(Reply(body=sse_body(chunk("a"), payload, chunk(finish="stop"))))
    stream = await _stream(client)
    chunks = await _collect(stream)
    assert len(chunks) == 3
    assert (await stream.final_completion()).choices[0].finish_reason == "stop"


# ------------------------------------------------------------------------------------
# Bodies that are not event streams
# ------------------------------------------------------------------------------------


async def test_whole_completion_is_delivered_as_a_stream(
    server: Server, client: kk.AsyncClient
) -> None:
    """A relay that ignored stream=True and sent a completion still gives chunks."""
    whole = completion_json("Hello!")
    whole["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    server.queue(Reply(body=msgspec.json.encode(whole), headers=JSON_HEADERS))
    stream = await _stream(client)
    chunks = await _collect(stream)
    assert [c.choices[0].delta.content if c.choices else None for c in chunks] == ["Hello!", None]
    completion = await stream.final_completion()
    assert completion == msgspec.convert(whole, kk.ChatCompletion)


async def test_whole_completion_through_events(server: Server, client: kk.AsyncClient) -> None:
    """The events API works over a relay's whole completion too."""
    server.queue(Reply(body=msgspec.json.encode(completion_json("Hi")), headers=JSON_HEADERS))
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        texts = [t async for t in events.text_stream]
        completion = await events.final_completion()
    assert texts == ["Hi"]
    assert _text(completion) == "Hi"


def test_completion_to_chunks_round_trips() -> None:
    """The chunks made from a completion assemble back to the same completion."""
    whole = completion_json("text", system_fingerprint="fp")
    whole["choices"].append(
        {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": "no",
                "reasoning_content": "hmm",
                "function_call": {"name": "g", "arguments": "{}"},
            },
            "finish_reason": "function_call",
        }
    )
    completion = msgspec.convert(whole, kk.ChatCompletion)
    acc = kk.ChatCompletionAccumulator()
    for c in completion_to_chunks(completion):
        acc.add(c)
    assert acc.final_completion() == completion


async def test_json_error_200_raises_at_create(server: Server, client: kk.AsyncClient) -> None:
    """A 200 whose JSON body is an error object raises APIStreamError from create()."""
    error = {"error": {"message": "model overloaded", "type": "server_error", "code": "busy"}}
    headers = {**JSON_HEADERS, "x-request-id": "req-j"}
    server.queue(Reply(body=msgspec.json.encode(error), headers=headers))
    with pytest.raises(kk.APIStreamError) as info:
        await _stream(client)
    assert info.value.body == error["error"]
    assert info.value.code == "busy"
    assert info.value.request_id == "req-j"
    assert "model overloaded" in str(info.value)


async def test_html_200_raises_protocol_error(server: Server, client: kk.AsyncClient) -> None:
    """An HTML page (a proxy's) instead of an event stream raises with an excerpt."""
    page = b"<html><head><title>Gateway</title></head><body>Bad gateway</body></html>"
    server.queue(Reply(body=page, headers={"Content-Type": "text/html; charset=utf-8"}))
    with pytest.raises(kk.APIProtocolError) as info:
        await _stream(client)
    assert "Bad gateway" in str(info.value)
    assert info.value.body == page.decode()


# ------------------------------------------------------------------------------------
# Errors inside the stream carry what arrived
# ------------------------------------------------------------------------------------


async def test_error_object_in_stream(server: Server, client: kk.AsyncClient) -> None:
    """data: {"error": ...} raises APIStreamError with the partial and the request id."""
    error = {"message": "context too long", "type": "invalid_request_error", "code": "ctx"}
    body = sse_body(chunk("Hel", role="assistant"), chunk("lo"), {"error": error}, chunk("!"))
    headers = {"Content-Type": "text/event-stream", "x-request-id": "req-e"}
    server.queue(Reply(body=body, headers=headers))
    stream = await _stream(client)
    seen = []
    with pytest.raises(kk.APIStreamError) as info:
        async with stream:
            async for c in stream:
                seen.append(c)
    exc = info.value
    assert len(seen) == 2
    assert exc.body == error
    assert exc.code == "ctx"
    assert exc.request_id == "req-e"
    assert exc.partial is not None
    assert _text(exc.partial) == "Hello"
    with pytest.raises(kk.APIStreamError):
        await stream.final_completion()


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(b'event: error\ndata: {"message": "boom"}\n\n', id="json"),
        pytest.param(b"event: error\ndata: boom\n\n", id="text"),
        pytest.param(b'event: error\ndata: {"error": {"message": "boom"}}\n\n', id="wrapped"),
    ],
)
async def test_sse_error_event(server: Server, client: kk.AsyncClient, event: bytes) -> None:
    """An SSE event of type error raises APIStreamError with its message."""
    body = sse_body(chunk("Hi"), done=False) + event
    server.queue(Reply(body=body))
    stream = await _stream(client)
    with pytest.raises(kk.APIStreamError, match="boom") as info:
        await _collect(stream)
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hi"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"data: {not json}\n\n", id="invalid-json"),
        pytest.param(b'data: ["a list"]\n\n', id="not-an-object"),
        pytest.param(b'data: {"choices": [{"delta": {"content": 5}}]}\n\n', id="wrong-type"),
    ],
)
async def test_invalid_payload(server: Server, client: kk.AsyncClient, bad: bytes) -> None:
    """A payload that is not a chunk raises APIProtocolError with the partial."""
    body = sse_body(chunk("Hi"), done=False) + bad
    server.queue(Reply(body=body))
    stream = await _stream(client)
    with pytest.raises(kk.APIProtocolError) as info:
        await _collect(stream)
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hi"


async def test_line_over_the_bound(server: Server, client: kk.AsyncClient) -> None:
    """A line over the decoder's bound raises APIProtocolError, not unbounded memory."""
    body = sse_body(chunk("Hi"), done=False) + b"data: " + b"x" * (8 * 1024 * 1024 + 1)
    server.queue(Reply(body=body))
    stream = await _stream(client)
    with pytest.raises(kk.APIProtocolError, match="max_line_bytes") as info:
        await _collect(stream)
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hi"


async def test_dropped_connection(server: Server, client: kk.AsyncClient) -> None:
    """A connection that breaks mid-stream raises IncompleteStreamError with the partial."""
    cut = HELLO.index(b"data: {", HELLO.index(b"lo")) + 10
    server.queue(
        Reply(
            body=HELLO,
            drop_after=cut,
            headers={"Content-Type": "text/event-stream", "x-request-id": "r1"},
        )
    )
    stream = await _stream(client)
    with pytest.raises(kk.IncompleteStreamError) as info:
        await _collect(stream)
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hello"
    assert info.value.request_id == "r1"


@pytest.mark.parametrize(
    ("body", "texts"),
    [
        pytest.param(sse_body(chunk("Hel"), chunk("lo"), done=False), ["Hello"], id="unfinished"),
        pytest.param(b"", [], id="empty"),
        pytest.param(b": only comments\n\n", [], id="no-chunks"),
    ],
)
async def test_ends_without_done_unfinished(
    server: Server, client: kk.AsyncClient, body: bytes, texts: list[str]
) -> None:
    """A stream that ends cleanly but before [DONE] and before finishing is truncated."""
    server.queue(Reply(body=body))
    stream = await _stream(client)
    with pytest.raises(kk.TruncatedStreamError) as info:
        await _collect(stream)
    assert info.value.partial is not None
    assert [c.message.content for c in info.value.partial.choices] == texts


async def test_read_timeout_mid_stream(server: Server, client: kk.AsyncClient) -> None:
    """A server that goes silent mid-stream raises APITimeoutError('read') with the partial."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, timeout=kk.Timeout(read=0.2)
    )
    with pytest.raises(kk.APITimeoutError) as info:
        await _collect(stream)
    assert info.value.timeout == "read"
    assert info.value.seconds == 0.2
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hel"


async def test_total_timeout_covers_the_stream(server: Server, client: kk.AsyncClient) -> None:
    """The total timeout also bounds reading the body of a stream."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, timeout=kk.Timeout(read=None, total=0.3)
    )
    with pytest.raises(kk.APITimeoutError) as info:
        await _collect(stream)
    assert info.value.timeout == "total"
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hel"


# ------------------------------------------------------------------------------------
# Closing: the connection is pooled only when the body was read to its end
# ------------------------------------------------------------------------------------


async def test_fully_read_stream_reuses_the_connection(
    server: Server, client: kk.AsyncClient
) -> None:
    """A stream read to [DONE] gives its connection back to the pool."""
    server.queue(Reply(body=HELLO), Reply(body=HELLO))
    for _ in range(2):
        await _collect(await _stream(client))
    assert server.requests[0].port == server.requests[1].port


async def test_break_closes_the_connection(server: Server, client: kk.AsyncClient) -> None:
    """Breaking out of async with closes the connection instead of pooling it."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut), Reply(body=HELLO))
    stream = await _stream(client)
    async with stream:
        async for _ in stream:
            break
    await server.wait_disconnect()
    await _collect(await _stream(client))
    assert server.requests[0].port != server.requests[1].port
    with pytest.raises(kk.ClientClosedError) as info:
        await stream.final_completion()
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hel"


async def test_exception_in_block_closes(server: Server, client: kk.AsyncClient) -> None:
    """An exception raised in the async with block closes the connection."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    stream = await _stream(client)
    with pytest.raises(ZeroDivisionError):
        async with stream:
            async for _ in stream:
                1 / 0  # noqa: B018
    await server.wait_disconnect()
    assert server.disconnects == 1


async def test_cancellation_closes(server: Server, client: kk.AsyncClient) -> None:
    """Cancelling the task that reads a stream closes its connection."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    got_first = asyncio.Event()

    async def consume() -> None:
        stream = await _stream(client)
        async with stream:
            async for _ in stream:
                got_first.set()

    task = asyncio.create_task(consume())
    await got_first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await server.wait_disconnect()
    assert server.disconnects == 1


async def test_close_before_iterating(server: Server, client: kk.AsyncClient) -> None:
    """close() on a stream never iterated closes the connection; close is idempotent."""
    server.queue(Reply(body=HELLO, stall_after=0))
    stream = await _stream(client)
    await stream.close()
    await stream.close()
    await server.wait_disconnect()
    assert [c async for c in stream] == []


async def test_unclosed_stream_is_closed_when_collected(
    server: Server, client: kk.AsyncClient
) -> None:
    """A stream dropped without closing is closed at garbage collection, without warnings."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    stream = await _stream(client)
    await stream.__anext__()
    del stream
    gc.collect()
    await server.wait_disconnect()
    assert server.disconnects == 1


async def test_stream_dropped_before_iterating_warns(
    server: Server, client: kk.AsyncClient
) -> None:
    """A stream dropped before it was iterated or closed emits a ResourceWarning."""
    server.queue(Reply(body=HELLO))
    stream = await _stream(client)
    with pytest.warns(ResourceWarning, match="never iterated nor closed"):
        del stream
        gc.collect()


async def test_repr_says_the_state(server: Server, client: kk.AsyncClient) -> None:
    """repr() of a stream shows whether it is open, ended or failed."""
    server.queue(Reply(body=HELLO))
    stream = await _stream(client)
    assert repr(stream) == "<ChatCompletionStream open request_id=None>"
    await _collect(stream)
    assert repr(stream) == "<ChatCompletionStream ended request_id=None>"


# ------------------------------------------------------------------------------------
# Any split of the bytes gives the same chunks (no network: a response in pieces)
# ------------------------------------------------------------------------------------


class _Pieces:
    """A transport response that delivers a body in given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.status = 200
        self.headers = {"content-type": "text/event-stream"}
        self.pieces = pieces
        self.closed_with: bool | None = None

    def iter_bytes(self) -> Any:
        return _aiter(self.pieces)

    async def read(self) -> bytes:
        return b"".join(self.pieces)

    async def aclose(self, *, reuse: bool) -> None:
        if self.closed_with is None:
            self.closed_with = reuse

    def abort(self) -> None:
        self.closed_with = False


async def _aiter(pieces: list[bytes]) -> Any:
    for p in pieces:
        yield p


RICH = sse_body(
    chunk("Grüße ", role="assistant"),
    {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": '},
                        }
                    ]
                },
            }
        ],
    },
    {
        "id": "chatcmpl-1",
        "choices": [
            {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}
        ],
    },
    chunk("🙂", finish="tool_calls"),
).replace(b"\n\n", b"\r\n\r\n", 2)


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(RICH)), max_size=30))
async def test_any_split_assembles_the_same(cuts: list[int]) -> None:
    """However the bytes are split, the chunks and the completion are the same."""
    points = sorted(set(cuts))
    pieces = [RICH[a:b] for a, b in zip([0, *points], [*points, len(RICH)], strict=True) if b > a]
    response = _Pieces(pieces)
    stream = kk.ChatCompletionStream(response)  # type: ignore[arg-type]
    chunks = [c async for c in stream]
    completion = await stream.final_completion()
    assert len(chunks) == 4
    assert _text(completion) == "Grüße 🙂"
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.arguments == '{"a": 1}'
    assert response.closed_with is True


async def test_large_pieces_are_decoded_exactly() -> None:
    """A piece of hundreds of KiB (aiohttp hands over up to 256 KiB) is decoded exactly."""
    words = [f"w{i} " for i in range(3000)]
    body = sse_body(*(chunk(w) for w in words), chunk(finish="stop"))
    assert len(body) > 3 * 64 * 1024
    stream = kk.ChatCompletionStream(_Pieces([body]))  # type: ignore[arg-type]
    chunks = [c async for c in stream]
    assert len(chunks) == 3001
    assert _text(await stream.final_completion()) == "".join(words)


async def test_body_already_read_is_streamed() -> None:
    """BytesResponse delivers a whole body through the same stream code."""
    response = BytesResponse(200, {"content-type": "text/event-stream"}, HELLO)
    stream = kk.ChatCompletionStream(response)
    assert _text(await stream.final_completion()) == "Hello world"


# ------------------------------------------------------------------------------------
# The events API
# ------------------------------------------------------------------------------------


async def test_events_in_order(server: Server, client: kk.AsyncClient) -> None:
    """stream() yields typed events, ending with the choice's done events."""
    server.queue(Reply(body=HELLO))
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        seen = [e async for e in events]
        completion = await events.final_completion()
    assert seen == [
        kk.TextDeltaEvent(choice_index=0, delta="Hel"),
        kk.TextDeltaEvent(choice_index=0, delta="lo"),
        kk.TextDeltaEvent(choice_index=0, delta=" world"),
        kk.TextDoneEvent(choice_index=0, text="Hello world"),
        kk.ChoiceFinishedEvent(choice_index=0, finish_reason="stop"),
    ]
    assert _text(completion) == "Hello world"


async def test_text_stream(server: Server, client: kk.AsyncClient) -> None:
    """text_stream yields only the text deltas."""
    server.queue(Reply(body=HELLO))
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        assert [t async for t in events.text_stream] == ["Hel", "lo", " world"]
        assert events.current_completion().choices[0].finish_reason == "stop"


async def test_events_error_has_partial(server: Server, client: kk.AsyncClient) -> None:
    """An error inside an event stream carries the partial completion."""
    body = sse_body(chunk("Hel"), {"error": {"message": "bad"}})
    server.queue(Reply(body=body))
    with pytest.raises(kk.APIStreamError) as info:
        async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
            async for _ in events:
                pass
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hel"


async def test_events_block_exit_closes(server: Server, client: kk.AsyncClient) -> None:
    """Leaving the stream() block early closes the connection."""
    cut = HELLO.index(b"data: ", 10)
    server.queue(Reply(body=HELLO, stall_after=cut))
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        async for _ in events:
            break
    await server.wait_disconnect()
    assert server.disconnects == 1


async def test_events_unfinished_end_closes_open_parts(
    server: Server, client: kk.AsyncClient
) -> None:
    """A stream ending with [DONE] but no finish reason still closes its text."""
    server.queue(Reply(body=sse_body(chunk("Hi"))))
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        seen = [e async for e in events]
    assert seen[-1] == kk.TextDoneEvent(choice_index=0, text="Hi")


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
async def test_event_stream_matches_the_accumulator_on_any_split(cuts: list[int]) -> None:
    """The event stream gives process()'s events and completion, the metadata included,
    whatever the chunks carry after the first ones and however the bytes are split."""
    payloads = [
        # Azure-style: a first chunk with no id or model (only filter results).
        {"id": "", "object": "", "created": 0, "model": "", "choices": []},
        chunk(role="assistant", content=""),
        chunk("Hel"),
        chunk("lo", id="chatcmpl-other", model="other", object="x"),
        {**chunk(), "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "f", "arguments": '{"a": '}}]}}]},
        {**chunk(), "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '"x"}'}}]}}]},
        chunk(" world", system_fingerprint="fp_late", service_tier="flex"),
        chunk(finish="tool_calls"),
        {**chunk(), "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                             "total_tokens": 3}},
    ]  # fmt: skip
    body = sse_body(*payloads)
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True) if b > a]
    reference = kk.ChatCompletionAccumulator()
    # Captured as each chunk is processed: parsed values are live.
    expected = [
        msgspec.to_builtins(e)
        for p in payloads
        for e in reference.process(msgspec.convert(p, kk.ChatCompletionChunk))
    ]
    expected += [msgspec.to_builtins(e) for e in reference.end()]
    acc = kk.ChatCompletionAccumulator()
    stream = kk.ChatCompletionStream(_Pieces(pieces), acc, accumulate=False)  # type: ignore[arg-type]
    async with kk.ChatCompletionEventStream(stream, acc) as events:
        seen = [msgspec.to_builtins(e) async for e in events]
        completion = await events.final_completion()
    assert seen == expected
    assert completion == reference.final_completion()
    assert (completion.id, completion.model, completion.created) == (
        "chatcmpl-1",
        "kk-test",
        1700000000,
    )
    assert (completion.system_fingerprint, completion.service_tier) == ("fp_late", "flex")


# ------------------------------------------------------------------------------------
# Vendor stream shapes: what relays of other vendors' models really send
# ------------------------------------------------------------------------------------


def _delta_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return chunk(finish=finish, **extra) | {
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    }


def _call(**fragment: Any) -> dict[str, Any]:
    return _delta_chunk({"tool_calls": [fragment]})


_USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
_FILTER = {"hate": {"filtered": False, "severity": "safe"}}


class _Shape:
    """A vendor's stream and what it assembles to."""

    def __init__(
        self,
        body: bytes,
        *,
        content: str | None = None,
        reasoning: str | None = None,
        calls: list[tuple[str, str, str]] | None = None,
        finish: str | None = "stop",
        usage: dict[str, int] | None = None,
    ) -> None:
        self.body = body
        self.content = content
        self.reasoning = reasoning
        self.calls = calls
        self.finish = finish
        self.usage = usage


_SHAPES = [
    pytest.param(
        _Shape(
            sse_body(
                _delta_chunk({"role": "assistant", "content": [{"type": "text", "text": "Hel"}]}),
                _delta_chunk({"content": [{"type": "text", "text": "lo"}]}),
                _delta_chunk({"content": ""}, "stop"),
            ),
            content="Hello",
        ),
        id="mistral-text-parts",
    ),
    pytest.param(
        _Shape(
            sse_body(
                _delta_chunk(
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "thinking", "thinking": [{"type": "text", "text": "Let "}]}
                        ],
                    }
                ),
                _delta_chunk(
                    {
                        "content": [
                            {"type": "thinking", "thinking": [{"type": "text", "text": "me"}]}
                        ]
                    }
                ),
                _delta_chunk({"content": [{"type": "text", "text": "Hi"}]}),
                _delta_chunk({"content": [{"type": "text", "text": "!"}]}, "stop"),
            ),
            content="Hi!",
            reasoning="Let me",
        ),
        id="mistral-thinking-parts",
    ),
    pytest.param(
        _Shape(
            sse_body(
                _delta_chunk({"content": "See "}),
                _delta_chunk({"content": [{"type": "reference", "reference_ids": [1, 2]}]}),
                _delta_chunk({"content": "this."}, "stop"),
            ),
            content="See this.",
        ),
        id="mistral-other-part",
    ),
    pytest.param(
        _Shape(
            sse_body(
                _delta_chunk(
                    {
                        "role": "assistant",
                        "content": "",
                        "reasoning": "Think",
                        "reasoning_details": [
                            {"type": "reasoning.text", "text": "Think", "index": 0}
                        ],
                    }
                ),
                _delta_chunk({"content": "", "reasoning": "ing", "reasoning_details": []}),
                _delta_chunk({"content": "Done"}, "stop"),
            ),
            content="Done",
            reasoning="Thinking",
        ),
        id="openrouter-reasoning-details",
    ),
    pytest.param(
        _Shape(
            sse_body(
                _delta_chunk({"role": "assistant", "content": "Rain "}),
                _delta_chunk(
                    {
                        "content": "today.",
                        "annotations": [
                            {
                                "type": "url_citation",
                                "url_citation": {
                                    "start_index": 0,
                                    "end_index": 11,
                                    "title": "Weather",
                                    "url": "https://example.com/",
                                },
                            }
                        ],
                    }
                ),
                _delta_chunk({}, "stop"),
            ),
            content="Rain today.",
        ),
        id="openai-annotations",
    ),
    pytest.param(
        _Shape(
            sse_body(
                _call(id="call_1", type="function", function={"name": "f", "arguments": '{"a"'}),
                _call(function={"arguments": ": 1}"}),
                _delta_chunk({}, "tool_calls"),
            ),
            calls=[("call_1", "f", '{"a": 1}')],
            finish="tool_calls",
        ),
        id="tool-call-without-index",
    ),
    pytest.param(
        _Shape(
            sse_body(
                _call(index=1, id="call_1", type="function", function={"name": "f"}),
                _call(index=1, function={"arguments": "{}"}),
                _call(index=2, id="call_2", type="function", function={"name": "g"}),
                _call(index=2, function={"arguments": '{"b": 2}'}),
                _delta_chunk({}, "tool_calls"),
            ),
            calls=[("call_1", "f", "{}"), ("call_2", "g", '{"b": 2}')],
            finish="tool_calls",
        ),
        id="first-tool-call-index-1",
    ),
    pytest.param(
        _Shape(
            sse_body(
                _call(
                    index=0, id="call_9", type="function", function={"name": "f", "arguments": ""}
                ),
                _call(
                    index=0, id="call_9", type="function", function={"name": "f", "arguments": "{"}
                ),
                _call(
                    index=0, id="call_9", type="function", function={"name": "f", "arguments": "}"}
                ),
                _delta_chunk({}, "tool_calls"),
            ),
            calls=[("call_9", "f", "{}")],
            finish="tool_calls",
        ),
        id="id-and-name-on-every-fragment",
    ),
    pytest.param(
        _Shape(
            sse_body(
                chunk("Hi", role="assistant"),
                {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": []},
                chunk(finish="stop"),
            ),
            content="Hi",
        ),
        id="empty-choices-without-usage",
    ),
    pytest.param(
        _Shape(
            sse_body(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": [
                        {"prompt_index": 0, "content_filter_results": _FILTER}
                    ],
                },
                chunk("Hi", role="assistant")
                | {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": "Hi"},
                            "finish_reason": None,
                            "content_filter_results": _FILTER,
                        }
                    ]
                },
                chunk(finish="stop"),
            ),
            content="Hi",
        ),
        id="azure-prompt-filter-results",
    ),
    pytest.param(
        _Shape(
            sse_body(
                chunk("Hi", role="assistant"),
                chunk(finish="stop"),
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.done",
                    "choices": [],
                    "usage": _USAGE,
                },
            ),
            content="Hi",
            usage=_USAGE,
        ),
        id="object-chat-completion-done",
    ),
    pytest.param(
        _Shape(
            sse_body(
                {
                    "id": "c",
                    "model": "m",
                    "created": 1,
                    "choices": [{"index": 0, "delta": {"content": "Hi"}}],
                },
                {
                    "id": "c",
                    "model": "m",
                    "created": 1,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                },
            ),
            content="Hi",
        ),
        id="chunks-without-object",
    ),
    pytest.param(
        _Shape(
            sse_body(
                chunk("Hi", role="assistant", usage={**_USAGE, "completion_tokens": 1}),
                chunk("!", usage=_USAGE),
                chunk(finish="stop", usage=_USAGE),
            ),
            content="Hi!",
            usage=_USAGE,
        ),
        id="usage-on-every-chunk",
    ),
    pytest.param(
        _Shape(sse_body(chunk("Hi", role="assistant"), chunk("!")), content="Hi!", finish=None),
        id="no-finish-reason-then-done",
    ),
    pytest.param(
        _Shape(
            b": OPENROUTER PROCESSING\n\n"
            + sse_body(chunk("Hi", role="assistant"))[: -len(b"data: [DONE]\n\n")]
            + b": PROCESSING\n\n"
            + sse_body(chunk(finish="stop")),
            content="Hi",
        ),
        id="processing-comments",
    ),
]


@pytest.mark.parametrize("shape", _SHAPES)
async def test_vendor_shapes(server: Server, client: kk.AsyncClient, shape: _Shape) -> None:
    """Each vendor's documented stream shape assembles alike as chunks, events and completion."""
    server.queue(Reply(body=shape.body), Reply(body=shape.body))
    stream = await _stream(client)
    chunks = await _collect(stream)
    completion = await stream.final_completion()
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        seen = [e async for e in events]
        assert await events.final_completion() == completion
    message = completion.choices[0].message
    assert (message.content, message.reasoning_content) == (shape.content, shape.reasoning)
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]
    assert calls == (shape.calls or [])
    assert completion.choices[0].finish_reason == shape.finish
    assert completion.usage == (None if shape.usage is None else kk.Usage(**shape.usage))
    texts = "".join(e.delta for e in seen if isinstance(e, kk.TextDeltaEvent))
    thoughts = "".join(e.delta for e in seen if isinstance(e, kk.ReasoningDeltaEvent))
    assert (texts or None, thoughts or None) == (shape.content, shape.reasoning)
    acc = kk.ChatCompletionAccumulator()
    fed = [e for c in chunks for e in acc.process(c)] + acc.end()
    assert [msgspec.to_builtins(e) for e in fed] == [msgspec.to_builtins(e) for e in seen]
    assert acc.final_completion() == completion


async def test_content_parts_are_kept_on_the_delta(server: Server, client: kk.AsyncClient) -> None:
    """Content parts of any type stay on the delta as they came; string content has none."""
    parts = [{"type": "reference", "reference_ids": [1]}, {"type": "text", "text": "Hi"}]
    body = sse_body(chunk("A"), _delta_chunk({"content": parts}), chunk(finish="stop"))
    server.queue(Reply(body=body))
    chunks = await _collect(await _stream(client))
    assert [c.choices[0].delta.content_parts for c in chunks] == [None, parts, None]
    assert [c.choices[0].delta.content for c in chunks] == ["A", "Hi", None]


def _parts_completion(parts: list[Any]) -> dict[str, Any]:
    whole = completion_json()
    whole["choices"][0]["message"]["content"] = parts
    return whole


_THINKING = {"type": "thinking", "thinking": [{"type": "text", "text": "Let me"}]}
_REFERENCE = {"type": "reference", "reference_ids": [1, 2]}


@pytest.mark.parametrize(
    ("parts", "content", "reasoning"),
    [
        pytest.param(
            [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
            "Hello",
            None,
            id="text",
        ),
        pytest.param([_THINKING, {"type": "text", "text": "Hi!"}], "Hi!", "Let me", id="thinking"),
        pytest.param(
            [{"type": "thinking", "thinking": "Hmm"}, {"type": "text", "text": "Ok"}],
            "Ok",
            "Hmm",
            id="thinking-as-a-string",
        ),
        pytest.param([{"type": "text", "text": "See"}, _REFERENCE], "See", None, id="other-part"),
        pytest.param([_REFERENCE], None, None, id="no-text-part"),
    ],
)
async def test_non_streamed_content_parts(
    server: Server,
    client: kk.AsyncClient,
    parts: list[Any],
    content: str | None,
    reasoning: str | None,
) -> None:
    """Message content as a list of parts reads as text and reasoning; the parts are kept."""
    server.queue(Reply(body=msgspec.json.encode(_parts_completion(parts)), headers=JSON_HEADERS))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    message = completion.choices[0].message
    assert (message.content, message.reasoning_content) == (content, reasoning)
    assert message.content_parts == parts
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage == kk.Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7)


async def test_non_streamed_string_content_has_no_parts(
    server: Server, client: kk.AsyncClient
) -> None:
    """A completion with string content keeps content_parts None."""
    server.queue(Reply(body=msgspec.json.encode(completion_json("Hi")), headers=JSON_HEADERS))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert (completion.choices[0].message.content, completion.choices[0].message.content_parts) == (
        "Hi",
        None,
    )


async def test_streamed_request_answered_with_content_parts(
    server: Server, client: kk.AsyncClient
) -> None:
    """Content parts in a whole completion sent for a streamed request stream as text, reasoning."""
    parts = [_THINKING, {"type": "text", "text": "Hi!"}]
    body = msgspec.json.encode(_parts_completion(parts))
    server.queue(Reply(body=body, headers=JSON_HEADERS), Reply(body=body, headers=JSON_HEADERS))
    stream = await _stream(client)
    chunks = await _collect(stream)
    assert chunks[0].choices[0].delta.content_parts == parts
    message = (await stream.final_completion()).choices[0].message
    assert (message.content, message.reasoning_content) == ("Hi!", "Let me")
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        seen = [e async for e in events]
    assert [
        (type(e), e.delta)
        for e in seen
        if isinstance(e, kk.TextDeltaEvent | kk.ReasoningDeltaEvent)
    ] == [
        (kk.ReasoningDeltaEvent, "Let me"),
        (kk.TextDeltaEvent, "Hi!"),
    ]


async def test_non_streamed_content_not_text_nor_parts_is_refused(
    server: Server, client: kk.AsyncClient
) -> None:
    """A message content that is neither a string nor a list of parts raises APIProtocolError."""
    whole = completion_json()
    whole["choices"][0]["message"]["content"] = {"text": "Hi"}
    server.queue(Reply(body=msgspec.json.encode(whole), headers=JSON_HEADERS))
    with pytest.raises(kk.APIProtocolError, match="not a chat completion"):
        await client.chat.completions.create(model="m", messages=MESSAGES)


async def test_error_beside_choices_raises_after_the_chunk(
    server: Server, client: kk.AsyncClient
) -> None:
    """An error object in a chunk with choices (OpenRouter) is applied, then raised."""
    error = {"code": 502, "message": "Provider disconnected"}
    failed = _delta_chunk({"content": " wor"}, "error", usage=_USAGE) | {"error": error}
    body = sse_body(chunk("Hello", role="assistant"), failed)
    server.queue(Reply(body=body), Reply(body=body))
    stream = await _stream(client)
    seen: list[kk.ChatCompletionChunk] = []
    with pytest.raises(kk.APIStreamError, match="Provider disconnected") as info:
        async with stream:
            async for c in stream:
                seen.append(c)
    assert [c.choices[0].delta.content for c in seen] == ["Hello", " wor"]
    partial = info.value.partial
    assert partial is not None
    assert _text(partial) == "Hello wor"
    assert partial.usage == kk.Usage(**_USAGE)
    assert info.value.body == error
    texts: list[str] = []
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        with pytest.raises(kk.APIStreamError) as again:
            async for text in events.text_stream:
                texts.append(text)
    assert texts == ["Hello", " wor"]
    assert again.value.partial is not None
    assert _text(again.value.partial) == "Hello wor"


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
            b'"message": "Overloaded"}}\n\n',
            id="anthropic-shape",
        ),
        pytest.param(
            b'event: error\ndata: {"error": {"message": "Overloaded", "code": 529}}\n\n',
            id="openai-shape",
        ),
    ],
)
async def test_vendor_error_events(server: Server, client: kk.AsyncClient, event: bytes) -> None:
    """An `event: error` in a vendor's shape raises APIStreamError with its message."""
    server.queue(Reply(body=sse_body(chunk("Hi"), done=False) + event))
    with pytest.raises(kk.APIStreamError, match="Overloaded") as info:
        await _collect(await _stream(client))
    assert info.value.partial is not None
    assert _text(info.value.partial) == "Hi"


def test_events_expose_their_tag_as_type() -> None:
    """event.type is the tag in the event's JSON, for every stream event class."""
    events = [
        kk.TextDeltaEvent(choice_index=0, delta="x"),
        kk.ChoiceFinishedEvent(choice_index=0, finish_reason="stop"),
        kk.UsageEvent(usage=kk.Usage()),
        kk.ToolCallStartedEvent(choice_index=0, index=0, id=None, name="f"),
        kk.RoundStartedEvent(round=1),
        kk.ToolResultEvent(round=1, index=0, tool_call_id="c", name="f", content="1"),
    ]
    for event in events:
        assert event.type == msgspec.to_builtins(event)["type"]
    assert [e.type for e in events] == [
        "text.delta",
        "choice.finished",
        "usage",
        "tool_call.started",
        "round.started",
        "tool.result",
    ]
