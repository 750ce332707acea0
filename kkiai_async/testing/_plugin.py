"""The pytest plugin: ``kkiai_server`` and ``kkiai_client`` fixtures.

Why a plugin: every project that uses the library needs the same two fixtures to test
its own code against a real loopback server; registered as the ``kkiai`` pytest11 entry
point, they are there without any conftest.

Because pytest imports a pytest11 plugin in every run of every user, importing this
module must be cheap and must not fail: the server (``aiohttp.web``) and the client are
imported inside the fixtures, and pytest-asyncio (a test extra) is optional: without
it the fixtures skip the test that asks for them, saying why.

Options of the server come from a marker::

    @pytest.mark.kkiai_server(api_key="sk-test", models=["m"], rpm=2)
    async def test_limits(kkiai_server, kkiai_client): ...
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._server import FakeServer

__all__ = ["kkiai_client", "kkiai_server", "pytest_configure"]

_async_fixture: Callable[..., Any] | None
try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - exercised only without the test extra
    _async_fixture = None

_DEFAULT_KEY = "test-key"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``kkiai_server`` marker so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "kkiai_server(**options): FakeServer options for the kkiai_server fixture "
        "(api_key=, models=, rpm=, tpm=, ...)",
    )


async def _server(request: pytest.FixtureRequest) -> AsyncIterator[FakeServer]:
    """A started :class:`FakeServer`, closed after the test."""
    from ._server import FakeServer

    marker = request.node.get_closest_marker("kkiai_server")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with FakeServer(**options) as server:
        yield server


async def _client(kkiai_server: FakeServer) -> AsyncIterator[Any]:
    """A ``kkiai_async.AsyncClient`` bound to ``kkiai_server``, closed after the test."""
    # Imported here: the plugin must load even where the client cannot (and cheaply).
    kk = importlib.import_module("kkiai_async")
    client = kk.AsyncClient(
        api_key=kkiai_server.api_key or _DEFAULT_KEY, base_url=kkiai_server.base_url
    )
    async with client:
        yield client


def _needs_pytest_asyncio() -> None:
    pytest.skip("the kkiai fixtures need pytest-asyncio (pip install 'kkiai-async[test]')")


kkiai_server: Any
kkiai_client: Any
if _async_fixture is not None:
    kkiai_server = _async_fixture(name="kkiai_server")(_server)
    kkiai_client = _async_fixture(name="kkiai_client")(_client)
else:  # pragma: no cover - exercised only without the test extra
    kkiai_server = pytest.fixture(name="kkiai_server")(_needs_pytest_asyncio)
    kkiai_client = pytest.fixture(name="kkiai_client")(_needs_pytest_asyncio)
