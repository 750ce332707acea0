"""Request parameters: checked, and turned into the JSON body, before anything is sent.

A mistake in a request should fail at the call, naming the parameter
(``messages[2].tool_call_id``, ``tools[0].function.name``), not come back as a 400 from
a relay that may or may not say what it disliked -- and never after a stream has been
opened. The checks follow the API's documentation with its known mistakes corrected:
the parameter is ``seed`` (the document says ``seen``), ``temperature`` and ``top_p``
are numbers, ``tools``/``tool_choice`` are optional, and tools are objects.

Two rules shape the code:

- **The caller's objects go in the body untouched.** A message dict is checked where it
  is and sent as it is, so keys this module does not know (``cache_control``,
  ``reasoning_content``, whatever a relay accepts) survive. Structs stay structs;
  ``msgspec.json.encode`` writes them.
- **The common call is cheap.** A ``create()`` with a few dict messages costs a few
  microseconds here: the checks are plain ``type()``/``dict.get`` tests, written out by
  hand rather than converting every message into a struct and back, and an error
  message is built only when there is an error.

Checks reject what is certainly wrong and allow what some server may accept: unknown
content part types pass (relays have ``file``, ``video_url``, ``input_text``...), unknown
keys in messages pass, and ``extra_body`` is merged last, unchecked, as the escape hatch
for vendor parameters.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from ._chat_params import BODY_FIELDS, REQUEST_OPTIONS, ChatParams
from ._exceptions import InvalidParameterError, UnknownParameterError
from .types import (
    AssistantMessage,
    ChatCompletionMessage,
    DeveloperMessage,
    FunctionMessage,
    SystemMessage,
    Tool,
    ToolMessage,
    UserMessage,
)

__all__ = ["BODY_PARAMS", "build_body"]

_MESSAGE_STRUCTS = (
    SystemMessage,
    DeveloperMessage,
    UserMessage,
    AssistantMessage,
    ToolMessage,
    FunctionMessage,
)
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_TOOL_CHOICE_MODES = ("none", "auto", "required")
_RESPONSE_FORMAT_TYPES = ("text", "json_object", "json_schema")
# The API's (and OpenAI's) rule for function names; fullmatch, so no "$"-before-newline.
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_MAX_N = 128
_MAX_STOP = 4
_MAX_TOP_LOGPROBS = 20
_MAX_METADATA = 16
_MAX_METADATA_KEY = 64
_MAX_METADATA_VALUE = 512
_MISSING: Any = object()


def _type_name(value: object) -> str:
    return type(value).__name__


def _show(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut short: an error message must stay readable whatever was passed."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _builtins(value: msgspec.Struct, path: str) -> Any:
    """A struct's JSON shape, so that structs and dicts go through the same checks."""
    try:
        return msgspec.to_builtins(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(path, f"cannot be encoded as JSON: {exc}") from None


# --------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------


def _number(name: str, value: object, low: float, high: float) -> float:
    # bool is an int subclass, but temperature=True is a bug, not 1.0.
    if type(value) is not float and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        raise InvalidParameterError(name, f"must be a number, got {_type_name(value)}")
    # The comparison also rejects NaN; float() turns int and float subclasses (numpy's
    # float64) into a plain float that every encoder writes.
    if not low <= value <= high:
        raise InvalidParameterError(
            name, f"must be between {low:g} and {high:g}, got {_show(value)}"
        )
    return float(value)


def _integer(name: str, value: object, low: int | None, high: int | None = None) -> int:
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidParameterError(name, f"must be an int, got {_type_name(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidParameterError(name, f"must be {bounds}, got {_show(value)}")
    return int(value)


def _check_model(value: object) -> object:
    if type(value) is not str or not value:
        raise InvalidParameterError("model", f"must be a non-empty string, got {_show(value)}")
    return value


def _check_temperature(value: object) -> object:
    return _number("temperature", value, 0.0, 2.0)


def _check_top_p(value: object) -> object:
    return _number("top_p", value, 0.0, 1.0)


def _check_presence_penalty(value: object) -> object:
    return _number("presence_penalty", value, -2.0, 2.0)


def _check_frequency_penalty(value: object) -> object:
    return _number("frequency_penalty", value, -2.0, 2.0)


def _check_n(value: object) -> object:
    return _integer("n", value, 1, _MAX_N)


def _check_max_tokens(value: object) -> object:
    return _integer("max_tokens", value, 1)


def _check_max_completion_tokens(value: object) -> object:
    return _integer("max_completion_tokens", value, 1)


def _check_seed(value: object) -> object:
    return _integer("seed", value, None)


def _check_top_logprobs(value: object) -> object:
    return _integer("top_logprobs", value, 0, _MAX_TOP_LOGPROBS)


def _bool_checker(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if type(value) is not bool:
            raise InvalidParameterError(name, f"must be True or False, got {_show(value)}")
        return value

    return check


def _check_stop(value: object) -> object:
    if type(value) is str:
        return value
    if not isinstance(value, (list, tuple)):
        raise InvalidParameterError(
            "stop", f"must be a string or a list of strings, got {_type_name(value)}"
        )
    if not 1 <= len(value) <= _MAX_STOP:
        raise InvalidParameterError("stop", f"must hold 1 to {_MAX_STOP} strings, got {len(value)}")
    for i, item in enumerate(value):
        if type(item) is not str:
            raise InvalidParameterError(f"stop[{i}]", f"must be a string, got {_type_name(item)}")
    return value


def _check_logit_bias(value: object) -> object:
    if not isinstance(value, dict):
        raise InvalidParameterError(
            "logit_bias", f"must be a dict of token id to bias, got {_type_name(value)}"
        )
    out: dict[str, float] = {}
    for key, bias in value.items():
        path = f"logit_bias[{_show(key, 40)}]"
        if type(key) is str:
            # Token ids are sent as JSON object keys, so as strings; they must be digits.
            if not (key.isascii() and key.isdigit()):
                raise InvalidParameterError(path, "keys must be token ids (ints or digit strings)")
            text = str(int(key))
        elif isinstance(key, int) and not isinstance(key, bool) and key >= 0:
            text = str(key)
        else:
            raise InvalidParameterError(path, "keys must be token ids (ints or digit strings)")
        if text in out:
            raise InvalidParameterError(path, f"token id {text} is given twice")
        out[text] = _number(path, bias, -100.0, 100.0)
    return out


# --------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------


def _check_parts(parts: object, path: str) -> None:
    """Check a content list; known part types must have their fields, others pass."""
    if not isinstance(parts, (list, tuple)) or not parts:
        raise InvalidParameterError(
            path, f"must be a string or a non-empty list of content parts, got {_show(parts)}"
        )
    for j, part in enumerate(parts):
        if isinstance(part, msgspec.Struct):
            part = _builtins(part, f"{path}[{j}]")
        if not isinstance(part, dict):
            raise InvalidParameterError(
                f"{path}[{j}]", f"a content part must be a dict, got {_type_name(part)}"
            )
        kind = part.get("type")
        if kind == "text":
            if type(part.get("text")) is not str:
                raise InvalidParameterError(f"{path}[{j}].text", "a text part needs a string")
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or type(image.get("url")) is not str:
                raise InvalidParameterError(
                    f"{path}[{j}].image_url", 'must be {"url": "https://... or data:..."}'
                )
        elif kind == "input_audio":
            audio = part.get("input_audio")
            if (
                not isinstance(audio, dict)
                or type(audio.get("data")) is not str
                or type(audio.get("format")) is not str
            ):
                raise InvalidParameterError(
                    f"{path}[{j}].input_audio", 'must be {"data": <base64>, "format": "wav"|"mp3"}'
                )
        elif type(kind) is not str or not kind:
            raise InvalidParameterError(
                f"{path}[{j}].type", f"a content part needs a type, got {_show(kind)}"
            )


def _check_required_content(msg: dict[str, Any], i: int) -> None:
    content = msg.get("content")
    if type(content) is str:
        return
    if content is None:
        raise InvalidParameterError(
            f"messages[{i}].content",
            f"a {msg['role']} message needs content (a string or a list of content parts)",
        )
    _check_parts(content, f"messages[{i}].content")


def _check_function(fn: object, path: str) -> None:
    """The ``function`` of a tool call (or a ``function_call``): name and arguments text."""
    if isinstance(fn, msgspec.Struct):
        fn = _builtins(fn, path)
    if not isinstance(fn, dict):
        raise InvalidParameterError(
            path, f"must be a dict with name and arguments, got {_show(fn)}"
        )
    name = fn.get("name")
    if type(name) is not str or not name:
        raise InvalidParameterError(
            f"{path}.name", f"must be a non-empty string, got {_show(name)}"
        )
    arguments = fn.get("arguments", _MISSING)
    if type(arguments) is not str:
        hint = " (a JSON text: use json.dumps)" if isinstance(arguments, (dict, list)) else ""
        shown = "nothing" if arguments is _MISSING else _type_name(arguments)
        raise InvalidParameterError(f"{path}.arguments", f"must be a string{hint}, got {shown}")


def _check_tool_calls(calls: object, i: int) -> None:
    if not isinstance(calls, (list, tuple)):
        raise InvalidParameterError(
            f"messages[{i}].tool_calls", f"must be a list, got {_type_name(calls)}"
        )
    for k, call in enumerate(calls):
        path = f"messages[{i}].tool_calls[{k}]"
        if isinstance(call, msgspec.Struct):
            call = _builtins(call, path)
        if not isinstance(call, dict):
            raise InvalidParameterError(path, f"must be a dict, got {_type_name(call)}")
        call_id = call.get("id")
        if type(call_id) is not str or not call_id:
            raise InvalidParameterError(
                f"{path}.id", f"must be a non-empty string, got {_show(call_id)}"
            )
        if call.get("type") != "function":
            raise InvalidParameterError(
                f"{path}.type", f"must be 'function', got {_show(call.get('type'))}"
            )
        _check_function(call.get("function"), f"{path}.function")


def _check_assistant(msg: dict[str, Any], i: int) -> None:
    content = msg.get("content")
    if content is not None and type(content) is not str:
        _check_parts(content, f"messages[{i}].content")
    calls = msg.get("tool_calls")
    if calls is not None:
        _check_tool_calls(calls, i)
    function_call = msg.get("function_call")
    if function_call is not None:
        _check_function(function_call, f"messages[{i}].function_call")
    refusal = msg.get("refusal")
    if refusal is not None and type(refusal) is not str:
        raise InvalidParameterError(
            f"messages[{i}].refusal", f"must be a string, got {_type_name(refusal)}"
        )
    if content is None and not calls and function_call is None and refusal is None:
        raise InvalidParameterError(
            f"messages[{i}].content",
            "an assistant message needs content, tool_calls, function_call or refusal",
        )


def _check_message_dict(msg: dict[str, Any], i: int) -> None:
    role = msg.get("role")
    if role == "user" or role == "system" or role == "developer":
        _check_required_content(msg, i)
    elif role == "assistant":
        _check_assistant(msg, i)
    elif role == "tool":
        call_id = msg.get("tool_call_id")
        if type(call_id) is not str or not call_id:
            raise InvalidParameterError(
                f"messages[{i}].tool_call_id",
                f"a tool message needs the id of the call it answers, got {_show(call_id)}",
            )
        _check_required_content(msg, i)
    elif role == "function":
        fname = msg.get("name")
        if type(fname) is not str or not fname:
            raise InvalidParameterError(
                f"messages[{i}].name",
                f"a function message needs the function's name, got {_show(fname)}",
            )
        content = msg.get("content")
        if content is not None and type(content) is not str:
            raise InvalidParameterError(
                f"messages[{i}].content", f"must be a string, got {_type_name(content)}"
            )
    else:
        hint = _suggest(role, _ROLES) if type(role) is str else ""
        raise InvalidParameterError(
            f"messages[{i}].role", f"must be one of {', '.join(_ROLES)}; got {_show(role)}{hint}"
        )
    name = msg.get("name")
    if name is not None and type(name) is not str:
        raise InvalidParameterError(
            f"messages[{i}].name", f"must be a string, got {_type_name(name)}"
        )


def _check_messages(value: object) -> object:
    if type(value) is not list and (
        not isinstance(value, Sequence) or isinstance(value, (str, bytes, bytearray))
    ):
        raise InvalidParameterError(
            "messages", f"must be a list of messages, got {_type_name(value)}"
        )
    if not value:
        raise InvalidParameterError("messages", "must hold at least one message")
    replaced: list[object] | None = None
    for i, msg in enumerate(value):
        if type(msg) is dict:
            _check_message_dict(msg, i)
            continue
        if isinstance(msg, _MESSAGE_STRUCTS):
            _check_message_dict(_builtins(msg, f"messages[{i}]"), i)
            continue
        if isinstance(msg, dict):
            _check_message_dict(msg, i)
            continue
        if isinstance(msg, ChatCompletionMessage):
            # A completion's message sent back as is: send what the request schema takes
            # (to_param drops reasoning_content, which some servers reject in requests).
            new = msg.to_param()
            _check_message_dict(_builtins(new, f"messages[{i}]"), i)
            if replaced is None:
                replaced = list(value)
            replaced[i] = new
            continue
        raise InvalidParameterError(
            f"messages[{i}]", f"must be a message dict or struct, got {_type_name(msg)}"
        )
    if replaced is not None:
        return replaced
    # msgspec writes lists and tuples; any other sequence type becomes a list.
    return value if isinstance(value, (list, tuple)) else list(value)


# --------------------------------------------------------------------------------------
# Tools, tool_choice, response_format, stream_options
# --------------------------------------------------------------------------------------


def _tool_name(tool: dict[str, Any], k: int) -> str:
    """Check one tool in its JSON shape; return its function's name."""
    if tool.get("type") != "function":
        raise InvalidParameterError(
            f"tools[{k}].type", f"must be 'function', got {_show(tool.get('type'))}"
        )
    fn = tool.get("function")
    if not isinstance(fn, dict):
        raise InvalidParameterError(
            f"tools[{k}].function", f"must be a dict with the function's name, got {_show(fn)}"
        )
    name = fn.get("name")
    if type(name) is not str or not _FUNCTION_NAME.fullmatch(name):
        raise InvalidParameterError(
            f"tools[{k}].function.name",
            f"must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -, got {_show(name)}",
        )
    description = fn.get("description")
    if description is not None and type(description) is not str:
        raise InvalidParameterError(
            f"tools[{k}].function.description", f"must be a string, got {_type_name(description)}"
        )
    parameters = fn.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidParameterError(
            f"tools[{k}].function.parameters",
            f"must be a JSON schema dict, got {_type_name(parameters)}",
        )
    strict = fn.get("strict")
    if strict is not None and type(strict) is not bool:
        raise InvalidParameterError(
            f"tools[{k}].function.strict", f"must be True or False, got {_show(strict)}"
        )
    return name


def _check_tools(value: object) -> tuple[object, list[str]]:
    """Return the tools as they go in the body, and their names in order."""
    if not isinstance(value, (list, tuple)):
        raise InvalidParameterError("tools", f"must be a list of tools, got {_type_name(value)}")
    out: list[object] | None = None
    names: list[str] = []
    seen: dict[str, int] = {}
    for k, item in enumerate(value):
        sent: dict[str, Any] | Tool
        if isinstance(item, (dict, Tool)):
            sent = item
        else:
            # A tool object from the tools module: its definition is what is sent.
            definition = getattr(item, "definition", None)
            if not isinstance(definition, (dict, Tool)):
                raise InvalidParameterError(
                    f"tools[{k}]",
                    "must be a tool dict, a kk.Tool, or an object with a .definition "
                    f"(a @kk.tool function), got {_type_name(item)}",
                )
            sent = definition
            if out is None:
                out = list(value[:k])
        if isinstance(sent, Tool):
            # Built by hand: Tool's omit_defaults leaves its default "type" out of
            # to_builtins, and the check is about the value, not about what is omitted.
            shape: dict[str, Any] = {
                "type": sent.type,
                "function": _builtins(sent.function, f"tools[{k}].function"),
            }
        else:
            shape = sent
        name = _tool_name(shape, k)
        if name in seen:
            raise InvalidParameterError(
                f"tools[{k}].function.name",
                f"{_show(name)} is already the name of tools[{seen[name]}]",
            )
        seen[name] = k
        names.append(name)
        if out is not None:
            out.append(sent)
    return (value if out is None else out), names


def _tool_choice_name(value: object) -> str | None:
    """Check ``tool_choice``; return the function it forces, if it names one."""
    if type(value) is str:
        if value not in _TOOL_CHOICE_MODES:
            raise InvalidParameterError(
                "tool_choice",
                f"must be 'none', 'auto', 'required' or a named function, got {_show(value)}"
                + _suggest(value, _TOOL_CHOICE_MODES),
            )
        return None
    shape = _builtins(value, "tool_choice") if isinstance(value, msgspec.Struct) else value
    if not isinstance(shape, dict):
        raise InvalidParameterError(
            "tool_choice",
            "must be 'none', 'auto', 'required' or "
            f'{{"type": "function", "function": {{"name": ...}}}}, got {_type_name(value)}',
        )
    if shape.get("type") != "function":
        raise InvalidParameterError(
            "tool_choice.type", f"must be 'function', got {_show(shape.get('type'))}"
        )
    fn = shape.get("function")
    name = fn.get("name") if isinstance(fn, dict) else None
    if type(name) is not str or not name:
        raise InvalidParameterError(
            "tool_choice.function.name", f"must be a non-empty string, got {_show(name)}"
        )
    return name


def _check_response_format(value: object) -> object:
    shape = _builtins(value, "response_format") if isinstance(value, msgspec.Struct) else value
    if not isinstance(shape, dict):
        raise InvalidParameterError(
            "response_format",
            f'must be a dict such as {{"type": "json_object"}}, got {_type_name(value)}',
        )
    kind = shape.get("type")
    if kind not in _RESPONSE_FORMAT_TYPES:
        hint = _suggest(kind, _RESPONSE_FORMAT_TYPES) if type(kind) is str else ""
        raise InvalidParameterError(
            "response_format.type",
            f"must be one of {', '.join(_RESPONSE_FORMAT_TYPES)}; got {_show(kind)}{hint}",
        )
    if kind == "json_schema":
        schema = shape.get("json_schema")
        if not isinstance(schema, dict):
            raise InvalidParameterError(
                "response_format.json_schema",
                f'must be a dict such as {{"name": ..., "schema": {{...}}}}, got {_show(schema)}',
            )
        name = schema.get("name")
        if type(name) is not str or not name:
            raise InvalidParameterError(
                "response_format.json_schema.name", f"must be a non-empty string, got {_show(name)}"
            )
        inner = schema.get("schema")
        if inner is not None and not isinstance(inner, dict):
            raise InvalidParameterError(
                "response_format.json_schema.schema",
                f"must be a JSON schema dict, got {_type_name(inner)}",
            )
    return value


def _check_stream_options(value: object) -> object:
    shape = _builtins(value, "stream_options") if isinstance(value, msgspec.Struct) else value
    if not isinstance(shape, dict):
        raise InvalidParameterError(
            "stream_options",
            f'must be a dict such as {{"include_usage": True}}, got {_type_name(value)}',
        )
    include = shape.get("include_usage")
    if include is not None and type(include) is not bool:
        raise InvalidParameterError(
            "stream_options.include_usage", f"must be True or False, got {_show(include)}"
        )
    return value


def _check_metadata(value: object) -> object:
    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            "metadata", f"must be a dict of string keys to string values, got {_type_name(value)}"
        )
    if len(value) > _MAX_METADATA:
        raise InvalidParameterError(
            "metadata", f"holds at most {_MAX_METADATA} pairs, got {len(value)}"
        )
    for key, item in value.items():
        path = f"metadata[{_show(key, 40)}]"
        if type(key) is not str or len(key) > _MAX_METADATA_KEY:
            raise InvalidParameterError(
                path, f"keys must be strings of at most {_MAX_METADATA_KEY} characters"
            )
        if type(item) is not str or len(item) > _MAX_METADATA_VALUE:
            raise InvalidParameterError(
                path, f"values must be strings of at most {_MAX_METADATA_VALUE} characters"
            )
    return value


def _check_functions(value: object) -> object:
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidParameterError(
            "functions", f"must be a non-empty list of function dicts, got {_show(value)}"
        )
    for k, fn in enumerate(value):
        if not isinstance(fn, Mapping):
            raise InvalidParameterError(f"functions[{k}]", f"must be a dict, got {_type_name(fn)}")
        name = fn.get("name")
        if type(name) is not str or not _FUNCTION_NAME.fullmatch(name):
            raise InvalidParameterError(
                f"functions[{k}].name",
                f"must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -, got {_show(name)}",
            )
    return value


def _check_function_call(value: object) -> object:
    if value in ("none", "auto"):
        return value
    name = value.get("name") if isinstance(value, Mapping) else None
    if type(name) is not str or not name:
        raise InvalidParameterError(
            "function_call", f"must be 'none', 'auto' or {{\"name\": ...}}, got {_show(value)}"
        )
    return value


def _pass(value: object) -> object:
    return value


# The checks that a field's type alone cannot give: ranges, shapes, and the parameters
# checked together after the loop. Every other field gets the check its annotation in
# ChatParams implies (see _derived_check), so a new field there is checked at once.
_SPECIAL: dict[str, Callable[[object], object]] = {
    "model": _check_model,
    "messages": _check_messages,
    "temperature": _check_temperature,
    "top_p": _check_top_p,
    "n": _check_n,
    "stop": _check_stop,
    "max_tokens": _check_max_tokens,
    "max_completion_tokens": _check_max_completion_tokens,
    "presence_penalty": _check_presence_penalty,
    "frequency_penalty": _check_frequency_penalty,
    "logit_bias": _check_logit_bias,
    "response_format": _check_response_format,
    "seed": _check_seed,
    # tools and tool_choice depend on each other: checked together after the loop.
    "tools": _pass,
    "tool_choice": _pass,
    "top_logprobs": _check_top_logprobs,
    "stream_options": _check_stream_options,
    "metadata": _check_metadata,
    "functions": _check_functions,
    "function_call": _check_function_call,
}


def _string_checker(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if type(value) is not str:
            raise InvalidParameterError(name, f"must be a string, got {_type_name(value)}")
        return value

    return check


def _dict_checker(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, msgspec.Struct):
            return value
        if not isinstance(value, Mapping) or not all(type(k) is str for k in value):
            raise InvalidParameterError(
                name, f"must be a dict with string keys, got {_type_name(value)}"
            )
        return value

    return check


def _strings_checker(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, (list, tuple)):
            raise InvalidParameterError(name, f"must be a list of strings, got {_type_name(value)}")
        for i, item in enumerate(value):
            if type(item) is not str:
                raise InvalidParameterError(
                    f"{name}[{i}]", f"must be a string, got {_type_name(item)}"
                )
        return value

    return check


def _derived_check(name: str, hint: object) -> Callable[[object], object]:
    """The check a field's annotation implies: its type, nothing about its values.

    Values of open-ended fields (``reasoning_effort``, ``service_tier``...) are not
    refused: vendors keep adding them, and the server is the judge.
    """
    args = set(typing.get_args(hint)) - {type(None)}
    if args == {str}:
        return _string_checker(name)
    if args == {bool}:
        return _bool_checker(name)
    if len(args) == 1:
        (only,) = args
        origin = typing.get_origin(only)
        if origin is Mapping:
            return _dict_checker(name)
        if origin is Sequence and typing.get_args(only) == (str,):
            return _strings_checker(name)
    raise TypeError(f"ChatParams.{name}: no check for {hint!r}; add one to _params._SPECIAL")


def _body_checks() -> dict[str, Callable[[object], object]]:
    hints = typing.get_type_hints(ChatParams)
    checks: dict[str, Callable[[object], object]] = {}
    for name in BODY_FIELDS:
        if name == "stream":
            checks[name] = _bool_checker("stream")
        else:
            checks[name] = _SPECIAL.get(name) or _derived_check(name, hints[name])
    return checks


_CHECKS = _body_checks()

BODY_PARAMS: frozenset[str] = frozenset(_CHECKS)
"""The body parameters :func:`build_body` checks and sends (``stream`` included)."""

_KNOWN = sorted({*_CHECKS, *REQUEST_OPTIONS})
_RANK = {name: rank for rank, name in enumerate(BODY_FIELDS)}


def _rank(item: tuple[str, object]) -> int:
    return _RANK[item[0]]


def _check_tool_params(body: dict[str, object], extra: Mapping[str, object]) -> None:
    tools = body.get("tools")
    names: list[str] | None = None
    if tools is not None:
        sent, names = _check_tools(tools)
        if names:
            body["tools"] = sent
        else:
            # An empty list means "no tools", which is what leaving it out says; OpenAI
            # rejects an empty ``tools`` array.
            del body["tools"]
            names = None
    choice = body.get("tool_choice")
    if choice is None:
        return
    forced = _tool_choice_name(choice)
    if names is None:
        if "tools" in extra:
            return  # tools given through extra_body: not ours to check against.
        if forced is not None or choice == "required":
            raise InvalidParameterError(
                "tool_choice", f"{_show(choice)} needs tools, and no tools were given"
            )
        return
    if forced is not None and forced not in names:
        raise InvalidParameterError(
            "tool_choice.function.name",
            f"{_show(forced)} is not the name of any of the tools{_suggest(forced, names)}",
        )


def build_body(params: Mapping[str, object]) -> dict[str, object]:
    """Check the parameters of a chat completion request and build its JSON body.

    Args:
        params: The keyword arguments of ``client.chat.completions.create()`` without
            the client-only ones (``extra_headers``, ``timeout``, ``max_retries``). A
            value of ``None`` means "not set": it is left out of the body, so the
            server's default applies.

    Returns:
        The body, ready for ``msgspec.json.encode``. The caller's message, tool and
        format dicts are in it as they were given (not copied, not converted), so
        vendor keys survive; structs stay structs. Three things are rewritten: a tool
        object with a ``.definition`` (a ``@kk.tool`` function) is replaced by that
        definition, a :class:`ChatCompletionMessage` by its ``to_param()``, and
        ``logit_bias`` keys become strings. An empty ``tools`` list is left out.
        ``extra_body`` is merged last, unchecked, and may override anything (a
        ``None`` there is sent as ``null``).

    Raises:
        InvalidParameterError: For the first parameter found to be wrong, with
            ``param`` naming it as a path (``"messages[2].tool_call_id"``), or for an
            unknown keyword (with a "did you mean" suggestion).
    """
    body: dict[str, object] = {}
    extra: Mapping[str, object] = {}
    for name, value in params.items():
        if value is None:
            continue
        check = _CHECKS.get(name)
        if check is not None:
            body[name] = check(value)
        elif name == "extra_body":
            if not isinstance(value, Mapping) or not all(type(k) is str for k in value):
                raise InvalidParameterError(
                    "extra_body", f"must be a dict with string keys, got {_type_name(value)}"
                )
            extra = value
        else:
            raise UnknownParameterError(
                name,
                f"unknown parameter{_suggest(name, _KNOWN)}; "
                "vendor parameters go in extra_body={...}",
            )
    if "model" not in body:
        raise InvalidParameterError("model", "is required")
    # One order for the body's keys, however the caller ordered the keywords: equal
    # requests are equal bytes (what relays' caches and our tests compare).
    body = dict(sorted(body.items(), key=_rank))
    if "messages" not in body:
        raise InvalidParameterError("messages", "is required")
    if "tools" in body or "tool_choice" in body:
        _check_tool_params(body, extra)
    if "top_logprobs" in body and body.get("logprobs") is not True:
        raise InvalidParameterError("top_logprobs", "requires logprobs=True")
    if "stream_options" in body and body.get("stream") is not True:
        raise InvalidParameterError("stream_options", "is only valid with stream=True")
    if extra:
        body.update(extra)
    return body
