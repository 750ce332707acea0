"""The official ``openai`` SDK, three ways a user reaches for it.

- :class:`OpenAIHttpx`: ``AsyncOpenAI()`` as it comes (its default httpx transport),
  ``create(stream=True)`` and the chunks assembled by hand as the floor does;
- :class:`OpenAIAiohttp`: the same with ``http_client=DefaultAioHttpClient()``, the
  SDK's aiohttp transport (``openai[aiohttp]``);
- :class:`OpenAIStreamHelper`: ``chat.completions.stream()``, which assembles the
  completion and emits typed events, like ``kkiai_async``'s ``stream()``.

A structured answer (``structured()``, the helper only: ``create()`` refuses a type) is
asked for with ``response_format=Report``, the pydantic model of
``clients/_report_pydantic.py``; the records parsed so far are read from every
``content.delta`` event's ``parsed``, as an application showing live progress would.

Retries are off (``max_retries=0``) so that a failure shows instead of being hidden in
the timing; the connection limits are the SDK's defaults (1,000 connections).
The SDK's transport is ``httpx2`` in openai >= 3 (``httpx`` before).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import openai

from benchmarks.common import Output, Request, no_hook

__all__ = ["OpenAIAiohttp", "OpenAIHttpx", "OpenAIStreamHelper"]


def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {"model": request.model, "messages": request.messages}
    if request.tools:
        params["tools"] = list(request.tools)
    return params


def _output(completion: Any) -> Output:
    """The comparable output of an SDK ``ChatCompletion`` (or the helper's parsed one)."""
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


class OpenAIHttpx:
    """``AsyncOpenAI`` with its default httpx transport; chunks assembled by hand."""

    def __init__(self, base_url: str, max_connections: int) -> None:
        self.on_first: Callable[[], None] = no_hook
        self._client = openai.AsyncOpenAI(
            api_key="bench",
            base_url=base_url,
            max_retries=0,
            # Connect timeout included: opening 1,000 streams at once keeps the loop busy
            # for longer than the SDK's default 5 s connect timeout.
            timeout=600.0,
            http_client=self._http_client(),
        )

    def _http_client(self) -> Any:
        return None

    async def __aenter__(self) -> OpenAIHttpx:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()

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
        stream = await self._client.chat.completions.create(**_params(request), stream=True)
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    delta = choice.delta
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
        return _output(await self._client.chat.completions.create(**_params(request)))


class OpenAIAiohttp(OpenAIHttpx):
    """``AsyncOpenAI(http_client=DefaultAioHttpClient())``: the SDK over aiohttp."""

    def _http_client(self) -> Any:
        return openai.DefaultAioHttpClient()


class OpenAIStreamHelper(OpenAIHttpx):
    """``chat.completions.stream()``: typed events and the assembled completion.

    The benchmark's tools are declared ``strict``, as the helper requires for tools, so
    it parses their arguments while they stream (its equivalent of ``kkiai_async``'s
    partial arguments).
    """

    def __init__(self, base_url: str, max_connections: int) -> None:
        super().__init__(base_url, max_connections)
        self._live: Any = None
        completions: Any = self._client.chat.completions
        # Older SDKs (< 1.100) have the helper only under ``beta``.
        self._open = (
            getattr(completions, "stream", None) or self._client.beta.chat.completions.stream
        )

    async def _stream(self, request: Request) -> tuple[float, Output]:
        first_at = 0.0
        async with self._open(**_params(request)) as stream:
            self._live = stream
            async for event in stream:
                if not first_at and event.type == "content.delta":
                    first_at = time.perf_counter()
                    self.on_first()
            completion = await stream.get_final_completion()
        self._live = None
        return first_at, _output(completion)

    async def structured(self, request: Request) -> tuple[Any, str]:
        # Imported here: only this scenario's processes pay for the models.
        from openai.lib.streaming.chat import ContentDeltaEvent

        from benchmarks.clients import _report, _report_pydantic

        shown = 0
        async with self._open(
            **_params(request), response_format=_report_pydantic.Report
        ) as stream:
            self._live = stream
            async for event in stream:
                if isinstance(event, ContentDeltaEvent):
                    shown = _report.records_so_far(event.parsed, shown)
            completion = await stream.get_final_completion()
        self._live = None
        choice = completion.choices[0]
        answer = choice.message.parsed
        _report.check_shown(shown, answer)
        return answer, choice.finish_reason or ""

    def to_builtins(self, answer: Any) -> Any:
        from benchmarks.clients import _report_pydantic

        return _report_pydantic.to_builtins(answer)

    def progress(self) -> int | None:
        if self._live is None:
            return None
        snapshot = self._live.current_completion_snapshot
        message = snapshot.choices[0].message
        return len((message.content or "").encode()) + sum(
            len(call.function.arguments.encode()) for call in message.tool_calls or ()
        )
