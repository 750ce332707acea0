"""A transport for our tests, plugged in with ``AsyncClient(transport=...)``.

Tests that need to see the connection pool, the requests as the transport got them, or
a failure at the transport's edge used to reach into ``client._transport._session``.
:class:`RecordingTransport` gives them the same through the public ``transport=``
parameter: it sends through the real aiohttp transport (real sockets, real pooling)
and only records and, when asked, fails.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from kkiai_async._config import Timeout
from kkiai_async._transport import Response
from kkiai_async._transport._aiohttp import AiohttpTransport

__all__ = ["RecordedRequest", "RecordingTransport"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the client handed it to the transport (header names lower-cased)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: Timeout
    stream: bool


class RecordingTransport:
    """The aiohttp transport, with the requests recorded and failures injectable.

    Attributes:
        requests: Every request the client sent through it, in order (failed ones too).
        user_agent: The wrapped transport's.
    """

    def __init__(
        self, *, session: aiohttp.ClientSession | None = None, connection_limit: int = 1000
    ) -> None:
        """Wrap a new aiohttp transport.

        Args:
            session: A session to lend to the wrapped transport; ``None``: it owns one.
            connection_limit: The size of an owned pool.
        """
        self._inner = AiohttpTransport(session=session, connection_limit=connection_limit)
        self._failures: deque[BaseException] = deque()
        self.requests: list[RecordedRequest] = []
        self.user_agent = self._inner.user_agent

    @property
    def closed(self) -> bool:
        """Whether the wrapped transport is closed."""
        return self._inner.closed

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session requests went through (there is one after the first)."""
        session = self._inner._session
        assert session is not None, "no request was sent yet"
        return session

    def pool_state(self) -> tuple[int, int]:
        """(connections in use, idle connections kept alive) in the aiohttp pool."""
        connector = self.session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        idle = sum(len(conns) for conns in connector._conns.values())
        return len(connector._acquired), idle

    def fail_next(self, *errors: BaseException) -> None:
        """Raise these from the next sends, one each, instead of sending."""
        self._failures.extend(errors)

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
        stream: bool,
    ) -> Response:
        """Record the request, then fail it if asked, else send it."""
        named = {name.lower(): value for name, value in headers.items()}
        self.requests.append(RecordedRequest(method, url, named, body, timeout, stream))
        if self._failures:
            raise self._failures.popleft()
        return await self._inner.send(method, url, headers, body, timeout, stream)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
