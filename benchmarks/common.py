"""What the server, the runner, the client adapters and the suite agree on.

Kept free of any HTTP library so that importing it in a client's process adds nothing
to that client's memory or import cost but ``msgspec`` (which every client here uses or
is compared with anyway).
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import msgspec

__all__ = [
    "BenchClient",
    "Output",
    "Request",
    "current_rss_kb",
    "no_hook",
    "peak_rss_kb",
]


class Output(msgspec.Struct, frozen=True):
    """What a client assembled from one response, compared with the floor's.

    ``content`` is ``""`` when the message had none: clients differ on ``None`` versus
    ``""`` for a tool-call-only message, and that difference is not what is measured.
    ``tool_calls`` holds ``(id, name, arguments)`` in index order.
    """

    content: str
    tool_calls: tuple[tuple[str, str, str], ...]
    finish_reason: str


class Request(msgspec.Struct, frozen=True):
    """One request as every client sends it: the model names the server's payload.

    ``structured``: the answer is a ``Report`` (``clients/_report.py``), asked for with
    the client's own way of giving a type as ``response_format``.
    """

    model: str
    stream: bool
    tools: tuple[dict[str, Any], ...] = ()
    structured: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation sent; the server ignores it but every client must encode it."""
        return [
            {"role": "system", "content": "You are a benchmark."},
            {"role": "user", "content": "Answer as the scenario says."},
        ]

    def body(self) -> dict[str, Any]:
        """The JSON body for the clients that build it themselves."""
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.stream:
            body["stream"] = True
        if self.tools:
            body["tools"] = list(self.tools)
        return body


class BenchClient(Protocol):
    """The adapter each benchmarked client implements (one per module in ``clients/``).

    An adapter is created with the server's base URL (ending in ``/v1``) and the number
    of connections it must be able to hold open at once, entered once per process, and
    then asked to do the scenario's requests.
    """

    on_first: Callable[[], None]
    """Called once per stream, at its first content delta (``concurrent_1000`` counts)."""

    def __init__(self, base_url: str, max_connections: int) -> None: ...

    async def __aenter__(self) -> BenchClient: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def stream(self, request: Request) -> Output:
        """Stream one response to its end and return what was assembled."""
        ...

    async def complete(self, request: Request) -> Output:
        """Make one non-streamed request."""
        ...

    async def first_token(self, request: Request) -> tuple[float, Output]:
        """Stream one response; return ``perf_counter()`` at its first content delta."""
        ...

    def progress(self) -> int | None:
        """UTF-8 bytes assembled so far by a stream that was cancelled, if the client knows."""
        ...

    async def structured(self, request: Request) -> tuple[Any, str]:
        """Stream a typed answer (``request.structured``) to its end, showing its progress.

        Returns the answer as the client's type (a ``Report`` struct or model) and the
        finish reason. Only the clients of ``structured_scale`` implement it.
        """
        ...

    def to_builtins(self, answer: Any) -> Any:
        """What :meth:`structured` returned, as JSON values (not measured)."""
        ...


def no_hook() -> None:
    """The default :attr:`BenchClient.on_first`: nothing to do."""


def peak_rss_kb() -> int:
    """The process's peak resident set size in KiB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``fork`` + ``exec``, so a
    runner started by a suite holding 300 MB of payloads would report at least 300 MB,
    whereas ``VmHWM`` is the high-water mark of this program's own memory since ``exec``.
    Elsewhere ``ru_maxrss`` (bytes on macOS).
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def current_rss_kb() -> int:
    """The current resident set size in KiB; the peak where ``/proc`` is missing."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident_pages = int(statm.read().split()[1])
    except OSError:
        return peak_rss_kb()
    return resident_pages * os.sysconf("SC_PAGE_SIZE") // 1024
