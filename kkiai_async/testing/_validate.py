"""Check a chat request as the real API does, and say what is wrong in the API's words.

Why: a client's error handling is only tested if the fake server rejects what the real
API rejects, with the same status, ``type``, ``param`` and ``code``. Messages follow
the real API's wording (``"Invalid 'n': integer below minimum value. ..."``) so that a
test reading ``exc.body`` sees what production would show.

Every parameter of the current Chat Completions API is accepted, and checked only as far
as the API's reference makes certain: types, documented ranges and sizes, documented
enumerations that are closed (``modalities``, ``prediction.type``). Fields that vendors
keep extending -- ``reasoning_effort``, ``service_tier``, ``verbosity``,
``prompt_cache_retention``, ``audio.voice`` and ``audio.format`` -- take any string, so a
relayed model's own values are not refused here when the vendor would take them.

Unknown body keys are accepted: kkiai relays pass vendor parameters through
(``extra_body``), and the library must be able to send them.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ChatRequest", "RequestError", "validate_chat"]

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_CHOICES = ("none", "auto", "required")
_MAX_TOOLS = 128
_MODALITIES = ("text", "audio")
_METADATA_PAIRS = 16
_METADATA_KEY_CHARS = 64
_METADATA_VALUE_CHARS = 512
# Parameters whose value is any string (or null): open vocabularies, or free identifiers.
_STRINGS = (
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning_effort",
    "safety_identifier",
    "service_tier",
    "user",
    "verbosity",
)


class RequestError(Exception):
    """A request the server refuses, with the pieces of the API's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code


class ChatRequest:
    """The parts of a valid chat request that shape the answer."""

    __slots__ = (
        "body",
        "include_usage",
        "legacy_functions",
        "logprobs",
        "max_tokens",
        "messages",
        "model",
        "n",
        "parallel_tool_calls",
        "response_format",
        "seed",
        "service_tier",
        "stop",
        "stream",
        "tool_choice",
        "tools",
        "top_logprobs",
    )

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.model: str = body["model"]
        self.messages: list[dict[str, Any]] = body["messages"]
        self.stream: bool = body.get("stream") is True
        options = body.get("stream_options")
        self.include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self.n: int = body.get("n") or 1
        self.logprobs: bool = body.get("logprobs") is True
        self.top_logprobs: int = body.get("top_logprobs") or 0
        self.seed: int | None = body.get("seed")
        self.tools: list[dict[str, Any]] = [t["function"] for t in body.get("tools") or ()]
        choice = body.get("tool_choice")
        # The deprecated ``functions``/``function_call`` pair is answered in its own shape
        # (``message.function_call``, one call, ``finish_reason: "function_call"``).
        self.legacy_functions = not self.tools and bool(body.get("functions"))
        if self.legacy_functions:
            self.tools = list(body["functions"])
            legacy = body.get("function_call")
            choice = {"function": legacy} if isinstance(legacy, dict) else legacy
        if isinstance(choice, dict):
            self.tool_choice: str = "function:" + choice["function"]["name"]
        else:
            self.tool_choice = choice or ("auto" if self.tools else "none")
        self.parallel_tool_calls: bool = (
            body.get("parallel_tool_calls") is not False and not self.legacy_functions
        )
        tier = body.get("service_tier")
        # The response names the tier that served the request: "auto" (or none) is
        # served by "default"; a tier asked for by name is echoed.
        self.service_tier: str = "default" if tier in (None, "auto") else tier
        limit = body.get("max_completion_tokens")
        self.max_tokens: int | None = limit if limit is not None else body.get("max_tokens")
        stop = body.get("stop")
        self.stop: list[str] = [stop] if isinstance(stop, str) else list(stop or ())
        fmt = body.get("response_format")
        self.response_format: dict[str, Any] | None = fmt if isinstance(fmt, dict) else None


def _kind(value: object) -> str:
    """The API's name for a JSON value's type, as used in its error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _invalid_type(param: str, expected: str, value: object) -> RequestError:
    return RequestError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> RequestError:
    return RequestError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(
    body: dict[str, Any],
    key: str,
    low: float | None,
    high: float | None,
    *,
    integer: bool,
    param: str | None = None,
) -> None:
    value = body.get(key)
    if value is None:
        return
    name = param or key
    if not (_is_int(value) if integer else _is_number(value)):
        raise _invalid_type(name, "an integer" if integer else "a decimal", value)
    noun = "integer" if integer else "decimal"
    if low is not None and value < low:
        shown = int(low) if integer else low
        raise RequestError(
            400,
            f"Invalid '{name}': {noun} below minimum value. "
            f"Expected a value >= {shown}, but got {value} instead.",
            param=name,
            code=f"{noun}_below_min_value",
        )
    if high is not None and value > high:
        shown = int(high) if integer else high
        raise RequestError(
            400,
            f"Invalid '{name}': {noun} above maximum value. "
            f"Expected a value <= {shown}, but got {value} instead.",
            param=name,
            code=f"{noun}_above_max_value",
        )


def validate_chat(body: object) -> ChatRequest:
    """Check a parsed ``POST /chat/completions`` body.

    Args:
        body: The decoded JSON body.

    Returns:
        The request's answer-shaping parts.

    Raises:
        RequestError: The first problem found, as the real API reports it (400).
    """
    if not isinstance(body, dict):
        raise RequestError(
            400,
            f"Invalid type for request body: expected an object, but got {_kind(body)} instead.",
            code="invalid_type",
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        # The real API does not name the parameter here (param is null).
        raise RequestError(400, "you must provide a model parameter")
    _check_messages(body)
    for name in ("stream", "logprobs", "parallel_tool_calls", "store"):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise _invalid_type(name, "a boolean", value)
    for name in _STRINGS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise _invalid_type(name, "a string", value)
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _invalid_type("stream_options", "an object", options)
        for name in ("include_usage", "include_obfuscation"):
            value = options.get(name)
            if value is not None and not isinstance(value, bool):
                raise _invalid_type(f"stream_options.{name}", "a boolean", value)
        if body.get("stream") is not True:
            raise RequestError(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
    _check_range(body, "n", 1, 128, integer=True)
    _check_range(body, "temperature", 0, 2, integer=False)
    _check_range(body, "top_p", 0, 1, integer=False)
    _check_range(body, "presence_penalty", -2, 2, integer=False)
    _check_range(body, "frequency_penalty", -2, 2, integer=False)
    _check_range(body, "max_tokens", 1, None, integer=True)
    _check_range(body, "max_completion_tokens", 1, None, integer=True)
    _check_range(body, "top_logprobs", 0, 20, integer=True)
    _check_range(body, "seed", None, None, integer=True)
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        raise RequestError(
            400,
            "Invalid value for 'logprobs': must be true when 'top_logprobs' is set.",
            param="logprobs",
            code="invalid_value",
        )
    _check_stop(body.get("stop"))
    _check_tools(body)
    _check_functions(body)
    _check_response_format(body.get("response_format"))
    _check_logit_bias(body.get("logit_bias"))
    _check_metadata(body.get("metadata"))
    _check_modalities(body)
    _check_prediction(body.get("prediction"))
    _check_web_search_options(body.get("web_search_options"))
    _check_newer_objects(body)
    return ChatRequest(body)


def _check_messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of objects", messages)
    if not messages:
        raise RequestError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    open_calls: dict[str, int] = {}
    opened_at = -1
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        if role not in _ROLES:
            supported = ", ".join(f"'{r}'" for r in _ROLES[:-1]) + f", and '{_ROLES[-1]}'"
            raise RequestError(
                400,
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if role != "tool" and open_calls:
            raise _unanswered(opened_at, open_calls)
        content = message.get("content")
        if role in ("system", "developer", "user", "tool"):
            if content is None:
                raise _missing(f"{where}.content")
            if not isinstance(content, (str, list)):
                raise _invalid_type(f"{where}.content", "one of a string or array", content)
        if role == "assistant":
            calls = message.get("tool_calls")
            if content is None and not calls and message.get("function_call") is None:
                raise _missing(f"{where}.content")
            if calls is not None:
                if not isinstance(calls, list):
                    raise _invalid_type(f"{where}.tool_calls", "an array", calls)
                for j, call in enumerate(calls):
                    call_id = call.get("id") if isinstance(call, dict) else None
                    if not isinstance(call_id, str):
                        raise _missing(f"{where}.tool_calls[{j}].id")
                    _check_tool_call(call, i, j)
                    open_calls[call_id] = j
                opened_at = i
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise _missing(f"{where}.tool_call_id")
            if call_id not in open_calls:
                raise RequestError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'.",
                    param=f"{where}.role",
                )
            del open_calls[call_id]
    if open_calls:
        raise _unanswered(opened_at, open_calls)


_TOOL_CALL_KEYS = frozenset({"id", "type", "function"})
_FUNCTION_KEYS = frozenset({"name", "arguments"})


def _check_tool_call(call: dict[str, Any], i: int, j: int) -> None:
    """A tool call sent back takes only the fields the model wrote, as the real API
    checks them (a client's decoded extras, like ``parsed_arguments``, are refused)."""
    function = call.get("function")
    for keys, allowed, suffix in (
        (call.keys(), _TOOL_CALL_KEYS, ""),
        (function.keys() if isinstance(function, dict) else (), _FUNCTION_KEYS, ".function"),
    ):
        unexpected = sorted(k for k in keys if k not in allowed)
        if unexpected:
            names = ", ".join(repr(k) for k in unexpected)
            verb = "was" if len(unexpected) == 1 else "were"
            # The message names the place as the API's schema check does, the param as
            # every other error here does.
            raise RequestError(
                400,
                f"Additional properties are not allowed ({names} {verb} unexpected) - "
                f"'messages.{i}.tool_calls.{j}{suffix}'",
                param=f"messages[{i}].tool_calls[{j}]{suffix}",
            )


def _unanswered(index: int, open_calls: dict[str, int]) -> RequestError:
    return RequestError(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(open_calls),
        param=f"messages[{index}].role",
    )


def _check_stop(stop: object) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _invalid_type("stop", "one of a string or array of strings", stop)
    if len(stop) > 4:
        raise RequestError(
            400,
            f"Invalid 'stop': array too long. Expected an array with maximum length 4, "
            f"but got an array with length {len(stop)} instead.",
            param="stop",
            code="array_above_max_length",
        )


def _too_long(param: str, maximum: int, length: int) -> RequestError:
    return RequestError(
        400,
        f"Invalid '{param}': array too long. Expected an array with maximum length "
        f"{maximum}, but got an array with length {length} instead.",
        param=param,
        code="array_above_max_length",
    )


def _string_too_long(param: str, maximum: int, length: int) -> RequestError:
    return RequestError(
        400,
        f"Invalid '{param}': string too long. Expected a string with maximum length "
        f"{maximum}, but got a string with length {length} instead.",
        param=param,
        code="string_above_max_length",
    )


def _invalid_value(param: str, value: object, supported: tuple[str, ...]) -> RequestError:
    quoted = [f"'{v}'" for v in supported]
    listed = " and ".join(quoted) if len(quoted) <= 2 else ", ".join(quoted[:-1])
    if len(quoted) > 2:
        listed += f", and {quoted[-1]}"
    return RequestError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _check_function(where: str, function: object) -> str:
    """Check one function definition (of ``tools`` or ``functions``); return its name."""
    if not isinstance(function, dict):
        raise _missing(where)
    name = function.get("name")
    if not isinstance(name, str):
        raise _missing(f"{where}.name")
    if not _TOOL_NAME_RE.match(name):
        raise RequestError(
            400,
            f"Invalid '{where}.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param=f"{where}.name",
            code="invalid_value",
        )
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise _invalid_type(f"{where}.description", "a string", description)
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise _invalid_type(f"{where}.parameters", "an object", parameters)
    return name


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise _invalid_type("tools", "an array of objects", tools)
        if len(tools) > _MAX_TOOLS:
            raise _too_long("tools", _MAX_TOOLS, len(tools))
        for i, tool in enumerate(tools):
            where = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise _invalid_type(where, "an object", tool)
            if tool.get("type") is None:
                raise _missing(f"{where}.type")
            if tool["type"] != "function":
                raise RequestError(
                    400,
                    f"Invalid value: '{tool['type']}'. Supported values are: 'function'.",
                    param=f"{where}.type",
                    code="invalid_value",
                )
            names.append(_check_function(f"{where}.function", tool.get("function")))
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not names:
        raise RequestError(
            400,
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
            "are specified.",
            param="tool_choice",
        )
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise RequestError(
                400,
                f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
                param="tool_choice",
                code="invalid_value",
            )
        return
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise _invalid_type("tool_choice", "one of a string or object", choice)
    if name not in names:
        raise RequestError(
            400,
            f"Invalid value for 'tool_choice': no function named '{name}' was specified in "
            "the 'tools' parameter.",
            param="tool_choice",
        )


def _check_response_format(fmt: object) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise _invalid_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise RequestError(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and "
            "'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise _missing("response_format.json_schema.name")


def _check_functions(body: dict[str, Any]) -> None:
    """The deprecated ``functions`` and ``function_call``, still accepted by the API."""
    functions = body.get("functions")
    names: list[str] = []
    if functions is not None:
        if not isinstance(functions, list):
            raise _invalid_type("functions", "an array of objects", functions)
        if len(functions) > _MAX_TOOLS:
            raise _too_long("functions", _MAX_TOOLS, len(functions))
        names = [_check_function(f"functions[{i}]", f) for i, f in enumerate(functions)]
    choice = body.get("function_call")
    if choice is None:
        return
    if not names:
        raise RequestError(
            400,
            "Invalid value for 'function_call': 'function_call' is only allowed when "
            "'functions' are specified.",
            param="function_call",
        )
    if isinstance(choice, str):
        if choice not in ("none", "auto"):
            raise _invalid_value("function_call", choice, ("none", "auto"))
        return
    name = choice.get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str):
        raise _invalid_type("function_call", "one of a string or object", choice)
    if name not in names:
        raise RequestError(
            400,
            f"Invalid value for 'function_call': no function named '{name}' was specified "
            "in the 'functions' parameter.",
            param="function_call",
        )


def _check_logit_bias(bias: object) -> None:
    """Token ids (as strings) mapped to a bias in [-100, 100]."""
    if bias is None:
        return
    if not isinstance(bias, dict):
        raise _invalid_type("logit_bias", "an object", bias)
    for key, value in bias.items():
        if not key.isdigit():
            raise RequestError(
                400,
                f"Invalid key in 'logit_bias': {key}. You should only be submitting "
                "non-negative integers.",
                param="logit_bias",
                code="invalid_value",
            )
        if not _is_number(value):
            raise _invalid_type(f"logit_bias.{key}", "a decimal", value)
        _check_range(bias, key, -100, 100, integer=False, param=f"logit_bias.{key}")


def _check_metadata(metadata: object) -> None:
    """Up to 16 string pairs; keys up to 64 characters, values up to 512."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _invalid_type("metadata", "an object", metadata)
    if len(metadata) > _METADATA_PAIRS:
        raise RequestError(
            400,
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{_METADATA_PAIRS} properties, but got an object with {len(metadata)} "
            "properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > _METADATA_KEY_CHARS:
            raise _string_too_long("metadata", _METADATA_KEY_CHARS, len(key))
        if not isinstance(value, str):
            raise _invalid_type(f"metadata.{key}", "a string", value)
        if len(value) > _METADATA_VALUE_CHARS:
            raise _string_too_long(f"metadata.{key}", _METADATA_VALUE_CHARS, len(value))


def _check_modalities(body: dict[str, Any]) -> None:
    """``modalities`` from a closed list; audio output needs the ``audio`` parameter."""
    modalities = body.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list):
            raise _invalid_type("modalities", "an array of strings", modalities)
        for i, modality in enumerate(modalities):
            if not isinstance(modality, str):
                raise _invalid_type(f"modalities[{i}]", "a string", modality)
            if modality not in _MODALITIES:
                raise _invalid_value(f"modalities[{i}]", modality, _MODALITIES)
    audio = body.get("audio")
    if audio is None:
        if modalities is not None and "audio" in modalities:
            raise _missing("audio")
        return
    if not isinstance(audio, dict):
        raise _invalid_type("audio", "an object", audio)
    # A voice is a built-in voice's name or a custom voice ``{"id": ...}``; new voices and
    # formats keep being added, so neither is held to a list here.
    voice = audio.get("voice")
    if voice is None:
        raise _missing("audio.voice")
    if not isinstance(voice, (str, dict)):
        raise _invalid_type("audio.voice", "one of a string or object", voice)
    fmt = audio.get("format")
    if fmt is None:
        raise _missing("audio.format")
    if not isinstance(fmt, str):
        raise _invalid_type("audio.format", "a string", fmt)


def _check_prediction(prediction: object) -> None:
    """Predicted output: ``{"type": "content", "content": str | [text parts]}``."""
    if prediction is None:
        return
    if not isinstance(prediction, dict):
        raise _invalid_type("prediction", "an object", prediction)
    kind = prediction.get("type")
    if kind is None:
        raise _missing("prediction.type")
    if kind != "content":
        raise _invalid_value("prediction.type", kind, ("content",))
    content = prediction.get("content")
    if content is None:
        raise _missing("prediction.content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _invalid_type("prediction.content", "one of a string or array", content)
    for i, part in enumerate(content):
        where = f"prediction.content[{i}]"
        if not isinstance(part, dict):
            raise _invalid_type(where, "an object", part)
        if part.get("type") != "text":
            raise _invalid_value(f"{where}.type", part.get("type"), ("text",))
        if not isinstance(part.get("text"), str):
            raise _invalid_type(f"{where}.text", "a string", part.get("text"))


def _check_web_search_options(options: object) -> None:
    """An object; its context size is an open word, its location an object or null."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise _invalid_type("web_search_options", "an object", options)
    size = options.get("search_context_size")
    if size is not None and not isinstance(size, str):
        raise _invalid_type("web_search_options.search_context_size", "a string", size)
    location = options.get("user_location")
    if location is not None and not isinstance(location, dict):
        raise _invalid_type("web_search_options.user_location", "an object", location)


def _check_newer_objects(body: dict[str, Any]) -> None:
    """``moderation`` (needs a ``model``) and ``prompt_cache_options``: objects.

    Both are newer than the parameter list most relays document; their inner words
    (``policy.*.mode``, ``mode``, ``ttl``) are left open, as vendors' enumerations are.
    """
    moderation = body.get("moderation")
    if moderation is not None:
        if not isinstance(moderation, dict):
            raise _invalid_type("moderation", "an object", moderation)
        model = moderation.get("model")
        if model is None:
            raise _missing("moderation.model")
        if not isinstance(model, str):
            raise _invalid_type("moderation.model", "a string", model)
    options = body.get("prompt_cache_options")
    if options is not None and not isinstance(options, dict):
        raise _invalid_type("prompt_cache_options", "an object", options)
