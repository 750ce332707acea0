"""The scenarios: their sizes, their requests and the exact bytes the server sends.

Everything is generated from fixed seeds, so the server (which sends the bytes), the
runner (which only needs the requests) and the suite (which checks the floor's output
against the expected one and divides by chunk counts) agree without talking.

The streams look like what the OpenAI API sends: a first chunk with the role, one
chunk per token (content) or per 4-character fragment of tool-call arguments, a last
chunk with ``finish_reason`` and then ``data: [DONE]``. Content mixes ASCII words with
non-ASCII text, quotes, backslashes and newlines so that JSON escapes and UTF-8 are on
the measured path; tool-call arguments are nested JSON documents cut every 4 characters
(inside strings, escapes and numbers, as real models cut them). A structured answer is a
JSON document of the ``Report`` type (``clients/_report.py``) streamed as content in
16-character fragments, cut the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from benchmarks.common import Output, Request

__all__ = [
    "PRESETS",
    "SCENARIOS",
    "STRUCTURED_FRAGMENT",
    "WARMUP_JSON",
    "WARMUP_STREAM",
    "WARMUP_STRUCTURED",
    "Payload",
    "Preset",
    "Scenario",
    "build_payloads",
    "canonical",
    "requests",
    "scale_model",
    "structured_model",
]

_CREATED = 1_730_000_000
_FINGERPRINT = "fp_bench01"


@dataclass(frozen=True)
class Preset:
    """The sizes of one kind of run: ``default``, ``quick`` (``--quick``) or ``full``.

    ``full`` has the sizes of the issue that asked for these benchmarks and runs every
    repeat of every client: on two cores it takes about 20 minutes, because the official
    SDK spends 200-300 µs per chunk. ``default`` keeps the sizes but ends in about six
    minutes: a client's repeats in a scenario stop once its runs there took
    ``time_cap_s`` (it always runs at least once; the tables say how many runs count),
    the concurrent streams carry 50 chunks instead of 200 (1,000 x 200 chunks is a
    minute per run of the SDK), the SDK's stream helper sits out ``concurrent_1000``
    (its rows elsewhere show its per-chunk cost), a ``tools_scale`` stream is stopped
    after 10 s instead of 60 s and a ``structured_scale`` stream after 60 s instead of
    300 s (the SDK's helper needs far longer than that for 1 MB).
    """

    name: str
    repeat: int
    content_chunks: int
    tool_call_kb: int  # per tool call; tools_60k has three
    scale_kb: tuple[int, ...]
    concurrent_streams: int
    concurrent_chunks: int
    nonstream_requests: int
    nonstream_concurrency: int
    nonstream_content_chars: int
    ttft_requests: int
    import_runs: int
    scale_budget_s: float  # a tools_scale stream slower than this is stopped
    time_cap_s: float  # a client's repeats in a scenario stop after this much wall time
    structured_budget_s: float  # a structured_scale stream slower than this is stopped
    skip: frozenset[tuple[str, str]] = frozenset()  # (scenario, client) not run
    # One runner process per client for all scenarios instead of one per scenario: saves
    # the start-ups (``import openai`` is a second of CPU) at the price of a peak RSS
    # that is the client's over every scenario so far.
    shared_processes: bool = False


PRESETS: dict[str, Preset] = {
    "full": Preset(
        name="full",
        repeat=5,
        content_chunks=20_000,
        tool_call_kb=20,
        scale_kb=(10, 100, 1024),
        concurrent_streams=1000,
        concurrent_chunks=200,
        nonstream_requests=2000,
        nonstream_concurrency=100,
        nonstream_content_chars=1500,
        ttft_requests=200,
        import_runs=9,
        scale_budget_s=60.0,
        time_cap_s=float("inf"),
        structured_budget_s=300.0,
    ),
    "default": Preset(
        name="default",
        repeat=5,
        content_chunks=20_000,
        tool_call_kb=20,
        scale_kb=(10, 100, 1024),
        concurrent_streams=1000,
        concurrent_chunks=50,
        nonstream_requests=2000,
        nonstream_concurrency=100,
        nonstream_content_chars=1500,
        ttft_requests=200,
        import_runs=7,
        scale_budget_s=10.0,
        time_cap_s=15.0,
        structured_budget_s=60.0,
        skip=frozenset({("concurrent_1000", "openai-helper")}),
    ),
    "quick": Preset(
        name="quick",
        repeat=2,
        content_chunks=2000,
        tool_call_kb=2,
        scale_kb=(2, 8, 32),
        concurrent_streams=100,
        concurrent_chunks=20,
        nonstream_requests=200,
        nonstream_concurrency=20,
        nonstream_content_chars=1500,
        ttft_requests=20,
        import_runs=3,
        scale_budget_s=2.0,
        time_cap_s=1.5,
        structured_budget_s=2.0,
        shared_processes=True,
    ),
}


@dataclass(frozen=True)
class Scenario:
    """One named benchmark: which clients take part and what it reports."""

    name: str
    title: str
    clients: tuple[str, ...]
    description: str


_ALL = (
    "floor",
    "kkiai-chunks",
    "kkiai-events",
    "kkiai-httpx",
    "openai-httpx",
    "openai-aiohttp",
    "openai-helper",
    "httpx-sse",
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "content_20k",
            "One long text stream",
            _ALL,
            "One stream of {content_chunks:,} content chunks.",
        ),
        Scenario(
            "tools_60k",
            "Three parallel tool calls",
            _ALL,
            "One stream of three parallel tool calls, {tool_call_kb} KB of arguments each,"
            " in 4-character fragments.",
        ),
        Scenario(
            "tools_scale",
            "Tool-call arguments of growing size",
            ("kkiai-events", "openai-helper", "floor"),
            "One tool call whose arguments are {scale_sizes} in 4-character fragments;"
            " time per KB at each size (flat = linear). A stream that takes longer than"
            " {scale_budget_s:g} s is stopped and its figure is a lower bound.",
        ),
        Scenario(
            "structured_scale",
            "Structured outputs",
            ("kkiai-chunks", "kkiai-events", "openai-helper", "floor"),
            "One structured answer of {scale_sizes} of JSON (a report: a list of records with"
            " strings holding escapes and non-ASCII text, numbers, booleans, nested objects,"
            " lists of lists and nulls), streamed as content in {structured_fragment}-character"
            " fragments. `response_format` is the type: a `msgspec.Struct` for `kkiai_async`,"
            " the equivalent pydantic model for the SDK. The `stream()` clients show live"
            " progress (the number of records parsed so far, read from each delta's"
            " `parsed`); `create(stream=True)` iterates the chunks and gets the typed answer"
            " at the end, as the floor does. Every client ends with the typed answer, which"
            " must equal the document sent. CPU time per KB of the answer at each size"
            " (flat = linear). A stream that takes longer than {structured_budget_s:g} s is"
            " stopped and its figure is a lower bound. Only this scenario:"
            " `python -m benchmarks --scenario structured_scale`.",
        ),
        Scenario(
            "concurrent_1000",
            "Many concurrent streams",
            _ALL,
            "{concurrent_streams:,} concurrent streams of {concurrent_chunks} chunks on one"
            " event loop, all open at once (the server holds them after the first chunk until"
            " all have arrived).",
        ),
        Scenario(
            "nonstream_2000",
            "Non-streamed requests",
            (
                "kkiai-chunks",
                "kkiai-httpx",
                "openai-httpx",
                "openai-aiohttp",
                "httpx-sse",
                "floor",
            ),
            "{nonstream_requests:,} non-streamed requests at concurrency {nonstream_concurrency}.",
        ),
        Scenario(
            "ttft",
            "Time to first token",
            _ALL,
            "Median time from the request to the first content delta over {ttft_requests}"
            " sequential requests; the server sends that delta right after the headers.",
        ),
        Scenario(
            "import_time",
            "Import time",
            ("kkiai-chunks", "kkiai-httpx", "openai-httpx", "httpx-sse", "floor"),
            "Wall time of `python -c 'import X'` minus `python -c 'pass'`, median of"
            " {import_runs} interleaved runs.",
        ),
    )
}


@dataclass(frozen=True)
class Payload:
    """One pre-encoded response, built once when the server starts.

    ``head`` is written right after the headers; ``tail`` after the barrier (``barrier``
    streams of the same model waiting) or at once. For a non-streamed payload ``head``
    is the whole JSON body.
    """

    request: Request
    head: bytes
    tail: bytes
    chunks: int
    output: Output
    barrier: int = 0
    arguments_bytes: int = 0
    answer_bytes: int = 0  # a structured answer's content, UTF-8

    @property
    def model(self) -> str:
        """The model name that selects this payload on the server."""
        return self.request.model


# --------------------------------------------------------------------------------------
# Generated text
# --------------------------------------------------------------------------------------

_WORDS = (
    "the", "stream", "of", "tokens", "arrives", "quickly", "and", "every", "delta",
    "is", "decoded", "once", "café", "naïve", "façade", "Zürich", "日本語", "テキスト",
    "—", "“quoted”", '"json"', "back\\slash", "tab\there", "emoji 🚀", "∑ x²", "end.\n",
    "\n\n", "42", "3.14159", "{", "}", "[1, 2]", "<tag>", "&amp;", "ok", ",",
)  # fmt: skip


def _tokens(count: int, seed: int) -> list[str]:
    """``count`` token-like pieces: a word, mostly with a leading space as BPE makes them."""
    rng = random.Random(seed)
    return [(" " if rng.random() < 0.8 else "") + rng.choice(_WORDS) for _ in range(count)]


def _arguments(size_bytes: int, seed: int) -> str:
    """A JSON object of about ``size_bytes`` bytes (UTF-8), nested as tool arguments are."""
    rng = random.Random(seed)
    records: list[str] = []
    total = len('{"query":"benchmark","records":[]}')
    index = 0
    while total < size_bytes:
        record = {
            "id": index,
            "title": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6))),
            "score": round(rng.random() * 100, 3),
            "tags": [rng.choice(("a", "bb", "ccc", "ünï", "x-y")) for _ in range(3)],
            "active": rng.random() < 0.5,
            "parent": None if rng.random() < 0.7 else index - 1,
            "meta": {"depth": rng.randint(0, 9), "path": f"/r/{index}/n"},
        }
        text = msgspec.json.encode(record).decode()
        records.append(text)
        total += len(text.encode()) + 1
        index += 1
    return '{"query":"benchmark","records":[' + ",".join(records) + "]}"


def _fragments(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


STRUCTURED_FRAGMENT = 16  # characters of a structured answer per content delta
_TAGS = ("alpha", "β-test", "ops", "on-call", "日本", "x/y", "legacy", "q\\3")
_SENSORS = ("temp", "pressure", "humidité", "流量", 'volt "main"')
_UNITS = ("°C", "kPa", "µs", "m/s²", "%")


def _phrase(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high))).strip()


def _report(size_bytes: int, seed: int) -> str:
    """A ``Report`` (``clients/_report.py``) of about ``size_bytes`` bytes of compact JSON.

    The records mix what structured answers hold: strings with quotes, backslashes,
    tabs, newlines and non-ASCII text (``_WORDS``), integers, floats (some negative),
    booleans, nullable fields, nested objects and a list of lists.
    """
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    total = 300  # the report's own fields
    while total < size_bytes:
        index = len(records)
        record = {
            "id": index,
            "title": _phrase(rng, 2, 6),
            "summary": _phrase(rng, 8, 24),
            "score": round(rng.uniform(-50, 150), 3),
            "active": rng.random() < 0.6,
            "tags": [rng.choice(_TAGS) for _ in range(rng.randint(0, 4))],
            "parent": rng.randrange(index) if index and rng.random() < 0.3 else None,
            "note": _phrase(rng, 3, 10) if rng.random() < 0.4 else None,
            "readings": [
                {
                    "sensor": rng.choice(_SENSORS),
                    "value": round(rng.gauss(20, 15), 4),
                    "unit": rng.choice(_UNITS),
                    "ok": rng.random() < 0.9,
                }
                for _ in range(rng.randint(0, 3))
            ],
            "grid": [
                [rng.randint(-999, 9999) for _ in range(rng.randint(1, 4))]
                for _ in range(rng.randint(0, 3))
            ],
        }
        records.append(record)
        total += len(_encoder.encode(record)) + 1
    active = sum(1 for record in records if record["active"])
    report = {
        "title": "Quarterly “benchmark” report — Zürich \\ 東京",
        "author": "kkiai-bench",
        "version": 3,
        "draft": False,
        "records": records,
        "summary": {
            "count": len(records),
            "active": active,
            "mean_score": round(sum(r["score"] for r in records) / max(len(records), 1), 6),
        },
    }
    return _encoder.encode(report).decode()


_canonical_encoder = msgspec.json.Encoder(order="sorted")


def canonical(value: Any) -> str:
    """A JSON value's canonical text: sorted keys, msgspec's number formatting.

    What a typed answer is compared as: the client's value converted to JSON values
    (``to_builtins``) and encoded here must equal the document sent, encoded here.
    """
    return _canonical_encoder.encode(value).decode()


# --------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    frame = {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return b"data: " + _encoder.encode(frame) + b"\n\n"


_DONE = b"data: [DONE]\n\n"


def _tool_param(name: str) -> dict[str, Any]:
    """A strict function tool: the SDK's stream helper only parses strict tools' arguments."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Benchmark tool {name}.",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "records": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["query", "records"],
                "additionalProperties": False,
            },
        },
    }


def _tools_request(model: str, names: list[str]) -> Request:
    return Request(
        model=model, stream=True, tools=tuple(_tool_param(name) for name in dict.fromkeys(names))
    )


_TOOLS_60K_NAMES = ["search_flights", "get_weather", "create_report"]
_SCALE_TOOL = "store_records"
WARMUP_STREAM = _tools_request("bench-warmup", ["warm_up"])
WARMUP_JSON = Request(model="bench-warmup-json", stream=False)


def scale_model(kb: int) -> str:
    """The model name of the tools_scale payload with ``kb`` KiB of arguments."""
    return f"bench-scale-{kb}k"


def structured_model(kb: int) -> str:
    """The model name of the structured_scale payload with a ``kb`` KiB answer."""
    return f"bench-structured-{kb}k"


WARMUP_STRUCTURED = Request(model="bench-warmup-structured", stream=True, structured=True)


def requests(scenario: str, preset: Preset) -> list[Request]:
    """The requests a runner makes for ``scenario``, without building any payload.

    The runner must not build the bodies: generating them costs time and, worse, memory
    that would count in the client's peak RSS.
    """
    if scenario == "content_20k":
        return [Request(model="bench-content", stream=True)]
    if scenario == "tools_60k":
        return [_tools_request("bench-tools", _TOOLS_60K_NAMES)]
    if scenario == "tools_scale":
        return [_tools_request(scale_model(kb), [_SCALE_TOOL]) for kb in preset.scale_kb]
    if scenario == "structured_scale":
        return [
            Request(model=structured_model(kb), stream=True, structured=True)
            for kb in preset.scale_kb
        ]
    if scenario == "concurrent_1000":
        return [Request(model="bench-concurrent", stream=True)]
    if scenario == "nonstream_2000":
        return [Request(model="bench-nonstream", stream=False)]
    if scenario == "ttft":
        return [Request(model="bench-ttft", stream=True)]
    raise ValueError(f"no requests for scenario {scenario!r}")


def _content_payload(model: str, tokens: list[str], *, split: int = 0, barrier: int = 0) -> Payload:
    """A text stream; the first ``split`` content chunks go in ``head``."""
    frames = [_chunk(model, {"role": "assistant", "content": "", "refusal": None})]
    frames += [_chunk(model, {"content": token}) for token in tokens]
    frames.append(_chunk(model, {}, "stop"))
    cut = 1 + split if split else len(frames)
    head = b"".join(frames[:cut])
    tail = b"".join(frames[cut:]) + _DONE
    if not split:
        head, tail = head + tail, b""
    return Payload(
        request=Request(model=model, stream=True),
        head=head,
        tail=tail,
        chunks=len(frames),
        output=Output(content="".join(tokens), tool_calls=(), finish_reason="stop"),
        barrier=barrier,
    )


def _tools_payload(model: str, calls: list[tuple[str, str]], content: list[str]) -> Payload:
    """A stream of ``content`` tokens, then the tool calls ``(name, arguments)`` in turn."""
    frames = [_chunk(model, {"role": "assistant", "content": "", "refusal": None})]
    frames += [_chunk(model, {"content": token}) for token in content]
    expected: list[tuple[str, str, str]] = []
    for index, (name, arguments) in enumerate(calls):
        call_id = f"call_bench{index:02d}{name}"
        start = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        frames.append(_chunk(model, {"tool_calls": [start]}))
        frames += [
            _chunk(model, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _fragments(arguments)
        ]
        expected.append((call_id, name, arguments))
    frames.append(_chunk(model, {}, "tool_calls"))
    return Payload(
        request=_tools_request(model, [name for name, _ in calls]),
        head=b"".join(frames) + _DONE,
        tail=b"",
        chunks=len(frames),
        output=Output(
            content="".join(content), tool_calls=tuple(expected), finish_reason="tool_calls"
        ),
        arguments_bytes=sum(len(arguments.encode()) for _, arguments in calls),
    )


def _structured_payload(model: str, size_bytes: int, seed: int) -> Payload:
    """A structured answer streamed as content; the expected output is its canonical text."""
    text = _report(size_bytes, seed)
    payload = _content_payload(model, _fragments(text, STRUCTURED_FRAGMENT))
    return replace(
        payload,
        request=Request(model=model, stream=True, structured=True),
        output=Output(
            content=canonical(msgspec.json.decode(text)), tool_calls=(), finish_reason="stop"
        ),
        answer_bytes=len(text.encode()),
    )


def _nonstream_payload(model: str, chars: int) -> Payload:
    """A typical non-streamed completion of about ``chars`` characters of text."""
    tokens: list[str] = []
    length = 0
    for token in _tokens(chars, seed=7):
        if length >= chars:
            break
        tokens.append(token)
        length += len(token)
    content = "".join(tokens)
    body = {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion",
        "created": _CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 25,
            "completion_tokens": len(tokens),
            "total_tokens": 25 + len(tokens),
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    return Payload(
        request=Request(model=model, stream=False),
        head=_encoder.encode(body),
        tail=b"",
        chunks=1,
        output=Output(content=content, tool_calls=(), finish_reason="stop"),
    )


def build_payloads(preset: Preset, only: set[str] | None = None) -> dict[str, Payload]:
    """Every payload a run of ``preset`` needs, keyed by model name.

    Args:
        preset: The sizes.
        only: Scenario names to build for (the warm-up payloads are always built);
            ``None`` builds all. Building the 1 MiB tool stream takes about a second,
            which a one-scenario run need not pay.

    Returns:
        ``{model: Payload}``.
    """

    def wanted(name: str) -> bool:
        return only is None or name in only

    payloads: list[Payload] = [
        _tools_payload(
            "bench-warmup",
            [("warm_up", _arguments(600, seed=99))],
            _tokens(50, seed=98),
        ),
        _nonstream_payload("bench-warmup-json", 200),
    ]
    if wanted("content_20k"):
        payloads.append(_content_payload("bench-content", _tokens(preset.content_chunks, seed=1)))
    if wanted("tools_60k"):
        size = preset.tool_call_kb * 1024
        calls = [(name, _arguments(size, seed=11 + i)) for i, name in enumerate(_TOOLS_60K_NAMES)]
        payloads.append(_tools_payload("bench-tools", calls, []))
    if wanted("tools_scale"):
        payloads += [
            _tools_payload(scale_model(kb), [(_SCALE_TOOL, _arguments(kb * 1024, seed=21))], [])
            for kb in preset.scale_kb
        ]
    if wanted("structured_scale"):
        payloads.append(_structured_payload(WARMUP_STRUCTURED.model, 2048, seed=97))
        payloads += [
            _structured_payload(structured_model(kb), kb * 1024, seed=31) for kb in preset.scale_kb
        ]
    if wanted("concurrent_1000"):
        payloads.append(
            _content_payload(
                "bench-concurrent",
                _tokens(preset.concurrent_chunks - 2, seed=3),
                split=1,
                barrier=preset.concurrent_streams,
            )
        )
    if wanted("nonstream_2000"):
        payloads.append(_nonstream_payload("bench-nonstream", preset.nonstream_content_chars))
    if wanted("ttft"):
        payloads.append(_content_payload("bench-ttft", _tokens(30, seed=5), split=1))
    return {payload.model: payload for payload in payloads}
