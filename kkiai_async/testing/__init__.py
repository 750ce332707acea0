"""Test against a real, OpenAI-compatible server on loopback: :class:`FakeServer`.

.. code-block:: python

    from kkiai_async.testing import FakeServer, Fault, Reply

    async with FakeServer() as server:
        server.queue(Reply.text("Hello!", chunk_size=2), Fault.status(429, retry_after=1))
        client = kk.AsyncClient(api_key="test-key", base_url=server.base_url)
        ...
        assert server.requests[0].body["model"] == "m"

The pytest plugin (``kkiai_server`` and ``kkiai_client`` fixtures) is
:mod:`kkiai_async.testing._plugin`, registered as the ``kkiai`` pytest11 entry point.

The server's names are imported on first use: pytest imports this package for the
plugin in every test run of every user, and ``aiohttp.web`` is not needed until a
server is actually made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._script import Fault, Reply, ScriptItem, ToolCall
from ._tokens import count_tokens

if TYPE_CHECKING:
    from ._server import DEFAULT_MODEL, FakeServer, RecordedRequest, run_forever, serve

__all__ = [
    "DEFAULT_MODEL",
    "FakeServer",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ScriptItem",
    "ToolCall",
    "count_tokens",
    "run_forever",
    "serve",
]

_FROM_SERVER = frozenset({"DEFAULT_MODEL", "FakeServer", "RecordedRequest", "run_forever", "serve"})


def __getattr__(name: str) -> Any:
    if name in _FROM_SERVER:
        from . import _server

        value = getattr(_server, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
