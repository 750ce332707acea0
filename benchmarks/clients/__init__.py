"""The benchmarked clients, by name; each is imported only in its own runner process.

Nothing here imports a client's module: a runner for ``floor`` must not pay for (or
carry the memory of) ``openai``. :func:`load` imports the one that is asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchmarks.common import BenchClient

__all__ = ["CLIENTS", "FLOOR", "SDK", "ClientInfo", "load"]


@dataclass(frozen=True)
class ClientInfo:
    """A benchmarked client: where its adapter lives and what it imports."""

    name: str
    label: str
    module: str
    attr: str
    imports: str  # what ``import_time`` imports for it (a statement's module list)


FLOOR = "floor"
SDK = "openai-httpx"

CLIENTS: dict[str, ClientInfo] = {
    c.name: c
    for c in (
        ClientInfo(
            "kkiai-chunks",
            "kkiai_async create(stream=True)",
            "benchmarks.clients.kkiai",
            "KkiaiChunks",
            "kkiai_async",
        ),
        ClientInfo(
            "kkiai-events",
            "kkiai_async stream() events",
            "benchmarks.clients.kkiai",
            "KkiaiEvents",
            "kkiai_async",
        ),
        ClientInfo(
            "kkiai-httpx",
            "kkiai_async create(stream=True), httpx transport",
            "benchmarks.clients.kkiai",
            "KkiaiHttpxChunks",
            "kkiai_async, httpx",
        ),
        ClientInfo(
            "openai-httpx",
            "openai SDK (httpx, default)",
            "benchmarks.clients.openai_sdk",
            "OpenAIHttpx",
            "openai",
        ),
        ClientInfo(
            "openai-aiohttp",
            "openai SDK (aiohttp transport)",
            "benchmarks.clients.openai_sdk",
            "OpenAIAiohttp",
            "openai",
        ),
        ClientInfo(
            "openai-helper",
            "openai SDK stream() helper",
            "benchmarks.clients.openai_sdk",
            "OpenAIStreamHelper",
            "openai",
        ),
        ClientInfo(
            "httpx-sse",
            "httpx + httpx-sse + msgspec",
            "benchmarks.clients.httpx_sse",
            "HttpxSSE",
            "httpx, httpx_sse, msgspec",
        ),
        ClientInfo(
            FLOOR,
            "floor: aiohttp + msgspec, no abstraction",
            "benchmarks.clients.floor",
            "Floor",
            "aiohttp, msgspec",
        ),
    )
}


def load(name: str) -> type[BenchClient]:
    """Import the adapter class of client ``name``.

    Raises:
        ImportError: The client's library is missing (or broken) in this environment;
            the runner reports the client as unavailable.
    """
    info = CLIENTS[name]
    module = importlib.import_module(info.module)
    adapter: type[BenchClient] = getattr(module, info.attr)
    return adapter
