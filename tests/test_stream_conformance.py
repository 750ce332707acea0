"""Every recorded real stream, served over loopback, assembles to exactly its recorded
completion through create(stream=True) and through stream(), however the bytes are cut."""

from __future__ import annotations

import msgspec
import pytest
from _conformance import Case, load_cases, normalise
from conftest import MESSAGES, Reply, Server

import kkiai_async as kk

CASES = [pytest.param(case, id=case.name.removeprefix("openai-python__")) for case in load_cases()]

# 0 is one write; the others cut the bytes everywhere, inside UTF-8 sequences included.
PIECES = [pytest.param(n, id=f"piece{n}") for n in (0, 1, 7)]


def _check(case: Case, completion: kk.ChatCompletion) -> None:
    assert case.expected.get("error") is None
    assert normalise(msgspec.to_builtins(completion)) == normalise(case.expected)


def test_cases_are_loaded() -> None:
    """The recorded streams are there to be replayed."""
    assert len(CASES) == 49


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.parametrize("case", CASES)
async def test_create_stream(
    server: Server, client: kk.AsyncClient, case: Case, piece: int
) -> None:
    """create(stream=True) assembles the recorded completion from the served bytes."""
    server.queue(Reply(body=case.sse, piece=piece))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async with stream:
        chunks = [c async for c in stream]
    assert len(chunks) == case.sse.count(b"data: {")
    _check(case, await stream.final_completion())


@pytest.mark.parametrize("piece", [pytest.param(n, id=f"piece{n}") for n in (0, 3)])
@pytest.mark.parametrize("case", CASES)
async def test_event_stream(server: Server, client: kk.AsyncClient, case: Case, piece: int) -> None:
    """stream() gives the same final completion, with a finished event per choice."""
    server.queue(Reply(body=case.sse, piece=piece))
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        finished = [e async for e in events if isinstance(e, kk.ChoiceFinishedEvent)]
        completion = await events.final_completion()
    _check(case, completion)
    assert sorted(e.choice_index for e in finished) == [c.index for c in completion.choices]
