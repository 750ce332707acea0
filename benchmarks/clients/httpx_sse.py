"""httpx + httpx-sse, hand-rolled: what a careful user writes without an SDK.

``aconnect_sse`` parses the event stream, each event's data is decoded by one
``msgspec`` decoder and the pieces are assembled as the floor does. The distance to the
floor is the price of httpx's (pure-Python) HTTP/1.1 layer and of httpx-sse's line-by-line
decoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import httpx
import msgspec
from httpx_sse import aconnect_sse

from benchmarks.clients._wire import Chunk, Completion
from benchmarks.common import Output, Request, no_hook

__all__ = ["HttpxSSE"]

_encode = msgspec.json.Encoder().encode
_decode_chunk = msgspec.json.Decoder(Chunk).decode
_decode_completion = msgspec.json.Decoder(Completion).decode


class HttpxSSE:
    """httpx.AsyncClient with httpx-sse and msgspec."""

    def __init__(self, base_url: str, max_connections: int) -> None:
        self.on_first: Callable[[], None] = no_hook
        self._url = base_url + "/chat/completions"
        self._headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            timeout=httpx.Timeout(600.0),
        )

    async def __aenter__(self) -> HttpxSSE:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, tb)

    async def stream(self, request: Request) -> Output:
        return (await self._stream(request))[1]

    async def first_token(self, request: Request) -> tuple[float, Output]:
        return await self._stream(request)

    def progress(self) -> int | None:
        return None

    async def _stream(self, request: Request) -> tuple[float, Output]:
        first_at = 0.0
        content: list[str] = []
        arguments: dict[int, list[str]] = {}
        ids: dict[int, str] = {}
        names: dict[int, str] = {}
        finish_reason = ""
        async with aconnect_sse(
            self._client,
            "POST",
            self._url,
            content=_encode(request.body()),
            headers=self._headers,
        ) as source:
            source.response.raise_for_status()
            async for event in source.aiter_sse():
                if event.data == "[DONE]":
                    # Read on to the end of the body so the connection is reused.
                    continue
                for choice in _decode_chunk(event.data).choices:
                    delta = choice.delta
                    if delta is not None:
                        if delta.content:
                            if not content:
                                first_at = time.perf_counter()
                                self.on_first()
                            content.append(delta.content)
                        for call in delta.tool_calls or ():
                            if call.id:
                                ids[call.index] = call.id
                            function = call.function
                            if function is not None:
                                if function.name:
                                    names[call.index] = function.name
                                if function.arguments:
                                    arguments.setdefault(call.index, []).append(function.arguments)
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        tool_calls = tuple(
            (ids.get(index, ""), names.get(index, ""), "".join(arguments.get(index, ())))
            for index in sorted(ids.keys() | names.keys() | arguments.keys())
        )
        return first_at, Output("".join(content), tool_calls, finish_reason)

    async def complete(self, request: Request) -> Output:
        response = await self._client.post(
            self._url, content=_encode(request.body()), headers=self._headers
        )
        response.raise_for_status()
        completion = _decode_completion(response.content)
        choice = completion.choices[0]
        message = choice.message
        assert message is not None
        return Output(
            message.content or "",
            tuple(
                (call.id, call.function.name, call.function.arguments)
                for call in message.tool_calls or ()
                if call.function is not None
            ),
            choice.finish_reason or "",
        )
