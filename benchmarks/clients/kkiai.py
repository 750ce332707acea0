"""``kkiai_async``, the two ways to stream it, and its optional httpx transport.

- :class:`KkiaiChunks`: ``create(stream=True)``; the chunks are iterated and the
  library assembles the completion (``final_completion()``);
- :class:`KkiaiEvents`: ``stream()``; typed events, tool-call arguments parsed while they
  arrive, then ``final_completion()``;
- :class:`KkiaiHttpxChunks`: :class:`KkiaiChunks` with ``transport="httpx"``: the same
  decoding and assembly over httpx instead of aiohttp.

A structured answer (``structured()``) is asked for with ``response_format=Report``, the
``msgspec.Struct`` of ``clients/_report.py``. ``KkiaiChunks`` iterates the chunks and takes
the typed answer from ``final_completion()``, as the floor decodes it once at the end;
``KkiaiEvents`` reads the records parsed so far from every ``TextDeltaEvent.parsed``, as
an application showing live progress would.

Only the public API is used, as a user would. Retries are off (``max_retries=0``) so a
failure shows instead of being hidden in the timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from benchmarks.clients import _report
from benchmarks.common import Output, Request, no_hook

# Named imports, so that a library still being written (no AsyncClient yet) makes the
# client unavailable (ImportError) instead of failing in the middle of a run.
from kkiai_async import AsyncClient, ChatCompletion
from kkiai_async.types import TextDeltaEvent

__all__ = ["KkiaiChunks", "KkiaiEvents", "KkiaiHttpxChunks"]


def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {"model": request.model, "messages": request.messages}
    if request.tools:
        params["tools"] = list(request.tools)
    return params


def _output(completion: ChatCompletion) -> Output:
    choice = completion.choices[0]
    message = choice.message
    return Output(
        message.content or "",
        tuple(
            (call.id, call.function.name, call.function.arguments)
            for call in message.tool_calls or ()
        ),
        choice.finish_reason or "",
    )


class KkiaiChunks:
    """``create(stream=True)``: iterate the chunks, then ``final_completion()``."""

    transport: Literal["aiohttp", "httpx"] = "aiohttp"

    def __init__(self, base_url: str, max_connections: int) -> None:
        self.on_first: Callable[[], None] = no_hook
        self._client = AsyncClient(
            api_key="bench",
            base_url=base_url,
            max_retries=0,
            # As for every client here: no connect limit a busy loop could hit.
            timeout=600.0,
            connection_limit=max_connections,
            transport=self.transport,
        )
        self._live: Any = None

    async def __aenter__(self) -> KkiaiChunks:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def stream(self, request: Request) -> Output:
        return (await self._stream(request))[1]

    async def first_token(self, request: Request) -> tuple[float, Output]:
        return await self._stream(request)

    async def _stream(self, request: Request) -> tuple[float, Output]:
        first_at = 0.0
        stream = await self._client.chat.completions.create(**_params(request), stream=True)
        self._live = stream
        async with stream:
            async for chunk in stream:
                if not first_at:
                    for choice in chunk.choices:
                        if choice.delta.content:
                            first_at = time.perf_counter()
                            self.on_first()
        completion = await stream.final_completion()
        self._live = None
        return first_at, _output(completion)

    async def complete(self, request: Request) -> Output:
        completion = await self._client.chat.completions.create(**_params(request))
        return _output(completion)

    async def structured(self, request: Request) -> tuple[Any, str]:
        stream = await self._client.chat.completions.create(
            **_params(request), response_format=_report.Report, stream=True
        )
        self._live = stream
        async with stream:
            async for _ in stream:
                pass
            completion = await stream.final_completion()
        self._live = None
        choice = completion.choices[0]
        return choice.message.parsed, choice.finish_reason or ""

    def to_builtins(self, answer: Any) -> Any:
        return _report.to_builtins(answer)

    def progress(self) -> int | None:
        if self._live is None:
            return None
        message = self._live.current_completion().choices[0].message
        return len((message.content or "").encode()) + sum(
            len(call.function.arguments.encode()) for call in message.tool_calls or ()
        )


class KkiaiEvents(KkiaiChunks):
    """``stream()``: iterate the typed events, then ``final_completion()``."""

    async def _stream(self, request: Request) -> tuple[float, Output]:
        first_at = 0.0
        async with self._client.chat.completions.stream(**_params(request)) as events:
            self._live = events
            async for event in events:
                if not first_at and isinstance(event, TextDeltaEvent):
                    first_at = time.perf_counter()
                    self.on_first()
            completion = await events.final_completion()
        self._live = None
        return first_at, _output(completion)

    async def structured(self, request: Request) -> tuple[Any, str]:
        shown = 0
        async with self._client.chat.completions.stream(
            **_params(request), response_format=_report.Report
        ) as events:
            self._live = events
            async for event in events:
                if isinstance(event, TextDeltaEvent):
                    shown = _report.records_so_far(event.parsed, shown)
            completion = await events.final_completion()
        self._live = None
        choice = completion.choices[0]
        answer = choice.message.parsed
        _report.check_shown(shown, answer)
        return answer, choice.finish_reason or ""


class KkiaiHttpxChunks(KkiaiChunks):
    """``create(stream=True)`` over the httpx transport (``kkiai-async[httpx]``)."""

    transport = "httpx"
