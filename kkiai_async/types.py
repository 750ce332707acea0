"""The API's request, response, chunk and event types, as ``msgspec.Struct``\\s.

Why structs: a ``data:`` payload is decoded straight into :class:`ChatCompletionChunk`
by one ``msgspec.json.Decoder`` built once, with no dict in between and no model
conversion afterwards. ``msgspec.to_builtins(x)`` of any response gives back the API's
JSON shape.

Rules every response type here follows:

- every field the server may omit has a default, and unknown fields (relays add many)
  are ignored, never fatal;
- response and chunk types are created with ``gc=False``: they are decoded from JSON,
  so they cannot form reference cycles, and leaving them out of the cyclic GC removes
  a measurable cost from the streaming hot path;
- request types use ``omit_defaults=True`` so that a parameter the caller did not set
  is not sent at all (the server's default applies, not ours).

Stream events (:data:`StreamEvent`) are tagged on ``type`` so that ``match`` works and
``msgspec.json.encode(event)`` gives a self-describing object, ready to forward to a
browser; ``event.type`` is that tag.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeAlias, TypeVar

import msgspec

__all__ = [
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatCompletionTokenLogprob",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceFinishedEvent",
    "ChoiceLogprobs",
    "ChunkChoice",
    "ChunkEvent",
    "CompletionTokensDetails",
    "ContentPart",
    "DeveloperMessage",
    "Function",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionMessage",
    "ImageURL",
    "ImageURLContentPart",
    "InputAudio",
    "InputAudioContentPart",
    "JSONSchema",
    "LogprobsEvent",
    "Message",
    "NamedFunction",
    "NamedToolChoice",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedFunctionToolCall",
    "PromptTokensDetails",
    "ReasoningDeltaEvent",
    "ReasoningDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "ResponseFormat",
    "ResponseFormatJSONObject",
    "ResponseFormatJSONSchema",
    "ResponseFormatText",
    "StreamEvent",
    "StreamOptions",
    "SystemMessage",
    "TextContentPart",
    "TextDeltaEvent",
    "TextDoneEvent",
    "Tool",
    "ToolCallArgumentsDeltaEvent",
    "ToolCallDoneEvent",
    "ToolCallStartedEvent",
    "ToolChoice",
    "ToolMessage",
    "TopLogprob",
    "Usage",
    "UsageEvent",
    "UserMessage",
]


# --------------------------------------------------------------------------------------
# Requests: messages
# --------------------------------------------------------------------------------------


class TextContentPart(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type", tag="text"
):
    """A text part of a user (or system) message's content list."""

    text: str


class ImageURL(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An image given by URL or as a ``data:`` URL."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageURLContentPart(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type", tag="image_url"
):
    """An image part of a user message's content list."""

    image_url: ImageURL


class InputAudio(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base64 audio data and its format."""

    data: str
    format: Literal["wav", "mp3"]


class InputAudioContentPart(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type", tag="input_audio"
):
    """An audio part of a user message's content list."""

    input_audio: InputAudio


ContentPart: TypeAlias = TextContentPart | ImageURLContentPart | InputAudioContentPart
"""One part of a message's ``content`` when it is a list."""


class SystemMessage(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="role", tag="system"
):
    """Instructions that frame the whole conversation."""

    content: str | list[TextContentPart]
    name: str | None = None


class DeveloperMessage(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="role", tag="developer"
):
    """The newer name some OpenAI-compatible servers give to system instructions."""

    content: str | list[TextContentPart]
    name: str | None = None


class UserMessage(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="role", tag="user"):
    """What the person said: plain text, or a list of content parts."""

    content: str | list[ContentPart]
    name: str | None = None


class Function(msgspec.Struct, kw_only=True, gc=False):
    """The function a tool call invokes; ``arguments`` is a JSON text, as the model wrote it."""

    name: str = ""
    arguments: str = ""


class ChatCompletionMessageToolCall(msgspec.Struct, kw_only=True, gc=False):
    """One tool call of an assistant message."""

    id: str = ""
    type: str = "function"
    function: Function = msgspec.field(default_factory=Function)


class FunctionCall(msgspec.Struct, kw_only=True, gc=False):
    """The legacy single ``function_call`` of an assistant message."""

    name: str = ""
    arguments: str = ""


class AssistantMessage(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="role", tag="assistant"
):
    """A previous model turn sent back as context: text, tool calls, or both."""

    content: str | list[TextContentPart] | None = None
    refusal: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    function_call: FunctionCall | None = None
    name: str | None = None


class ToolMessage(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="role", tag="tool"):
    """A tool's result, answering the tool call with id ``tool_call_id``."""

    content: str | list[TextContentPart]
    tool_call_id: str


class FunctionMessage(
    msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="role", tag="function"
):
    """The legacy answer to a ``function_call`` (kept because older servers still take it)."""

    content: str | None
    name: str


Message: TypeAlias = (
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage
)
"""Any request message; plain dicts of the same shape are accepted everywhere too."""


# --------------------------------------------------------------------------------------
# Requests: tools, tool_choice, response_format, stream_options
# --------------------------------------------------------------------------------------


class FunctionDefinition(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A function the model may call; ``parameters`` is a JSON schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct, kw_only=True):
    """A tool offered to the model. The API's own documentation lists tools as strings;
    they are objects of this shape."""

    function: FunctionDefinition
    type: Literal["function"] = "function"


class NamedFunction(msgspec.Struct, kw_only=True):
    """The function named by a forced ``tool_choice``."""

    name: str


class NamedToolChoice(msgspec.Struct, kw_only=True):
    """``tool_choice`` that forces one function."""

    function: NamedFunction
    type: Literal["function"] = "function"


ToolChoice: TypeAlias = Literal["none", "auto", "required"] | NamedToolChoice
"""``"none" | "auto" | "required"`` or a :class:`NamedToolChoice`."""


class ResponseFormatText(msgspec.Struct, kw_only=True, tag_field="type", tag="text"):
    """Plain text replies (the default)."""


class ResponseFormatJSONObject(msgspec.Struct, kw_only=True, tag_field="type", tag="json_object"):
    """Replies that are one JSON object (no schema)."""


class JSONSchema(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A named JSON schema the reply must follow."""

    name: str
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class ResponseFormatJSONSchema(msgspec.Struct, kw_only=True, tag_field="type", tag="json_schema"):
    """Replies that follow :attr:`json_schema`."""

    json_schema: JSONSchema


ResponseFormat: TypeAlias = ResponseFormatText | ResponseFormatJSONObject | ResponseFormatJSONSchema
"""The ``response_format`` request parameter."""


class StreamOptions(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Options of a streamed request; ``include_usage`` adds a final usage-only chunk."""

    include_usage: bool | None = None


# --------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------


class TopLogprob(msgspec.Struct, kw_only=True, gc=False):
    """One of the most likely tokens at a position."""

    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None


class ChatCompletionTokenLogprob(msgspec.Struct, kw_only=True, gc=False):
    """The log probability of one generated token, with its most likely alternatives."""

    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = msgspec.field(default_factory=list)


class ChoiceLogprobs(msgspec.Struct, kw_only=True, gc=False):
    """Log probabilities of a choice's content tokens and refusal tokens."""

    content: list[ChatCompletionTokenLogprob] | None = None
    refusal: list[ChatCompletionTokenLogprob] | None = None


class CompletionTokensDetails(msgspec.Struct, kw_only=True, gc=False):
    """A breakdown of completion tokens."""

    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class PromptTokensDetails(msgspec.Struct, kw_only=True, gc=False):
    """A breakdown of prompt tokens."""

    cached_tokens: int | None = None
    audio_tokens: int | None = None


class Usage(msgspec.Struct, kw_only=True, gc=False):
    """Token counts as the server reported them; the library never estimates them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    completion_tokens_details: CompletionTokensDetails | None = None
    prompt_tokens_details: PromptTokensDetails | None = None


class ChatCompletionMessage(msgspec.Struct, kw_only=True, gc=False):
    """The assistant's message in a completion.

    ``reasoning_content`` holds a relayed reasoning model's thinking. Relays that call it
    ``reasoning`` fill that field instead; it is copied into ``reasoning_content`` so that
    callers read one place whatever the relay.

    Mistral may send ``content`` as a list of parts, as it streams them (see
    :class:`ChoiceDelta`): the message is then read as the API's shape, ``content`` its
    text parts joined and ``reasoning_content`` its thinking text, and
    ``content_parts`` keeps the list as it came, with parts of any other type. It is
    ``None`` when the content was a string, and in a completion assembled from a stream.
    """

    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    function_call: FunctionCall | None = None
    reasoning: str | None = None
    content_parts: list[Any] | None = None

    def __post_init__(self) -> None:
        if self.reasoning_content is None and self.reasoning is not None:
            self.reasoning_content = self.reasoning

    def to_param(self) -> AssistantMessage:
        """This message as a request message, to send it back in the next turn."""
        return AssistantMessage(
            content=self.content,
            refusal=self.refusal,
            tool_calls=self.tool_calls or None,
            function_call=self.function_call,
        )


class Choice(msgspec.Struct, kw_only=True, gc=False):
    """One of the ``n`` completions of a request."""

    index: int = 0
    message: ChatCompletionMessage = msgspec.field(default_factory=ChatCompletionMessage)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(msgspec.Struct, kw_only=True, gc=False):
    """A whole (non-streamed, or streamed and assembled) completion."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None


# --------------------------------------------------------------------------------------
# Streamed chunks
# --------------------------------------------------------------------------------------


class ChoiceDeltaToolCallFunction(msgspec.Struct, kw_only=True, gc=False):
    """A fragment of a tool call's function: the name (usually once), arguments text."""

    name: str | None = None
    # Some relays send the whole arguments as a JSON object instead of a string.
    arguments: str | dict[str, Any] | None = None


class ChoiceDeltaToolCall(msgspec.Struct, kw_only=True, gc=False):
    """A fragment of a tool call.

    ``index`` is ``None`` when a relay omitted it; the accumulator then falls back to
    ``id``, and else to the only open call.
    """

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None


class ChoiceDeltaFunctionCall(msgspec.Struct, kw_only=True, gc=False):
    """A fragment of a legacy ``function_call``."""

    name: str | None = None
    arguments: str | None = None


class ChoiceDelta(msgspec.Struct, kw_only=True, gc=False):
    """What one chunk adds to one choice.

    ``reasoning`` is what some relays call ``reasoning_content``; both are read.

    Mistral (and relays of it) stream ``content`` as a list of parts: ``{"type":
    "text", "text": ...}`` and, from reasoning models, ``{"type": "thinking",
    "thinking": [{"type": "text", "text": ...}]}``. Such a delta is read as the API's
    shape: ``content`` is its text parts joined, ``reasoning_content`` its thinking
    text, and ``content_parts`` keeps the list as it came, with parts of any other
    type. ``content_parts`` is ``None`` for a delta whose content was a string.
    """

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    function_call: ChoiceDeltaFunctionCall | None = None
    content_parts: list[Any] | None = None


class ChunkChoice(msgspec.Struct, kw_only=True, gc=False):
    """One choice's part of a chunk."""

    index: int = 0
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(msgspec.Struct, kw_only=True, gc=False):
    """One ``data:`` payload of a streamed completion.

    ``error`` is an error object sent beside the chunk's ``choices`` (OpenRouter reports
    a failure mid-stream so, then ends the stream normally): the stream applies the
    chunk, then raises :class:`~kkiai_async.APIStreamError`.
    """

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    error: Any = None


# --------------------------------------------------------------------------------------
# Stream events
# --------------------------------------------------------------------------------------
#
# Every event that concerns one choice carries ``choice_index``: with ``n > 1`` choices
# interleaved in one stream, an event without it would be ambiguous.
#
# ``parsed`` / ``parsed_arguments`` on delta events are the partial JSON parser's *live*
# value: it is updated in place as more text arrives (that is what keeps the cost linear).
# Copy it (``copy.deepcopy``) if you keep it past the next event.


class _Event(msgspec.Struct, kw_only=True, gc=False, tag_field="type"):
    """Base of the stream events."""

    @property
    def type(self) -> str:
        """The event's tag, as in its JSON (``"text.delta"`` ...)."""
        return self.__struct_config__.tag  # type: ignore[return-value]


class ChunkEvent(_Event, tag="chunk"):
    """A raw chunk, for those who want chunks and events together."""

    chunk: ChatCompletionChunk


class TextDeltaEvent(_Event, tag="text.delta"):
    """Text arrived for a choice.

    ``parsed`` is set when ``response_format`` asks for JSON: the content parsed so far.
    """

    choice_index: int
    delta: str
    parsed: Any = None


class TextDoneEvent(_Event, tag="text.done"):
    """A choice's text is complete; ``parsed`` as for :class:`TextDeltaEvent`."""

    choice_index: int
    text: str
    parsed: Any = None


class RefusalDeltaEvent(_Event, tag="refusal.delta"):
    """Refusal text arrived for a choice."""

    choice_index: int
    delta: str


class RefusalDoneEvent(_Event, tag="refusal.done"):
    """A choice's refusal is complete."""

    choice_index: int
    refusal: str


class ReasoningDeltaEvent(_Event, tag="reasoning.delta"):
    """Reasoning text (``reasoning_content``) arrived for a choice."""

    choice_index: int
    delta: str


class ReasoningDoneEvent(_Event, tag="reasoning.done"):
    """A choice's reasoning text is complete."""

    choice_index: int
    reasoning: str


class ToolCallStartedEvent(_Event, tag="tool_call.started"):
    """The model started calling a tool."""

    choice_index: int
    index: int
    id: str | None
    name: str


class ToolCallArgumentsDeltaEvent(_Event, tag="tool_call.arguments.delta"):
    """A fragment of a tool call's arguments, with the arguments parsed so far."""

    choice_index: int
    index: int
    id: str | None
    name: str
    delta: str
    parsed_arguments: Any = None


class ToolCallDoneEvent(_Event, tag="tool_call.done"):
    """A tool call is complete.

    ``parsed_arguments`` is the decoded arguments (``None`` with ``error`` set when they
    are not valid JSON); ``value`` is the arguments decoded into the tool's declared type
    when one is known (else ``None``), with a validation failure in ``error``.
    """

    choice_index: int
    index: int
    id: str | None
    name: str
    arguments: str
    parsed_arguments: Any = None
    value: Any = None
    error: str | None = None


class ChoiceFinishedEvent(_Event, tag="choice.finished"):
    """A choice finished, for ``finish_reason``."""

    choice_index: int
    finish_reason: str


class UsageEvent(_Event, tag="usage"):
    """The server reported token usage."""

    usage: Usage


class LogprobsEvent(_Event, tag="logprobs"):
    """Log probabilities arrived for a choice's content or refusal tokens."""

    choice_index: int
    content: list[ChatCompletionTokenLogprob] | None = None
    refusal: list[ChatCompletionTokenLogprob] | None = None


StreamEvent: TypeAlias = (
    ChunkEvent
    | TextDeltaEvent
    | TextDoneEvent
    | RefusalDeltaEvent
    | RefusalDoneEvent
    | ReasoningDeltaEvent
    | ReasoningDoneEvent
    | ToolCallStartedEvent
    | ToolCallArgumentsDeltaEvent
    | ToolCallDoneEvent
    | ChoiceFinishedEvent
    | UsageEvent
    | LogprobsEvent
)
"""Any event of :meth:`AsyncCompletions.stream` and :class:`ChatCompletionAccumulator`."""


# --------------------------------------------------------------------------------------
# Parsed completions (structured outputs)
# --------------------------------------------------------------------------------------

ContentT = TypeVar("ContentT")


class ParsedFunction(Function, gc=False):
    """A tool call's function with its arguments decoded.

    ``parsed_arguments`` is the arguments decoded into the tool's type for a typed tool
    (a ``@kk.tool`` function), the JSON value for any other tool, and ``None`` when they
    are not valid JSON or do not fit the type (``arguments`` keeps the text: answer the
    model with the problem, as the tool loop does).
    """

    parsed_arguments: Any = None


class ParsedFunctionToolCall(ChatCompletionMessageToolCall, gc=False):
    """A tool call of a :class:`ParsedChatCompletionMessage`."""

    function: ParsedFunction = msgspec.field(default_factory=ParsedFunction)


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[ContentT], gc=False):
    """A completion's message with its content decoded into the ``response_format`` type.

    ``parsed`` is ``None`` when the model refused (``refusal`` says why) or answered with
    tool calls instead of content; ``content`` keeps the raw JSON text. Tool calls carry
    ``function.parsed_arguments``.
    """

    parsed: ContentT | None = None
    # The subclass's list, only ever read (see ParsedChatCompletion.choices).
    tool_calls: list[ParsedFunctionToolCall] | None = None  # type: ignore[assignment]

    def to_param(self) -> AssistantMessage:
        """This message as a request message, without what was decoded on this side.

        The API takes back only what the model wrote: ``parsed_arguments`` in a tool call
        would be refused as an unknown property, so the calls are sent as plain ones.
        """
        param = super().to_param()
        if self.tool_calls:
            param.tool_calls = [
                ChatCompletionMessageToolCall(
                    id=call.id,
                    type=call.type,
                    function=Function(name=call.function.name, arguments=call.function.arguments),
                )
                for call in self.tool_calls
            ]
        return param


class ParsedChoice(Choice, Generic[ContentT], gc=False):
    """A choice of :class:`ParsedChatCompletion`."""

    message: ParsedChatCompletionMessage[ContentT] = msgspec.field(
        default_factory=ParsedChatCompletionMessage
    )


class ParsedChatCompletion(ChatCompletion, Generic[ContentT], gc=False):
    """What ``parse()`` returns: a :class:`ChatCompletion` whose messages carry ``parsed``."""

    # A list of the subclass: mypy calls that unsafe for writers (list is invariant), but
    # a completion's choices are only read.
    choices: list[ParsedChoice[ContentT]] = msgspec.field(default_factory=list)  # type: ignore[assignment]
