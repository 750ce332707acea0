"""``python -m benchmarks.micro``: the decoding layers alone, without HTTP, per KB.

The suite (``python -m benchmarks``) measures whole clients against a server; this
measures the layers of a stream one by one, in one process, on the same generated
streams at several sizes, so that a change to one layer shows in its own figure and the
cost per KB shows whether it stays linear:

- ``sse``: bytes -> event payloads. The floor's framing (``split(b"\\n\\n")`` and a
  slice), ``SSEDecoder.feed_payloads`` (what the chat stream uses) in 64 KiB reads and in
  reads of one event each (a token stream as it really arrives; and those through the
  general path, without the shortcut for a read of one event), ``SSEDecoder.feed``
  (event objects), and the official SDK's SSE decoder;
- ``accumulate``: payloads -> chunks -> assembly: ``msgspec`` decode plus
  ``ChatCompletionAccumulator.add`` (``create(stream=True)``) or ``process`` (events),
  on a text stream and on a tool call streamed in 4-character fragments; the SDK's
  ``ChatCompletionStreamState`` (its ``stream()`` helper) on the same tool-call stream;
- ``stream``: bytes -> what a consumer iterates, through the stream's one loop
  (``_stream_items``: SSE, decode, merge, yield) over a body in 64 KiB reads, driven
  without an event loop or HTTP: chunks (``create(stream=True)``) and events
  (``stream()``), for text and for a tool call. It includes what ``accumulate`` does not:
  the generator's own per-chunk work, and the events' path without ``process``'s list;
- ``partial_json``: arguments fed in 4-character fragments, shown after each one
  (``feed_value``, what ``process`` does per arguments delta): arguments made of many
  short values, and arguments that are one long string (a file's content), where each
  showing copies the string so far: that case grows with the size (see
  ``docs/performance.md``); ``feed`` plus ``take_string_deltas`` is its linear
  alternative.

Figures are the minimum over ``--repeat`` runs of CPU time (``time.process_time``),
in µs per KB: of the stream's bytes for text, of the arguments text for tool calls
(which arrive wrapped in chunks about 40 times their size) and partial JSON. A
measurement still running after ``--budget`` seconds stops and its figure, marked
``≥``, is a lower bound over the part it got through; larger sizes are then skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec

from benchmarks.scenarios import _arguments, _chunk, _fragments, _tokens
from kkiai_async import ChatCompletionAccumulator
from kkiai_async._partial_json import PartialJSONParser
from kkiai_async._sse import SSEDecoder
from kkiai_async._stream import ChatCompletionEventStream, ChatCompletionStream
from kkiai_async.types import ChatCompletionChunk

__all__ = ["main"]

_READ = 64 * 1024
_decode_chunk = msgspec.json.Decoder(ChatCompletionChunk).decode


class _OverBudget(Exception):
    """Raised by a measurement that ran out of time, with the bytes it got through."""

    def __init__(self, done: int) -> None:
        super().__init__(done)
        self.done = done


# --------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------


def _content_stream(size: int) -> bytes:
    """A text stream of about ``size`` bytes, one token per event, as the suite's."""
    frames = [_chunk("micro", {"role": "assistant", "content": ""})]
    total = 0
    for token in _tokens(size // 100 + 10, seed=1):
        frame = _chunk("micro", {"content": token})
        frames.append(frame)
        total += len(frame)
        if total >= size:
            break
    frames.append(_chunk("micro", {}, "stop"))
    return b"".join(frames) + b"data: [DONE]\n\n"


def _tool_stream(arguments: str) -> bytes:
    """One tool call whose arguments arrive in 4-character fragments."""
    start = {"index": 0, "id": "call_micro", "type": "function", "function": {"name": "f"}}
    frames = [_chunk("micro", {"role": "assistant", "tool_calls": [start]})]
    frames += [
        _chunk("micro", {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        for piece in _fragments(arguments)
    ]
    frames.append(_chunk("micro", {}, "tool_calls"))
    return b"".join(frames) + b"data: [DONE]\n\n"


def _long_string_arguments(size: int) -> str:
    """Arguments that are mostly one string value: a file written by a tool call."""
    text = " ".join(_tokens(size // 5 + 10, seed=2)).replace("\\", "/")
    body = json.dumps(text[:size], ensure_ascii=False)
    return '{"path": "notes.md", "content": ' + body + "}"


def _reads(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def _events_reads(body: bytes) -> list[bytes]:
    return [frame + b"\n\n" for frame in body.split(b"\n\n") if frame]


def _payloads(body: bytes) -> list[bytes]:
    return [frame[6:] for frame in body.split(b"\n\n") if frame and frame != b"data: [DONE]"]


# --------------------------------------------------------------------------------------
# Measurements: each takes its input and a deadline, returns nothing
# --------------------------------------------------------------------------------------


def _check(deadline: float, done: int, every: int = 4096) -> None:
    if done % every == 0 and time.perf_counter() > deadline:
        raise _OverBudget(done)


def _sse_floor(reads: list[bytes], deadline: float) -> None:
    carry = b""
    for data in reads:
        frames = (carry + data if carry else data).split(b"\n\n")
        carry = frames.pop()
        for frame in frames:
            if frame.startswith(b"data: "):
                frame[6:]  # the slice is part of the work measured


def _sse_payloads(reads: list[bytes], deadline: float) -> None:
    feed = SSEDecoder().feed_payloads
    for data in reads:
        feed(data)


def _sse_general(reads: list[bytes], deadline: float) -> None:
    # feed_payloads without its shortcut for a read of one event: what it saves.
    decoder = SSEDecoder()
    feed = decoder._feed
    for data in reads:
        feed(data, True)


def _sse_events(reads: list[bytes], deadline: float) -> None:
    feed = SSEDecoder().feed
    for data in reads:
        for event in feed(data):
            event.data_bytes  # noqa: B018 - what a consumer reads


def _sse_sdk(reads: list[bytes], deadline: float) -> None:
    from openai._streaming import SSEDecoder as SDKDecoder

    for event in SDKDecoder().iter_bytes(iter(reads)):
        event.data  # noqa: B018 - what the SDK's stream reads


def _accumulate(method: str) -> Callable[[list[bytes], float], None]:
    def run(payloads: list[bytes], deadline: float) -> None:
        acc = ChatCompletionAccumulator()
        step = acc.add if method == "add" else acc.process
        decode = _decode_chunk
        for done, payload in enumerate(payloads, 1):
            step(decode(payload))
            _check(deadline, done)
        if method == "process":
            acc.end()
        acc.final_completion()

    return run


class _Body:
    """A response whose body arrives in the given reads, none of which waits."""

    status = 200
    headers: dict[str, str] = {"content-type": "text/event-stream"}  # noqa: RUF012

    def __init__(self, reads: list[bytes], deadline: float) -> None:
        self._reads = reads
        self._taken = 0
        self._deadline = deadline

    def iter_bytes(self) -> _Body:
        return self

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        taken = self._taken
        if taken == len(self._reads):
            raise StopAsyncIteration
        _check(self._deadline, taken, every=1)
        self._taken = taken + 1
        return self._reads[taken]

    async def aclose(self, *, reuse: bool) -> None:
        pass


def _stream_loop(kind: str) -> Callable[[list[bytes], float], None]:
    def run(reads: list[bytes], deadline: float) -> None:
        acc = ChatCompletionAccumulator()
        body = _Body(reads, deadline)
        if kind == "events":
            chunks = ChatCompletionStream(body, acc, accumulate=False)  # type: ignore[arg-type]
            items: Any = ChatCompletionEventStream(chunks, acc).__aiter__()
        else:
            items = ChatCompletionStream(body, acc).__aiter__()  # type: ignore[arg-type]
        step = items.__anext__
        # Nothing awaited waits, so each step ends at its first send(): with the item in
        # StopIteration, or with StopAsyncIteration after the last.
        try:
            while True:
                try:  # noqa: SIM105 - contextlib.suppress would cost more than the step
                    step().send(None)
                except StopIteration:
                    pass
        except StopAsyncIteration:
            pass
        acc.final_completion()

    return run


def _sdk_state(payloads: list[bytes], deadline: float) -> None:
    from openai._models import construct_type
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk as SDKChunk

    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "strict": True,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    state = ChatCompletionStreamState(input_tools=[tool])  # type: ignore[list-item]
    for done, payload in enumerate(payloads, 1):
        # What the SDK's stream does per event: json.loads, then build the model.
        chunk = construct_type(type_=SDKChunk, value=json.loads(payload))
        state.handle_chunk(chunk)  # type: ignore[arg-type]
        _check(deadline, done, every=256)
    state.get_final_completion()


def _feed_value(fragments: list[str], deadline: float) -> None:
    feed = PartialJSONParser().feed_value
    for done, fragment in enumerate(fragments, 1):
        feed(fragment)
        _check(deadline, done, every=1024)


def _feed_deltas(fragments: list[str], deadline: float) -> None:
    parser = PartialJSONParser(track_string_deltas=True)
    feed = parser.feed
    take = parser.take_string_deltas
    for fragment in fragments:
        feed(fragment)
        take()


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


class _Case:
    """One row: a measurement and how to build its input at a size (in bytes)."""

    def __init__(
        self,
        group: str,
        name: str,
        run: Callable[[Any, float], None],
        build: Callable[[int], tuple[Any, int]],
    ) -> None:
        self.group = group
        self.name = name
        self.run = run
        self.build = build  # size -> (input, bytes it stands for)


def _cases() -> list[_Case]:
    def sse(reads: Callable[[bytes], list[bytes]]) -> Callable[[int], tuple[Any, int]]:
        def build(size: int) -> tuple[Any, int]:
            body = _content_stream(size)
            return reads(body), len(body)

        return build

    def payloads(kind: str) -> Callable[[int], tuple[Any, int]]:
        def build(size: int) -> tuple[Any, int]:
            if kind == "text":
                body = _content_stream(size)
                return _payloads(body), len(body)
            # Per KB of arguments, as the suite's tool-call figures.
            arguments = _arguments(size, 31)
            return _payloads(_tool_stream(arguments)), len(arguments.encode())

        return build

    def fragments(kind: str) -> Callable[[int], tuple[Any, int]]:
        def build(size: int) -> tuple[Any, int]:
            text = _arguments(size, 31) if kind == "values" else _long_string_arguments(size)
            return _fragments(text), len(text.encode())

        return build

    def stream_reads(kind: str) -> Callable[[int], tuple[Any, int]]:
        def build(size: int) -> tuple[Any, int]:
            if kind == "text":
                body = _content_stream(size)
                return _reads(body, _READ), len(body)
            arguments = _arguments(size, 31)
            return _reads(_tool_stream(arguments), _READ), len(arguments.encode())

        return build

    big = sse(lambda body: _reads(body, _READ))
    return [
        _Case("sse", "floor framing, 64 KiB reads", _sse_floor, big),
        _Case("sse", "feed_payloads, 64 KiB reads", _sse_payloads, big),
        _Case("sse", "feed_payloads, one event per read", _sse_payloads, sse(_events_reads)),
        _Case(
            "sse",
            "feed_payloads, one event per read, general path",
            _sse_general,
            sse(_events_reads),
        ),
        _Case("sse", "feed (event objects), 64 KiB reads", _sse_events, big),
        _Case("sse", "openai SDK SSEDecoder, 64 KiB reads", _sse_sdk, big),
        _Case("accumulate", "decode + add, text", _accumulate("add"), payloads("text")),
        _Case("accumulate", "decode + process, text", _accumulate("process"), payloads("text")),
        _Case("accumulate", "decode + add, tool call", _accumulate("add"), payloads("tools")),
        _Case(
            "accumulate", "decode + process, tool call", _accumulate("process"), payloads("tools")
        ),
        _Case("accumulate", "openai SDK stream state, tool call", _sdk_state, payloads("tools")),
        _Case("stream", "chunks, text", _stream_loop("chunks"), stream_reads("text")),
        _Case("stream", "events, text", _stream_loop("events"), stream_reads("text")),
        _Case("stream", "chunks, tool call", _stream_loop("chunks"), stream_reads("tools")),
        _Case("stream", "events, tool call", _stream_loop("events"), stream_reads("tools")),
        _Case("partial_json", "feed_value, many values", _feed_value, fragments("values")),
        _Case("partial_json", "feed_value, one long string", _feed_value, fragments("string")),
        _Case(
            "partial_json",
            "feed + take_string_deltas, one long string",
            _feed_deltas,
            fragments("string"),
        ),
    ]


def _measure(case: _Case, size: int, repeat: int, budget: float) -> tuple[float, bool] | None:
    """µs per KB at ``size`` (and whether it is a lower bound), or None if unavailable.

    A small input is run several times per timing, enough for about 50 ms, so that the
    figure is not a clock's or a first call's noise.
    """
    data, nbytes = case.build(size)
    best: float | None = None
    loops = 1
    for attempt in range(repeat + 1):
        began = time.process_time()
        try:
            for _ in range(loops):
                case.run(data, time.perf_counter() + budget)
        except _OverBudget as over:
            spent = time.process_time() - began
            part = nbytes * over.done / max(len(data), 1)
            return spent * 1e6 / (part / 1024), True
        except ImportError:
            return None
        spent = (time.process_time() - began) / loops
        if attempt == 0:
            # The first run calibrates (and warms up); it is not counted.
            loops = max(1, min(1000, int(0.05 / max(spent, 1e-6))))
            if spent > budget:
                best = spent
                break
            continue
        best = spent if best is None else min(best, spent)
        if spent * loops > budget:
            break
    assert best is not None
    return best * 1e6 / (nbytes / 1024), False


def main(argv: list[str] | None = None) -> int:
    """Run the micro-benchmarks and print one table per layer."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro", description=__doc__)
    parser.add_argument("--sizes", default="10,100,1024", help="sizes in KB (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (the minimum)")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--only", action="append", help="only the groups or rows containing this")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    header = " | ".join(f"µs/KB at {s:,} KB" for s in sizes)
    group = ""
    for case in _cases():
        if args.only and not any(o in case.group or o in case.name for o in args.only):
            continue
        if case.group != group:
            group = case.group
            print(f"\n### {group}\n\n| measurement | {header} | growth |")
            print("|---|" + "---|" * (len(sizes) + 1))
        cells: list[str] = []
        figures: list[float] = []
        stopped = False
        for size in sizes:
            if stopped:
                cells.append("")
                continue
            result = _measure(case, size * 1024, args.repeat, args.budget)
            if result is None:
                cells.append("unavailable")
                stopped = True
                continue
            value, bound = result
            cells.append(f"{'≥ ' if bound else ''}{value:,.1f}")
            figures.append(value)
            stopped = bound
        growth = f"{figures[-1] / figures[0]:.1f}x" if len(figures) > 1 else ""
        print(f"| {case.name} | " + " | ".join(cells) + f" | {growth} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
