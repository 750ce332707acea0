"""Tests of kkiai_async._params: request parameters checked before anything is sent."""

from __future__ import annotations

import collections
import math
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkiai_async import types as t
from kkiai_async._exceptions import InvalidParameterError
from kkiai_async._params import BODY_PARAMS, build_body

MODEL = "gpt-4o-mini"
USER = {"role": "user", "content": "Hi"}


def body_of(**params: Any) -> dict[str, object]:
    """build_body with a model and a one-message conversation unless given."""
    params.setdefault("model", MODEL)
    params.setdefault("messages", [dict(USER)])
    return build_body(params)


def error_of(**params: Any) -> InvalidParameterError:
    """The InvalidParameterError build_body raises for these parameters."""
    with pytest.raises(InvalidParameterError) as info:
        body_of(**params)
    return info.value


def weather_tool(name: str = "get_weather") -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": "Weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }


def tool_call(**overrides: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    call.update(overrides)
    return call


class DefinedTool:
    """What the tools module's FunctionTool looks like to build_body: a .definition."""

    def __init__(self, definition: object) -> None:
        self.definition = definition


# --------------------------------------------------------------------------------------
# The body
# --------------------------------------------------------------------------------------


def test_minimal_body() -> None:
    """model and messages alone give exactly that body."""
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    assert build_body({"model": MODEL, "messages": messages}) == {
        "model": MODEL,
        "messages": messages,
    }


def test_body_carries_the_callers_objects() -> None:
    """Message dicts go into the body as the same objects, not copies or conversions."""
    msg = {"role": "user", "content": "Hi", "cache_control": {"type": "ephemeral"}}
    messages = [msg]
    body = build_body({"model": MODEL, "messages": messages})
    assert body["messages"] is messages
    assert body["messages"][0] is msg


def test_unknown_message_keys_survive_encoding() -> None:
    """Vendor keys in messages and content parts reach the JSON body."""
    msg = {
        "role": "user",
        "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}],
        "x_vendor": 1,
    }
    sent = msgspec.json.decode(msgspec.json.encode(body_of(messages=[msg])))
    assert sent["messages"] == [msg]


def test_none_means_not_set() -> None:
    """Parameters given as None are left out of the body."""
    body = body_of(temperature=None, tools=None, tool_choice=None, stop=None, extra_body=None)
    assert set(body) == {"model", "messages"}


def test_params_mapping_is_not_mutated() -> None:
    """build_body does not change the mapping it is given."""
    params: dict[str, object] = {"model": MODEL, "messages": [USER], "tools": [], "n": 2}
    before = dict(params)
    build_body(params)
    assert params == before


def test_every_documented_parameter_is_accepted() -> None:
    """A request using every body parameter builds, with each value in the body."""
    params: dict[str, object] = {
        "model": MODEL,
        "messages": [USER],
        "temperature": 0.5,
        "top_p": 0.9,
        "n": 2,
        "stream": True,
        "stop": ["\n\n"],
        "max_tokens": 100,
        "max_completion_tokens": 200,
        "presence_penalty": -1.0,
        "frequency_penalty": 1.0,
        "logit_bias": {"50256": -100},
        "user": "user-1",
        "response_format": {"type": "json_object"},
        "seed": 42,
        "tools": [weather_tool()],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "logprobs": True,
        "top_logprobs": 5,
        "stream_options": {"include_usage": True},
        "reasoning_effort": "low",
        "verbosity": "medium",
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "wav"},
        "prediction": {"type": "content", "content": "draft"},
        "web_search_options": {"search_context_size": "low"},
        "functions": [{"name": "get_weather", "parameters": {"type": "object"}}],
        "function_call": {"name": "get_weather"},
        "service_tier": "flex",
        "store": True,
        "metadata": {"team": "support"},
        "prompt_cache_key": "conv-1",
        "prompt_cache_retention": "24h",
        "prompt_cache_options": {"mode": "implicit"},
        "moderation": {"model": "omni-moderation-latest"},
        "safety_identifier": "hash-of-user",
    }
    assert set(params) == BODY_PARAMS
    body = build_body(params)
    assert body == {**params, "logit_bias": {"50256": -100.0}}


def test_body_is_encodable_with_structs() -> None:
    """A body mixing dicts and structs encodes to the API's JSON shape."""
    body = body_of(
        messages=[t.SystemMessage(content="Be terse."), {"role": "user", "content": "Hi"}],
        tools=[weather_tool("f")],
        tool_choice=t.NamedToolChoice(function=t.NamedFunction(name="f")),
        response_format=t.ResponseFormatJSONObject(),
    )
    assert msgspec.json.decode(msgspec.json.encode(body)) == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi"},
        ],
        "tools": [weather_tool("f")],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_object"},
    }


def test_tool_struct_encodes_its_type() -> None:
    """A kk.Tool in the body is sent with "type": "function", which the API requires."""
    body = body_of(tools=[t.Tool(function=t.FunctionDefinition(name="f"))])
    sent = msgspec.json.decode(msgspec.json.encode(body))
    assert sent["tools"] == [{"type": "function", "function": {"name": "f"}}]


# --------------------------------------------------------------------------------------
# Required and unknown parameters
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param"),
    [
        pytest.param({"messages": [USER]}, "model", id="no-model"),
        pytest.param({"model": None, "messages": [USER]}, "model", id="model-none"),
        pytest.param({"model": MODEL}, "messages", id="no-messages"),
        pytest.param({"model": "", "messages": [USER]}, "model", id="empty-model"),
        pytest.param({"model": 4, "messages": [USER]}, "model", id="int-model"),
    ],
)
def test_required_parameters(params: dict[str, object], param: str) -> None:
    """model (a non-empty string) and messages are required."""
    with pytest.raises(InvalidParameterError) as info:
        build_body(params)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        pytest.param("seen", "'seed'", id="seen-is-seed"),
        pytest.param("temprature", "'temperature'", id="typo"),
        pytest.param("max_token", "'max_tokens'", id="singular"),
        pytest.param("toolchoice", "'tool_choice'", id="underscore"),
    ],
)
def test_unknown_parameter_suggests_the_known_one(name: str, suggestion: str) -> None:
    """An unknown keyword raises naming it, with a 'did you mean' for a near miss."""
    exc = error_of(**{name: 1})
    assert exc.param == name
    assert f"did you mean {suggestion}?" in str(exc)


def test_unknown_parameter_points_to_extra_body() -> None:
    """An unknown keyword without a near miss says vendor parameters go in extra_body."""
    exc = error_of(enable_thinking=True)
    assert exc.param == "enable_thinking"
    assert "did you mean" not in str(exc)
    assert "extra_body" in str(exc)


# --------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("temperature", 0, id="temperature-0"),
        pytest.param("temperature", 2, id="temperature-2"),
        pytest.param("temperature", 0.7, id="temperature-float"),
        pytest.param("top_p", 1, id="top_p-1"),
        pytest.param("top_p", 0.0, id="top_p-0"),
        pytest.param("presence_penalty", -2, id="presence-low"),
        pytest.param("frequency_penalty", 2.0, id="frequency-high"),
    ],
)
def test_numbers_in_range_are_sent_as_floats(name: str, value: float) -> None:
    """Number parameters within range are accepted and sent as floats."""
    sent = body_of(**{name: value})[name]
    assert type(sent) is float
    assert sent == value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("temperature", -0.1, id="temperature-negative"),
        pytest.param("temperature", 2.01, id="temperature-high"),
        pytest.param("temperature", True, id="temperature-bool"),
        pytest.param("temperature", "0.5", id="temperature-string"),
        pytest.param("temperature", math.nan, id="temperature-nan"),
        pytest.param("top_p", 1.5, id="top_p-high"),
        pytest.param("top_p", math.inf, id="top_p-inf"),
        pytest.param("presence_penalty", -2.5, id="presence-low"),
        pytest.param("frequency_penalty", 3, id="frequency-high"),
        pytest.param("frequency_penalty", False, id="frequency-bool"),
    ],
)
def test_numbers_out_of_range_or_wrong_type(name: str, value: object) -> None:
    """A number parameter out of range, NaN, a bool or a string raises naming it."""
    assert error_of(**{name: value}).param == name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("n", 1, id="n-1"),
        pytest.param("n", 128, id="n-128"),
        pytest.param("max_tokens", 1, id="max_tokens"),
        pytest.param("max_completion_tokens", 4096, id="max_completion_tokens"),
        pytest.param("seed", -5, id="seed-negative"),
        pytest.param("seed", 2**63 - 1, id="seed-large"),
    ],
)
def test_integers_accepted(name: str, value: int) -> None:
    """Integer parameters within range are sent as given."""
    assert body_of(**{name: value})[name] == value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("n", 0, id="n-0"),
        pytest.param("n", 129, id="n-too-many"),
        pytest.param("n", True, id="n-bool"),
        pytest.param("n", 2.0, id="n-float"),
        pytest.param("max_tokens", 0, id="max_tokens-0"),
        pytest.param("max_completion_tokens", -1, id="max_completion_tokens-negative"),
        pytest.param("seed", True, id="seed-bool"),
        pytest.param("seed", 1.0, id="seed-float"),
        pytest.param("seed", "42", id="seed-string"),
    ],
)
def test_integers_rejected(name: str, value: object) -> None:
    """An integer parameter out of range, a bool or a float raises naming it."""
    assert error_of(**{name: value}).param == name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("stream", 1, id="stream-int"),
        pytest.param("stream", "true", id="stream-string"),
        pytest.param("parallel_tool_calls", 0, id="parallel-int"),
        pytest.param("logprobs", "yes", id="logprobs-string"),
    ],
)
def test_bools_must_be_bools(name: str, value: object) -> None:
    """Flag parameters take only True or False."""
    assert error_of(**{name: value}).param == name


def test_user_must_be_a_string() -> None:
    """user is a string."""
    assert error_of(user=5).param == "user"


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param("\n", id="string"),
        pytest.param(["a"], id="one"),
        pytest.param(["a", "b", "c", "d"], id="four"),
        pytest.param(("END",), id="tuple"),
    ],
)
def test_stop_accepted(stop: object) -> None:
    """stop is a string or a list of one to four strings."""
    assert body_of(stop=stop)["stop"] is stop


@pytest.mark.parametrize(
    ("stop", "param"),
    [
        pytest.param([], "stop", id="empty"),
        pytest.param(["a", "b", "c", "d", "e"], "stop", id="five"),
        pytest.param(["a", 1], "stop[1]", id="non-string-item"),
        pytest.param(5, "stop", id="int"),
    ],
)
def test_stop_rejected(stop: object, param: str) -> None:
    """An empty list, more than four, or a non-string stop raises."""
    assert error_of(stop=stop).param == param


def test_top_logprobs_requires_logprobs() -> None:
    """top_logprobs without logprobs=True raises; with it, both are sent."""
    assert error_of(top_logprobs=3).param == "top_logprobs"
    assert error_of(top_logprobs=3, logprobs=False).param == "top_logprobs"
    body = body_of(top_logprobs=3, logprobs=True)
    assert (body["top_logprobs"], body["logprobs"]) == (3, True)


@pytest.mark.parametrize(
    "value",
    [pytest.param(-1, id="negative"), pytest.param(21, id="over-20")],
)
def test_top_logprobs_range(value: int) -> None:
    """top_logprobs is between 0 and 20."""
    assert error_of(top_logprobs=value, logprobs=True).param == "top_logprobs"


# --------------------------------------------------------------------------------------
# logit_bias
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bias", "expected"),
    [
        pytest.param({"50256": -100}, {"50256": -100.0}, id="string-key"),
        pytest.param({50256: 5}, {"50256": 5.0}, id="int-key"),
        pytest.param({"007": 1.5}, {"7": 1.5}, id="leading-zeros"),
        pytest.param({}, {}, id="empty"),
    ],
)
def test_logit_bias_keys_sent_as_strings(bias: dict[object, object], expected: object) -> None:
    """logit_bias token ids (ints or digit strings) are sent as string keys."""
    assert body_of(logit_bias=bias)["logit_bias"] == expected


@pytest.mark.parametrize(
    ("bias", "param"),
    [
        pytest.param({"abc": 1}, "logit_bias['abc']", id="word-key"),
        pytest.param({"-1": 1}, "logit_bias['-1']", id="negative-string-key"),
        pytest.param({-1: 1}, "logit_bias[-1]", id="negative-int-key"),
        pytest.param({True: 1}, "logit_bias[True]", id="bool-key"),
        pytest.param({"1": 101}, "logit_bias['1']", id="bias-too-high"),
        pytest.param({"1": True}, "logit_bias['1']", id="bias-bool"),
        pytest.param({1: 1, "1": 2}, "logit_bias['1']", id="same-token-twice"),
        pytest.param([1, 2], "logit_bias", id="list"),
    ],
)
def test_logit_bias_rejected(bias: object, param: str) -> None:
    """Non-token keys, biases outside -100..100 and duplicates raise naming the key."""
    assert error_of(logit_bias=bias).param == param


# --------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([{"role": "developer", "content": "Rules."}, USER], id="developer"),
        pytest.param([{"role": "user", "content": ""}], id="empty-string-content"),
        pytest.param(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
                        {"type": "file", "file": {"file_id": "f1"}},
                        {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
                    ],
                }
            ],
            id="parts-known-and-unknown",
        ),
        pytest.param(
            [{"role": "user", "content": [t.TextContentPart(text="hi")]}],
            id="struct-part-in-dict",
        ),
        pytest.param(
            [USER, {"role": "assistant", "tool_calls": [tool_call()]}],
            id="assistant-tool-calls-only",
        ),
        pytest.param(
            [USER, {"role": "assistant", "content": None, "refusal": "No."}],
            id="assistant-refusal-only",
        ),
        pytest.param(
            [USER, {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}],
            id="assistant-function-call",
        ),
        pytest.param(
            [USER, {"role": "assistant", "content": "", "tool_calls": []}],
            id="assistant-empty-content-empty-calls",
        ),
        pytest.param(
            [
                USER,
                {"role": "assistant", "tool_calls": [tool_call()]},
                {
                    "role": "tool",
                    "tool_call_id": "call_1",
                    "content": [{"type": "text", "text": "9C"}],
                },
            ],
            id="tool-with-parts",
        ),
        pytest.param(
            [USER, {"role": "function", "name": "f", "content": None}], id="function-message"
        ),
        pytest.param([{"role": "user", "content": "Hi", "name": "ann"}], id="named-user"),
        pytest.param(
            [collections.OrderedDict(role="user", content="Hi")], id="dict-subclass-message"
        ),
        pytest.param(
            [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        t.ChatCompletionMessageToolCall(
                            id="call_1", function=t.Function(name="f", arguments="{}")
                        )
                    ],
                },
            ],
            id="struct-tool-call-in-dict",
        ),
        pytest.param(
            [USER, {"role": "assistant", "function_call": t.FunctionCall(name="f", arguments="")}],
            id="struct-function-call-in-dict",
        ),
    ],
)
def test_valid_messages(messages: list[object]) -> None:
    """Well-formed messages of every role pass and are sent as given."""
    assert body_of(messages=messages)["messages"] is messages


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        pytest.param([{"content": "x"}], "messages[0].role", id="no-role"),
        pytest.param([{"role": "usr", "content": "x"}], "messages[0].role", id="bad-role"),
        pytest.param([{"role": "user"}], "messages[0].content", id="user-no-content"),
        pytest.param([{"role": "user", "content": None}], "messages[0].content", id="user-none"),
        pytest.param([{"role": "user", "content": 5}], "messages[0].content", id="user-int"),
        pytest.param([{"role": "user", "content": []}], "messages[0].content", id="no-parts"),
        pytest.param(
            [{"role": "system", "content": {"text": "x"}}], "messages[0].content", id="system-dict"
        ),
        pytest.param([{"role": "developer"}], "messages[0].content", id="developer-no-content"),
        pytest.param(
            [{"role": "user", "content": [{"type": "text"}]}],
            "messages[0].content[0].text",
            id="text-part-no-text",
        ),
        pytest.param(
            [{"role": "user", "content": [{"type": "text", "text": "a"}, "b"]}],
            "messages[0].content[1]",
            id="part-not-a-dict",
        ),
        pytest.param(
            [{"role": "user", "content": [{"text": "a"}]}],
            "messages[0].content[0].type",
            id="part-no-type",
        ),
        pytest.param(
            [{"role": "user", "content": [{"type": "image_url", "image_url": "https://x"}]}],
            "messages[0].content[0].image_url",
            id="image-url-as-string",
        ),
        pytest.param(
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "A"}}]}],
            "messages[0].content[0].input_audio",
            id="audio-no-format",
        ),
        pytest.param(
            [{"role": "user", "content": "x", "name": 5}], "messages[0].name", id="int-name"
        ),
        pytest.param([USER, {"role": "assistant"}], "messages[1].content", id="empty-assistant"),
        pytest.param(
            [USER, {"role": "assistant", "content": None, "tool_calls": []}],
            "messages[1].content",
            id="assistant-empty-tool-calls",
        ),
        pytest.param(
            [USER, {"role": "assistant", "content": 3}],
            "messages[1].content",
            id="assistant-int-content",
        ),
        pytest.param(
            [USER, {"role": "assistant", "refusal": 1}],
            "messages[1].refusal",
            id="assistant-int-refusal",
        ),
        pytest.param(
            [USER, {"role": "assistant", "tool_calls": tool_call()}],
            "messages[1].tool_calls",
            id="tool-calls-not-a-list",
        ),
        pytest.param(
            [USER, {"role": "assistant", "tool_calls": ["call_1"]}],
            "messages[1].tool_calls[0]",
            id="tool-call-not-a-dict",
        ),
        pytest.param(
            [USER, {"role": "assistant", "tool_calls": [tool_call(id="")]}],
            "messages[1].tool_calls[0].id",
            id="tool-call-empty-id",
        ),
        pytest.param(
            [USER, {"role": "assistant", "tool_calls": [tool_call(type=None)]}],
            "messages[1].tool_calls[0].type",
            id="tool-call-no-type",
        ),
        pytest.param(
            [USER, {"role": "assistant", "tool_calls": [tool_call(function=None)]}],
            "messages[1].tool_calls[0].function",
            id="tool-call-no-function",
        ),
        pytest.param(
            [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [tool_call(function={"name": "", "arguments": "{}"})],
                },
            ],
            "messages[1].tool_calls[0].function.name",
            id="tool-call-empty-name",
        ),
        pytest.param(
            [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [tool_call(function={"name": "f", "arguments": {"a": 1}})],
                },
            ],
            "messages[1].tool_calls[0].function.arguments",
            id="tool-call-arguments-dict",
        ),
        pytest.param(
            [USER, {"role": "assistant", "tool_calls": [tool_call(function={"name": "f"})]}],
            "messages[1].tool_calls[0].function.arguments",
            id="tool-call-no-arguments",
        ),
        pytest.param(
            [USER, {"role": "assistant", "function_call": {"name": "f", "arguments": None}}],
            "messages[1].function_call.arguments",
            id="function-call-none-arguments",
        ),
        pytest.param(
            [
                USER,
                {"role": "assistant", "tool_calls": [tool_call()]},
                {"role": "tool", "content": "9C"},
            ],
            "messages[2].tool_call_id",
            id="tool-no-call-id",
        ),
        pytest.param(
            [USER, {"role": "tool", "tool_call_id": 7, "content": "9C"}],
            "messages[1].tool_call_id",
            id="tool-int-call-id",
        ),
        pytest.param(
            [USER, {"role": "tool", "tool_call_id": "call_1"}],
            "messages[1].content",
            id="tool-no-content",
        ),
        pytest.param(
            [{"role": "function", "content": "x"}], "messages[0].name", id="function-no-name"
        ),
        pytest.param(
            [{"role": "function", "name": "f", "content": 1}],
            "messages[0].content",
            id="function-int-content",
        ),
        pytest.param(["Hi"], "messages[0]", id="string-message"),
        pytest.param([USER, None], "messages[1]", id="none-message"),
        pytest.param([t.Usage()], "messages[0]", id="other-struct"),
    ],
)
def test_invalid_messages_name_the_path(messages: list[object], param: str) -> None:
    """A malformed message raises InvalidParameterError naming the exact path."""
    assert error_of(messages=messages).param == param


def test_bad_role_suggests_the_right_one() -> None:
    """A misspelt role gets a 'did you mean'."""
    exc = error_of(messages=[{"role": "usr", "content": "x"}])
    assert "did you mean 'user'?" in str(exc)


def test_arguments_as_dict_hint_json_dumps() -> None:
    """Tool call arguments given as a dict get a hint to pass a JSON text."""
    msg = {"role": "assistant", "tool_calls": [tool_call(function={"name": "f", "arguments": {}})]}
    assert "json.dumps" in str(error_of(messages=[USER, msg]))


def test_error_message_shortens_large_values() -> None:
    """An error quoting a huge value stays short."""
    exc = error_of(messages=[{"role": "x" * 10_000, "content": "hi"}])
    assert len(str(exc)) < 300


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([], id="empty-list"),
        pytest.param("Hi", id="string"),
        pytest.param(USER, id="single-dict"),
        pytest.param(iter([USER]), id="iterator"),
        pytest.param(b"Hi", id="bytes"),
    ],
)
def test_messages_must_be_a_non_empty_list(messages: object) -> None:
    """messages must be a non-empty list (or other sequence) of messages."""
    assert error_of(messages=messages).param == "messages"


def test_tuple_of_messages_is_kept() -> None:
    """A tuple of messages goes into the body as is (msgspec writes it as an array)."""
    messages = (USER,)
    assert body_of(messages=messages)["messages"] is messages


def test_other_sequence_becomes_a_list() -> None:
    """A sequence type msgspec cannot write becomes a list of the same messages."""
    messages = collections.UserList([USER])
    sent = body_of(messages=messages)["messages"]
    assert type(sent) is list
    assert sent == [USER]


def test_struct_messages_stay_structs() -> None:
    """Message structs are checked and sent as the same struct objects."""
    messages = [
        t.SystemMessage(content="Be terse."),
        t.UserMessage(content=[t.TextContentPart(text="Hi")]),
        t.AssistantMessage(
            tool_calls=[
                t.ChatCompletionMessageToolCall(
                    id="call_1", function=t.Function(name="f", arguments="{}")
                )
            ]
        ),
        t.ToolMessage(content="ok", tool_call_id="call_1"),
    ]
    sent = body_of(messages=messages)["messages"]
    assert sent is messages
    assert all(a is b for a, b in zip(sent, messages, strict=True))


@pytest.mark.parametrize(
    ("message", "param"),
    [
        pytest.param(t.UserMessage(content=5), "messages[0].content", id="user-int-content"),  # type: ignore[arg-type]
        pytest.param(t.AssistantMessage(), "messages[0].content", id="empty-assistant"),
        pytest.param(
            t.ToolMessage(content="x", tool_call_id=""), "messages[0].tool_call_id", id="tool-no-id"
        ),
        pytest.param(
            t.AssistantMessage(tool_calls=[t.ChatCompletionMessageToolCall(id="c")]),
            "messages[0].tool_calls[0].function.name",
            id="tool-call-no-name",
        ),
        pytest.param(
            t.UserMessage(content=[t.TextContentPart(text=None)]),  # type: ignore[arg-type]
            "messages[0].content[0].text",
            id="part-none-text",
        ),
        pytest.param(
            t.UserMessage(content=object()),  # type: ignore[arg-type]
            "messages[0]",
            id="unencodable",
        ),
    ],
)
def test_struct_messages_are_checked(message: object, param: str) -> None:
    """Structs do not check their field types, so build_body does, naming the path."""
    assert error_of(messages=[message]).param == param


def test_several_completion_messages_are_all_replaced() -> None:
    """Every response message in the list is replaced, in its place."""
    first = t.ChatCompletionMessage(content="One")
    second = t.ChatCompletionMessage(refusal="No")
    body = body_of(messages=[USER, first, USER, second])
    assert body["messages"] == [
        USER,
        t.AssistantMessage(content="One"),
        USER,
        t.AssistantMessage(refusal="No"),
    ]


def test_completion_message_is_sent_as_request_message() -> None:
    """A response message sent back is replaced by its to_param(); the caller's list is kept."""
    reply = t.ChatCompletionMessage(content="Hello", reasoning_content="thinking...")
    messages: list[object] = [USER, reply]
    body = body_of(messages=messages)
    assert messages == [USER, reply]
    assert body["messages"] == [USER, t.AssistantMessage(content="Hello")]
    sent = msgspec.json.decode(msgspec.json.encode(body))
    assert sent["messages"][1] == {"role": "assistant", "content": "Hello"}


# --------------------------------------------------------------------------------------
# Tools and tool_choice
# --------------------------------------------------------------------------------------


def test_tool_dicts_and_structs_are_kept() -> None:
    """Tool dicts and kk.Tool structs go into the body as given."""
    tools = [weather_tool(), t.Tool(function=t.FunctionDefinition(name="get_time"))]
    assert body_of(tools=tools)["tools"] is tools


def test_tool_objects_are_replaced_by_their_definition() -> None:
    """An object with a .definition is sent as that definition; the caller's list is kept."""
    as_struct = t.Tool(function=t.FunctionDefinition(name="get_time"))
    as_dict = weather_tool("lookup")
    tools = [weather_tool(), DefinedTool(as_struct), DefinedTool(as_dict)]
    body = body_of(tools=tools)
    assert body["tools"] == [tools[0], as_struct, as_dict]
    assert isinstance(tools[1], DefinedTool)


def test_empty_tools_are_left_out() -> None:
    """tools=[] means no tools and is not sent (OpenAI rejects an empty array)."""
    assert "tools" not in body_of(tools=[])


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        pytest.param(weather_tool(), "tools", id="not-a-list"),
        pytest.param(["get_weather"], "tools[0]", id="string-tool"),
        pytest.param([weather_tool(), len], "tools[1]", id="plain-function"),
        pytest.param([DefinedTool("x")], "tools[0]", id="bad-definition"),
        pytest.param([{"function": {"name": "f"}}], "tools[0].type", id="no-type"),
        pytest.param([{"type": "function"}], "tools[0].function", id="no-function"),
        pytest.param([weather_tool("get weather")], "tools[0].function.name", id="space-in-name"),
        pytest.param([weather_tool("")], "tools[0].function.name", id="empty-name"),
        pytest.param([weather_tool("a" * 65)], "tools[0].function.name", id="name-too-long"),
        pytest.param([weather_tool("f\n")], "tools[0].function.name", id="trailing-newline"),
        pytest.param(
            [{"type": "function", "function": {"name": "f", "description": 1}}],
            "tools[0].function.description",
            id="int-description",
        ),
        pytest.param(
            [{"type": "function", "function": {"name": "f", "parameters": []}}],
            "tools[0].function.parameters",
            id="list-parameters",
        ),
        pytest.param(
            [{"type": "function", "function": {"name": "f", "strict": "yes"}}],
            "tools[0].function.strict",
            id="string-strict",
        ),
        pytest.param(
            [weather_tool(), weather_tool()], "tools[1].function.name", id="duplicate-name"
        ),
        pytest.param(
            [t.Tool(function=t.FunctionDefinition(name="bad name"))],
            "tools[0].function.name",
            id="struct-bad-name",
        ),
    ],
)
def test_invalid_tools_name_the_path(tools: object, param: str) -> None:
    """A malformed tool raises naming its path."""
    assert error_of(tools=tools).param == param


def test_tool_name_of_64_characters_is_accepted() -> None:
    """A function name of exactly 64 allowed characters passes."""
    name = "a-b_C9" * 10 + "abcd"
    assert len(name) == 64
    assert body_of(tools=[weather_tool(name)])["tools"] == [weather_tool(name)]


@pytest.mark.parametrize(
    "choice",
    [
        pytest.param("auto", id="auto"),
        pytest.param("none", id="none"),
        pytest.param("required", id="required"),
        pytest.param({"type": "function", "function": {"name": "get_weather"}}, id="named-dict"),
        pytest.param(
            t.NamedToolChoice(function=t.NamedFunction(name="get_weather")), id="named-struct"
        ),
    ],
)
def test_tool_choice_with_tools(choice: object) -> None:
    """Every form of tool_choice is accepted with tools and sent as given."""
    assert body_of(tools=[weather_tool()], tool_choice=choice)["tool_choice"] is choice


@pytest.mark.parametrize(
    "choice", [pytest.param("auto", id="auto"), pytest.param("none", id="none")]
)
def test_tool_choice_modes_without_tools(choice: str) -> None:
    """'auto' and 'none' need no tools."""
    assert body_of(tool_choice=choice)["tool_choice"] == choice


@pytest.mark.parametrize(
    ("tools", "choice", "param"),
    [
        pytest.param(None, "required", "tool_choice", id="required-without-tools"),
        pytest.param([], "required", "tool_choice", id="required-with-empty-tools"),
        pytest.param(
            None,
            {"type": "function", "function": {"name": "get_weather"}},
            "tool_choice",
            id="named-without-tools",
        ),
        pytest.param(
            [weather_tool()],
            {"type": "function", "function": {"name": "get_wether"}},
            "tool_choice.function.name",
            id="named-not-among-tools",
        ),
        pytest.param([weather_tool()], "any", "tool_choice", id="unknown-mode"),
        pytest.param([weather_tool()], 1, "tool_choice", id="int"),
        pytest.param(
            [weather_tool()], {"type": "tool", "name": "x"}, "tool_choice.type", id="wrong-type"
        ),
        pytest.param(
            [weather_tool()], {"type": "function"}, "tool_choice.function.name", id="no-function"
        ),
        pytest.param(
            [weather_tool()],
            {"type": "function", "function": {"name": ""}},
            "tool_choice.function.name",
            id="empty-name",
        ),
    ],
)
def test_invalid_tool_choice(tools: object, choice: object, param: str) -> None:
    """A tool_choice that is malformed, or forces a tool that was not given, raises."""
    assert error_of(tools=tools, tool_choice=choice).param == param


def test_named_tool_choice_suggests_the_tool() -> None:
    """A forced function name that is a near miss of a tool gets a 'did you mean'."""
    exc = error_of(
        tools=[weather_tool()], tool_choice={"type": "function", "function": {"name": "get_wether"}}
    )
    assert "did you mean 'get_weather'?" in str(exc)


def test_tool_choice_with_tools_in_extra_body() -> None:
    """Tools passed through extra_body satisfy tool_choice without being checked."""
    tools = [weather_tool()]
    body = body_of(tool_choice="required", extra_body={"tools": tools})
    assert body["tools"] is tools
    assert body["tool_choice"] == "required"


# --------------------------------------------------------------------------------------
# response_format, stream_options, extra_body
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    [
        pytest.param({"type": "text"}, id="text"),
        pytest.param({"type": "json_object"}, id="json-object"),
        pytest.param(
            {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}},
            },
            id="json-schema",
        ),
        pytest.param(t.ResponseFormatJSONObject(), id="struct-json-object"),
        pytest.param(
            t.ResponseFormatJSONSchema(json_schema=t.JSONSchema(name="answer")),
            id="struct-json-schema",
        ),
    ],
)
def test_response_format_accepted(fmt: object) -> None:
    """Every response_format type, as dict or struct, is sent as given."""
    assert body_of(response_format=fmt)["response_format"] is fmt


@pytest.mark.parametrize(
    ("fmt", "param"),
    [
        pytest.param("json_object", "response_format", id="string"),
        pytest.param({"type": "json"}, "response_format.type", id="unknown-type"),
        pytest.param({}, "response_format.type", id="no-type"),
        pytest.param({"type": "json_schema"}, "response_format.json_schema", id="no-schema"),
        pytest.param(
            {"type": "json_schema", "json_schema": {"schema": {}}},
            "response_format.json_schema.name",
            id="schema-no-name",
        ),
        pytest.param(
            {"type": "json_schema", "json_schema": {"name": "a", "schema": "object"}},
            "response_format.json_schema.schema",
            id="schema-not-a-dict",
        ),
        pytest.param(
            t.ResponseFormatJSONSchema(json_schema=t.JSONSchema(name="")),
            "response_format.json_schema.name",
            id="struct-empty-name",
        ),
    ],
)
def test_response_format_rejected(fmt: object, param: str) -> None:
    """A malformed response_format raises naming the path."""
    assert error_of(response_format=fmt).param == param


def test_response_format_type_suggestion() -> None:
    """A misspelt response_format type gets a 'did you mean'."""
    assert "did you mean 'json_object'?" in str(error_of(response_format={"type": "json_objet"}))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"include_usage": True}, id="dict"),
        pytest.param({"include_usage": True, "continuous_usage_stats": True}, id="vendor-key"),
        pytest.param(t.StreamOptions(include_usage=True), id="struct"),
    ],
)
def test_stream_options_with_stream(options: object) -> None:
    """stream_options is accepted with stream=True and sent as given."""
    assert body_of(stream=True, stream_options=options)["stream_options"] is options


@pytest.mark.parametrize(
    ("params", "param"),
    [
        pytest.param({"stream_options": {"include_usage": True}}, "stream_options", id="no-stream"),
        pytest.param(
            {"stream": False, "stream_options": {"include_usage": True}},
            "stream_options",
            id="stream-false",
        ),
        pytest.param(
            {"stream": True, "stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
            id="string-include-usage",
        ),
        pytest.param({"stream": True, "stream_options": True}, "stream_options", id="bool"),
    ],
)
def test_stream_options_rejected(params: dict[str, object], param: str) -> None:
    """stream_options needs stream=True and a dict."""
    assert error_of(**params).param == param


def test_extra_body_is_merged_last() -> None:
    """extra_body adds vendor parameters and overrides checked ones, None included."""
    body = body_of(
        temperature=0.5,
        extra_body={"temperature": 9, "top_k": 40, "enable_thinking": None, "model": "other"},
    )
    assert body == {
        "model": "other",
        "messages": [USER],
        "temperature": 9,
        "top_k": 40,
        "enable_thinking": None,
    }


@pytest.mark.parametrize(
    "extra",
    [pytest.param([("top_k", 40)], id="list"), pytest.param({1: "x"}, id="int-key")],
)
def test_extra_body_must_be_a_dict_of_strings(extra: object) -> None:
    """extra_body must be a mapping with string keys."""
    assert error_of(extra_body=extra).param == "extra_body"


# --------------------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_message_keys = st.sampled_from(
    ["role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal", "type"]
)
_role = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "x"])
_message = st.dictionaries(_message_keys, _json, max_size=4).flatmap(
    lambda d: _role.map(lambda role: {**d, "role": role})
)
_param_name = st.sampled_from(sorted(BODY_PARAMS - {"model", "messages"}))


@given(
    messages=st.lists(_message | _json, max_size=4),
    extra=st.dictionaries(_param_name, _json, max_size=4),
)
def test_arbitrary_input_raises_only_invalid_parameter(
    messages: list[object], extra: dict[str, object]
) -> None:
    """Whatever the values, build_body returns a body or raises InvalidParameterError."""
    try:
        body = build_body({"model": MODEL, "messages": messages, **extra})
    except InvalidParameterError as exc:
        assert exc.param
    else:
        assert body["model"] == MODEL


# --------------------------------------------------------------------------------------
# One parameter list: ChatParams is the definition, the checks are derived from it
# --------------------------------------------------------------------------------------


def test_every_field_of_chat_params_is_checked() -> None:
    """Each body field of ChatParams has a check, and nothing else is checked."""
    from kkiai_async._chat_params import BODY_FIELDS

    assert set(BODY_FIELDS) == BODY_PARAMS
    assert len(BODY_FIELDS) == len(set(BODY_FIELDS))


def test_entry_points_take_their_keywords_from_the_definition() -> None:
    """create, stream, run_tools, stream_tools and with_raw_response.create take
    **params typed by the one definition, not keyword lists of their own."""
    import inspect

    import kkiai_async as kk
    from kkiai_async._chat import AsyncCompletions, RawCompletions

    # The keywords an entry point may spell out itself: those whose type it changes.
    entry_points = {
        AsyncCompletions.create: ("ChatParams", ["stream"]),
        AsyncCompletions.stream: ("ChatParams", []),
        AsyncCompletions.run_tools: ("ToolRunParams", ["tools"]),
        AsyncCompletions.stream_tools: ("ToolRunParams", ["tools"]),
        RawCompletions.create: ("ChatParams", []),
    }
    for function, (definition, spelt_out) in entry_points.items():
        signature = inspect.signature(function)
        own = [
            p.name
            for p in signature.parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name in BODY_PARAMS
        ]
        assert own == spelt_out, function.__qualname__
        params = signature.parameters["params"]
        assert params.kind is params.VAR_KEYWORD
        assert str(params.annotation) == f"Unpack[{definition}]", function.__qualname__
    assert kk.ChatParams.__required_keys__ == frozenset({"messages", "model"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("reasoning_effort", "ultra", id="reasoning_effort-new-value"),
        pytest.param("service_tier", "scale", id="service_tier-any-string"),
        pytest.param("verbosity", "terse", id="verbosity-any-string"),
        pytest.param("store", True, id="store"),
        pytest.param("metadata", {"k": "v" * 512}, id="metadata-longest-value"),
        pytest.param("modalities", ["text", "video"], id="modalities-new-value"),
        pytest.param("audio", {"voice": "alloy", "format": "mp3"}, id="audio"),
        pytest.param("prediction", {"type": "content", "content": "x"}, id="prediction"),
        pytest.param("web_search_options", {}, id="web_search_options"),
        pytest.param("prompt_cache_key", "k", id="prompt_cache_key"),
        pytest.param("prompt_cache_retention", "24h", id="prompt_cache_retention"),
        pytest.param("prompt_cache_options", {"mode": "explicit"}, id="prompt_cache_options"),
        pytest.param("moderation", {"model": "omni-moderation-latest"}, id="moderation"),
        pytest.param("safety_identifier", "h", id="safety_identifier"),
        pytest.param("function_call", "auto", id="function_call"),
    ],
)
def test_current_parameters_are_sent_as_given(name: str, value: object) -> None:
    """Every current API parameter is accepted and sent as given; open-ended string
    fields take values the library has never heard of."""
    assert body_of(**{name: value})[name] is value


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        pytest.param({"store": "yes"}, "store", "True or False", id="store-string"),
        pytest.param({"reasoning_effort": 3}, "reasoning_effort", "string", id="effort-int"),
        pytest.param({"metadata": {"k": 1}}, "metadata['k']", "values", id="metadata-int"),
        pytest.param(
            {"metadata": {str(i): "v" for i in range(17)}}, "metadata", "16", id="metadata-17"
        ),
        pytest.param({"metadata": {"k" * 65: "v"}}, "metadata[", "keys", id="metadata-long-key"),
        pytest.param({"modalities": "text"}, "modalities", "list", id="modalities-string"),
        pytest.param({"modalities": ["text", 1]}, "modalities[1]", "string", id="modality"),
        pytest.param({"audio": "alloy"}, "audio", "dict", id="audio-string"),
        pytest.param({"functions": [{"name": "a b"}]}, "functions[0].name", "1 to 64", id="fn"),
        pytest.param({"function_call": "maybe"}, "function_call", "'none'", id="function_call"),
    ],
)
def test_current_parameters_are_checked_by_type(
    params: dict[str, object], param: str, message: str
) -> None:
    """What is certain is checked (types, documented limits), naming the parameter."""
    error = error_of(**params)
    assert error.param == param or (param.endswith("[") and error.param.startswith(param))
    assert message in str(error)


def test_unknown_keyword_is_a_type_error_naming_the_closest() -> None:
    """seen= (the API document's spelling) raises UnknownParameterError, a TypeError,
    that names seed."""
    from kkiai_async import UnknownParameterError

    with pytest.raises(TypeError) as info:
        body_of(seen=7)
    assert isinstance(info.value, UnknownParameterError)
    assert info.value.param == "seen"
    assert "did you mean 'seed'?" in str(info.value)


def test_body_keys_follow_one_order_whatever_the_keyword_order() -> None:
    """Two calls with the same parameters in another order encode to the same bytes."""
    one = build_body({"model": MODEL, "messages": [USER], "store": True, "seed": 1})
    two = build_body({"seed": 1, "store": True, "messages": [USER], "model": MODEL})
    assert msgspec.json.encode(one) == msgspec.json.encode(two)
