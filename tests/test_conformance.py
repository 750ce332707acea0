"""Recorded real streams assemble, chunk by chunk, to exactly their recorded completion."""

from __future__ import annotations

import msgspec
import pytest
from _conformance import Case, load_cases, normalise, sse_payloads

from kkiai_async._accumulate import ChatCompletionAccumulator
from kkiai_async.types import (
    ChatCompletionChunk,
    ChoiceFinishedEvent,
    StreamEvent,
    TextDeltaEvent,
    ToolCallDoneEvent,
    UsageEvent,
)

_DECODER = msgspec.json.Decoder(ChatCompletionChunk)

CASES = [pytest.param(case, id=case.name.removeprefix("openai-python__")) for case in load_cases()]


def _chunks(case: Case) -> list[ChatCompletionChunk]:
    return [_DECODER.decode(payload) for payload in sse_payloads(case.sse)]


def _process_all(case: Case) -> tuple[ChatCompletionAccumulator, list[StreamEvent]]:
    acc = ChatCompletionAccumulator()
    events: list[StreamEvent] = []
    for chunk in _chunks(case):
        events += acc.process(chunk)
    events += acc.end()
    return acc, events


def test_fixtures_are_present() -> None:
    """Every recorded stream has its expected result, and none is missing."""
    assert len(CASES) == 49


@pytest.mark.parametrize("case", CASES)
def test_add_assembles_recorded_completion(case: Case) -> None:
    """add() over a recorded stream gives exactly the recorded completion."""
    acc = ChatCompletionAccumulator()
    for chunk in _chunks(case):
        acc.add(chunk)
    assert acc.finished
    assert normalise(msgspec.to_builtins(acc.final_completion())) == normalise(case.expected)


@pytest.mark.parametrize("case", CASES)
def test_process_assembles_recorded_completion(case: Case) -> None:
    """process() over a recorded stream gives exactly the recorded completion."""
    acc, _ = _process_all(case)
    assert acc.finished
    assert normalise(msgspec.to_builtins(acc.final_completion())) == normalise(case.expected)


@pytest.mark.parametrize("case", CASES)
def test_events_reconstruct_recorded_completion(case: Case) -> None:
    """Text deltas, tool-call done events, finish and usage events spell the recording."""
    _, events = _process_all(case)
    expected = case.expected
    for choice in expected["choices"]:
        index = choice["index"]
        text = "".join(
            e.delta for e in events if isinstance(e, TextDeltaEvent) and e.choice_index == index
        )
        assert text == (choice["message"]["content"] or "")
        done = [
            (e.id, e.name, e.arguments)
            for e in events
            if isinstance(e, ToolCallDoneEvent) and e.choice_index == index
        ]
        calls = choice["message"]["tool_calls"] or []
        assert done == [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls]
    finishes = [
        (e.choice_index, e.finish_reason) for e in events if isinstance(e, ChoiceFinishedEvent)
    ]
    assert sorted(finishes) == [(c["index"], c["finish_reason"]) for c in expected["choices"]]
    usages = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert len(usages) == 1
    with_event_usage = {**expected, "usage": msgspec.to_builtins(usages[0])}
    assert normalise(with_event_usage) == normalise(expected)


@pytest.mark.parametrize("case", CASES)
def test_tool_call_done_parses_recorded_arguments(case: Case) -> None:
    """Every recorded tool call's arguments are valid JSON and come parsed on the done event."""
    _, events = _process_all(case)
    for event in events:
        if isinstance(event, ToolCallDoneEvent):
            assert event.error is None
            assert event.parsed_arguments == msgspec.json.decode(event.arguments)
