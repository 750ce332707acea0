"""The floor: the least a Python client can do to assemble a stream, with no abstraction.

aiohttp hands over the bytes as they arrive (``iter_any``); frames are split on the
blank line with a carry buffer for the incomplete last one, the ``data: `` prefix is
sliced off, each payload is decoded by one ``msgspec`` decoder into minimal structs, and
content pieces and tool-call argument fragments are appended to lists joined at the end.

A structured answer (``structured()``) is the content assembled so, then decoded once by
a ``msgspec`` decoder of the ``Report`` struct: nothing is shown while it streams.

It is only correct for the benchmark's own server (one ``data:`` line per event, LF line
ends, one choice): everything a real client must also handle is what the other clients'
distance to the floor pays for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
import msgspec

from benchmarks.clients import _report
from benchmarks.clients._wire import Chunk, Completion
from benchmarks.common import Output, Request, no_hook

__all__ = ["Floor"]

_encode = msgspec.json.Encoder().encode
_decode_chunk = msgspec.json.Decoder(Chunk).decode
_decode_completion = msgspec.json.Decoder(Completion).decode
_decode_report = msgspec.json.Decoder(_report.Report).decode


class Floor:
    """aiohttp + msgspec, written out in full."""

    def __init__(self, base_url: str, max_connections: int) -> None:
        self.on_first: Callable[[], None] = no_hook
        self._url = base_url + "/chat/completions"
        self._max_connections = max_connections
        self._headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Floor:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._max_connections),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=600),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def stream(self, request: Request) -> Output:
        return (await self._stream(request))[1]

    async def first_token(self, request: Request) -> tuple[float, Output]:
        return await self._stream(request)

    def progress(self) -> int | None:
        return None

    async def structured(self, request: Request) -> tuple[Any, str]:
        _, output = await self._stream(request)
        return _decode_report(output.content), output.finish_reason

    def to_builtins(self, answer: Any) -> Any:
        return _report.to_builtins(answer)

    async def _stream(self, request: Request) -> tuple[float, Output]:
        assert self._session is not None
        first_at = 0.0
        content: list[str] = []
        arguments: dict[int, list[str]] = {}
        ids: dict[int, str] = {}
        names: dict[int, str] = {}
        finish_reason = ""
        body = request.body()
        if request.structured:
            body["response_format"] = _report.RESPONSE_FORMAT
        async with self._session.post(
            self._url, data=_encode(body), headers=self._headers
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
            carry = b""
            async for data in response.content.iter_any():
                frames = (carry + data if carry else data).split(b"\n\n")
                carry = frames.pop()
                for frame in frames:
                    if not frame.startswith(b"data: "):
                        continue
                    payload = frame[6:]
                    if payload == b"[DONE]":
                        break
                    for choice in _decode_chunk(payload).choices:
                        delta = choice.delta
                        if delta is not None:
                            if delta.content:
                                if not content:
                                    first_at = time.perf_counter()
                                    self.on_first()
                                content.append(delta.content)
                            if delta.tool_calls:
                                for call in delta.tool_calls:
                                    if call.id:
                                        ids[call.index] = call.id
                                    function = call.function
                                    if function is not None:
                                        if function.name:
                                            names[call.index] = function.name
                                        if function.arguments:
                                            if call.index in arguments:
                                                arguments[call.index].append(function.arguments)
                                            else:
                                                arguments[call.index] = [function.arguments]
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        tool_calls = tuple(
            (ids.get(index, ""), names.get(index, ""), "".join(arguments.get(index, ())))
            for index in sorted(ids.keys() | names.keys() | arguments.keys())
        )
        return first_at, Output("".join(content), tool_calls, finish_reason)

    async def complete(self, request: Request) -> Output:
        assert self._session is not None
        async with self._session.post(
            self._url, data=_encode(request.body()), headers=self._headers
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
            completion = _decode_completion(await response.read())
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
