"""``AsyncClient``: configuration, authentication, the connection pool's lifecycle, and
the send path with its retries.

One long-lived client per application is the intended use: it holds the connection pool
(an aiohttp session or an httpx client, owned or lent by the caller: see
:mod:`._transport`), and every request goes through
:meth:`AsyncClient._send`, the single place where attempts are retried. Parsing
responses is not its business: the chat resource and the stream objects do that.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import msgspec

from ._chat import Chat
from ._config import USE_CLIENT_DEFAULT, RetryPolicy, Timeout, UseClientDefault, resolve_timeout
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    ClientClosedError,
    InvalidParameterError,
    KkiaiError,
    make_status_error,
    request_id_from,
)
from ._retry import describe_retry_reason, retry_decision, retry_delay
from ._transport import Response, Transport, TransportName, make_transport
from ._version import __version__

if TYPE_CHECKING:
    import aiohttp
    import httpx
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from ._otel import ChatCall, Telemetry

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]

logger = logging.getLogger("kkiai_async")

DEFAULT_BASE_URL = "https://www.kkiai.com/v1"
"""Where requests go when neither ``base_url=`` nor ``KKIAI_BASE_URL`` says otherwise."""

# The backoff sleep, looked up at each use so that tests can replace it and not wait.
_sleep = asyncio.sleep

_PATH = "/chat/completions"
_ANY_DECODER = msgspec.json.Decoder()

DEFAULT_CONNECTION_LIMIT = 1000
"""The size of the connection pool a client creates for itself."""

DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024
"""The largest non-streamed response body accepted, decompressed: far above the largest
real completion (``n=128`` choices of a few thousand tokens with 20 ``top_logprobs``
each come to some tens of megabytes), far below what a decompression bomb inflates to."""

# An error body is only shown (parsed for its error object, or quoted as an excerpt):
# its first bytes are all that is kept, whatever its size.
_MAX_ERROR_BODY_BYTES = 64 * 1024


def _check_base_url(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise InvalidParameterError("base_url", f"must be a non-empty URL string, got {url!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidParameterError("base_url", f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        # Not the URL itself: it may carry user:password.
        raise InvalidParameterError(
            "base_url",
            f"must be an http:// or https:// URL with a host, got scheme {parts.scheme!r}"
            + ("" if host else " and no host"),
        )
    if parts.query or parts.fragment:
        raise InvalidParameterError("base_url", "must not have a query or a fragment")
    if parts.scheme == "http" and not _is_loopback(host):
        # The host only: a URL may carry user:password.
        logger.warning(
            "base_url uses plain http to %s: the API key and the conversation are sent unencrypted",
            host,
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_headers(param: str, headers: object) -> Mapping[str, str]:
    if not isinstance(headers, Mapping):
        raise InvalidParameterError(
            param, f"must be a dict of str to str, got {type(headers).__name__}"
        )
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            # The type only: the value may be a credential.
            raise InvalidParameterError(
                f"{param}[{name!r}]",
                f"header names and values must be str, got {type(value).__name__}",
            )
    return headers


def _with_retries(policy: RetryPolicy, max_retries: int) -> RetryPolicy:
    """``policy`` with another retry count (checked), keeping every other setting."""
    return msgspec.structs.replace(policy, max_retries=max_retries)


def _merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` updated by ``extra``, matching header names case-insensitively."""
    merged = dict(base)
    names = {name.lower(): name for name in merged}
    for name, value in extra.items():
        old = names.get(name.lower())
        if old is not None:
            del merged[old]
        merged[name] = value
        names[name.lower()] = name
    return merged


class AsyncClient:
    """The kkiai Chat Completions client for asyncio.

    Create one per application and share it: it owns the connection pool. Close it
    with ``await client.aclose()`` or by using it as an async context manager::

        async with kk.AsyncClient() as client:
            completion = await client.chat.completions.create(model=..., messages=[...])

    Attributes:
        chat: The chat resource; ``client.chat.completions`` makes the requests.
        base_url: The API's base URL, without a trailing slash.
        api_key: The API key, or ``None`` (the API documents ``Authorization`` as
            optional). Never shown by ``repr()``.
        timeout: The default limits of a request.
        max_retries: The default number of retries after a failed attempt.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_json_headers",
        "_max_body_bytes",
        "_otel",
        "_otel_pending",
        "_owns_transport",
        "_policy",
        "_stream_headers",
        "_telemetry",
        "_transport",
        "_url",
        "api_key",
        "base_url",
        "chat",
        "default_headers",
        "max_retries",
        "timeout",
    )

    api_key: str | None
    base_url: str
    timeout: Timeout
    max_retries: int
    default_headers: Mapping[str, str]

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = Timeout(),  # noqa: B008 - immutable
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        session: aiohttp.ClientSession | httpx.AsyncClient | None = None,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        transport: TransportName | Transport | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        """Configure the client; nothing is connected until the first request.

        Args:
            api_key: Sent as ``Authorization: Bearer <key>``. Default: the
                ``KKIAI_API_KEY`` environment variable; with neither, no
                ``Authorization`` header is sent.
            base_url: The API's base URL. Default: ``KKIAI_BASE_URL``, else
                ``https://www.kkiai.com/v1``. Plain ``http://`` to a host other than
                loopback works but logs a warning.
            default_headers: Headers added to every request; they override the
                library's own (names compared case-insensitively).
            timeout: A :class:`Timeout`, or a number ``t`` for ``connect=read=t``, or
                ``None`` for no limits. The limits apply to each attempt.
            max_retries: Retries after a failed attempt (see ``create()``); ``0``
                disables them.
            backoff_base: The most seconds waited before the first retry when the
                server does not say (``Retry-After``); it doubles with each retry, and
                the wait is drawn at random below it ("full jitter") so that many
                clients failing together do not retry together. ``0``: no wait.
            backoff_cap: The longest wait the backoff ever picks, in seconds.
            session: An ``aiohttp.ClientSession``, or an ``httpx.AsyncClient``, to
                borrow: its pool, proxy and TLS settings are used, and the client never
                closes it. Default: the client creates (on the first request, inside the
                running event loop) and owns one whose pool holds up to
                ``connection_limit`` connections.
            connection_limit: The most connections the owned session opens at once
                (``0``: no limit). Every open stream holds one; more requests wait.
            transport: The HTTP library: ``"aiohttp"`` (the default) or ``"httpx"``
                (``pip install 'kkiai-async[httpx]'``), for an application built on
                httpx. Both behave the same in everything the caller sees. Default: the
                library of ``session``, else aiohttp. Or a transport object of your
                own (anything with the transport interface: ``send``, ``aclose``,
                ``closed``, ``user_agent``), which the client closes with itself.
            max_body_bytes: The largest non-streamed response body accepted, counted
                after decompression; a larger one raises ``APIProtocolError`` and its
                connection is closed, so memory grows with the bound, not with the
                body (a stream's lines are bounded by the event-stream decoder).
            tracer_provider: Where the OpenTelemetry spans go (``pip install
                'kkiai-async[otel]'``). Default: the global provider. Whether anything
                is recorded is decided at the first request: without an SDK provider
                (or without ``opentelemetry-api``) nothing is, at no cost.
            meter_provider: Where the OpenTelemetry metrics go. Default: the global
                provider.

        Raises:
            InvalidParameterError: A parameter has the wrong type or value.
        """
        if api_key is None:
            api_key = os.environ.get("KKIAI_API_KEY") or None
        elif not isinstance(api_key, str):
            raise InvalidParameterError(
                "api_key", f"must be a string, got {type(api_key).__name__}"
            )
        if base_url is None:
            base_url = os.environ.get("KKIAI_BASE_URL") or DEFAULT_BASE_URL
        if (
            isinstance(connection_limit, bool)
            or not isinstance(connection_limit, int)
            or connection_limit < 0
        ):
            raise InvalidParameterError(
                "connection_limit", f"must be an int >= 0, got {connection_limit!r}"
            )
        if (
            isinstance(max_body_bytes, bool)
            or not isinstance(max_body_bytes, int)
            or max_body_bytes < 1
        ):
            raise InvalidParameterError(
                "max_body_bytes", f"must be a positive int, got {max_body_bytes!r}"
            )
        self._max_body_bytes = max_body_bytes
        # Telemetry is decided at the first request (_telemetry_now), so that providers
        # configured after the client was made are used.
        self._otel = (tracer_provider, meter_provider)
        self._otel_pending = True
        self._telemetry: Telemetry | None = None
        self._configure(
            api_key=api_key or None,
            base_url=_check_base_url(base_url),
            default_headers=dict(_checked_headers("default_headers", default_headers or {})),
            timeout=Timeout.coerce(timeout),
            policy=RetryPolicy(
                max_retries=max_retries, backoff_base=backoff_base, backoff_cap=backoff_cap
            ),
        )
        if (
            connection_limit != DEFAULT_CONNECTION_LIMIT
            and transport is not None
            and not isinstance(transport, str)
        ):
            raise InvalidParameterError(
                "connection_limit",
                "is the size of the client's own pool: a transport "
                "object given as transport= sizes its own",
            )
        self._transport: Transport = make_transport(transport, session, connection_limit)
        self._owns_transport = True
        self._build_headers()

    def _configure(
        self,
        *,
        api_key: str | None,
        base_url: str,
        default_headers: Mapping[str, str],
        timeout: Timeout,
        policy: RetryPolicy,
    ) -> None:
        if api_key and "@" in urlsplit(base_url).netloc:
            # aiohttp would refuse the request with a bare ValueError; say it now.
            raise InvalidParameterError(
                "base_url",
                "has credentials (user:password@) and an api_key is set as well: use one "
                "or the other (the key may come from KKIAI_API_KEY)",
            )
        self.api_key = api_key
        self.base_url = base_url
        self.default_headers = default_headers
        self.timeout = timeout
        self._policy = policy
        self.max_retries = policy.max_retries
        self._url = base_url + _PATH
        self._closed = False
        self.chat = Chat(self)

    def _build_headers(self) -> None:
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"kkiai-async/{__version__} python/{python} {self._transport.user_agent}",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        stream_headers = dict(headers, Accept="text/event-stream")
        self._json_headers = _merge_headers(headers, self.default_headers)
        self._stream_headers = _merge_headers(stream_headers, self.default_headers)

    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | None = None,
    ) -> AsyncClient:
        """A copy with some settings changed that shares this client's connection pool.

        Closing the copy does not close the pool; closing this client does, for both.

        Args:
            api_key: A different key (``None``: keep this one).
            base_url: A different base URL (``None``: keep this one).
            default_headers: Headers merged over this client's default headers.
            timeout: Different limits (``None``: no limits; left out: keep these).
            max_retries: A different retry count (``None``: keep this one).

        Returns:
            The new client.
        """
        self._check_open()
        clone = AsyncClient.__new__(AsyncClient)
        headers = dict(self.default_headers)
        if default_headers:
            headers = _merge_headers(headers, _checked_headers("default_headers", default_headers))
        if api_key is not None and not isinstance(api_key, str):
            raise InvalidParameterError(
                "api_key", f"must be a string, got {type(api_key).__name__}"
            )
        clone._configure(
            api_key=self.api_key if api_key is None else api_key or None,
            base_url=self.base_url if base_url is None else _check_base_url(base_url),
            default_headers=headers,
            timeout=resolve_timeout(timeout, self.timeout),
            policy=self._policy
            if max_retries is None
            else _with_retries(self._policy, max_retries),
        )
        clone._transport = self._transport
        clone._max_body_bytes = self._max_body_bytes
        # Its own decision: base_url (server.address) may differ.
        clone._otel = self._otel
        clone._otel_pending = True
        clone._telemetry = None
        clone._owns_transport = False
        clone._build_headers()
        return clone

    def _telemetry_now(self) -> Telemetry | None:
        """The client's telemetry: ``None`` (the usual case) when nothing is recorded."""
        if self._otel_pending:
            from ._otel import make_telemetry

            self._telemetry = make_telemetry(*self._otel, self.base_url)
            self._otel_pending = False
        return self._telemetry

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError(
                "the client is closed (aclose() was called, or its async with block ended)"
            )

    async def aclose(self) -> None:
        """Close the client and, if it created it, its connection pool; idempotent.

        A borrowed ``session`` stays open. Streams still open are not interrupted by
        this call, but their connections are closed with the pool.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        state = " closed" if self._closed else ""
        return f"<AsyncClient base_url={self.base_url!r} api_key={key}{state}>"

    # ----------------------------------------------------------------------------------
    # The send path
    # ----------------------------------------------------------------------------------

    async def _send(
        self,
        body: bytes,
        *,
        stream: bool,
        timeout: Timeout | float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        call: ChatCall | None = None,
    ) -> tuple[Response, bytes]:
        """POST ``body`` to the chat completions endpoint, retrying what may be retried.

        An attempt fails with a retryable status, a connection error or a connect/read
        timeout before the response headers; for a non-streamed request, also while
        reading the body, since nothing has reached the caller yet. A streamed
        response is returned as soon as its status is known to be a success: once the
        caller has it, nothing is retried.

        Args:
            body: The encoded JSON body.
            stream: Whether the response is to be streamed (its body is then left
                unread and the caller must close the response).
            timeout: This request's limits (``None``: none; ``USE_CLIENT_DEFAULT``: the
                client's).
            max_retries: This request's retry count (``None``: the client's).
            extra_headers: Headers for this request only, over all others.
            call: The request's telemetry, which gets an event per retry.

        Redirects are not followed (see the transport): a 3xx is an
        :class:`APIStatusError` naming the ``Location``.

        Returns:
            The response (a 2xx) and, unless ``stream``, its body (else ``b""``).

        Raises:
            APIStatusError: The last attempt got an error status, or a redirect.
            APIConnectionError: The last attempt failed to connect, timed out or broke.
            ClientClosedError: The client is (or became) closed.
        """
        self._check_open()
        headers = self._stream_headers if stream else self._json_headers
        if extra_headers:
            headers = _merge_headers(headers, _checked_headers("extra_headers", extra_headers))
        limits = resolve_timeout(timeout, self.timeout)
        policy = self._policy
        if max_retries is not None:
            policy = _with_retries(policy, max_retries)
        transport = self._transport
        url = self._url
        debug = logger.isEnabledFor(logging.DEBUG)
        attempt = 0
        while True:
            if debug:
                logger.debug(
                    "POST %s headers=%s",
                    _loggable_url(url),
                    _loggable_headers(headers, self.api_key),
                )
            try:
                response = await transport.send("POST", url, headers, body, limits, stream)
                status = response.status
                if debug:
                    logger.debug(
                        "HTTP %d from POST %s (request_id=%s)",
                        status,
                        _PATH,
                        request_id_from(response.headers),
                    )
                if status < 300:
                    if stream:
                        return response, b""
                    return response, await _read_all(response, self._max_body_bytes)
                error = await _status_error(response, self.api_key)
            except APIConnectionError as exc:
                if attempt >= policy.max_retries or not retry_decision(None, {}, exc):
                    raise
                delay = retry_delay(policy, attempt, {})
                reason = describe_retry_reason(None, exc)
                failure: int | BaseException = exc
            else:
                if attempt >= policy.max_retries or not retry_decision(status, error.headers, None):
                    raise error
                delay = retry_delay(policy, attempt, error.headers)
                reason = describe_retry_reason(status, None)
                failure = status
            attempt += 1
            if call is not None:
                call.retry(attempt, delay, failure, reason)
            logger.info(
                "Retrying POST %s in %.2f seconds (retry %d of %d): %s",
                _PATH,
                delay,
                attempt,
                policy.max_retries,
                reason,
            )
            await _sleep(delay)
            self._check_open()


async def _read_all(response: Response, max_bytes: int, *, truncate: bool = False) -> bytes:
    reuse = False
    try:
        data = await response.read(max_bytes, truncate=truncate)
        reuse = len(data) < max_bytes  # a body cut at the bound was not read to its end
    finally:
        await response.aclose(reuse=reuse)
    return data


async def _status_error(response: Response, secret: str | None) -> APIStatusError:
    """The error for an error status or a redirect, with the body parsed when it is JSON.

    A server (or a relay, or a debugging proxy) may echo the request's headers in an
    error body; the API key is cut out of the body and headers before they become the
    error's message and attributes, which end up in logs, tracebacks and pickles.
    """
    try:
        data = await _read_all(response, _MAX_ERROR_BODY_BYTES, truncate=True)
    except KkiaiError as exc:
        # The status is the error; a body that could not be read only loses its detail.
        logger.warning("HTTP %d: the error body could not be read: %s", response.status, exc)
        data = b""
    body: object
    try:
        body = _ANY_DECODER.decode(data) if data else ""
    except msgspec.DecodeError:
        body = data.decode("utf-8", "replace")
    status = response.status
    headers: Mapping[str, str] = response.headers
    if secret is not None and len(secret) >= _MIN_SECRET:
        body = _scrub(body, secret)
        headers = {name: value.replace(secret, _REDACTED) for name, value in headers.items()}
    if status < 300 or status >= 400:
        return make_status_error(status, body, headers)
    location = headers.get("location")
    target = f" to {location}" if location else ""
    return APIStatusError(
        f"HTTP {status}: the server redirected the request{target}; redirects are not "
        "followed, so that the API key and the conversation go only to base_url "
        "(the API itself does not redirect: check base_url)",
        status_code=status,
        body=body,
        headers=headers,
        request_id=request_id_from(headers),
    )


_REDACTED = "[redacted]"

# A key shorter than this would match ordinary text; real keys are far longer.
_MIN_SECRET = 8

# Request headers whose values are credentials, whatever the credential.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "api-key"})
_SECRET_WORDS = ("key", "token", "secret", "password")


def _scrub(value: object, secret: str) -> object:
    """``value`` (parsed JSON) with every occurrence of ``secret`` in its strings replaced."""
    if isinstance(value, str):
        return value.replace(secret, _REDACTED)
    if isinstance(value, dict):
        return {_scrub(k, secret): _scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secret) for v in value]
    return value


def _loggable_headers(headers: Mapping[str, str], secret: str | None) -> dict[str, str]:
    """The request headers for a DEBUG log line, with every credential replaced."""
    shown = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _SECRET_HEADERS or any(word in lower for word in _SECRET_WORDS):
            # Keep the scheme ("Bearer"): it tells a wrong auth scheme from a wrong key.
            scheme, space, _ = value.partition(" ")
            value = (
                f"{scheme} {_REDACTED}" if space and lower.endswith("authorization") else _REDACTED
            )
        elif secret and secret in value:
            value = value.replace(secret, _REDACTED)
        shown[name] = value
    return shown


def _loggable_url(url: str) -> str:
    """``url`` without a ``user:password@`` part."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
