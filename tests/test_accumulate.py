"""Tests for kkiai_async._accumulate: chunks -> the assembled completion and stream events.

Chunks are written as the JSON text a relay sends and decoded with the chunk decoder,
so the tests see exactly what the streaming path sees (``null`` vs missing keys too).
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkiai_async._accumulate import ChatCompletionAccumulator
from kkiai_async.types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChunkEvent,
    StreamEvent,
    TextDeltaEvent,
    ToolCallArgumentsDeltaEvent,
    ToolCallDoneEvent,
)

_DECODER = msgspec.json.Decoder(ChatCompletionChunk)
_MISSING: Any = object()


# --------------------------------------------------------------------------------------
# Building chunks as a relay sends them
# --------------------------------------------------------------------------------------


def wire(*choices: dict[str, Any], **top: Any) -> ChatCompletionChunk:
    """A chunk decoded from JSON text: default id/model/created, ``top`` overriding them."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m-1",
        "choices": list(choices),
    }
    body.update(top)
    return _DECODER.decode(json.dumps(body))


def choice(
    index: int = 0, finish: str | None = None, logprobs: Any = _MISSING, **delta: Any
) -> dict[str, Any]:
    """One choice of a chunk: its delta fields as keywords."""
    out: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish}
    if logprobs is not _MISSING:
        out["logprobs"] = logprobs
    return out


def frag(**fields: Any) -> dict[str, Any]:
    """A tool-call fragment; ``name``/``arguments`` go under ``function``, absent if not given."""
    out: dict[str, Any] = {k: fields.pop(k) for k in ("index", "id", "type") if k in fields}
    if fields:
        out["function"] = fields
    return out


def tc(*frags: dict[str, Any], index: int = 0, finish: str | None = None) -> ChatCompletionChunk:
    """A chunk carrying tool-call fragments for choice ``index``."""
    return wire(choice(index, finish, tool_calls=list(frags)))


def finish(reason: str = "stop", index: int = 0) -> ChatCompletionChunk:
    """A chunk that only finishes choice ``index``."""
    return wire(choice(index, reason))


def tok(token: str, logprob: float = -0.5) -> dict[str, Any]:
    """One token logprob as the API sends it."""
    return {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": []}


USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def usage_chunk(usage: dict[str, Any] = USAGE) -> ChatCompletionChunk:
    """The ``include_usage`` chunk: empty ``choices`` and the usage."""
    return wire(usage=usage)


# --------------------------------------------------------------------------------------
# Driving the accumulator
# --------------------------------------------------------------------------------------


@pytest.fixture(params=["add", "process"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both entry points must assemble identically."""
    return str(request.param)


def assemble(chunks: list[ChatCompletionChunk], mode: str = "add", **kw: Any) -> ChatCompletion:
    acc = ChatCompletionAccumulator(**kw)
    for c in chunks:
        if mode == "add":
            acc.add(c)
        else:
            acc.process(c)
    if mode == "process":
        acc.end()
    return acc.final_completion()


def run_events(chunks: list[ChatCompletionChunk], *, end: bool = True, **kw: Any) -> list[Any]:
    """Every event of ``process()`` (and ``end()``) as builtins, captured when emitted.

    Captured at once because ``parsed`` values are live and change with later chunks.
    """
    acc = ChatCompletionAccumulator(**kw)
    out: list[Any] = []
    for c in chunks:
        out += [msgspec.to_builtins(e) for e in acc.process(c)]
    if end:
        out += [msgspec.to_builtins(e) for e in acc.end()]
    return out


def calls_of(completion: ChatCompletion, index: int = 0) -> list[tuple[str, str, str, str]] | None:
    """The tool calls of a choice as (id, type, name, arguments)."""
    calls = completion.choices[index].message.tool_calls
    if calls is None:
        return None
    return [(c.id, c.type, c.function.name, c.function.arguments) for c in calls]


def subset(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` has every key of ``expected`` with equal values (lists: same length)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(subset(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected and type(actual) is type(expected))


# --------------------------------------------------------------------------------------
# Tool calls: what real relays send
# --------------------------------------------------------------------------------------

TOOL_CALL_CASES = [
    pytest.param(
        [
            tc(frag(index=0, id="call_a", type="function", name="f", arguments="")),
            tc(frag(index=0, arguments='{"x"')),
            tc(frag(index=0, arguments=": 1}")),
        ],
        [("call_a", "function", "f", '{"x": 1}')],
        id="standard_openai",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", type="function", name="f", arguments='{"x"')),
            tc(frag(index=0, id="call_a", type="function", name="f", arguments=": 1")),
            tc(frag(index=0, id="call_a", type="function", name="f", arguments="}")),
        ],
        [("call_a", "function", "f", '{"x": 1}')],
        id="id_and_name_repeated_every_delta",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", name="f", arguments='{"x"')),
            tc(frag(index=0, id="call_a", name="g", arguments=": 1}")),
        ],
        [("call_a", "function", "f", '{"x": 1}')],
        id="different_name_same_id_ignored",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", name="f", arguments='{"x"')),
            tc(frag(index=0, id="", arguments=": 1}")),
        ],
        [("call_a", "function", "f", '{"x": 1}')],
        id="empty_id_on_continuation",
    ),
    pytest.param(
        [
            tc(frag(id="call_a", name="f", arguments='{"a"')),
            tc(frag(id="call_b", name="g", arguments='{"b"')),
            tc(frag(id="call_a", arguments=": 1}")),
            tc(frag(id="call_b", arguments=": 2}")),
        ],
        [("call_a", "function", "f", '{"a": 1}'), ("call_b", "function", "g", '{"b": 2}')],
        id="index_missing_matched_by_id",
    ),
    pytest.param(
        [
            tc(frag(id="call_a", name="f", arguments='{"a"')),
            tc(frag(arguments=": 1}")),
            tc(frag(id="call_b", name="g", arguments="{")),
            tc(frag(arguments="}")),
        ],
        [("call_a", "function", "f", '{"a": 1}'), ("call_b", "function", "g", "{}")],
        id="index_missing_continues_latest_call",
    ),
    pytest.param(
        [
            tc(frag(id="call_a", name="f", arguments="{")),
            tc(frag(index=0, arguments='"a": 1')),
            tc(frag(index=0, arguments="}")),
            tc(frag(index=1, id="call_b", name="g", arguments="{}")),
        ],
        [("call_a", "function", "f", '{"a": 1}'), ("call_b", "function", "g", "{}")],
        id="index_appears_after_first_fragment",
    ),
    pytest.param(
        [tc(frag(name="f", arguments="{")), tc(frag(arguments="}"))],
        [("", "function", "f", "{}")],
        id="index_and_id_missing_from_the_start",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", name="f", arguments="{}")),
            tc(frag(index=0, id="call_b", name="g", arguments='{"y"')),
            tc(frag(index=0, arguments=": 2}")),
        ],
        [("call_a", "function", "f", "{}"), ("call_b", "function", "g", '{"y": 2}')],
        id="index_reused_with_new_id",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", type="function", name="f", arguments="")),
            tc(frag(index=0, arguments='{"a": 1}')),
            tc(frag(index=0, id="call_b", type="function", name="g", arguments="")),
            tc(frag(index=0, arguments='{"b": 2}')),
            tc(frag(index=0, id="call_c", type="function", name="h", arguments="")),
            tc(frag(index=0, arguments='{"c": 3}')),
        ],
        [
            ("call_a", "function", "f", '{"a": 1}'),
            ("call_b", "function", "g", '{"b": 2}'),
            ("call_c", "function", "h", '{"c": 3}'),
        ],
        id="parallel_calls_all_at_index_0",
    ),
    pytest.param(
        [
            tc(frag(index=0, name="f", arguments='{"a"')),
            tc(frag(index=1, name="g", arguments='{"b"')),
            tc(frag(index=0, arguments=": 1}")),
            tc(frag(index=1, arguments=": 2}")),
        ],
        [("", "function", "f", '{"a": 1}'), ("", "function", "g", '{"b": 2}')],
        id="no_id_at_all",
    ),
    pytest.param(
        [
            tc(frag(index=0, type="function", name="f")),
            tc(frag(index=0, id="call_a", arguments="{}")),
        ],
        [("call_a", "function", "f", "{}")],
        id="id_arrives_after_first_fragment",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", type="function")),
            tc(frag(index=0, name="f")),
            tc(frag(index=0, arguments="{}")),
        ],
        [("call_a", "function", "f", "{}")],
        id="name_in_a_later_fragment",
    ),
    pytest.param(
        [tc(frag(index=0, id="call_a", type="function", name="f", arguments='{"x": [1, 2]}'))],
        [("call_a", "function", "f", '{"x": [1, 2]}')],
        id="whole_arguments_in_one_delta",
    ),
    pytest.param(
        [
            tc(
                frag(index=0, id="call_a", type="function", name="f", arguments='{"a": 1}'),
                frag(index=1, id="call_b", type="function", name="g", arguments='{"b": 2}'),
            )
        ],
        [("call_a", "function", "f", '{"a": 1}'), ("call_b", "function", "g", '{"b": 2}')],
        id="several_complete_calls_in_one_delta",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", type="function", name="f", arguments='{"a": 1}')),
            tc(frag(index=1, id="call_b", type="function", name="g", arguments='{"b": 2}')),
            tc(
                frag(index=0, id="call_a", type="function", name="f", arguments=""),
                frag(index=1, id="call_b", type="function", name="g", arguments=""),
                finish="tool_calls",
            ),
        ],
        [("call_a", "function", "f", '{"a": 1}'), ("call_b", "function", "g", '{"b": 2}')],
        id="final_chunk_repeats_calls_with_empty_arguments",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", type="function", name="f", arguments='{"a": 1}')),
            tc(frag(index=1, id="call_b", type="function", name="g", arguments='{"b": 2}')),
            tc(
                frag(index=0, id="call_a", name="f", arguments=""),
                frag(index=0, id="call_b", name="g", arguments=""),
            ),
        ],
        [("call_a", "function", "f", '{"a": 1}'), ("call_b", "function", "g", '{"b": 2}')],
        id="final_chunk_repeats_calls_all_at_index_0",
    ),
    pytest.param(
        [tc(frag(index=0, id="call_a", type="function", name="f", arguments={"x": 1, "y": "é"}))],
        [("call_a", "function", "f", '{"x":1,"y":"é"}')],
        id="arguments_as_json_object",
    ),
    pytest.param(
        [tc(frag(index=0, id="call_a", name="f", arguments="{}"))],
        [("call_a", "function", "f", "{}")],
        id="type_missing_defaults_to_function",
    ),
    pytest.param(
        [
            tc(frag(index=0, id="call_a", type="function", name="f", arguments=None)),
            tc(frag(index=0, id=None, type=None, name=None, arguments="{}")),
            tc({"index": 0, "function": None}),
        ],
        [("call_a", "function", "f", "{}")],
        id="explicit_nulls",
    ),
    pytest.param(
        [tc(frag(index=0, id="call_a", type="function", name="f", arguments=""))],
        [("call_a", "function", "f", "")],
        id="no_arguments_text",
    ),
]


@pytest.mark.parametrize(("chunks", "expected"), TOOL_CALL_CASES)
def test_tool_call_merging(
    chunks: list[ChatCompletionChunk], expected: list[tuple[str, str, str, str]], mode: str
) -> None:
    """Tool-call fragments merge into the calls a non-streamed response would hold."""
    assert calls_of(assemble(chunks, mode)) == expected


@pytest.mark.parametrize(("chunks", "expected"), TOOL_CALL_CASES)
def test_tool_call_events_match_completion(
    chunks: list[ChatCompletionChunk], expected: list[tuple[str, str, str, str]]
) -> None:
    """One started and one done event per call, in order, agreeing with the completion."""
    events = run_events(chunks)
    started = [(e["index"], e["id"], e["name"]) for e in events if e["type"] == "tool_call.started"]
    done = [
        (e["index"], e["id"], e["name"], e["arguments"])
        for e in events
        if e["type"] == "tool_call.done"
    ]
    assert started == [(i, c[0] or None, c[2]) for i, c in enumerate(expected)]
    assert done == [(i, c[0] or None, c[2], c[3]) for i, c in enumerate(expected)]
    first_event_of_call: dict[int, str] = {}
    for e in events:
        if e["type"].startswith("tool_call."):
            first_event_of_call.setdefault(e["index"], e["type"])
    assert set(first_event_of_call.values()) == {"tool_call.started"}


def test_interleaved_parallel_calls_close_at_finish() -> None:
    """Calls whose fragments interleave are not closed early: done events carry whole arguments."""
    chunks = [
        tc(frag(index=0, id="call_a", name="f", arguments='{"a": ')),
        tc(frag(index=1, id="call_b", name="g", arguments='{"b": ')),
        tc(frag(index=0, arguments="1}")),
        tc(frag(index=1, arguments="2}")),
        finish("tool_calls"),
    ]
    events = run_events(chunks)
    assert [(e["type"], e["index"]) for e in events if e["type"] != "choice.finished"] == [
        ("tool_call.started", 0),
        ("tool_call.arguments.delta", 0),
        ("tool_call.started", 1),
        ("tool_call.arguments.delta", 1),
        ("tool_call.arguments.delta", 0),
        ("tool_call.arguments.delta", 1),
        ("tool_call.done", 0),
        ("tool_call.done", 1),
    ]
    done = [
        (e["arguments"], e["parsed_arguments"]) for e in events if e["type"] == "tool_call.done"
    ]
    assert done == [('{"a": 1}', {"a": 1}), ('{"b": 2}', {"b": 2})]


def test_call_without_arguments_yet_stays_open_when_next_starts() -> None:
    """A call with no arguments text when the next call starts is closed at the finish."""
    chunks = [
        tc(frag(index=0, id="call_a", name="f", arguments="")),
        tc(frag(index=1, id="call_b", name="g", arguments="{}")),
        finish("tool_calls"),
    ]
    types = [(e["type"], e.get("index")) for e in run_events(chunks)]
    assert types == [
        ("tool_call.started", 0),
        ("tool_call.started", 1),
        ("tool_call.arguments.delta", 1),
        ("tool_call.done", 0),
        ("tool_call.done", 1),
        ("choice.finished", None),
    ]


def test_tool_calls_none_when_no_call(mode: str) -> None:
    """A choice without tool calls has tool_calls None, as a non-streamed response."""
    completion = assemble([wire(choice(content="hi")), finish()], mode)
    assert completion.choices[0].message.tool_calls is None


# --------------------------------------------------------------------------------------
# Assembly rules
# --------------------------------------------------------------------------------------

ASSEMBLY_CASES = [
    pytest.param(
        [
            wire(choice(1, content="b1")),
            wire(choice(0, content="a1")),
            wire(choice(1, content="b2")),
        ],
        {
            "choices": [
                {"index": 0, "message": {"content": "a1"}},
                {"index": 1, "message": {"content": "b1b2"}},
            ]
        },
        id="choice_1_arrives_first",
    ),
    pytest.param(
        [wire(choice(2, content="c")), wire(choice(0, content="a"))],
        {
            "choices": [
                {"index": 0, "message": {"content": "a"}},
                {"index": 2, "message": {"content": "c"}},
            ]
        },
        id="sparse_choice_indexes_sorted",
    ),
    pytest.param(
        [
            wire(choice(0, content="a"), choice(1, content="b")),
            wire(choice(1, content="B"), choice(0, content="A")),
        ],
        {
            "choices": [
                {"index": 0, "message": {"content": "aA"}},
                {"index": 1, "message": {"content": "bB"}},
            ]
        },
        id="several_choices_in_one_chunk",
    ),
    pytest.param(
        [
            wire(choice(role="assistant", content="")),
            wire(choice(content="Hel")),
            wire(choice(content="lo")),
        ],
        {"choices": [{"message": {"role": "assistant", "content": "Hello", "refusal": None}}]},
        id="content_joined",
    ),
    pytest.param(
        [wire(choice(role="assistant", content="")), wire(choice(content=None)), finish()],
        {"choices": [{"message": {"content": None}}]},
        id="content_none_when_only_empty_arrived",
    ),
    pytest.param(
        [wire(choice(refusal="I can")), wire(choice(refusal="not."))],
        {"choices": [{"message": {"content": None, "refusal": "I cannot."}}]},
        id="refusal_joined",
    ),
    pytest.param(
        [
            wire(choice(reasoning_content="Think")),
            wire(choice(reasoning_content="ing")),
            wire(choice(content="A")),
        ],
        {"choices": [{"message": {"reasoning_content": "Thinking", "content": "A"}}]},
        id="reasoning_content_joined",
    ),
    pytest.param(
        [wire(choice(reasoning="Think")), wire(choice(reasoning="ing"))],
        {"choices": [{"message": {"reasoning_content": "Thinking"}}]},
        id="reasoning_relay_naming",
    ),
    pytest.param(
        [wire(choice(reasoning_content="Th", reasoning="Th")), wire(choice(reasoning="ink"))],
        {"choices": [{"message": {"reasoning_content": "Think"}}]},
        id="reasoning_under_both_names_not_doubled",
    ),
    pytest.param(
        [
            wire(choice(role="assistant", function_call={"name": "f", "arguments": ""})),
            wire(choice(function_call={"arguments": '{"x"'})),
            wire(choice(function_call={"name": "f", "arguments": ": 1}"})),
            finish("function_call"),
        ],
        {
            "choices": [
                {
                    "finish_reason": "function_call",
                    "message": {
                        "function_call": {"name": "f", "arguments": '{"x": 1}'},
                        "tool_calls": None,
                    },
                }
            ]
        },
        id="legacy_function_call",
    ),
    pytest.param(
        [wire(choice(content="hi")), finish()],
        {"choices": [{"message": {"function_call": None}, "logprobs": None}]},
        id="no_function_call_no_logprobs",
    ),
    pytest.param(
        [
            wire(choice(content="", logprobs={"content": [], "refusal": None})),
            wire(choice(content="A", logprobs={"content": [tok("A")], "refusal": None})),
            wire(choice(content="B", logprobs={"content": [tok("B", -1.25)], "refusal": None})),
            wire(choice(finish="stop", logprobs=None)),
        ],
        {"choices": [{"logprobs": {"content": [tok("A"), tok("B", -1.25)], "refusal": None}}]},
        id="content_logprobs_concatenated",
    ),
    pytest.param(
        [
            wire(choice(refusal="", logprobs={"content": None, "refusal": []})),
            wire(choice(refusal="No", logprobs={"content": None, "refusal": [tok("No")]})),
            wire(choice(refusal=".", logprobs={"refusal": [tok(".")]})),
        ],
        {"choices": [{"logprobs": {"content": None, "refusal": [tok("No"), tok(".")]}}]},
        id="refusal_logprobs_concatenated",
    ),
    pytest.param(
        [
            wire(choice(0, content="a"), choice(1, content="b")),
            wire(choice(1, "length")),
            wire(choice(0, "stop")),
        ],
        {"choices": [{"finish_reason": "stop"}, {"finish_reason": "length"}]},
        id="finish_reason_per_choice",
    ),
    pytest.param(
        [
            wire(choice(content="a", finish="")),
            wire(choice(finish="stop")),
            wire(choice(finish="length")),
        ],
        {"choices": [{"finish_reason": "stop"}]},
        id="empty_finish_reason_ignored_first_one_kept",
    ),
    pytest.param(
        [wire(choice(content="a"))],
        {"choices": [{"finish_reason": None}]},
        id="finish_reason_none_until_sent",
    ),
    pytest.param(
        [
            wire(id="", model="", created=0, system_fingerprint=None),
            wire(
                choice(content="a"),
                id="chatcmpl-9",
                model="gpt-x",
                created=17,
                system_fingerprint=None,
            ),
            wire(
                choice(content="b"),
                id="chatcmpl-other",
                model="other",
                created=18,
                system_fingerprint="fp_1",
            ),
            wire(choice(content="c"), system_fingerprint="fp_2", service_tier="default"),
        ],
        {
            "id": "chatcmpl-9",
            "model": "gpt-x",
            "created": 17,
            "system_fingerprint": "fp_1",
            "service_tier": "default",
            "object": "chat.completion",
        },
        id="metadata_from_first_chunk_carrying_it",
    ),
    pytest.param(
        [wire(choice(content="a")), finish(), usage_chunk()],
        {"usage": {**USAGE, "completion_tokens_details": None}},
        id="usage_from_chunk_with_empty_choices",
    ),
    pytest.param(
        [
            wire(choice(content="a"), usage={**USAGE, "total_tokens": 1}),
            wire(
                choice(finish="stop"),
                usage={**USAGE, "completion_tokens_details": {"reasoning_tokens": 3}},
            ),
        ],
        {"usage": {**USAGE, "completion_tokens_details": {"reasoning_tokens": 3}}},
        id="usage_last_one_carried_wins",
    ),
    pytest.param(
        [wire(choice(content="a")), finish()],
        {"usage": None},
        id="usage_never_estimated",
    ),
    pytest.param(
        [wire(choice(content="a"))],
        {"choices": [{"message": {"role": "assistant"}}]},
        id="role_defaults_to_assistant",
    ),
    pytest.param(
        [wire(choice(role="tool-runner", content="a")), wire(choice(role="other"))],
        {"choices": [{"message": {"role": "tool-runner"}}]},
        id="role_from_first_delta_carrying_it",
    ),
    pytest.param(
        [usage_chunk()],
        {"choices": [], "usage": USAGE},
        id="no_choices_at_all",
    ),
]


@pytest.mark.parametrize(("chunks", "expected"), ASSEMBLY_CASES)
def test_assembly_rules(
    chunks: list[ChatCompletionChunk], expected: dict[str, Any], mode: str
) -> None:
    """Chunks assemble into the completion a non-streamed response would be."""
    actual = msgspec.to_builtins(assemble(chunks, mode))
    assert subset(actual, expected), actual


@pytest.mark.parametrize(
    ("chunks", "finished"),
    [
        pytest.param([], False, id="nothing"),
        pytest.param([usage_chunk()], False, id="usage_only"),
        pytest.param([wire(choice(content="a"))], False, id="unfinished"),
        pytest.param([wire(choice(content="a")), finish()], True, id="finished"),
        pytest.param([wire(choice(0, "stop"), choice(1, content="b"))], False, id="one_of_two"),
        pytest.param([wire(choice(0, "stop")), wire(choice(1, "length"))], True, id="both_of_two"),
        pytest.param([wire(choice(content="a", finish=""))], False, id="empty_finish_reason"),
    ],
)
def test_finished(chunks: list[ChatCompletionChunk], finished: bool, mode: str) -> None:
    """finished: a choice arrived and every choice seen has a finish reason."""
    acc = ChatCompletionAccumulator()
    for c in chunks:
        acc.add(c) if mode == "add" else acc.process(c)
    assert acc.finished is finished


def test_properties(mode: str) -> None:
    """id, model and usage are readable while streaming."""
    acc = ChatCompletionAccumulator()
    assert (acc.id, acc.model, acc.usage) == ("", "", None)
    for c in [wire(choice(content="a"), id="cc-1", model="m-9"), usage_chunk()]:
        acc.add(c) if mode == "add" else acc.process(c)
    assert (acc.id, acc.model) == ("cc-1", "m-9")
    assert msgspec.to_builtins(acc.usage) == {
        **USAGE,
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }


def test_current_completion_is_a_snapshot(mode: str) -> None:
    """A completion taken mid-stream does not change when more chunks arrive."""
    acc = ChatCompletionAccumulator()
    feed = acc.add if mode == "add" else acc.process
    feed(wire(choice(content="Hel", logprobs={"content": [tok("Hel")]})))
    feed(tc(frag(index=0, id="call_a", name="f", arguments='{"a"')))
    snapshot = acc.current_completion()
    before = msgspec.to_builtins(snapshot)
    feed(wire(choice(content="lo", logprobs={"content": [tok("lo")]})))
    feed(tc(frag(index=0, arguments=": 1}"), frag(index=1, id="call_b", name="g")))
    feed(wire(choice(finish="stop")))
    feed(usage_chunk())
    assert msgspec.to_builtins(snapshot) == before
    assert before["choices"][0]["message"]["content"] == "Hel"
    final = acc.final_completion()
    assert final.choices[0].message.content == "Hello"
    assert calls_of(final) == [
        ("call_a", "function", "f", '{"a": 1}'),
        ("call_b", "function", "g", ""),
    ]
    assert final.choices[0].logprobs is not None
    assert [t.token for t in final.choices[0].logprobs.content or []] == ["Hel", "lo"]


def test_add_keeps_no_reference_to_chunks() -> None:
    """Memory holds the assembled state, not the chunks themselves."""
    acc = ChatCompletionAccumulator()
    chunks = [
        wire(choice(content="a", logprobs={"content": [tok("a")]})),
        tc(frag(index=0, id="x", arguments="{}")),
    ]
    before = [sys.getrefcount(c) for c in chunks]
    list(map(acc.add, chunks))
    assert [sys.getrefcount(c) for c in chunks] == before


def test_add_then_process_continues_the_same_state() -> None:
    """Chunks given to add() before process() are part of the parsed values of later events."""
    acc = ChatCompletionAccumulator()
    acc.add(tc(frag(index=0, id="call_a", name="f", arguments='{"a": ')))
    acc.add(tc(frag(index=0, arguments='"x", ')))
    events = acc.process(tc(frag(index=0, arguments='"b": 2}'), finish="tool_calls"))
    deltas = [e for e in events if isinstance(e, ToolCallArgumentsDeltaEvent)]
    assert [(d.delta, d.parsed_arguments) for d in deltas] == [('"b": 2}', {"a": "x", "b": 2})]
    done = [e for e in events if isinstance(e, ToolCallDoneEvent)]
    assert [(d.arguments, d.parsed_arguments) for d in done] == [
        ('{"a": "x", "b": 2}', {"a": "x", "b": 2})
    ]


# --------------------------------------------------------------------------------------
# Exact event sequences
# --------------------------------------------------------------------------------------


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    """An event as builtins."""
    return {"type": type_, **fields}


def test_events_two_parallel_tool_calls() -> None:
    """Parallel calls: started, argument deltas with partial parses, done when the next starts."""
    chunks = [
        wire(choice(role="assistant", content=None)),
        tc(frag(index=0, id="call_a", type="function", name="get_weather", arguments="")),
        tc(frag(index=0, arguments='{"city": ')),
        tc(frag(index=0, arguments='"Par')),
        tc(frag(index=0, arguments='is"}')),
        tc(frag(index=1, id="call_b", type="function", name="get_time", arguments="")),
        tc(frag(index=1, arguments='{"tz": "CET"}')),
        finish("tool_calls"),
        usage_chunk(),
    ]
    assert run_events(chunks) == [
        ev("tool_call.started", choice_index=0, index=0, id="call_a", name="get_weather"),
        ev(
            "tool_call.arguments.delta",
            choice_index=0,
            index=0,
            id="call_a",
            name="get_weather",
            delta='{"city": ',
            parsed_arguments={},
        ),
        ev(
            "tool_call.arguments.delta",
            choice_index=0,
            index=0,
            id="call_a",
            name="get_weather",
            delta='"Par',
            parsed_arguments={"city": "Par"},
        ),
        ev(
            "tool_call.arguments.delta",
            choice_index=0,
            index=0,
            id="call_a",
            name="get_weather",
            delta='is"}',
            parsed_arguments={"city": "Paris"},
        ),
        ev(
            "tool_call.done",
            choice_index=0,
            index=0,
            id="call_a",
            name="get_weather",
            arguments='{"city": "Paris"}',
            parsed_arguments={"city": "Paris"},
            value=None,
            error=None,
        ),
        ev("tool_call.started", choice_index=0, index=1, id="call_b", name="get_time"),
        ev(
            "tool_call.arguments.delta",
            choice_index=0,
            index=1,
            id="call_b",
            name="get_time",
            delta='{"tz": "CET"}',
            parsed_arguments={"tz": "CET"},
        ),
        ev(
            "tool_call.done",
            choice_index=0,
            index=1,
            id="call_b",
            name="get_time",
            arguments='{"tz": "CET"}',
            parsed_arguments={"tz": "CET"},
            value=None,
            error=None,
        ),
        ev("choice.finished", choice_index=0, finish_reason="tool_calls"),
        ev(
            "usage",
            usage={**USAGE, "completion_tokens_details": None, "prompt_tokens_details": None},
        ),
    ]


def test_events_two_interleaved_choices() -> None:
    """n=2: every event names its choice; each choice finishes on its own."""
    chunks = [
        wire(choice(0, role="assistant", content=""), choice(1, role="assistant", content="")),
        wire(choice(1, content="B1")),
        wire(choice(0, content="A1")),
        wire(choice(0, content="A2"), choice(1, content="B2")),
        wire(choice(1, "stop")),
        wire(choice(0, "length")),
    ]
    assert run_events(chunks) == [
        ev("text.delta", choice_index=1, delta="B1", parsed=None),
        ev("text.delta", choice_index=0, delta="A1", parsed=None),
        ev("text.delta", choice_index=0, delta="A2", parsed=None),
        ev("text.delta", choice_index=1, delta="B2", parsed=None),
        ev("text.done", choice_index=1, text="B1B2", parsed=None),
        ev("choice.finished", choice_index=1, finish_reason="stop"),
        ev("text.done", choice_index=0, text="A1A2", parsed=None),
        ev("choice.finished", choice_index=0, finish_reason="length"),
    ]


def test_events_refusal() -> None:
    """A refusal streams as refusal deltas, then its done event, then the finish."""
    chunks = [
        wire(choice(role="assistant", content=None, refusal="")),
        wire(choice(refusal="I'm sorry")),
        wire(choice(refusal=", no.")),
        finish(),
    ]
    assert run_events(chunks) == [
        ev("refusal.delta", choice_index=0, delta="I'm sorry"),
        ev("refusal.delta", choice_index=0, delta=", no."),
        ev("refusal.done", choice_index=0, refusal="I'm sorry, no."),
        ev("choice.finished", choice_index=0, finish_reason="stop"),
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_events_reasoning(field: str) -> None:
    """Reasoning deltas (under either relay name) come before text; done events at finish."""
    chunks = [
        wire({"index": 0, "delta": {"role": "assistant", field: "Let me"}}),
        wire({"index": 0, "delta": {field: " think."}}),
        wire(choice(content="42")),
        finish(),
    ]
    assert run_events(chunks) == [
        ev("reasoning.delta", choice_index=0, delta="Let me"),
        ev("reasoning.delta", choice_index=0, delta=" think."),
        ev("text.delta", choice_index=0, delta="42", parsed=None),
        ev("text.done", choice_index=0, text="42", parsed=None),
        ev("reasoning.done", choice_index=0, reasoning="Let me think."),
        ev("choice.finished", choice_index=0, finish_reason="stop"),
    ]


def test_events_order_within_one_chunk() -> None:
    """One chunk with everything: reasoning, text, refusal, tool call, logprobs, finish, usage."""
    chunk = wire(
        choice(
            finish="stop",
            logprobs={"content": [tok("t")], "refusal": None},
            role="assistant",
            tool_calls=[frag(index=0, id="c", name="f", arguments="{}")],
            refusal="r",
            content="t",
            reasoning_content="why",
        ),
        usage=USAGE,
    )
    types = [e["type"] for e in run_events([chunk], chunk_events=True)]
    assert types == [
        "chunk",
        "reasoning.delta",
        "text.delta",
        "refusal.delta",
        "tool_call.started",
        "tool_call.arguments.delta",
        "logprobs",
        "text.done",
        "refusal.done",
        "reasoning.done",
        "tool_call.done",
        "choice.finished",
        "usage",
    ]


def test_events_reasoning_before_text_of_the_same_delta() -> None:
    """A delta with reasoning and text gives reasoning first, per choice, in one chunk."""
    chunk = wire(
        choice(0, content="a", reasoning_content="r0"),
        choice(1, content="b", reasoning="r1"),
        choice(2, content="c"),
    )
    assert run_events([chunk], end=False) == [
        ev("reasoning.delta", choice_index=0, delta="r0"),
        ev("text.delta", choice_index=0, delta="a", parsed=None),
        ev("reasoning.delta", choice_index=1, delta="r1"),
        ev("text.delta", choice_index=1, delta="b", parsed=None),
        ev("text.delta", choice_index=2, delta="c", parsed=None),
    ]


def test_process_is_a_list_of_what_the_merge_returns() -> None:
    """process() lists what the merge returns (a bare text event, a list, or ()) alike."""
    chunks = [
        wire(choice(role="assistant")),
        wire(choice(content="a")),
        wire(choice(content="b"), choice(1, content="c")),
        tc(frag(index=0, id="c1", name="f", arguments="{}")),
        finish(),
        usage_chunk(),
    ]
    merged = ChatCompletionAccumulator()
    listed = ChatCompletionAccumulator()
    shapes = []
    for c in chunks:
        out = merged._merge(c, True)
        shapes.append("list" if isinstance(out, list) else "bare" if out else "none")
        as_list = out if isinstance(out, list) else [out] if out else []
        assert [msgspec.to_builtins(e) for e in as_list] == [
            msgspec.to_builtins(e) for e in listed.process(c)
        ]
    assert shapes == ["none", "bare", "list", "list", "list", "list"]
    assert merged.final_completion() == listed.final_completion()


def test_chunk_events_first_per_chunk() -> None:
    """chunk_events=True puts the chunk itself before the events it causes."""
    acc = ChatCompletionAccumulator(chunk_events=True)
    c = wire(choice(content="a"))
    events = acc.process(c)
    assert isinstance(events[0], ChunkEvent)
    assert events[0].chunk is c
    assert [type(e) for e in events] == [ChunkEvent, TextDeltaEvent]
    assert [type(e) for e in ChatCompletionAccumulator().process(c)] == [TextDeltaEvent]


def test_events_logprobs() -> None:
    """Logprobs events carry only what the chunk brought; empty lists cause none."""
    chunks = [
        wire(choice(content="", logprobs={"content": [], "refusal": None})),
        wire(choice(content="A", logprobs={"content": [tok("A")], "refusal": None})),
        wire(choice(finish="stop", logprobs=None)),
    ]
    assert [e for e in run_events(chunks) if e["type"] == "logprobs"] == [
        ev("logprobs", choice_index=0, content=[tok("A")], refusal=None)
    ]


def test_end_closes_open_parts_without_finishing() -> None:
    """end() emits done events for unfinished choices, no ChoiceFinished, and only once."""
    acc = ChatCompletionAccumulator()
    acc.process(wire(choice(0, content="par"), choice(1, content="done")))
    acc.process(tc(frag(index=0, id="call_a", name="f", arguments='{"a": 1')))
    acc.process(wire(choice(1, "stop")))
    events = [msgspec.to_builtins(e) for e in acc.end()]
    assert events == [
        ev("text.done", choice_index=0, text="par", parsed=None),
        ev(
            "tool_call.done",
            choice_index=0,
            index=0,
            id="call_a",
            name="f",
            arguments='{"a": 1',
            parsed_arguments=None,
            value=None,
            error=events[1]["error"],
        ),
    ]
    assert events[1]["error"].startswith("arguments are not valid JSON: ")
    assert acc.end() == []
    assert not acc.finished


def test_role_only_chunk_causes_no_event() -> None:
    """A chunk that only opens the message causes no event."""
    assert ChatCompletionAccumulator().process(wire(choice(role="assistant", content=""))) == []


def test_tool_call_started_waits_for_name() -> None:
    """A fragment with only an id starts nothing; the started event comes with the name."""
    acc = ChatCompletionAccumulator()
    assert acc.process(tc(frag(index=0, id="call_a", type="function"))) == []
    events = [msgspec.to_builtins(e) for e in acc.process(tc(frag(index=0, name="f")))]
    assert events == [ev("tool_call.started", choice_index=0, index=0, id="call_a", name="f")]


# --------------------------------------------------------------------------------------
# Parsed arguments and content
# --------------------------------------------------------------------------------------


class Weather(msgspec.Struct):
    city: str
    days: int = 1


def _done_events(chunks: list[ChatCompletionChunk], **kw: Any) -> list[ToolCallDoneEvent]:
    acc = ChatCompletionAccumulator(**kw)
    events: list[StreamEvent] = []
    for c in chunks:
        events += acc.process(c)
    events += acc.end()
    return [e for e in events if isinstance(e, ToolCallDoneEvent)]


@pytest.mark.parametrize(
    ("arguments", "value", "error"),
    [
        pytest.param('{"city": "Paris", "days": 3}', Weather("Paris", 3), None, id="valid"),
        pytest.param('{"city": "Paris"}', Weather("Paris", 1), None, id="valid_with_default"),
        pytest.param(
            '{"city": "Paris", "days": "three"}',
            None,
            "arguments do not match Weather: Expected `int`, got `str` - at `$.days`",
            id="validation_failure",
        ),
        pytest.param(
            "{}",
            None,
            "arguments do not match Weather: Object missing required field `city`",
            id="missing_field",
        ),
    ],
)
def test_typed_arguments(arguments: str, value: Weather | None, error: str | None) -> None:
    """Arguments of a tool with a declared type decode into it; failures go to `error`."""
    chunks = [
        tc(frag(index=0, id="call_a", name="weather", arguments=arguments[:7])),
        tc(frag(index=0, arguments=arguments[7:])),
        tc(
            frag(index=1, id="call_b", name="other", arguments='{"days": "x"}'), finish="tool_calls"
        ),
    ]
    done = _done_events(chunks, arg_types={"weather": Weather})
    assert [(d.value, d.error) for d in done] == [(value, error), (None, None)]
    assert done[0].parsed_arguments == json.loads(arguments)
    assert done[1].parsed_arguments == {"days": "x"}


@pytest.mark.parametrize(
    ("arguments", "parsed", "error"),
    [
        pytest.param("", {}, None, id="empty_means_no_arguments"),
        pytest.param("  ", {}, None, id="whitespace_means_no_arguments"),
        pytest.param('{"a": [1, 2.5, null, true]}', {"a": [1, 2.5, None, True]}, None, id="valid"),
        pytest.param(
            '{"a": ', None, "arguments are not valid JSON: Input data was truncated", id="truncated"
        ),
        pytest.param(
            "{'a': 1}",
            None,
            "arguments are not valid JSON: JSON is malformed: object keys must be strings (byte 1)",
            id="not_json",
        ),
    ],
)
def test_done_arguments_parse(arguments: str, parsed: Any, error: str | None) -> None:
    """The done event decodes the whole arguments exactly, or reports why it could not."""
    done = _done_events(
        [tc(frag(index=0, id="c", name="f", arguments=arguments)), finish("tool_calls")]
    )
    assert [(d.arguments, d.parsed_arguments, d.value, d.error) for d in done] == [
        (arguments, parsed, None, error)
    ]


class Cat(msgspec.Struct):
    lives: int


class Dog(msgspec.Struct):
    tricks: list[str]


class Pet(msgspec.Struct):
    # An untagged union of two Structs: msgspec cannot decode it.
    pet: Cat | Dog


def test_unsupported_arg_type_fails_at_construction() -> None:
    """A type msgspec cannot decode into is refused when the accumulator is made, not mid-stream."""
    with pytest.raises(TypeError, match="must be tagged"):
        ChatCompletionAccumulator(arg_types={"adopt": Pet})


def test_parse_content_events() -> None:
    """parse_content=True: text deltas carry the partial parse, text done the full one."""
    chunks = [
        wire(choice(role="assistant", content="")),
        wire(choice(content='{"city": "San')),
        wire(choice(content=' Francisco", "temp')),
        wire(choice(content='": 61}')),
        finish(),
    ]
    assert run_events(chunks, parse_content=True) == [
        ev("text.delta", choice_index=0, delta='{"city": "San', parsed={"city": "San"}),
        ev(
            "text.delta",
            choice_index=0,
            delta=' Francisco", "temp',
            parsed={"city": "San Francisco"},
        ),
        ev(
            "text.delta",
            choice_index=0,
            delta='": 61}',
            parsed={"city": "San Francisco", "temp": 61},
        ),
        ev(
            "text.done",
            choice_index=0,
            text='{"city": "San Francisco", "temp": 61}',
            parsed={"city": "San Francisco", "temp": 61},
        ),
        ev("choice.finished", choice_index=0, finish_reason="stop"),
    ]


def test_parse_content_not_json() -> None:
    """Content that is not JSON gives parsed None, never an exception."""
    chunks = [wire(choice(content="Hello")), wire(choice(content=" {}")), finish()]
    events = run_events(chunks, parse_content=True)
    assert [(e["type"], e.get("parsed")) for e in events] == [
        ("text.delta", None),
        ("text.delta", None),
        ("text.done", None),
        ("choice.finished", None),
    ]


def test_parse_content_off_by_default() -> None:
    """Without parse_content, JSON content is not parsed."""
    events = run_events([wire(choice(content="{}")), finish()])
    assert [e.get("parsed") for e in events[:2]] == [None, None]


# --------------------------------------------------------------------------------------
# Any chunking gives the same completion
# --------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(points)]


def _stream(content_parts: list[str], args_parts: list[str]) -> list[ChatCompletionChunk]:
    chunks = [wire(choice(role="assistant", content=""))]
    chunks += [wire(choice(content=p)) for p in content_parts]
    chunks.append(tc(frag(index=0, id="call_a", type="function", name="f", arguments="")))
    chunks += [tc(frag(index=0, arguments=p)) for p in args_parts]
    chunks += [finish("tool_calls"), usage_chunk()]
    return chunks


@given(
    content=st.text(),
    args=st.dictionaries(st.text(), _json_values, max_size=5),
    content_cuts=st.lists(st.integers(min_value=0), max_size=12),
    args_cuts=st.lists(st.integers(min_value=0), max_size=12),
)
def test_any_chunking_same_completion(
    content: str, args: dict[str, Any], content_cuts: list[int], args_cuts: list[int]
) -> None:
    """However content and arguments are cut into deltas, the completion and events agree."""
    args_text = json.dumps(args, ensure_ascii=False)
    whole = msgspec.to_builtins(assemble(_stream([content], [args_text])))
    content_parts = _split(content, content_cuts)
    args_parts = _split(args_text, args_cuts)
    for mode in ("add", "process"):
        assert msgspec.to_builtins(assemble(_stream(content_parts, args_parts), mode)) == whole
    assert whole["choices"][0]["message"]["content"] == (content or None)
    events = run_events(_stream(content_parts, args_parts))
    assert "".join(e["delta"] for e in events if e["type"] == "text.delta") == content
    arg_deltas = [e for e in events if e["type"] == "tool_call.arguments.delta"]
    assert "".join(e["delta"] for e in arg_deltas) == args_text
    assert arg_deltas[-1]["parsed_arguments"] == args
    done = [e for e in events if e["type"] == "tool_call.done"]
    assert [(d["arguments"], d["parsed_arguments"], d["error"]) for d in done] == [
        (args_text, args, None)
    ]


_CHUNK_KINDS = st.sampled_from(
    [
        wire(choice(role="assistant", content="")),
        wire(choice(content="a")),
        wire(choice(content="b", finish="")),
        wire(choice(1, content="c")),
        wire(choice(content="d"), choice(1, content="e")),
        wire(choice(content="f", logprobs={"content": [tok("f")], "refusal": None})),
        wire(choice(content="g", reasoning_content="r")),
        wire(choice(content="h", refusal="no")),
        wire(choice(content="i", tool_calls=[])),
        wire(choice(content="j"), usage=USAGE),
        wire(choice(content='{"k": 1')),
        wire(choice(content="l"), id="", model=""),
        tc(frag(index=0, id="call_1", type="function", name="f", arguments='{"x"')),
        tc(frag(index=0, arguments=": 1}")),
        finish(),
        finish("length", index=1),
        usage_chunk(),
    ]
)


@given(
    st.lists(_CHUNK_KINDS, max_size=25),
    st.sampled_from([{}, {"parse_content": True}, {"chunk_events": True}]),
)
def test_lean_decode_gives_what_the_full_decode_gives(
    chunks: list[ChatCompletionChunk], options: dict[str, Any]
) -> None:
    """Chunks decoded leanly for process() (the event stream's shortcut) give the same events."""
    full = msgspec.json.Decoder(ChatCompletionChunk).decode
    one = ChatCompletionAccumulator(**options)
    other = ChatCompletionAccumulator(**options)
    for c in chunks:
        payload = msgspec.json.encode(c)
        decode = one._events_decoder() or full
        assert [msgspec.to_builtins(e) for e in one.process(decode(payload))] == [
            msgspec.to_builtins(e) for e in other.process(full(payload))
        ]
    assert one.end() == other.end()
    assert one.final_completion() == other.final_completion()
