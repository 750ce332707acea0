"""Structured outputs: a Python type as ``response_format``, and the answer decoded into it.

Why this module exists: a typed answer needs two things that must agree, the JSON schema
the model is held to and the decoder that reads its answer. Both come from the one type
here: the schema from :mod:`._schema` (the code that builds tools' ``parameters``, so a
type is described the same way as a tool argument or as an answer), the decoder from
msgspec -- or, for a pydantic model, from pydantic, so its validators run.

Accepted types: ``msgspec.Struct``, dataclasses and ``TypedDict``\\s (described and
decoded by msgspec) and pydantic ``BaseModel``\\s (described by ``model_json_schema()``,
cleaned by the same rules, validated by ``model_validate_json``). pydantic is never
imported here: a class is a pydantic model only if pydantic is already loaded (whoever
defined the class imported it) and the class derives from its ``BaseModel``.

The core imports this module only when a type is given, so ``import kkiai_async`` does
not load the schema code.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Hashable, Mapping
from functools import lru_cache
from typing import Any, Final, cast

import msgspec
from typing_extensions import is_typeddict

from ._accumulate import ChatCompletionAccumulator
from ._chat_params import TypedResponseFormat
from ._exceptions import (
    ContentFilterFinishReasonError,
    InvalidParameterError,
    LengthFinishReasonError,
    OutputValidationError,
    ToolDefinitionError,
)
from ._schema import external_schema, type_schema
from .types import (
    ChatCompletion,
    ChatCompletionMessageToolCall,
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    ParsedFunction,
    ParsedFunctionToolCall,
)

__all__ = [
    "CompiledFormat",
    "TypedAccumulator",
    "compile_format",
    "is_typed_format",
    "parse_completion",
]

_NAME_RE: Final = re.compile(r"[^A-Za-z0-9_-]")
# msgspec's ValidationError messages end with the JSON path: "... - at `$.items[0].id`".
_PATH_RE: Final = re.compile(r" - at `([^`]*)`$")
_json_decode: Final = msgspec.json.Decoder().decode


class CompiledFormat(msgspec.Struct, frozen=True):
    """A typed response format made ready to send and to decode (built once per type).

    Attributes:
        type: The type answers decode into.
        json_schema: The ``json_schema`` object of the request's ``response_format``.
        decode: Raw content -> a ``type`` instance; raises ``ValueError`` subclasses
            (see :func:`_decode_error`).
        pydantic: Whether ``type`` is a pydantic model.
    """

    type: Any
    json_schema: dict[str, Any]
    decode: Callable[[str], Any]
    pydantic: bool = False

    def body(self) -> dict[str, Any]:
        """The ``response_format`` to send (a fresh outer dict; the schema is shared)."""
        return {"type": "json_schema", "json_schema": dict(self.json_schema)}


def is_typed_format(value: object) -> bool:
    """Whether ``response_format`` was given as a type (or a :class:`TypedResponseFormat`)."""
    return isinstance(value, (type, TypedResponseFormat))


def compile_format(value: object) -> CompiledFormat:
    """Turn a type given as ``response_format`` into its schema and decoder.

    Args:
        value: A type, or a :class:`TypedResponseFormat`.

    Returns:
        The compiled format (cached: the same type compiles once).

    Raises:
        InvalidParameterError: The type is not one of the accepted kinds, msgspec or
            pydantic cannot describe it, or it cannot be strict (the message names the
            field and says to use ``strict=False``). Nothing was sent.
    """
    if isinstance(value, TypedResponseFormat):
        spec: TypedResponseFormat[Any] = value
    elif isinstance(value, type):
        spec = TypedResponseFormat(value)
    else:
        raise InvalidParameterError(
            "response_format", f"must be a type or a dict, got {type(value).__name__}"
        )
    try:
        return _compile(cast("Hashable", spec.type), spec.strict, spec.name, spec.description)
    except ToolDefinitionError as exc:
        # Raised by the schema code shared with tools; here it is a bad parameter.
        raise InvalidParameterError("response_format", str(exc)) from None


def _pydantic_base() -> type | None:
    module = sys.modules.get("pydantic")
    base = getattr(module, "BaseModel", None)
    return base if isinstance(base, type) else None


@lru_cache(maxsize=256)
def _compile(
    key: Hashable, strict: bool, name: str | None, description: str | None
) -> CompiledFormat:
    tp = cast("type[Any]", key)
    if name is not None and (not name or len(name) > 64 or _NAME_RE.search(name)):
        raise InvalidParameterError(
            "response_format",
            f"the name {name!r} is not valid: the API takes 1 to 64 letters, digits, '_' or '-'",
        )
    schema_name = name if name is not None else _NAME_RE.sub("_", tp.__name__)[:64] or "response"
    subject = f"response_format {schema_name!r}"
    base = _pydantic_base()
    is_pydantic = base is not None and issubclass(tp, base)
    if is_pydantic:
        raw = tp.model_json_schema()
        schema, summary = external_schema(raw, name=tp.__name__, subject=subject, strict=strict)
        validate = tp.model_validate_json
        decode: Callable[[str], Any] = validate
    elif issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp) or is_typeddict(tp):
        schema, summary = type_schema(tp, subject=subject, strict=strict)
        decode = msgspec.json.Decoder(tp).decode
    else:
        raise InvalidParameterError(
            "response_format",
            "a type given as response_format must be a msgspec.Struct, a dataclass, a "
            f"TypedDict or a pydantic BaseModel; got {tp.__name__}",
        )
    json_schema: dict[str, Any] = {"name": schema_name}
    if description is not None or summary is not None:
        json_schema["description"] = description if description is not None else summary
    json_schema["schema"] = schema
    json_schema["strict"] = strict
    return CompiledFormat(type=tp, json_schema=json_schema, decode=decode, pydantic=is_pydantic)


def _decode_error(exc: Exception, compiled: CompiledFormat) -> tuple[str, str | None]:
    """(problem, path) from a decoder's error; path ``None`` when the JSON itself is bad."""
    if isinstance(exc, msgspec.ValidationError):
        message = str(exc)
        found = _PATH_RE.search(message)
        if found is None:
            return message, "$"
        return message[: found.start()], found.group(1)
    if isinstance(exc, msgspec.DecodeError):
        return str(exc), None
    errors: Callable[[], list[Mapping[str, Any]]] | None = getattr(exc, "errors", None)
    if compiled.pydantic and errors is not None:
        first = errors()[0] if errors() else {}
        if first.get("type") == "json_invalid":
            return str(first.get("msg", exc)), None
        path = "$" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in first.get("loc", ())
        )
        return str(first.get("msg", exc)), path
    return str(exc), "$"


_UNDECODED: Any = object()


def decode_content(
    compiled: CompiledFormat,
    content: str,
    *,
    completion: ChatCompletion | None,
    choice_index: int,
) -> Any:
    """Decode one choice's content into the format's type.

    Raises:
        OutputValidationError: The content is not JSON or does not fit the type.
    """
    try:
        return compiled.decode(content)
    except ValueError as exc:  # msgspec's and pydantic's errors are ValueErrors
        problem, path = _decode_error(exc, compiled)
        raise OutputValidationError(
            problem,
            content=content,
            path=path,
            completion=completion,
            choice_index=choice_index,
        ) from None


def check_finish(finish_reason: str | None, completion: ChatCompletion, choice_index: int) -> None:
    """Raise the typed error for a finish that leaves no answer to parse.

    Raises:
        LengthFinishReasonError: ``finish_reason`` is ``"length"``.
        ContentFilterFinishReasonError: ``finish_reason`` is ``"content_filter"``.
    """
    if finish_reason == "length":
        raise LengthFinishReasonError(completion=completion, choice_index=choice_index)
    if finish_reason == "content_filter":
        raise ContentFilterFinishReasonError(completion=completion, choice_index=choice_index)


def _tool_calls(
    calls: list[ChatCompletionMessageToolCall] | None,
    decoders: Mapping[str, Callable[[str], Any]],
) -> list[ParsedFunctionToolCall] | None:
    if calls is None:
        return None
    parsed_calls = []
    for call in calls:
        fn = call.function
        # No arguments text at all means "no arguments", as the accumulator reads it.
        text = fn.arguments if fn.arguments.strip() else "{}"
        try:
            value = decoders.get(fn.name, _json_decode)(text)
        except ValueError:  # not JSON, or not the tool's type: the text is kept
            value = None
        parsed_calls.append(
            ParsedFunctionToolCall(
                id=call.id,
                type=call.type,
                function=ParsedFunction(
                    name=fn.name, arguments=fn.arguments, parsed_arguments=value
                ),
            )
        )
    return parsed_calls


def parse_completion(
    completion: ChatCompletion,
    compiled: CompiledFormat,
    arg_types: Mapping[str, type] | None = None,
    decoded: Mapping[str, Any] | None = None,
) -> ParsedChatCompletion[Any]:
    """The completion with each choice's content decoded into ``message.parsed``.

    A refusal leaves ``parsed`` ``None`` (``refusal`` says why); so does a choice with no
    content (a tool call). Tool calls get ``function.parsed_arguments``: decoded into
    ``arg_types[name]`` when the tool has a type, else the JSON value. ``decoded`` maps
    contents already decoded (by a stream's done events) to their values, which are
    used as they are rather than decoded twice.

    Raises:
        LengthFinishReasonError: A choice was cut off at the token limit.
        ContentFilterFinishReasonError: A choice was stopped by the content filter.
        OutputValidationError: A choice's content is not JSON or does not fit the type.
    """
    decoders: dict[str, Callable[[str], Any]] = {
        name: msgspec.json.Decoder(tp).decode for name, tp in (arg_types or {}).items()
    }
    choices: list[ParsedChoice[Any]] = []
    for choice in completion.choices:
        check_finish(choice.finish_reason, completion, choice.index)
        message = choice.message
        parsed: Any = None
        if message.content is not None and not message.refusal:
            parsed = decoded.get(message.content, _UNDECODED) if decoded else _UNDECODED
            if parsed is _UNDECODED:
                parsed = decode_content(
                    compiled, message.content, completion=completion, choice_index=choice.index
                )
        fields = msgspec.structs.asdict(message)
        fields["tool_calls"] = _tool_calls(message.tool_calls, decoders)
        choices.append(
            ParsedChoice(
                index=choice.index,
                message=ParsedChatCompletionMessage(**fields, parsed=parsed),
                finish_reason=choice.finish_reason,
                logprobs=choice.logprobs,
            )
        )
    top = msgspec.structs.asdict(completion)
    top["choices"] = choices
    return ParsedChatCompletion(**top)


class TypedAccumulator(ChatCompletionAccumulator):
    """An accumulator for a stream whose ``response_format`` is a type.

    The deltas are handled as for any JSON format (``TextDeltaEvent.parsed`` is the
    incremental parser's partial value, so the cost stays linear); only the ends differ:
    :class:`TextDoneEvent` carries the content decoded into the type (``None`` when it
    does not fit: :meth:`final_completion` then raises why), and :meth:`final_completion`
    returns a :class:`ParsedChatCompletion`. A stream without a type never meets this
    class, so its per-chunk cost is unchanged.
    """

    __slots__ = ("_compiled", "_decoded")

    def __init__(
        self,
        compiled: CompiledFormat,
        *,
        arg_types: Mapping[str, type] | None = None,
        chunk_events: bool = False,
    ) -> None:
        super().__init__(
            parse_content=True,
            arg_types=arg_types,
            chunk_events=chunk_events,
            content_decoder=self._decode,
        )
        self._compiled = compiled
        # The answers the done events decoded, by content: final_completion() reuses
        # them (the done event and the completion then hold the same object), so a
        # long answer is decoded once.
        self._decoded: dict[str, Any] = {}

    def _decode(self, content: str) -> Any:
        value = self._compiled.decode(content)
        self._decoded[content] = value
        return value

    def final_completion(self) -> ParsedChatCompletion[Any]:
        """The assembled completion, each choice's content decoded into the type.

        Raises:
            LengthFinishReasonError: A choice was cut off at the token limit.
            ContentFilterFinishReasonError: A choice was stopped by the content filter.
            OutputValidationError: A choice's content is not JSON or does not fit.
        """
        return parse_completion(
            super().final_completion(), self._compiled, self._arg_types, self._decoded
        )
