"""Loading and comparing the recorded conformance streams (tests/data/conformance).

Shared by every test that replays real streams (accumulator, stream objects, fake server),
so they all read the fixtures and compare results by the same rules
(tests/data/conformance/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DATA_DIR", "Case", "load_cases", "normalise", "sse_payloads"]

DATA_DIR = Path(__file__).parent / "data" / "conformance"


@dataclass(frozen=True)
class Case:
    """One recorded stream: the exact bytes a server sent and what they assemble to."""

    name: str
    sse: bytes
    expected: dict[str, Any]


def load_cases() -> list[Case]:
    """Every recorded stream with its expected result, sorted by name."""
    cases: list[Case] = []
    for path in sorted((DATA_DIR / "streams").glob("*.sse")):
        expected = json.loads((DATA_DIR / "expected" / f"{path.stem}.json").read_text("utf-8"))
        cases.append(Case(name=path.stem, sse=path.read_bytes(), expected=expected))
    return cases


def sse_payloads(sse: bytes) -> list[bytes]:
    """The ``data:`` payloads of a well-behaved LF-framed stream, up to ``[DONE]``.

    Deliberately simple (the recordings have one ``data:`` line per event and no
    comments): tests of the accumulator must not depend on the real SSE decoder.
    """
    payloads: list[bytes] = []
    for block in sse.split(b"\n\n"):
        for line in block.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].removeprefix(b" ")
            if data == b"[DONE]":
                return payloads
            payloads.append(data)
    return payloads


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def normalise(completion: dict[str, Any]) -> dict[str, Any]:
    """The comparable part of a completion, by the README's rules.

    Accepts ``msgspec.to_builtins(ChatCompletion)`` or an expected JSON file alike and
    keeps the fields the expected files describe: ``id``, ``model``, ``created``,
    ``usage`` (``None``-valued keys dropped, at any depth) and, per choice, ``index``,
    ``finish_reason``, ``logprobs`` and the message's ``role``, ``content``,
    ``refusal`` and ``tool_calls`` (``""`` and ``None`` text treated alike).
    """
    choices = []
    for choice in completion["choices"]:
        message = choice["message"]
        tool_calls = message.get("tool_calls")
        choices.append(
            {
                "index": choice["index"],
                "finish_reason": choice["finish_reason"],
                "logprobs": choice.get("logprobs"),
                "message": {
                    "role": message.get("role"),
                    "content": message.get("content") or None,
                    "refusal": message.get("refusal") or None,
                    "tool_calls": None
                    if tool_calls is None
                    else [
                        {
                            "id": call["id"],
                            "type": call["type"],
                            "function": {
                                "name": call["function"]["name"],
                                "arguments": call["function"]["arguments"],
                            },
                        }
                        for call in tool_calls
                    ],
                },
            }
        )
    usage = completion.get("usage")
    return {
        "id": completion["id"],
        "model": completion["model"],
        "created": completion["created"],
        "usage": None if usage is None else _drop_none(usage),
        "choices": choices,
    }
