"""HTTP transports: the interface the client needs, its aiohttp implementation (the
default) and its httpx implementation (the ``httpx`` extra).

Only this package imports an HTTP library, so the rest of the client stays independent
of it; see :mod:`._base` for the interface and its error contract. :func:`make_transport`
picks the implementation and imports it only then: ``import kkiai_async`` never imports
httpx. It also takes a transport object of the caller's -- anything with the
:class:`Transport` protocol's members -- which is how tests record requests or inject
failures without reaching into the client.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal, cast

from .._exceptions import InvalidParameterError
from ._base import Response, Transport

if TYPE_CHECKING:
    import aiohttp
    import httpx

__all__ = ["Response", "Transport", "TransportName", "make_transport"]

TransportName = Literal["aiohttp", "httpx"]

_NAMES = ("aiohttp", "httpx")


def _kind_of(session: object) -> TransportName:
    """Which transport a lent session belongs to, without importing httpx to find out."""
    import aiohttp

    if isinstance(session, aiohttp.ClientSession):
        return "aiohttp"
    # An httpx client exists only if httpx was imported by whoever made it.
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        if isinstance(session, httpx.AsyncClient):
            return "httpx"
        if isinstance(session, httpx.Client):
            raise InvalidParameterError(
                "session", "must be an httpx.AsyncClient, not the synchronous httpx.Client"
            )
    raise InvalidParameterError(
        "session",
        "must be an aiohttp.ClientSession or an httpx.AsyncClient, "
        f"got {type(session).__module__}.{type(session).__qualname__}",
    )


def _check_transport_object(transport: object, session: object) -> Transport:
    """``transport`` itself, once it has what the client uses of a :class:`Transport`.

    A structural check, as the protocol is structural: a transport need not inherit
    from anything. It catches a wrong object (a session passed as ``transport=``, a
    class instead of an instance) when the client is made, not at its first request.
    """
    if session is not None:
        raise InvalidParameterError(
            "session",
            "cannot be given with a transport object: the transport has its own "
            "connection pool (lend the session to that transport instead)",
        )
    cls = transport if isinstance(transport, type) else type(transport)
    kind = f"{cls.__module__}.{cls.__qualname__}"
    missing = [
        name
        for name, check in (
            ("send", callable),
            ("aclose", callable),
            ("closed", lambda value: isinstance(value, bool)),
            ("user_agent", lambda value: isinstance(value, str)),
        )
        if not check(getattr(transport, name, None))
    ]
    if isinstance(transport, type) or missing:
        what = (
            "a class, not an instance"
            if isinstance(transport, type)
            else ("it lacks (or has the wrong type of) " + ", ".join(missing))
        )
        raise InvalidParameterError(
            "transport",
            "must be 'aiohttp' or 'httpx', or an object implementing the Transport "
            f"protocol (send, aclose, closed, user_agent); got {kind}: {what}",
        )
    return cast("Transport", transport)


def make_transport(
    transport: TransportName | Transport | None, session: object, connection_limit: int
) -> Transport:
    """The transport for ``AsyncClient``'s ``transport=`` and ``session=``.

    Args:
        transport: ``"aiohttp"``, ``"httpx"``, ``None`` for the one ``session``
            belongs to (aiohttp without a session), or an object implementing
            :class:`Transport` -- the caller's own, used as it is.
        session: An ``aiohttp.ClientSession`` or ``httpx.AsyncClient`` to borrow, or
            ``None`` for a pool of the transport's own (always ``None`` with a
            transport object).
        connection_limit: The size of an owned pool (``0``: no limit); not used for a
            transport object.

    Returns:
        The transport; nothing is connected yet.

    Raises:
        InvalidParameterError: An unknown transport name, an object that is not a
            transport, a session together with a transport object, a session of
            another kind (or of the other transport), or ``"httpx"`` without httpx
            installed.
    """
    if transport is not None and not isinstance(transport, str):
        return _check_transport_object(transport, session)
    if transport is not None and transport not in _NAMES:
        raise InvalidParameterError(
            "transport",
            f"must be 'aiohttp' or 'httpx' (or a Transport object), got {transport!r}",
        )
    name = transport or "aiohttp"
    if session is not None:
        kind = _kind_of(session)
        if transport is not None and kind != transport:
            raise InvalidParameterError(
                "session", f"is a session of {kind}, but transport={transport!r}"
            )
        name = kind
    if name == "httpx":
        try:
            from ._httpx import HttpxTransport
        except ImportError as exc:
            raise InvalidParameterError(
                "transport",
                f"'httpx' needs httpx, which cannot be imported ({exc}): "
                "pip install 'kkiai-async[httpx]'",
            ) from None
        client = cast("httpx.AsyncClient | None", session)
        return HttpxTransport(client=client, connection_limit=connection_limit)
    from ._aiohttp import AiohttpTransport

    lent = cast("aiohttp.ClientSession | None", session)
    return AiohttpTransport(session=lent, connection_limit=connection_limit)
