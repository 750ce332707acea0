"""kkiai-async: an asyncio-first client for the kkiai Chat Completions API.

The public face of the library: every public name is importable from here
(``import kkiai_async as kk``) and listed in ``__all__``; the modules whose names start
with ``_`` are implementation details.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._accumulate import ChatCompletionAccumulator
from ._chat import AsyncCompletions, RawResponse
from ._chat_params import (
    ChatParams,
    ModelParams,
    ParseParams,
    RequestOptions,
    ToolRunParams,
    TypedResponseFormat,
)
from ._client import AsyncClient
from ._config import USE_CLIENT_DEFAULT, Timeout
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIProtocolError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchInputError,
    ClientClosedError,
    ConflictError,
    ContentFilterFinishReasonError,
    IncompleteStreamError,
    InternalServerError,
    InvalidParameterError,
    KkiaiError,
    LengthFinishReasonError,
    MaxRoundsExceededError,
    NotFoundError,
    OutputValidationError,
    PermissionDeniedError,
    RateLimitError,
    StructuredOutputError,
    ToolArgumentsError,
    ToolDefinitionError,
    TruncatedStreamError,
    UnknownParameterError,
    UnprocessableEntityError,
)
from ._stream import (
    ChatCompletionEventStream,
    ChatCompletionStream,
    ParsedChatCompletionEventStream,
    ParsedChatCompletionStream,
)
from ._transport import Response as TransportResponse
from ._transport import Transport, TransportName
from ._version import __version__
from .types import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceDelta,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChoiceFinishedEvent,
    ChoiceLogprobs,
    ChunkChoice,
    ChunkEvent,
    CompletionTokensDetails,
    ContentPart,
    DeveloperMessage,
    Function,
    FunctionCall,
    FunctionDefinition,
    FunctionMessage,
    ImageURL,
    ImageURLContentPart,
    InputAudio,
    InputAudioContentPart,
    JSONSchema,
    LogprobsEvent,
    Message,
    NamedFunction,
    NamedToolChoice,
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    ParsedFunction,
    ParsedFunctionToolCall,
    PromptTokensDetails,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    ResponseFormat,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
    ResponseFormatText,
    StreamEvent,
    StreamOptions,
    SystemMessage,
    TextContentPart,
    TextDeltaEvent,
    TextDoneEvent,
    Tool,
    ToolCallArgumentsDeltaEvent,
    ToolCallDoneEvent,
    ToolCallStartedEvent,
    ToolChoice,
    ToolMessage,
    TopLogprob,
    Usage,
    UsageEvent,
    UserMessage,
)

if TYPE_CHECKING:
    from . import batch, tools
    from ._tool_loop import (
        RoundStartedEvent,
        ToolResultEvent,
        ToolRunEvent,
        ToolRunResult,
        ToolRunStream,
    )
    from .tools import (
        FunctionTool,
        Toolbox,
        call_tool,
        tool,
    )

# Imported on first use (PEP 562), so that ``import kkiai_async`` does not pay for them:
# name -> (module, attribute or None for the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "batch": (".batch", None),
    "tools": (".tools", None),
    "FunctionTool": (".tools", "FunctionTool"),
    "Toolbox": (".tools", "Toolbox"),
    "call_tool": (".tools", "call_tool"),
    "RoundStartedEvent": ("._tool_loop", "RoundStartedEvent"),
    "ToolResultEvent": ("._tool_loop", "ToolResultEvent"),
    "ToolRunEvent": ("._tool_loop", "ToolRunEvent"),
    "ToolRunResult": ("._tool_loop", "ToolRunResult"),
    "ToolRunStream": ("._tool_loop", "ToolRunStream"),
    "tool": (".tools", "tool"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    _publish(value)
    globals()[name] = value  # later lookups find it without calling __getattr__
    return value


def _publish(obj: object) -> None:
    # Public classes defined in private modules report the package as their module, so
    # that reprs, tracebacks and documentation show ``kkiai_async.AsyncClient``, the name
    # users import, rather than an implementation module that may move.
    if isinstance(obj, type) and obj.__module__.startswith("kkiai_async._"):
        obj.__module__ = __name__


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [  # noqa: RUF022 - plainly sorted, as tests/test_public_api.py checks
    "APIConnectionError",
    "APIError",
    "APIProtocolError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AssistantMessage",
    "AsyncClient",
    "AsyncCompletions",
    "AuthenticationError",
    "BadRequestError",
    "BatchInputError",
    "ChatCompletion",
    "ChatCompletionAccumulator",
    "ChatCompletionChunk",
    "ChatCompletionEventStream",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatCompletionStream",
    "ChatCompletionTokenLogprob",
    "ChatParams",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceFinishedEvent",
    "ChoiceLogprobs",
    "ChunkChoice",
    "ChunkEvent",
    "ClientClosedError",
    "CompletionTokensDetails",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "ContentPart",
    "DeveloperMessage",
    "Function",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionMessage",
    "FunctionTool",
    "ImageURL",
    "ImageURLContentPart",
    "IncompleteStreamError",
    "InputAudio",
    "InputAudioContentPart",
    "InternalServerError",
    "InvalidParameterError",
    "JSONSchema",
    "KkiaiError",
    "LengthFinishReasonError",
    "LogprobsEvent",
    "MaxRoundsExceededError",
    "Message",
    "ModelParams",
    "NamedFunction",
    "NamedToolChoice",
    "NotFoundError",
    "OutputValidationError",
    "ParseParams",
    "ParsedChatCompletion",
    "ParsedChatCompletionEventStream",
    "ParsedChatCompletionMessage",
    "ParsedChatCompletionStream",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedFunctionToolCall",
    "PermissionDeniedError",
    "PromptTokensDetails",
    "RateLimitError",
    "RawResponse",
    "ReasoningDeltaEvent",
    "ReasoningDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "RequestOptions",
    "ResponseFormat",
    "ResponseFormatJSONObject",
    "ResponseFormatJSONSchema",
    "ResponseFormatText",
    "RoundStartedEvent",
    "StreamEvent",
    "StreamOptions",
    "StructuredOutputError",
    "SystemMessage",
    "TextContentPart",
    "TextDeltaEvent",
    "TextDoneEvent",
    "Timeout",
    "Tool",
    "ToolArgumentsError",
    "ToolCallArgumentsDeltaEvent",
    "ToolCallDoneEvent",
    "ToolCallStartedEvent",
    "ToolChoice",
    "ToolDefinitionError",
    "ToolMessage",
    "ToolResultEvent",
    "ToolRunEvent",
    "ToolRunParams",
    "ToolRunResult",
    "ToolRunStream",
    "Toolbox",
    "TopLogprob",
    "Transport",
    "TransportName",
    "TransportResponse",
    "TruncatedStreamError",
    "TypedResponseFormat",
    "USE_CLIENT_DEFAULT",
    "UnknownParameterError",
    "UnprocessableEntityError",
    "Usage",
    "UsageEvent",
    "UserMessage",
    "__version__",
    "batch",
    "call_tool",
    "tool",
    "tools",
]

for _name in __all__:
    if _name not in _LAZY:
        _publish(globals()[_name])
del _name
