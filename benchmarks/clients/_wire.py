"""The minimal chunk and completion structs of the hand-written clients.

Only the fields the benchmark assembles, so ``msgspec`` skips the rest of each payload
without building anything for it. Deliberately independent of ``kkiai_async.types``: the
floor must not move when the library does.
"""

from __future__ import annotations

import msgspec

__all__ = ["Chunk", "Completion"]


class _DeltaFunction(msgspec.Struct, gc=False):
    name: str | None = None
    arguments: str | None = None


class _DeltaToolCall(msgspec.Struct, gc=False):
    index: int = 0
    id: str | None = None
    function: _DeltaFunction | None = None


class _Delta(msgspec.Struct, gc=False):
    content: str | None = None
    tool_calls: list[_DeltaToolCall] | None = None


class _ChunkChoice(msgspec.Struct, gc=False):
    delta: _Delta | None = None
    finish_reason: str | None = None


class Chunk(msgspec.Struct, gc=False):
    """One ``data:`` payload of a stream."""

    choices: list[_ChunkChoice] = []


class _Function(msgspec.Struct, gc=False):
    name: str = ""
    arguments: str = ""


class _ToolCall(msgspec.Struct, gc=False):
    id: str = ""
    function: _Function | None = None


class _Message(msgspec.Struct, gc=False):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct, gc=False):
    message: _Message | None = None
    finish_reason: str | None = None


class Completion(msgspec.Struct, gc=False):
    """A non-streamed response."""

    choices: list[_Choice] = []
