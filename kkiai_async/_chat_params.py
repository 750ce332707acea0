"""The chat request's parameters, written once.

Every entry point of ``client.chat.completions`` -- ``create()``, ``stream()``,
``parse()``, ``run_tools()``, ``stream_tools()``, ``with_raw_response.create()`` -- and a
batch line take their keywords from the ``TypedDict``\\s here (``**params:
Unpack[ChatParams]``), and :mod:`._params` derives its checks from the same fields, so a
parameter added here is a typed keyword everywhere at once and is checked before it is
sent. Editors show each keyword with its type and the one-line description below.

The fields are the parameters of the current OpenAI Chat Completions API, which the
kkiai API relays to every vendor's models. Where the API documentation of kkiai is
wrong, the fields follow the wire: ``seed`` (the document says ``seen``), ``temperature``
and ``top_p`` as numbers, ``tools``/``tool_choice`` optional. Values that vendors keep
extending (``reasoning_effort``, ``service_tier``, ``verbosity``...) are typed ``str``,
not a closed ``Literal``: a new value must not need a new release of this library.

``None`` means "not set" for every optional field: it is left out of the body, so the
server's default applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from typing_extensions import TypedDict

from ._config import Timeout, UseClientDefault
from .types import (
    ChatCompletionMessage,
    Message,
    ResponseFormat,
    StreamOptions,
    Tool,
    ToolChoice,
)

__all__ = [
    "BODY_FIELDS",
    "REQUEST_OPTIONS",
    "ChatParams",
    "MessageParam",
    "ModelParams",
    "ParseParams",
    "RequestOptions",
    "ToolObject",
    "ToolParam",
    "ToolRunParams",
    "TypedResponseFormat",
]

_T = TypeVar("_T")


class ToolObject(Protocol):
    """A tool given as an object (a ``@kk.tool`` function): its definition is sent.

    When it also has ``name`` and ``arguments_type``, :meth:`AsyncCompletions.stream`
    decodes that tool's arguments into ``arguments_type``
    (:attr:`~kkiai_async.types.ToolCallDoneEvent.value`). The core needs no more of the
    tools module than this shape, so it never imports it.
    """

    @property
    def definition(self) -> Tool | Mapping[str, Any]:
        """The tool as the API takes it."""
        ...


MessageParam = Message | ChatCompletionMessage | Mapping[str, Any]
"""A message: a dict of the API's shape, a request struct, or a completion's message."""

ToolParam = Tool | Mapping[str, Any] | ToolObject
"""A tool: a dict of the API's shape, a :class:`~kkiai_async.types.Tool`, or a tool object."""


class RequestOptions(TypedDict, total=False):
    """Per-request settings of the client, not sent in the body."""

    extra_body: Mapping[str, Any] | None
    """Vendor parameters, merged into the body last, unchecked."""
    extra_headers: Mapping[str, str] | None
    """Headers for this request only, over the client's."""
    timeout: Timeout | float | UseClientDefault | None
    """This request's limits: a ``kk.Timeout``, seconds, or ``None`` for no limits;
    left out, the client's."""
    max_retries: int | None
    """This request's retry count; ``None``, the client's."""


REQUEST_OPTIONS: frozenset[str] = frozenset(RequestOptions.__annotations__)
"""The keywords of :class:`RequestOptions`: they configure the request, not its body."""


class ModelParams(TypedDict, total=False):
    """The body parameters every entry point takes as they are (all optional)."""

    # --- sampling --------------------------------------------------------------------
    temperature: float | None
    """Sampling temperature, 0 to 2."""
    top_p: float | None
    """Nucleus sampling mass, 0 to 1."""
    n: int | None
    """How many choices to generate (1 to 128)."""
    stop: str | Sequence[str] | None
    """Up to 4 sequences where generation stops."""
    max_tokens: int | None
    """The most tokens to generate (older name; counts no reasoning tokens)."""
    max_completion_tokens: int | None
    """The most tokens to generate, reasoning tokens included."""
    presence_penalty: float | None
    """-2 to 2: penalise tokens that already appeared."""
    frequency_penalty: float | None
    """-2 to 2: penalise tokens by how often they appeared."""
    logit_bias: Mapping[int, float] | Mapping[str, float] | None
    """Token id -> bias, -100 to 100."""
    seed: int | None
    """For best-effort deterministic sampling (the API document's ``seen``)."""
    logprobs: bool | None
    """Return the log probabilities of the output tokens."""
    top_logprobs: int | None
    """With ``logprobs``, how many alternatives per token (0 to 20)."""
    # --- reasoning and output shape --------------------------------------------------
    reasoning_effort: str | None
    """How hard a reasoning model thinks: ``"none"``, ``"minimal"``, ``"low"``,
    ``"medium"``, ``"high"``... (any string: vendors add values)."""
    verbosity: str | None
    """How long the answer should be: ``"low"``, ``"medium"``, ``"high"``."""
    modalities: Sequence[str] | None
    """Output types: ``["text"]``, or ``["text", "audio"]`` with ``audio``."""
    audio: Mapping[str, Any] | None
    """Audio output settings: ``{"voice": ..., "format": ...}``."""
    prediction: Mapping[str, Any] | None
    """Predicted output, to speed up regeneration: ``{"type": "content", ...}``."""
    web_search_options: Mapping[str, Any] | None
    """Web search settings for search models."""
    # --- tools -----------------------------------------------------------------------
    tool_choice: ToolChoice | Mapping[str, Any] | None
    """``"none"``, ``"auto"``, ``"required"`` or a named function."""
    parallel_tool_calls: bool | None
    """Whether the model may call several tools in one turn."""
    functions: Sequence[Mapping[str, Any]] | None
    """Deprecated: the tools of the legacy function-calling API."""
    function_call: str | Mapping[str, Any] | None
    """Deprecated: ``"none"``, ``"auto"`` or ``{"name": ...}``."""
    # --- streaming -------------------------------------------------------------------
    stream_options: StreamOptions | Mapping[str, Any] | None
    """With streaming: ``{"include_usage": True}`` for a final usage chunk."""
    # --- service, storage and caching ------------------------------------------------
    service_tier: str | None
    """The processing tier: ``"auto"``, ``"default"``, ``"flex"``, ``"priority"``..."""
    store: bool | None
    """Whether the provider stores the completion (for distillation and evals)."""
    metadata: Mapping[str, str] | None
    """Up to 16 string key/value pairs stored with the completion."""
    prompt_cache_key: str | None
    """A key that groups similar requests for prompt caching."""
    prompt_cache_retention: str | None
    """How long cached prompt prefixes are kept: ``"in_memory"``, ``"24h"``."""
    prompt_cache_options: Mapping[str, Any] | None
    """Prompt caching settings: ``{"mode": "implicit" | "explicit", "ttl": ...}``."""
    moderation: Mapping[str, Any] | None
    """Moderation of input and output: ``{"model": ..., "policy": ...}``."""
    # --- identity --------------------------------------------------------------------
    user: str | None
    """Deprecated id of the end user; see ``safety_identifier`` and ``prompt_cache_key``."""
    safety_identifier: str | None
    """A stable, hashed id of the end user, for abuse detection."""


class _Conversation(TypedDict):
    # total (the default): the two parameters every request needs.
    messages: Sequence[MessageParam]
    """The conversation so far."""
    model: str
    """The model's id."""


class _Tools(TypedDict, total=False):
    tools: Sequence[ToolParam] | None
    """The tools the model may call: dicts, ``kk.Tool``\\s or ``@kk.tool`` functions."""


class TypedResponseFormat(Generic[_T]):
    """A type as ``response_format``, with the options a bare type cannot carry.

    A bare type (``response_format=Answer``) is the same as ``TypedResponseFormat(Answer)``:
    strict, named after the class, described by its docstring. Use this class to turn
    strict mode off for a type strict mode cannot take (a free-form ``dict`` field, a
    field with a non-null default), or to choose the name and description sent::

        fmt = kk.TypedResponseFormat(Answer, strict=False)
        completion = await client.chat.completions.parse(
            model=..., messages=[...], response_format=fmt
        )

    Args:
        type_: A ``msgspec.Struct``, dataclass, ``TypedDict`` or pydantic ``BaseModel``.
        strict: Ask the server to hold the answer to the schema exactly (the default). A
            type that cannot be strict is refused before sending, naming the field.
        name: The schema's name (1 to 64 letters, digits, ``_`` or ``-``); by default
            the class name.
        description: What the answer is for; by default the first paragraph of the
            class docstring.
    """

    __slots__ = ("description", "name", "strict", "type")

    def __init__(
        self,
        type_: type[_T],
        /,
        *,
        strict: bool = True,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.type = type_
        self.strict = strict
        self.name = name
        self.description = description

    def __repr__(self) -> str:
        return f"TypedResponseFormat({self.type.__name__}, strict={self.strict})"


class _Format(TypedDict, total=False):
    response_format: (
        ResponseFormat | Mapping[str, Any] | type[Any] | TypedResponseFormat[Any] | None
    )
    """``{"type": "json_object"}``, ``{"type": "json_schema", "json_schema": ...}``, or a
    type (a ``msgspec.Struct``, dataclass, ``TypedDict``, pydantic model) to send as a
    strict JSON schema and parse the answer into."""


class ChatParams(_Conversation, _Tools, _Format, ModelParams, RequestOptions):
    """Every keyword of ``create()`` and ``stream()`` but ``stream`` itself.

    Use it to type your own wrappers of the client::

        async def ask(**params: Unpack[kk.ChatParams]) -> kk.ChatCompletion:
            completion: kk.ChatCompletion = await client.chat.completions.create(**params)
            return completion
    """


class ParseParams(_Conversation, _Tools, ModelParams, RequestOptions):
    """The keywords of ``parse()`` besides ``response_format`` (which it takes as a type)."""


class ToolRunParams(_Conversation, _Format, ModelParams, RequestOptions):
    """The keywords of ``run_tools()``/``stream_tools()`` besides ``tools`` and the loop's
    own settings."""


class _TypedToolRunParams(_Conversation, ModelParams, RequestOptions):
    """:class:`ToolRunParams` but ``response_format``, which the typed overloads of
    ``run_tools()``/``stream_tools()`` take as a type."""


BODY_FIELDS: tuple[str, ...] = (
    *_Conversation.__annotations__,
    *_Tools.__annotations__,
    *_Format.__annotations__,
    *ModelParams.__annotations__,
    "stream",
)
"""Every parameter that goes in the body, in the order of the fields above."""
