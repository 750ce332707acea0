"""The one exception tree of the library.

Every error the library raises is a :class:`KkiaiError`; aiohttp and httpx exceptions
are translated into this tree in one place per transport and never reach the caller::

    KkiaiError                          .request_id, .partial on every error
    ├── InvalidParameterError           a bad argument, raised before anything is sent
    │   └── UnknownParameterError           a keyword the client does not know (a TypeError)
    ├── ClientClosedError               the client was used after aclose()
    ├── BatchInputError                 a batch input file has bad lines; nothing was sent
    ├── ToolDefinitionError             a function or type cannot become a tool
    ├── ToolArgumentsError              a model's tool arguments do not fit the tool
    ├── MaxRoundsExceededError          the tool loop still had calls at max_rounds
    ├── StructuredOutputError           parse() got no typed answer: .completion, .choice_index
    │   ├── LengthFinishReasonError         the answer was cut off at the token limit
    │   ├── ContentFilterFinishReasonError  the content filter stopped the answer
    │   └── OutputValidationError           not JSON, or not the type: .content, .path
    └── APIError                        something went wrong talking to the server
        ├── APIStatusError              an HTTP error status: .status_code, .body, .headers
        │   ├── BadRequestError             400
        │   ├── AuthenticationError         401
        │   ├── PermissionDeniedError       403
        │   ├── NotFoundError               404
        │   ├── ConflictError               409
        │   ├── UnprocessableEntityError    422
        │   ├── RateLimitError              429
        │   └── InternalServerError         5xx
        ├── APIConnectionError          the connection failed or broke
        │   ├── APITimeoutError             a connect, read or total timeout: .timeout
        │   └── IncompleteStreamError       the connection broke before the stream ended
        ├── APIStreamError              the server sent an error object instead of data
        └── APIProtocolError            the response broke the protocol (invalid JSON,
            │                           not an event stream, a line or body over its bound)
            └── TruncatedStreamError        the body ended cleanly, but a choice never
                                            finished (no [DONE], no finish_reason)

Two more errors live here, outside the tree, because the decoders that raise them do no
I/O and know nothing of the client: :class:`SSEProtocolError` (the event-stream decoder
met a line or event over its bound) and :class:`PartialJSONError` (where a text stops
being JSON). Neither reaches a caller of the client: the stream turns the first into an
:class:`APIProtocolError`, and the second is reported on the events it concerns.

Why ``partial`` is on the root: an error that ends a stream early must not lose what
had already arrived. Whatever its class, such an error carries the completion assembled
up to that point as :attr:`KkiaiError.partial`; errors raised before a stream started
have ``partial = None``.

No exception text ever includes request headers, so the API key cannot leak through
``str(exc)`` or a logged traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .types import ChatCompletion

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIProtocolError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchInputError",
    "ClientClosedError",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidParameterError",
    "KkiaiError",
    "LengthFinishReasonError",
    "MaxRoundsExceededError",
    "NotFoundError",
    "OutputValidationError",
    "PermissionDeniedError",
    "RateLimitError",
    "StructuredOutputError",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "TruncatedStreamError",
    "UnknownParameterError",
    "UnprocessableEntityError",
    "make_status_error",
    "request_id_from",
]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "openai-request-id")


class KkiaiError(Exception):
    """The root of every error the library raises.

    Attributes:
        message: What went wrong, in one sentence.
        request_id: The server's id for the request (from ``x-request-id``), if known.
        partial: For an error that ended a stream early, the completion assembled from
            everything that arrived before it; otherwise ``None``.
    """

    message: str
    request_id: str | None
    partial: ChatCompletion | None

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        partial: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.partial = partial

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request_id={self.request_id})"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive the default pickling of exceptions;
        # errors cross process boundaries in batch jobs, so rebuild from __dict__.
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[KkiaiError], message: str, state: dict[str, Any]) -> KkiaiError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class InvalidParameterError(KkiaiError, ValueError):
    """A request parameter has the wrong type or value; nothing was sent.

    Attributes:
        param: The name of the offending parameter (``"messages[2].tool_call_id"``).
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"invalid parameter {param!r}: {message}")
        self.param = param


class UnknownParameterError(InvalidParameterError, TypeError):
    """A keyword argument the client does not know (``seen=`` for ``seed=``).

    Also a :class:`TypeError`, which is what Python raises for an unexpected keyword,
    so ``except TypeError`` code written against other clients keeps working. The
    message names the closest known parameter.
    """


class ClientClosedError(KkiaiError, RuntimeError):
    """The client (or a stream) was used after it was closed."""


class BatchInputError(KkiaiError, ValueError):
    """A batch input file has lines that cannot be run; nothing was sent.

    Attributes:
        problems: ``(line number, what is wrong)`` for every bad line found.
    """

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"line {n}: {why}" for n, why in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{path}: {len(problems)} bad input line(s): {shown}{more}")
        self.problems = problems


class ToolDefinitionError(KkiaiError, TypeError):
    """A function or type cannot become a tool (or a strict tool).

    Raised when the tool is defined (at decoration time), never while a model is
    calling it: an unannotated or ``*args`` parameter, a type msgspec cannot describe,
    a bad tool name, or a schema strict mode cannot accept.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ToolArgumentsError(KkiaiError, ValueError):
    """The arguments a model gave a tool are not valid JSON or do not fit its parameters.

    Attributes:
        tool: The tool's name.
        arguments: The arguments as received.
    """

    def __init__(self, tool: str, problem: str, arguments: object) -> None:
        super().__init__(f"tool {tool!r} was called with {problem}")
        self.tool = tool
        self.arguments = arguments


class MaxRoundsExceededError(KkiaiError):
    """The model still called tools after ``max_rounds`` requests.

    The tool calls of the last completion were not run: the model could not have read
    their results without one more request.

    Attributes:
        messages: The conversation as last sent (it ends with the previous round's tool
            results, or is the caller's messages when ``max_rounds`` is 1); valid to
            send again, e.g. with ``tool_choice="none"`` for an answer in text.
        completion: The last completion, whose tool calls were not run.
        rounds: How many requests were sent (``max_rounds``).
    """

    def __init__(self, rounds: int, messages: list[Any], completion: ChatCompletion) -> None:
        called = {
            call.function.name
            for choice in completion.choices[:1]
            for call in choice.message.tool_calls or ()
        }
        names = ", ".join(sorted(called))
        super().__init__(
            f"the model was still calling tools when max_rounds={rounds} was reached; "
            f"its last calls ({names or 'none'}) were not run"
        )
        self.rounds = rounds
        self.messages = messages
        self.completion = completion


class APIError(KkiaiError):
    """An error in talking to the server.

    Attributes:
        body: The parsed error object or body the server sent, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        body: object = None,
        request_id: str | None = None,
        partial: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id, partial=partial)
        self.body = body


class APIStatusError(APIError):
    """The server answered with an HTTP error status.

    Attributes:
        status_code: The HTTP status.
        body: The parsed JSON body (usually ``{"error": {...}}``) or the raw text.
        headers: The response headers (a plain dict, lower-case names).
        code: ``error.code`` from the body, when present.
        type: ``error.type`` from the body, when present.
        param: ``error.param`` from the body, when present.
    """

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id)
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        err = _error_object(body)
        self.code: object = err.get("code")
        self.type: object = err.get("type")
        self.param: object = err.get("param")


class BadRequestError(APIStatusError):
    """400: the server rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or resource."""


class NotFoundError(APIStatusError):
    """404: no such model, or a wrong ``base_url``."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the server's state (retryable)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well formed but cannot be processed."""


class RateLimitError(APIStatusError):
    """429: too many requests or tokens; retried after ``Retry-After``."""


class InternalServerError(APIStatusError):
    """5xx: the server failed (retryable)."""


class APIConnectionError(APIError):
    """The connection could not be made, or broke."""


class APITimeoutError(APIConnectionError):
    """A timeout expired.

    Attributes:
        timeout: Which one: ``"connect"``, ``"read"`` (silence between bytes, including
            the wait for the first byte) or ``"total"``.
        seconds: Its configured value.
    """

    def __init__(
        self,
        timeout: Literal["connect", "read", "total"],
        seconds: float | None = None,
        *,
        request_id: str | None = None,
        partial: ChatCompletion | None = None,
    ) -> None:
        limit = f" of {seconds:g}s" if seconds is not None else ""
        what = {
            "connect": "connecting to the server",
            "read": "waiting for the server to send",
            "total": "the whole request",
        }[timeout]
        super().__init__(
            f"{timeout} timeout{limit} expired ({what})", request_id=request_id, partial=partial
        )
        self.timeout = timeout
        self.seconds = seconds


class IncompleteStreamError(APIConnectionError):
    """A stream ended (the connection dropped or closed) before every choice finished.

    ``partial`` holds everything that arrived.
    """


class APIStreamError(APIError):
    """The server sent an error object where the stream's data was expected.

    Sent inside a stream (``data: {"error": {...}}``) or as the whole body of a ``200``.

    Attributes:
        body: The error object (the value of ``"error"``, or the whole payload).
        code: ``error.code``, when present.
        type: ``error.type``, when present.
    """

    def __init__(
        self,
        message: str,
        *,
        body: object = None,
        request_id: str | None = None,
        partial: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id, partial=partial)
        err = body if isinstance(body, dict) else {}
        self.code: object = err.get("code")
        self.type: object = err.get("type")


class APIProtocolError(APIError):
    """The response broke the protocol.

    Invalid JSON in a ``data:`` line, a body that is not an event stream (an HTML error
    page from a proxy, reported with an excerpt), or a line or body over its size bound.
    """


class TruncatedStreamError(APIProtocolError):
    """The stream's body ended cleanly, but a choice never finished.

    The connection closed normally (so this is not an :class:`IncompleteStreamError`),
    yet no ``[DONE]`` came and at least one choice had no ``finish_reason``: the server
    or a relay in between cut the answer short. A stream that ends with ``[DONE]`` is
    complete whether or not its choices carried a ``finish_reason`` (some relays never
    send one). ``partial`` holds everything that arrived.
    """


class StructuredOutputError(KkiaiError, ValueError):
    """``parse()`` (or a typed ``response_format`` stream) could not give a typed answer.

    The base of the three reasons below, so ``except kk.StructuredOutputError`` handles
    every way the answer can fail to be a ``T``; nothing received is lost.

    Attributes:
        completion: The whole completion as it arrived (its ``content`` is the raw text).
        choice_index: The choice that failed.
    """

    def __init__(
        self, message: str, *, completion: ChatCompletion | None, choice_index: int
    ) -> None:
        super().__init__(message)
        self.completion = completion
        self.choice_index = choice_index


class LengthFinishReasonError(StructuredOutputError):
    """The answer was cut off at the token limit (``finish_reason: "length"``).

    Its JSON is incomplete, so it cannot be the type asked for; raise
    ``max_completion_tokens`` or ask for less. The official SDK's error of the same name.
    """

    def __init__(self, *, completion: ChatCompletion | None, choice_index: int) -> None:
        super().__init__(
            f"choice {choice_index} was cut off at the token limit (finish_reason 'length'), "
            "so its content cannot be parsed",
            completion=completion,
            choice_index=choice_index,
        )


class ContentFilterFinishReasonError(StructuredOutputError):
    """The server's content filter stopped the answer (``finish_reason: "content_filter"``).

    The official SDK's error of the same name.
    """

    def __init__(self, *, completion: ChatCompletion | None, choice_index: int) -> None:
        super().__init__(
            f"choice {choice_index} was stopped by the content filter "
            "(finish_reason 'content_filter')",
            completion=completion,
            choice_index=choice_index,
        )


class OutputValidationError(StructuredOutputError):
    """The content is not valid JSON, or does not fit the type asked for.

    Strict mode makes this rare, but a server without it (or a type whose validation is
    stricter than its schema: lengths, patterns, custom validators) can still send it.

    Attributes:
        content: The raw content, as received.
        path: Where validation failed (``"$.items[2].price"``), ``None`` for invalid JSON.
        problem: What was wrong there, as the decoder said it.
    """

    def __init__(
        self,
        problem: str,
        *,
        content: str,
        path: str | None,
        completion: ChatCompletion | None,
        choice_index: int,
    ) -> None:
        where = f" at {path}" if path else ""
        super().__init__(
            f"choice {choice_index}: the content does not fit the response format{where}: "
            f"{problem}",
            completion=completion,
            choice_index=choice_index,
        )
        self.content = content
        self.path = path
        self.problem = problem


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _error_object(body: object) -> dict[str, Any]:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return err
    return {}


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The request id a server (or relay) put in the response headers, if any."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def make_status_error(
    status_code: int, body: object, headers: Mapping[str, str] | None = None
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass for an HTTP error status.

    Args:
        status_code: The response status.
        body: The parsed JSON body, or the raw text when it was not JSON.
        headers: The response headers (lower-case names), for the request id.

    Returns:
        The matching subclass; 5xx map to :class:`InternalServerError`, other
        statuses to :class:`APIStatusError` itself.
    """
    headers = headers or {}
    err = _error_object(body)
    detail = err.get("message")
    if not isinstance(detail, str) or not detail:
        detail = _excerpt(body) if body not in (None, "", b"") else "no body"
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    return cls(
        f"HTTP {status_code}: {detail}",
        status_code=status_code,
        body=body,
        headers=headers,
        request_id=request_id_from(headers),
    )


def _excerpt(body: object, limit: int = 200) -> str:
    text = body if isinstance(body, str) else repr(body)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------
# The decoders' own errors (outside the KkiaiError tree; see the module docstring)
# --------------------------------------------------------------------------------------


class SSEProtocolError(ValueError):
    """The event stream broke a limit the decoder enforces (a line or an event too large).

    A ``ValueError`` because the bytes received are unacceptable, not because of I/O. Once
    raised, the decoder stays failed: the line boundary is lost, so the rest of the stream
    cannot be interpreted reliably.
    """


class PartialJSONError(ValueError):
    """Where a text stops being valid JSON, and what should have been there.

    Attributes:
        offset: The offset in the whole text (all fragments together) of the first
            character that cannot be part of valid JSON; for an incomplete text at
            :meth:`PartialJSONParser.finish`, the length of the text.
        expected: What could have come at ``offset``, e.g. ``"',' or '}'"``.
        reason: ``"invalid JSON"``, ``"unexpected end of input"`` or
            ``"nesting too deep"``.
    """

    offset: int
    expected: str
    reason: str

    def __init__(self, reason: str, offset: int, expected: str) -> None:
        super().__init__(f"{reason} at offset {offset}: expected {expected}")
        self.reason = reason
        self.offset = offset
        self.expected = expected

    def __reduce__(self) -> tuple[type[PartialJSONError], tuple[str, int, str]]:
        # The message is derived, so unpickling must call __init__ with the parts.
        return (type(self), (self.reason, self.offset, self.expected))
