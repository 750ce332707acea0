"""The fake server speaks the real API: wire bytes, errors, default and scripted behaviour.

It is tested with clients that share no code with the library: raw
``aiohttp.ClientSession`` requests (to see the bytes) and the official ``openai`` SDK
(to show that an independent implementation of the protocol accepts what it sends).
"""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kkiai_async
from kkiai_async.testing import (
    DEFAULT_MODEL,
    FakeServer,
    Fault,
    RecordedRequest,
    Reply,
    ToolCall,
    count_tokens,
    serve,
)
from kkiai_async.testing._limiter import format_reset
from kkiai_async.testing._schema import example_value
from kkiai_async.testing._tokens import fragments, split_tokens

MODEL = "kkiai-test"
USER = [{"role": "user", "content": "hello"}]
SSE = "text/event-stream; charset=utf-8"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a timezone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_flights",
        "description": "Find flights between two airports on a date",
        "parameters": {
            "type": "object",
            "properties": {
                "origin": {"type": "string", "minLength": 3, "maxLength": 3},
                "destination": {"type": "string", "minLength": 3, "maxLength": 3},
                "date": {"type": "string", "format": "date"},
                "passengers": {"type": "integer", "minimum": 1, "maximum": 9},
            },
            "required": ["origin", "destination", "date"],
        },
    },
}


# ------------------------------------------------------------------------------------
# helpers: a raw client, SSE splitting, a hand assembler, a tiny JSON schema validator
# ------------------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Raw:
    """A response read whole: status, headers (lower-case names), body bytes."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[bytes]:
        """The SSE events, each with its trailing blank line."""
        parts = self.body.split(b"\n\n")
        assert parts[-1] == b"", "the stream must end with a blank line"
        return [p + b"\n\n" for p in parts[:-1]]

    def chunks(self) -> list[dict[str, Any]]:
        """The decoded ``data:`` payloads, ``[DONE]`` excluded."""
        out = []
        for event in self.events():
            assert event.startswith(b"data: ")
            payload = event[len(b"data: ") : -2]
            if payload != b"[DONE]":
                out.append(json.loads(payload))
        return out


async def post(
    session: aiohttp.ClientSession,
    server: FakeServer,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
) -> Raw:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
    async with session.post(
        server.base_url + "/chat/completions", headers=headers, **kwargs
    ) as resp:
        data = await resp.read()
        return Raw(resp.status, {k.lower(): v for k, v in resp.headers.items()}, data)


def chat(**params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": USER}
    body.update(params)
    return body


def assemble(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Assemble streamed choices by hand, as any client must."""
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            state = choices.setdefault(
                choice["index"],
                {"role": None, "content": "", "refusal": "", "reasoning": "", "calls": {},
                 "finish_reason": None},
            )  # fmt: skip
            delta = choice["delta"]
            if delta.get("role"):
                state["role"] = delta["role"]
            state["content"] += delta.get("content") or ""
            state["refusal"] += delta.get("refusal") or ""
            state["reasoning"] += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or ():
                slot = state["calls"].setdefault(
                    call["index"], {"id": None, "name": "", "args": ""}
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["args"] += function.get("arguments") or ""
            if choice["finish_reason"] is not None:
                state["finish_reason"] = choice["finish_reason"]
    return choices


def schema_errors(value: Any, schema: Any, root: Any = None, where: str = "$") -> list[str]:
    """Why ``value`` does not validate against ``schema`` (empty: it validates)."""
    root = schema if root is None else root
    if schema is True or schema == {}:
        return []
    if "$ref" in schema:
        target = root
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        return schema_errors(value, target, root, where)
    if "const" in schema:
        return [] if value == schema["const"] else [f"{where}: not the const"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in enum"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            ok = [b for b in schema[key] if not schema_errors(value, b, root, where)]
            if not ok or (key == "oneOf" and len(ok) != 1):
                return [f"{where}: no {key} branch matches"]
    for sub in schema.get("allOf", ()):
        if failed := schema_errors(value, sub, root, where):
            return failed
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        checks = {
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "null": value is None,
        }
        if not any(checks[k] for k in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    errors: list[str] = []
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                errors.append(f"{where}: missing {name}")
        props = schema.get("properties", {})
        for name, item in value.items():
            if name in props:
                errors += schema_errors(item, props[name], root, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: too few items")
        if len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{where}: too many items")
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(
            value
        ):
            errors.append(f"{where}: items not unique")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            errors += schema_errors(item, sub, root, f"{where}[{i}]")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            errors.append(f"{where}: bad length")
        fmt = schema.get("format")
        if fmt == "date":
            datetime.date.fromisoformat(value)
        if fmt == "date-time":
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: not above exclusiveMinimum")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            errors.append(f"{where}: not below exclusiveMaximum")
        if "multipleOf" in schema and (value / schema["multipleOf"]) % 1:
            errors.append(f"{where}: not a multiple")
    return errors


# ------------------------------------------------------------------------------------
# wire format
# ------------------------------------------------------------------------------------


async def test_stream_bytes_are_exactly_the_apis(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """A scripted stream is byte for byte what the real API sends, usage and [DONE] included."""
    server.queue(Reply.text("Hi there", chunk_size=3))
    raw = await post(session, server, chat(stream=True, stream_options={"include_usage": True}))
    assert raw.status == 200
    assert raw.headers["content-type"] == SSE
    first = json.loads(raw.events()[0][6:])
    prefix = (
        f'data: {{"id":"{first["id"]}","object":"chat.completion.chunk",'
        f'"created":{first["created"]},"model":"{MODEL}","service_tier":"default",'
        '"system_fingerprint":"fp_kkiai0fake",'
    )
    choice = (
        '"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}],"usage":null}\n\n'
    )
    expected = (
        prefix + choice % ('{"role":"assistant","content":"","refusal":null}', "null")
        + prefix + choice % ('{"content":"Hi "}', "null")
        + prefix + choice % ('{"content":"the"}', "null")
        + prefix + choice % ('{"content":"re"}', "null")
        + prefix + choice % ("{}", '"stop"')
        + prefix + '"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,'
        '"total_tokens":9,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
        '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
        '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n'
        "data: [DONE]\n\n"
    )  # fmt: skip
    assert raw.body.decode() == expected
    assert re.fullmatch(r"chatcmpl-[0-9A-Za-z]{29}", first["id"])


async def test_stream_without_include_usage_has_no_usage_key(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Without stream_options the chunks carry no usage key and no usage chunk is sent."""
    raw = await post(session, server, chat(stream=True))
    chunks = raw.chunks()
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"] == {
        "role": "assistant", "content": "", "refusal": None
    }  # fmt: skip
    assert [c["choices"][0]["finish_reason"] for c in chunks][-2:] == [None, "stop"]
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert raw.events()[-1] == b"data: [DONE]\n\n"
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}


async def test_completion_body_has_the_apis_shape(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """A non-streamed answer is a chat.completion with the API's keys, in the API's order."""
    server.queue(Reply.text("Hi there"))
    raw = await post(session, server, chat())
    assert raw.status == 200
    assert raw.headers["content-type"] == "application/json"
    body = raw.json()
    assert list(body) == [
        "id", "object", "created", "model", "choices", "usage", "service_tier",
        "system_fingerprint",
    ]  # fmt: skip
    assert body["object"] == "chat.completion"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant", "content": "Hi there", "refusal": None, "annotations": []
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]  # fmt: skip
    assert body["usage"]["prompt_tokens"] == 7
    assert body["usage"]["completion_tokens"] == 2
    assert body["usage"]["total_tokens"] == 9


async def test_tool_call_stream_puts_the_first_call_in_the_role_chunk(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Tool-only replies start with content null and the first call's header, as OpenAI does."""
    server.queue(
        Reply.tool_calls(
            [ToolCall("get_weather", {"city": "Paris"}, id="call_1"), ("get_time", {"tz": "CET"})],
            chunk_size=5,
        )
    )
    raw = await post(session, server, chat(stream=True, tools=[WEATHER, TIME]))
    deltas = [c["choices"][0]["delta"] for c in raw.chunks()]
    assert deltas[0] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}
        ],
        "refusal": None,
    }  # fmt: skip
    assert deltas[1] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"cit'}}]}
    second = next(d for d in deltas if d.get("tool_calls", [{}])[0].get("index") == 1)
    assert second["tool_calls"][0]["function"] == {"name": "get_time", "arguments": ""}
    assert re.fullmatch(r"call_[0-9A-Za-z]{24}", second["tool_calls"][0]["id"])
    state = assemble(raw.chunks())[0]
    assert state["finish_reason"] == "tool_calls"
    assert state["calls"] == {
        0: {"id": "call_1", "name": "get_weather", "args": '{"city":"Paris"}'},
        1: {"id": second["tool_calls"][0]["id"], "name": "get_time", "args": '{"tz":"CET"}'},
    }


@pytest.mark.parametrize(
    ("reply", "first_delta", "message"),
    [
        pytest.param(
            Reply.refusal("I can't help with that."),
            {"role": "assistant", "content": None, "refusal": ""},
            {"role": "assistant", "content": None, "refusal": "I can't help with that.",
             "annotations": []},
            id="refusal",
        ),
        pytest.param(
            Reply.reasoning("Let me think.", then="42"),
            {"role": "assistant", "content": "", "refusal": None},
            {"role": "assistant", "content": "42", "reasoning_content": "Let me think.",
             "refusal": None, "annotations": []},
            id="reasoning",
        ),
        pytest.param(
            Reply.tool_calls([ToolCall("get_time", {}, id="call_9")], content="Checking."),
            {"role": "assistant", "content": "", "refusal": None},
            {"role": "assistant", "content": "Checking.",
             "tool_calls": [{"id": "call_9", "type": "function",
                             "function": {"name": "get_time", "arguments": "{}"}}],
             "refusal": None, "annotations": []},
            id="content-then-tool-call",
        ),
    ],
)  # fmt: skip
async def test_scripted_reply_kinds_stream_and_complete_consistently(
    server: FakeServer,
    session: aiohttp.ClientSession,
    reply: Reply,
    first_delta: dict[str, Any],
    message: dict[str, Any],
) -> None:
    """Refusals, reasoning and text-plus-calls stream and complete to the same message."""
    server.queue(reply, reply)
    streamed = await post(session, server, chat(stream=True, tools=[TIME]))
    completed = (await post(session, server, chat(tools=[TIME]))).json()
    assert streamed.chunks()[0]["choices"][0]["delta"] == first_delta
    assert completed["choices"][0]["message"] == message
    state = assemble(streamed.chunks())[0]
    assert state["content"] == (message["content"] or "")
    assert state["refusal"] == (message["refusal"] or "")
    assert state["reasoning"] == message.get("reasoning_content", "")
    assert state["finish_reason"] == completed["choices"][0]["finish_reason"]


async def test_reasoning_tokens_are_reported(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Reasoning text counts as completion tokens and as reasoning_tokens."""
    server.queue(Reply.reasoning("one two three", then="four"))
    usage = (await post(session, server, chat())).json()["usage"]
    assert usage["completion_tokens"] == 4
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 3


# ------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        pytest.param({"messages": USER}, 400, None, None, id="missing-model"),
        pytest.param({"model": "", "messages": USER}, 400, None, None, id="empty-model"),
        pytest.param({"model": MODEL}, 400, "messages", "missing_required_parameter",
                     id="missing-messages"),
        pytest.param(chat(messages=[]), 400, "messages", "empty_array", id="empty-messages"),
        pytest.param(chat(messages="hi"), 400, "messages", "invalid_type", id="messages-string"),
        pytest.param(chat(messages=[{"role": "robot", "content": "x"}]), 400,
                     "messages[0].role", "invalid_value", id="bad-role"),
        pytest.param(chat(messages=[{"role": "user"}]), 400, "messages[0].content",
                     "missing_required_parameter", id="missing-content"),
        pytest.param(chat(n=0), 400, "n", "integer_below_min_value", id="n-zero"),
        pytest.param(chat(n="2"), 400, "n", "invalid_type", id="n-string"),
        pytest.param(chat(temperature=2.5), 400, "temperature", "decimal_above_max_value",
                     id="temperature-high"),
        pytest.param(chat(top_p=-0.1), 400, "top_p", "decimal_below_min_value", id="top-p-low"),
        pytest.param(chat(max_tokens=0), 400, "max_tokens", "integer_below_min_value",
                     id="max-tokens-zero"),
        pytest.param(chat(logprobs=True, top_logprobs=21), 400, "top_logprobs",
                     "integer_above_max_value", id="top-logprobs-high"),
        pytest.param(chat(top_logprobs=2), 400, "logprobs", "invalid_value",
                     id="top-logprobs-without-logprobs"),
        pytest.param(chat(stop=["a", "b", "c", "d", "e"]), 400, "stop", "array_above_max_length",
                     id="five-stops"),
        pytest.param(chat(stream_options={"include_usage": True}), 400, "stream_options",
                     "invalid_value", id="stream-options-without-stream"),
        pytest.param(chat(tool_choice="auto"), 400, "tool_choice", None,
                     id="tool-choice-without-tools"),
        pytest.param(chat(tools=[WEATHER], tool_choice="sometimes"), 400, "tool_choice",
                     "invalid_value", id="tool-choice-unknown-word"),
        pytest.param(chat(tools=[WEATHER], tool_choice={"type": "function",
                                                        "function": {"name": "nope"}}),
                     400, "tool_choice", None, id="tool-choice-unknown-function"),
        pytest.param(chat(tools=[{"type": "function", "function": {"name": "a b"}}]), 400,
                     "tools[0].function.name", "invalid_value", id="bad-tool-name"),
        pytest.param(chat(tools=[{"function": {"name": "a"}}]), 400, "tools[0].type",
                     "missing_required_parameter", id="tool-without-type"),
        pytest.param(chat(messages=[*USER, {"role": "tool", "tool_call_id": "c1",
                                            "content": "x"}]),
                     400, "messages[1].role", None, id="tool-message-without-call"),
        pytest.param(chat(messages=[*USER, {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "and?"}]),
                     400, "messages[1].role", None, id="tool-call-unanswered"),
        pytest.param(chat(response_format={"type": "yaml"}), 400, "response_format.type",
                     "invalid_value", id="bad-response-format"),
        pytest.param([1, 2], 400, None, "invalid_type", id="body-not-object"),
        pytest.param(chat(messages=["hi"]), 400, "messages[0]", "invalid_type",
                     id="message-not-object"),
        pytest.param(chat(messages=[{"content": "x"}]), 400, "messages[0].role",
                     "missing_required_parameter", id="missing-role"),
        pytest.param(chat(messages=[{"role": "user", "content": 3}]), 400,
                     "messages[0].content", "invalid_type", id="content-number"),
        pytest.param(chat(messages=[*USER, {"role": "assistant"}]), 400, "messages[1].content",
                     "missing_required_parameter", id="empty-assistant"),
        pytest.param(chat(messages=[*USER, {"role": "assistant", "tool_calls": "x"}]), 400,
                     "messages[1].tool_calls", "invalid_type", id="tool-calls-not-array"),
        pytest.param(chat(messages=[*USER, {"role": "assistant", "tool_calls": [{}]}]), 400,
                     "messages[1].tool_calls[0].id", "missing_required_parameter",
                     id="tool-call-without-id"),
        pytest.param(chat(messages=[*USER, {"role": "tool", "content": "x"}]), 400,
                     "messages[1].tool_call_id", "missing_required_parameter",
                     id="tool-message-without-id"),
        pytest.param(chat(messages=[*USER, {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {
                "name": "f", "arguments": "{}", "parsed_arguments": {}}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"}]),
                     400, "messages[1].tool_calls[0].function", None,
                     id="tool-call-with-a-decoded-extra"),
        pytest.param(chat(stream="yes"), 400, "stream", "invalid_type", id="stream-string"),
        pytest.param(chat(stream=True, stream_options=[]), 400, "stream_options", "invalid_type",
                     id="stream-options-array"),
        pytest.param(chat(temperature="hot"), 400, "temperature", "invalid_type",
                     id="temperature-string"),
        pytest.param(chat(stop=[1]), 400, "stop", "invalid_type", id="stop-numbers"),
        pytest.param(chat(tools={}), 400, "tools", "invalid_type", id="tools-object"),
        pytest.param(chat(tools=["f"]), 400, "tools[0]", "invalid_type", id="tool-string"),
        pytest.param(chat(tools=[{"type": "web_search"}]), 400, "tools[0].type", "invalid_value",
                     id="tool-type-unknown"),
        pytest.param(chat(tools=[{"type": "function"}]), 400, "tools[0].function",
                     "missing_required_parameter", id="tool-without-function"),
        pytest.param(chat(tools=[{"type": "function", "function": {}}]), 400,
                     "tools[0].function.name", "missing_required_parameter",
                     id="function-without-name"),
        pytest.param(chat(tools=[{"type": "function",
                                  "function": {"name": "f", "parameters": []}}]),
                     400, "tools[0].function.parameters", "invalid_type", id="parameters-array"),
        pytest.param(chat(tools=[WEATHER], tool_choice=3), 400, "tool_choice", "invalid_type",
                     id="tool-choice-number"),
        pytest.param(chat(response_format="json"), 400, "response_format", "invalid_type",
                     id="response-format-string"),
        pytest.param(chat(response_format={"type": "json_schema", "json_schema": {}}), 400,
                     "response_format.json_schema.name", "missing_required_parameter",
                     id="json-schema-without-name"),
    ],
)  # fmt: skip
async def test_invalid_requests_get_the_apis_error(
    server: FakeServer,
    session: aiohttp.ClientSession,
    body: Any,
    status: int,
    param: str | None,
    code: str | None,
) -> None:
    """Each invalid request gets the API's status and a complete error object naming the param."""
    server.queue(Reply.text("never sent"))
    raw = await post(session, server, body)
    assert raw.status == status
    assert raw.headers["content-type"] == "application/json"
    error = raw.json()["error"]
    assert list(error) == ["message", "type", "param", "code"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)
    assert error["message"]
    assert server.pending == 1


# Every parameter of the current Chat Completions API, each with a value the API takes.
EVERY_PARAMETER: dict[str, Any] = {
    "audio": {"voice": "alloy", "format": "wav"},
    "frequency_penalty": 0.5,
    "logit_bias": {"50256": -100, "15339": 2.5},
    "logprobs": True,
    "max_completion_tokens": 64,
    "max_tokens": 64,
    "metadata": {"k" * 64: "v" * 512, **{f"key{i}": "value" for i in range(15)}},
    "modalities": ["text", "audio"],
    "moderation": {"model": "omni-moderation-latest", "policy": {"input": {"mode": "score"}}},
    "n": 2,
    "parallel_tool_calls": False,
    "prediction": {"type": "content", "content": [{"type": "text", "text": "You said"}]},
    "presence_penalty": -0.5,
    "prompt_cache_key": "tenant-42",
    "prompt_cache_options": {"mode": "implicit", "ttl": "30m"},
    "prompt_cache_retention": "24h",
    "reasoning_effort": "low",
    "response_format": {"type": "text"},
    "safety_identifier": "user-hash-1",
    "seed": 7,
    "service_tier": "flex",
    "stop": ["\n\n"],
    "store": True,
    "temperature": 0.2,
    "tool_choice": "auto",
    "tools": [WEATHER],
    "top_logprobs": 2,
    "top_p": 0.9,
    "user": "user-1",
    "verbosity": "high",
    "web_search_options": {
        "search_context_size": "low",
        "user_location": {"type": "approximate", "approximate": {"city": "Oslo"}},
    },
}


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_every_current_parameter_is_accepted(
    server: FakeServer, session: aiohttp.ClientSession, stream: bool
) -> None:
    """A request using every current parameter at once is answered, streamed or not."""
    body = chat(**EVERY_PARAMETER, stream=stream)
    if stream:
        body["stream_options"] = {"include_usage": True, "include_obfuscation": False}
    raw = await post(session, server, body)
    assert raw.status == 200, raw.body
    if stream:
        chunks = raw.chunks()
        assert {c["choices"][0]["index"] for c in chunks if c["choices"]} == {0, 1}
        assert chunks[-1]["usage"]["completion_tokens"] > 0
    else:
        assert len(raw.json()["choices"]) == 2


async def test_the_official_sdk_sends_every_keyword_it_has(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Every keyword of the official SDK's create(), given a valid value, is accepted."""
    openai = pytest.importorskip("openai")
    import inspect

    from openai.resources.chat.completions import AsyncCompletions

    keywords = set(inspect.signature(AsyncCompletions.create).parameters)
    keywords -= {"self", "model", "messages", "stream", "stream_options", "timeout"}
    keywords -= {"extra_headers", "extra_query", "extra_body"}
    # The SDK's list and ours name the same parameters: nothing new is untested here.
    assert keywords - set(EVERY_PARAMETER) <= {"function_call", "functions"}
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    try:
        completion = await client.chat.completions.create(
            model=MODEL, messages=USER, **EVERY_PARAMETER
        )
    finally:
        await client.close()
    assert len(completion.choices) == 2
    assert completion.service_tier == "flex"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        pytest.param("reasoning_effort", ["none", "minimal", "xhigh", "max", None],
                     id="reasoning_effort"),
        pytest.param("service_tier", ["auto", "default", "priority", "on_demand", None],
                     id="service_tier"),
        pytest.param("verbosity", ["low", "medium", "high", "terse", None], id="verbosity"),
        pytest.param("prompt_cache_retention", ["in_memory", "in-memory", "24h"],
                     id="prompt_cache_retention"),
        pytest.param("audio", [{"voice": {"id": "voice_1234"}, "format": "pcm16"},
                               {"voice": "new-voice", "format": "ogg"}], id="audio"),
        pytest.param("web_search_options", [{}, {"search_context_size": "max"},
                                            {"user_location": None}], id="web_search_options"),
        pytest.param("prediction", [{"type": "content", "content": "a predicted reply"}],
                     id="prediction-string"),
        pytest.param("metadata", [{}, {"a": ""}], id="metadata"),
        pytest.param("modalities", [["text"], []], id="modalities"),
        pytest.param("store", [False, None], id="store"),
    ],
)  # fmt: skip
async def test_words_vendors_extend_are_not_refused(
    server: FakeServer, session: aiohttp.ClientSession, name: str, values: list[Any]
) -> None:
    """Open vocabularies take any string (or null): a relayed vendor's own values pass."""
    for value in values:
        raw = await post(session, server, chat(**{name: value}))
        assert raw.status == 200, (value, raw.body)


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        pytest.param({"store": "yes"}, "store", "invalid_type", id="store-string"),
        pytest.param({"reasoning_effort": 1}, "reasoning_effort", "invalid_type",
                     id="reasoning-effort-number"),
        pytest.param({"service_tier": ["flex"]}, "service_tier", "invalid_type",
                     id="service-tier-array"),
        pytest.param({"verbosity": True}, "verbosity", "invalid_type", id="verbosity-bool"),
        pytest.param({"user": 1}, "user", "invalid_type", id="user-number"),
        pytest.param({"prompt_cache_key": {}}, "prompt_cache_key", "invalid_type",
                     id="prompt-cache-key-object"),
        pytest.param({"prompt_cache_retention": 24}, "prompt_cache_retention", "invalid_type",
                     id="prompt-cache-retention-number"),
        pytest.param({"safety_identifier": 5}, "safety_identifier", "invalid_type",
                     id="safety-identifier-number"),
        pytest.param({"metadata": "tag"}, "metadata", "invalid_type", id="metadata-string"),
        pytest.param({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata",
                     "object_above_max_properties", id="metadata-17-pairs"),
        pytest.param({"metadata": {"k" * 65: "v"}}, "metadata", "string_above_max_length",
                     id="metadata-key-65"),
        pytest.param({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length",
                     id="metadata-value-513"),
        pytest.param({"metadata": {"k": 1}}, "metadata.k", "invalid_type",
                     id="metadata-value-number"),
        pytest.param({"modalities": "text"}, "modalities", "invalid_type",
                     id="modalities-string"),
        pytest.param({"modalities": ["video"]}, "modalities[0]", "invalid_value",
                     id="modalities-video"),
        pytest.param({"modalities": [1]}, "modalities[0]", "invalid_type",
                     id="modalities-number"),
        pytest.param({"modalities": ["text", "audio"]}, "audio", "missing_required_parameter",
                     id="audio-output-without-audio"),
        pytest.param({"audio": "alloy"}, "audio", "invalid_type", id="audio-string"),
        pytest.param({"audio": {"format": "wav"}}, "audio.voice", "missing_required_parameter",
                     id="audio-without-voice"),
        pytest.param({"audio": {"voice": 3, "format": "wav"}}, "audio.voice", "invalid_type",
                     id="audio-voice-number"),
        pytest.param({"audio": {"voice": "alloy"}}, "audio.format",
                     "missing_required_parameter", id="audio-without-format"),
        pytest.param({"prediction": "text"}, "prediction", "invalid_type",
                     id="prediction-string"),
        pytest.param({"prediction": {"content": "x"}}, "prediction.type",
                     "missing_required_parameter", id="prediction-without-type"),
        pytest.param({"prediction": {"type": "diff", "content": "x"}}, "prediction.type",
                     "invalid_value", id="prediction-type-diff"),
        pytest.param({"prediction": {"type": "content"}}, "prediction.content",
                     "missing_required_parameter", id="prediction-without-content"),
        pytest.param({"prediction": {"type": "content", "content": 3}}, "prediction.content",
                     "invalid_type", id="prediction-content-number"),
        pytest.param({"prediction": {"type": "content", "content": [{"type": "image_url"}]}},
                     "prediction.content[0].type", "invalid_value",
                     id="prediction-image-part"),
        pytest.param({"prediction": {"type": "content", "content": [{"type": "text"}]}},
                     "prediction.content[0].text", "invalid_type",
                     id="prediction-part-without-text"),
        pytest.param({"logit_bias": [1]}, "logit_bias", "invalid_type", id="logit-bias-array"),
        pytest.param({"logit_bias": {"hello": 1}}, "logit_bias", "invalid_value",
                     id="logit-bias-word-key"),
        pytest.param({"logit_bias": {"42": 101}}, "logit_bias.42", "decimal_above_max_value",
                     id="logit-bias-101"),
        pytest.param({"logit_bias": {"42": -100.5}}, "logit_bias.42",
                     "decimal_below_min_value", id="logit-bias-below-100"),
        pytest.param({"logit_bias": {"42": "1"}}, "logit_bias.42", "invalid_type",
                     id="logit-bias-string-value"),
        pytest.param({"web_search_options": True}, "web_search_options", "invalid_type",
                     id="web-search-options-bool"),
        pytest.param({"web_search_options": {"search_context_size": 3}},
                     "web_search_options.search_context_size", "invalid_type",
                     id="web-search-context-size-number"),
        pytest.param({"web_search_options": {"user_location": "Oslo"}},
                     "web_search_options.user_location", "invalid_type",
                     id="web-search-location-string"),
        pytest.param({"stream": True, "stream_options": {"include_usage": "yes"}},
                     "stream_options.include_usage", "invalid_type",
                     id="include-usage-string"),
        pytest.param({"tools": [WEATHER] * 129}, "tools", "array_above_max_length",
                     id="129-tools"),
        pytest.param({"functions": {}}, "functions", "invalid_type", id="functions-object"),
        pytest.param({"functions": [{"name": "a b"}]}, "functions[0].name", "invalid_value",
                     id="function-bad-name"),
        pytest.param({"functions": [{"description": "x"}]}, "functions[0].name",
                     "missing_required_parameter", id="function-without-name"),
        pytest.param({"functions": [{"name": "f", "parameters": "x"}]},
                     "functions[0].parameters", "invalid_type", id="function-parameters-string"),
        pytest.param({"function_call": "auto"}, "function_call", None,
                     id="function-call-without-functions"),
        pytest.param({"functions": [WEATHER["function"]], "function_call": "required"},
                     "function_call", "invalid_value", id="function-call-required"),
        pytest.param({"functions": [WEATHER["function"]], "function_call": {"name": "nope"}},
                     "function_call", None, id="function-call-unknown-function"),
        pytest.param({"functions": [WEATHER["function"]], "function_call": 1},
                     "function_call", "invalid_type", id="function-call-number"),
        pytest.param({"moderation": {}}, "moderation.model", "missing_required_parameter",
                     id="moderation-without-model"),
        pytest.param({"moderation": "on"}, "moderation", "invalid_type",
                     id="moderation-string"),
        pytest.param({"prompt_cache_options": "30m"}, "prompt_cache_options", "invalid_type",
                     id="prompt-cache-options-string"),
    ],
)  # fmt: skip
async def test_newer_parameters_are_checked_as_the_api_does(
    server: FakeServer,
    session: aiohttp.ClientSession,
    params: dict[str, Any],
    param: str,
    code: str | None,
) -> None:
    """A wrong type, range or size in a newer parameter is a 400 naming it, as in the API."""
    raw = await post(session, server, chat(**params))
    assert raw.status == 400
    error = raw.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert error["message"]


@pytest.mark.parametrize(
    ("asked", "served"),
    [(None, "default"), ("auto", "default"), ("default", "default"), ("flex", "flex"),
     ("priority", "priority"), ("on_demand", "on_demand")],
)  # fmt: skip
async def test_service_tier_names_the_tier_that_served(
    server: FakeServer, session: aiohttp.ClientSession, asked: str | None, served: str
) -> None:
    """The response's service_tier is the one asked for by name, "default" for auto or none."""
    params = {} if asked is None else {"service_tier": asked}
    completion = (await post(session, server, chat(**params))).json()
    chunks = (await post(session, server, chat(**params, stream=True))).chunks()
    assert completion["service_tier"] == served
    assert {c["service_tier"] for c in chunks} == {served}


LEGACY_CALL = {"functions": [WEATHER["function"], TIME["function"]]}


async def test_legacy_functions_are_answered_with_a_function_call(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """The deprecated functions parameter gets message.function_call, as the API answers it."""
    messages = [{"role": "user", "content": "weather and time in Oslo"}]
    body = (await post(session, server, chat(messages=messages, **LEGACY_CALL))).json()
    (choice,) = body["choices"]
    message = choice["message"]
    assert list(message) == ["role", "content", "function_call", "refusal", "annotations"]
    assert message["content"] is None
    assert message["function_call"]["name"] == "get_weather"
    assert json.loads(message["function_call"]["arguments"]) == {
        "city": "Oslo",
        "unit": "celsius",
    }
    assert choice["finish_reason"] == "function_call"


async def test_legacy_function_call_streams_name_then_argument_fragments(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """A streamed function_call names the function first, then sends its arguments in pieces."""
    body = chat(
        messages=[{"role": "user", "content": "what time is it in Oslo"}],
        function_call={"name": "get_time"},
        stream=True,
        **LEGACY_CALL,
    )
    chunks = (await post(session, server, body)).chunks()
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "get_time", "arguments": ""},
        "refusal": None,
    }
    fragments_ = [d["function_call"]["arguments"] for d in deltas[1:-1]]
    assert len(fragments_) > 1
    assert all(list(d) == ["function_call"] for d in deltas[1:-1])
    assert json.loads("".join(fragments_)) == {"timezone": "Oslo"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


async def test_legacy_function_call_none_answers_in_text(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """function_call "none" gets a text answer, as tool_choice "none" does."""
    body = (await post(session, server, chat(function_call="none", **LEGACY_CALL))).json()
    assert body["choices"][0]["message"]["content"].startswith("You said")
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_malformed_json_is_a_400(server: FakeServer, session: aiohttp.ClientSession) -> None:
    """A body that is not JSON is a 400 invalid_request_error, like the real API's."""
    raw = await post(session, server, b'{"model": "m",')
    assert raw.status == 400
    assert raw.json()["error"]["message"].startswith(
        "We could not parse the JSON body of your request."
    )
    assert raw.body.startswith(b'{\n    "error": {\n        "message": ')


async def test_unknown_model_is_a_404_when_models_are_restricted(
    session: aiohttp.ClientSession,
) -> None:
    """With models= set, other models are 404 model_not_found; listed ones are served."""
    async with FakeServer(models=["good"]) as server:
        missing = await post(session, server, {"model": "bad", "messages": USER})
        served = await post(session, server, {"model": "good", "messages": USER})
    assert missing.status == 404
    assert missing.json()["error"] == {
        "message": "The model `bad` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    assert served.status == 200


async def test_models_can_be_listed_and_retrieved(session: aiohttp.ClientSession) -> None:
    """GET /v1/models lists the configured models; GET /v1/models/{id} 404s unknown ones."""
    async with FakeServer(models=["b", "a"]) as server:
        async with session.get(server.base_url + "/models") as resp:
            listing = await resp.json()
        async with session.get(server.base_url + "/models/a") as resp:
            one = await resp.json()
        async with session.get(server.base_url + "/models/zzz") as resp:
            missing_status = resp.status
    assert [m["id"] for m in listing["data"]] == ["a", "b"]
    assert listing["object"] == "list"
    assert one == {"id": "a", "object": "model", "created": 1_700_000_000, "owned_by": "kkiai"}
    assert missing_status == 404


async def test_default_model_listing(server: FakeServer, session: aiohttp.ClientSession) -> None:
    """Without models= the listing shows the one default model name."""
    async with session.get(server.base_url + "/models") as resp:
        listing = await resp.json()
    assert [m["id"] for m in listing["data"]] == [DEFAULT_MODEL]


async def test_unknown_route_is_an_invalid_url_404(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Any other path is a 404 whose message names the method and path."""
    async with session.post(server.base_url + "/completions", json={}) as resp:
        body = await resp.json()
    assert resp.status == 404
    assert body["error"]["message"] == "Invalid URL (POST /v1/completions)"


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        pytest.param(None, 401, None, id="missing"),
        pytest.param("Bearer sk-wrong-key-123", 401, "invalid_api_key", id="wrong"),
        pytest.param("Basic sk-right", 401, None, id="not-bearer"),
        pytest.param("Bearer sk-right-key-456", 200, None, id="right"),
    ],
)
async def test_api_key_is_enforced_when_configured(
    session: aiohttp.ClientSession, authorization: str | None, status: int, code: str | None
) -> None:
    """With api_key= set, a missing or wrong bearer key is a 401 that never echoes the key."""
    headers = {"Authorization": authorization} if authorization else {}
    async with FakeServer(api_key="sk-right-key-456") as server:
        raw = await post(session, server, chat(), headers=headers)
        async with session.get(server.base_url + "/models", headers=headers) as resp:
            models_status = resp.status
    assert (raw.status, models_status) == (status, status)
    if status == 401:
        assert raw.json()["error"]["code"] == code
        assert b"sk-wrong-key-123" not in raw.body


# ------------------------------------------------------------------------------------
# headers and rate limits
# ------------------------------------------------------------------------------------


async def test_every_response_has_a_unique_request_id(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """x-request-id is "req_" and 32 hex digits, different on every response, errors included."""
    ids = [
        (await post(session, server, chat())).headers["x-request-id"],
        (await post(session, server, chat(stream=True))).headers["x-request-id"],
        (await post(session, server, chat(n=0))).headers["x-request-id"],
    ]
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == 3


async def test_unlimited_server_reports_nominal_rate_limit_headers(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Without limits the x-ratelimit headers are still sent, with a budget that never runs down."""
    raw = await post(session, server, chat())
    assert {k: v for k, v in raw.headers.items() if k.startswith("x-ratelimit")} == {
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "10000",
        "x-ratelimit-reset-requests": "0s",
        "x-ratelimit-limit-tokens": "10000000",
        "x-ratelimit-remaining-tokens": "10000000",
        "x-ratelimit-reset-tokens": "0s",
    }


async def test_rpm_limit_answers_429_with_retry_after(session: aiohttp.ClientSession) -> None:
    """Past rpm requests a minute the server says 429 and when to retry; the bucket refills."""
    now = [100.0]
    async with FakeServer(rpm=2, clock=lambda: now[0]) as server:
        server.queue(Reply.text("one"), Reply.text("two"), Reply.text("three"))
        first = await post(session, server, chat())
        second = await post(session, server, chat())
        refused = await post(session, server, chat())
        now[0] += 30.0
        after = await post(session, server, chat())
    assert [first.status, second.status, refused.status, after.status] == [200, 200, 429, 200]
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["retry-after-ms"] == "30000"
    assert refused.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert refused.json()["error"]["type"] == "requests"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert after.json()["choices"][0]["message"]["content"] == "three"


async def test_tpm_limit_counts_prompt_and_max_tokens(session: aiohttp.ClientSession) -> None:
    """tpm refuses a request whose prompt plus max_tokens does not fit, or can never fit."""
    async with FakeServer(tpm=20, clock=lambda: 0.0) as server:
        fits = await post(session, server, chat(max_tokens=5))  # 7 + 5 = 12
        refused = await post(session, server, chat(max_tokens=5))  # 8 left
        huge = await post(session, server, chat(max_tokens=100))
    assert (fits.status, refused.status, huge.status) == (200, 429, 429)
    assert fits.headers["x-ratelimit-remaining-tokens"] == "8"
    assert refused.json()["error"]["type"] == "tokens"
    assert huge.json()["error"]["message"].startswith("Request too large for tokens per min")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0, "0s", id="zero"),
        pytest.param(0.0201, "21ms", id="ms"),
        pytest.param(1.5, "1.5s", id="seconds"),
        pytest.param(360, "6m0s", id="minutes"),
        pytest.param(90.25, "1m30.25s", id="minutes-fraction"),
    ],
)
def test_reset_durations_are_written_as_the_api_does(seconds: float, text: str) -> None:
    """x-ratelimit-reset-* durations look like the API's ("20ms", "1.5s", "6m0s")."""
    assert format_reset(seconds) == text


# ------------------------------------------------------------------------------------
# default behaviour
# ------------------------------------------------------------------------------------


async def test_default_reply_echoes_the_user(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Unscripted, the model says what the user said plus a phrase, the same every time."""
    body = chat(messages=[{"role": "user", "content": "  Tell me   a joke "}])
    first = (await post(session, server, body)).json()["choices"][0]["message"]["content"]
    again = (await post(session, server, body)).json()["choices"][0]["message"]["content"]
    assert first.startswith('You said "Tell me a joke". ')
    assert first == again


async def test_default_stream_is_split_into_word_sized_chunks(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """A default streamed reply has one content chunk per token, joining to the full reply."""
    completed = (await post(session, server, chat())).json()
    streamed = await post(session, server, chat(stream=True))
    contents = [c["choices"][0]["delta"].get("content") for c in streamed.chunks()][1:-1]
    text = completed["choices"][0]["message"]["content"]
    assert contents == split_tokens(text)
    assert contents[:3] == ["You", " said", ' "']


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param({"type": "string", "format": "date"}, "2026-11-27", id="date"),
        pytest.param({"type": "string", "enum": ["a", "fahrenheit"]}, "fahrenheit",
                     id="enum-named-in-message"),
        pytest.param({"type": "integer", "minimum": 10, "maximum": 20}, 10, id="int-bounds"),
        pytest.param({"type": "integer"}, 3, id="int"),
        pytest.param({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0.5,
                     id="open-interval"),
        pytest.param({"const": 7}, 7, id="const"),
        pytest.param({"type": ["null", "boolean"]}, True, id="type-list"),
        pytest.param({"type": "string"}, "Paris", id="capitalised-word"),
        pytest.param({"type": "string", "default": "d"}, "d", id="default"),
    ],
)  # fmt: skip
def test_example_values_follow_the_schema_and_the_message(schema: Any, expected: Any) -> None:
    """Made-up values honour formats, enums, bounds and consts, borrowing from the message."""
    value = example_value(schema, message="What's the weather in Paris in fahrenheit?")
    assert value == expected
    assert schema_errors(value, schema) == []


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(SEARCH["function"]["parameters"], id="flights"),  # type: ignore[index]
        pytest.param({
            "type": "object",
            "properties": {
                "items": {"type": "array", "minItems": 3, "uniqueItems": True,
                          "items": {"$ref": "#/$defs/item"}},
                "mode": {"anyOf": [{"type": "null"}, {"type": "string", "enum": ["x", "y"]}]},
                "meta": {"type": "object", "properties": {"when": {"type": "string",
                                                                    "format": "date-time"}},
                         "required": ["when"]},
                "ratio": {"type": "number", "minimum": 0.25, "maximum": 0.75,
                          "multipleOf": 0.25},
                "pair": {"type": "array", "prefixItems": [{"type": "integer"},
                                                          {"type": "boolean"}]},
                "kind": {"oneOf": [{"const": "fixed"}, {"type": "integer"}]},
                "merged": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}},
                                      "required": ["a"]},
                                     {"properties": {"b": {"type": "string"}},
                                      "required": ["b"]}]},
            },
            "required": ["items", "mode", "meta", "ratio", "pair", "kind", "merged"],
            "additionalProperties": False,
            "$defs": {"item": {"type": "object",
                               "properties": {"sku": {"type": "string", "maxLength": 4},
                                              "qty": {"type": "integer", "minimum": 1,
                                                      "multipleOf": 2}},
                               "required": ["sku", "qty"]}},
        }, id="nested-refs-arrays-unions"),
        pytest.param({"$ref": "#/definitions/node", "definitions": {"node": {
            "type": "object", "properties": {"name": {"type": "string"},
                                             "children": {"type": "array",
                                                          "items": {"$ref": "#/definitions/node"}}},
            "required": ["name"]}}}, id="recursive"),
    ],
)  # fmt: skip
def test_example_values_validate_against_complex_schemas(schema: Any) -> None:
    """Nested objects, $refs, arrays with minItems and unions all produce valid values."""
    value = example_value(schema, message="Fly from Paris to Rome with 2 people")
    assert schema_errors(value, schema) == []


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(True, "Paris", id="true-schema"),
        pytest.param({"$ref": "https://example.com/s.json"}, "Paris", id="remote-ref"),
        pytest.param({"$ref": "#/$defs/missing"}, "Paris", id="dangling-ref"),
        pytest.param({"allOf": [{"type": "integer"}, {"minimum": 0}]}, 3, id="allof-scalars"),
        pytest.param({"items": {"type": "boolean"}, "minItems": 2}, [True, False],
                     id="inferred-array"),
        pytest.param({"minimum": 5}, 5.0, id="inferred-number"),
        pytest.param({"required": ["a"]}, {"a": "Paris"}, id="required-without-properties"),
        pytest.param({"type": "array", "items": {"type": "integer"}, "maxItems": 0}, [],
                     id="max-items-zero"),
        pytest.param({"type": "string", "minLength": 8}, "Parisxxx", id="min-length"),
        pytest.param({"type": "null"}, None, id="null"),
        pytest.param({"anyOf": [{"type": "null"}]}, None, id="only-null-branch"),
        pytest.param({"type": "integer", "minimum": 1, "exclusiveMinimum": 1, "maximum": 2}, 2,
                     id="exclusive-wins-tie"),
    ],
)  # fmt: skip
def test_example_values_cover_schema_corners(schema: Any, expected: Any) -> None:
    """Corner cases of JSON schema still give a predictable, valid value."""
    assert example_value(schema, message="Weather in Paris") == expected


async def test_default_tool_call_arguments_validate(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Offered tools, the model calls the best-matching one with schema-valid arguments."""
    body = chat(
        messages=[{"role": "user", "content": "Find flights from Paris to Rome for 2 people"}],
        tools=[WEATHER, SEARCH, TIME],
    )
    message = (await post(session, server, body)).json()["choices"][0]["message"]
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "search_flights"
    arguments = json.loads(call["function"]["arguments"])
    assert schema_errors(arguments, SEARCH["function"]["parameters"]) == []  # type: ignore[index]
    assert arguments["passengers"] == 2
    assert message["content"] is None


@pytest.mark.parametrize(
    ("messages", "tool_choice", "called"),
    [
        pytest.param([{"role": "user", "content": "the weather?"}], None, ["get_weather"],
                     id="auto-after-user"),
        pytest.param([{"role": "user", "content": "what time is it in Tokyo"}], "auto",
                     ["get_time"], id="auto-picks-by-overlap"),
        pytest.param([{"role": "user", "content": "the weather?"}], "none", [], id="none"),
        pytest.param([{"role": "system", "content": "be brief"}], "auto", [],
                     id="auto-after-system"),
        pytest.param([{"role": "system", "content": "be brief"}], "required", ["get_weather"],
                     id="required"),
        pytest.param([{"role": "user", "content": "the weather?"}],
                     {"type": "function", "function": {"name": "get_time"}}, ["get_time"],
                     id="named"),
        pytest.param([{"role": "user", "content": "weather and time in Oslo"}], None,
                     ["get_weather", "get_time"], id="parallel"),
    ],
)  # fmt: skip
async def test_tool_choice_decides_whether_and_what_to_call(
    server: FakeServer,
    session: aiohttp.ClientSession,
    messages: list[dict[str, Any]],
    tool_choice: Any,
    called: list[str],
) -> None:
    """tool_choice and the conversation decide the calls; overlapping names give parallel calls."""
    extra = {} if tool_choice is None else {"tool_choice": tool_choice}
    body = chat(messages=messages, tools=[WEATHER, TIME], **extra)
    choice = (await post(session, server, body)).json()["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    assert [c["function"]["name"] for c in calls] == called
    assert choice["finish_reason"] == ("tool_calls" if called else "stop")
    assert len({c["id"] for c in calls}) == len(called)


async def test_parallel_tool_calls_false_makes_one_call(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """parallel_tool_calls=false limits the model to one call even when two tools match."""
    body = chat(
        messages=[{"role": "user", "content": "weather and time in Oslo"}],
        tools=[WEATHER, TIME],
        parallel_tool_calls=False,
    )
    calls = (await post(session, server, body)).json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather"]


async def test_after_tool_results_the_model_quotes_them(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """After tool messages the model answers in text that quotes each result."""
    calls = [
        {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
        {"id": "c2", "type": "function",
         "function": {"name": "get_time", "arguments": '{"timezone":"CET"}'}},
    ]  # fmt: skip
    messages = [
        {"role": "user", "content": "weather and time in Oslo"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "c2", "content": "14:05"},
    ]
    body = chat(messages=messages, tools=[WEATHER, TIME])
    choice = (await post(session, server, body)).json()["choices"][0]
    assert choice["message"]["content"] == (
        'The get_weather tool returned: {"temp": 21} The get_time tool returned: 14:05'
    )
    assert choice["finish_reason"] == "stop"


async def test_n_choices_are_interleaved_and_differ(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """n=2 streams two interleaved choices that each finish, with different texts."""
    raw = await post(session, server, chat(n=2, stream=True))
    indices = [c["choices"][0]["index"] for c in raw.chunks()]
    assert indices[:4] == [0, 1, 0, 1]
    choices = assemble(raw.chunks())
    assert set(choices) == {0, 1}
    assert choices[0]["finish_reason"] == choices[1]["finish_reason"] == "stop"
    assert choices[0]["content"] != choices[1]["content"]
    completed = (await post(session, server, chat(n=2))).json()
    assert [c["message"]["content"] for c in completed["choices"]] == [
        choices[0]["content"], choices[1]["content"]
    ]  # fmt: skip


async def test_logprobs_describe_each_token(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """logprobs=true gives one entry per content token with top_logprobs alternatives."""
    streamed = await post(session, server, chat(stream=True, logprobs=True, top_logprobs=3))
    chunks = streamed.chunks()
    assert chunks[0]["choices"][0]["logprobs"] == {"content": [], "refusal": None}
    for chunk in chunks[1:-1]:
        choice = chunk["choices"][0]
        (entry,) = choice["logprobs"]["content"]
        assert entry["token"] == choice["delta"]["content"]
        assert entry["bytes"] == list(entry["token"].encode())
        assert len(entry["top_logprobs"]) == 3
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert entry["logprob"] > entry["top_logprobs"][1]["logprob"]
    completed = (await post(session, server, chat(logprobs=True, top_logprobs=0))).json()
    choice = completed["choices"][0]
    tokens = [e["token"] for e in choice["logprobs"]["content"]]
    assert "".join(tokens) == choice["message"]["content"]
    assert all(e["top_logprobs"] == [] for e in choice["logprobs"]["content"])


async def test_seed_makes_responses_byte_identical(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """The same request with the same seed gives the same bytes, ids included."""
    body = chat(seed=42, stream=True, n=2, tools=[WEATHER], tool_choice="required")
    first = await post(session, server, body)
    second = await post(session, server, body)
    other_seed = await post(session, server, {**body, "seed": 43})
    unseeded = await post(session, server, chat())
    unseeded_again = await post(session, server, chat())
    assert first.body == second.body
    assert first.chunks()[0]["id"] != other_seed.chunks()[0]["id"]
    assert unseeded.json()["id"] != unseeded_again.json()["id"]


async def test_max_tokens_truncates_with_finish_reason_length(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """max_tokens cuts the default reply to that many tokens and says finish_reason "length"."""
    body = (await post(session, server, chat(max_completion_tokens=3))).json()
    assert body["choices"][0]["message"]["content"] == 'You said "'
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


async def test_stop_sequences_cut_the_reply(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """The reply ends before the first stop sequence."""
    body = (await post(session, server, chat(stop=["hello", "said"]))).json()
    assert body["choices"][0]["message"]["content"] == "You "
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_json_response_formats_give_json_content(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """json_object gives {"reply": ...}; json_schema gives a value valid for the schema."""
    schema = {"type": "object", "properties": {"answer": {"type": "integer"},
                                               "tags": {"type": "array", "minItems": 2,
                                                        "items": {"type": "string"}}},
              "required": ["answer", "tags"]}  # fmt: skip
    as_object = await post(session, server, chat(response_format={"type": "json_object"}))
    as_schema = await post(
        session,
        server,
        chat(response_format={"type": "json_schema",
                              "json_schema": {"name": "out", "schema": schema}}),
    )  # fmt: skip
    reply = json.loads(as_object.json()["choices"][0]["message"]["content"])
    assert reply["reply"].startswith("You said")
    value = json.loads(as_schema.json()["choices"][0]["message"]["content"])
    assert schema_errors(value, schema) == []


async def test_prompt_tokens_follow_the_documented_rule(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """prompt_tokens is 3 + per message (3 + tokens of its text)."""
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi, you!"}]}]  # fmt: skip
    usage = (await post(session, server, chat(messages=messages))).json()["usage"]
    assert usage["prompt_tokens"] == 3 + (3 + count_tokens("Be brief.")) + (
        3 + count_tokens("Hi, you!")
    )
    assert usage["prompt_tokens"] == 3 + 6 + 7


@given(st.text(), st.one_of(st.none(), st.integers(min_value=1, max_value=7)))
def test_fragments_join_back_to_the_text(text: str, chunk_size: int | None) -> None:
    """Streamed fragments of any text, of any size, concatenate to the text exactly."""
    pieces = fragments(text, chunk_size)
    assert "".join(pieces) == text
    assert all(pieces)
    if chunk_size is None:
        assert len(pieces) == count_tokens(text)
    else:
        assert all(len(p) <= chunk_size for p in pieces)


# ------------------------------------------------------------------------------------
# scripting and faults
# ------------------------------------------------------------------------------------


async def test_queued_items_answer_requests_in_order(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Queued replies answer the next requests in order; then the default behaviour resumes."""
    server.queue(Reply.text("one"), Reply.text("two", finish_reason="length"))
    bodies = [(await post(session, server, chat())).json() for _ in range(3)]
    assert [b["choices"][0]["message"]["content"] for b in bodies[:2]] == ["one", "two"]
    assert bodies[1]["choices"][0]["finish_reason"] == "length"
    assert bodies[2]["choices"][0]["message"]["content"].startswith("You said")
    assert server.pending == 0


async def test_status_fault_sends_status_retry_after_and_error_body(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Fault.status answers with the status, Retry-After and the API's error body for it."""
    server.queue(
        Fault.status(429, retry_after=1),
        Fault.status(503, headers={"x-should-retry": "false"}),
        Fault.status(500, body="upstream exploded"),
    )
    limited = await post(session, server, chat())
    unavailable = await post(session, server, chat())
    custom = await post(session, server, chat())
    assert limited.status == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert unavailable.status == 503
    assert unavailable.headers["x-should-retry"] == "false"
    assert unavailable.json()["error"]["type"] == "server_error"
    assert (custom.status, custom.body) == (500, b"upstream exploded")
    assert re.fullmatch(r"req_[0-9a-f]{32}", custom.headers["x-request-id"])


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        pytest.param(Fault.stall(seconds=0.001, reply=Reply.text("late")), 200, None, id="stall"),
        pytest.param(Fault.garbage(data=b"<oops"), 200, b"<oops", id="garbage"),
        pytest.param(Fault.error_event(message="gone", code="c"), 200,
                     b'{\n    "error": {\n        "message": "gone",\n        "type": '
                     b'"server_error",\n        "param": null,\n        "code": "c"\n    }\n}\n',
                     id="error-object"),
        pytest.param(Fault.status(418), 418, None, id="unlisted-status"),
        pytest.param(Fault.status(400, body={"error": "plain"}, retry_after=2.0), 400,
                     b'{"error":"plain"}', id="mapping-body"),
    ],
)  # fmt: skip
async def test_faults_on_non_streamed_requests(
    server: FakeServer,
    session: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    body: bytes | None,
) -> None:
    """Faults meant for streams have a non-streamed form; status faults default their body."""
    server.queue(fault)
    raw = await post(session, server, chat())
    assert raw.status == status
    if body is not None:
        assert raw.body == body
    elif status == 200:
        assert raw.json()["choices"][0]["message"]["content"] == "late"
    else:
        assert raw.json()["error"] == {
            "message": "HTTP 418", "type": "invalid_request_error", "param": None, "code": None
        }  # fmt: skip
    if fault.retry_after is not None:
        assert raw.headers["retry-after"] == "2"


@pytest.mark.parametrize(
    ("fault", "title"),
    [
        pytest.param(Fault.html(599), b"<title>599 Error</title>", id="unknown-status"),
        pytest.param(Fault.html(503, body="<p>down</p>"), b"<p>down</p>", id="custom-page"),
    ],
)
async def test_html_fault_pages(
    server: FakeServer, session: aiohttp.ClientSession, fault: Fault, title: bytes
) -> None:
    """An HTML fault without a known phrase says "Error"; a given page is sent as is."""
    server.queue(fault)
    raw = await post(session, server, chat())
    assert raw.status == fault.status_code
    assert title in raw.body


async def test_start_and_close_are_idempotent_and_a_busy_port_fails() -> None:
    """start() and close() may be repeated; a port in use raises and leaves nothing open."""
    async with FakeServer() as first:
        await first.start()
        busy = FakeServer(port=first.port)
        with pytest.raises(OSError):
            await busy.start()
        with pytest.raises(RuntimeError):
            _ = busy.base_url
    await first.close()
    assert first.open_connections == 0
    assert "not started" in repr(busy)


async def test_model_retrieval_needs_the_key(session: aiohttp.ClientSession) -> None:
    """GET /v1/models/{id} is behind the API key like every route of the API."""
    async with FakeServer(api_key="k") as server, session.get(server.base_url + "/models/m") as r:
        status = r.status
    assert status == 401


async def test_images_count_as_a_placeholder_in_the_prompt(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Content parts other than text count as one placeholder word each."""
    parts = [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
        "not a part",
    ]
    body = await post(session, server, chat(messages=[{"role": "user", "content": parts}]))
    assert body.json()["usage"]["prompt_tokens"] == 3 + 3 + count_tokens("Look [image] [audio]")
    assert body.json()["choices"][0]["message"]["content"].startswith(
        'You said "Look [image] [audio]".'
    )


def test_testing_package_lists_only_real_names() -> None:
    """Every name in kkiai_async.testing.__all__ resolves; others raise AttributeError."""
    import kkiai_async.testing as testing

    assert all(getattr(testing, name) is not None for name in testing.__all__)
    assert dir(testing) == sorted(testing.__all__)
    with pytest.raises(AttributeError):
        _ = testing.Nope


def test_limiter_refuses_non_positive_limits() -> None:
    """rpm and tpm must be positive when given."""
    with pytest.raises(ValueError):
        FakeServer(rpm=0)


async def test_html_fault_is_a_proxy_error_page(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Fault.html answers with an HTML page and no API headers, as a proxy would."""
    server.queue(Fault.html(502))
    raw = await post(session, server, chat(stream=True))
    assert raw.status == 502
    assert raw.headers["content-type"].startswith("text/html")
    assert b"<title>502 Bad Gateway</title>" in raw.body
    assert "x-request-id" not in raw.headers


async def test_reset_fault_disconnects_before_any_response(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Fault.reset closes the connection so the client sees a server disconnect."""
    server.queue(Fault.reset())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, server, chat())


async def test_drop_after_cuts_the_stream_after_exactly_n_chunks(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Fault.drop_after delivers N chunks, then the connection breaks mid-body."""
    server.queue(Fault.drop_after(chunks=3, reply=Reply.text("abcdef", chunk_size=1)))
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with session.post(server.base_url + "/chat/completions", json=chat(stream=True)) as r:
            assert r.status == 200
            async for data in r.content.iter_any():
                received += data
    *events, rest = bytes(received).split(b"\n\n")
    assert rest == b""
    deltas = [json.loads(e[len(b"data: ") :])["choices"][0]["delta"] for e in events]
    assert deltas == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "a"},
        {"content": "b"},
    ]


async def test_drop_after_breaks_a_completion_body(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """A non-streamed request under Fault.drop_after gets half its body and a broken connection."""
    server.queue(Fault.drop_after(reply=Reply.text("x" * 100)))
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(session, server, chat())


async def test_stall_holds_the_stream_then_continues(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Fault.stall sends N chunks, waits, then sends the rest of a complete stream."""
    server.queue(Fault.stall(after_chunks=2, seconds=0.01, reply=Reply.text("abc", chunk_size=1)))
    raw = await post(session, server, chat(stream=True))
    assert assemble(raw.chunks())[0]["content"] == "abc"
    assert raw.events()[-1] == b"data: [DONE]\n\n"


async def test_stall_holds_back_the_rest_until_the_server_closes(
    session: aiohttp.ClientSession,
) -> None:
    """A stalled stream gives the first chunks only; closing the server ends it at once."""
    server = FakeServer()
    await server.start()
    server.queue(Fault.stall(after_chunks=1, seconds=3600))
    async with session.post(server.base_url + "/chat/completions", json=chat(stream=True)) as r:
        first = await r.content.readuntil(b"\n\n")
        await server.close()
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    assert json.loads(first[len(b"data: ") :])["choices"][0]["delta"]["role"] == "assistant"
    assert server.active_requests == 0


async def test_garbage_inserts_one_invalid_data_line(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Fault.garbage puts an invalid JSON data line after N chunks; the stream goes on."""
    server.queue(Fault.garbage(after_chunks=1, data="{not json", reply=Reply.text("ok")))
    raw = await post(session, server, chat(stream=True))
    events = raw.events()
    assert events[1] == b"data: {not json\n\n"
    assert events[-1] == b"data: [DONE]\n\n"
    assert len(events) == 5


@pytest.mark.parametrize(
    ("event", "prefix"),
    [pytest.param(None, b"data: ", id="data-only"),
     pytest.param("error", b"event: error\ndata: ", id="event-error")],
)  # fmt: skip
async def test_error_event_ends_the_stream_with_an_error_object(
    server: FakeServer, session: aiohttp.ClientSession, event: str | None, prefix: bytes
) -> None:
    """Fault.error_event sends {"error": {...}} after N chunks and no [DONE]."""
    server.queue(Fault.error_event(after_chunks=2, code="overloaded", event=event))
    raw = await post(session, server, chat(stream=True))
    events = raw.events()
    assert len(events) == 3
    assert events[2] == prefix + (
        b'{"error":{"message":"The server had an error while processing your request. Sorry '
        b'about that!","type":"server_error","param":null,"code":"overloaded"}}\n\n'
    )


async def test_raw_chunks_reply_sends_exact_payloads(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Reply.chunks streams the given payloads verbatim, with or without [DONE]."""
    server.queue(
        Reply.chunks([{"choices": [{"delta": {"content": "no index"}}]}, "[1,"]),
        Reply.chunks([b"{}"], done=False),
        Reply.chunks([b"{}"]),
    )
    first = await post(session, server, chat(stream=True))
    second = await post(session, server, chat(stream=True))
    third = await post(session, server, chat())
    assert first.body == (
        b'data: {"choices":[{"delta":{"content":"no index"}}]}\n\ndata: [1,\n\ndata: [DONE]\n\n'
    )
    assert second.body == b"data: {}\n\n"
    assert third.status == 500


async def test_delayed_chunks_arrive_whole(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """With a per-chunk delay every chunk is written separately and the stream is complete."""
    server.queue(Reply.text("slow", chunk_size=1, delay=0.001))
    raw = await post(session, server, chat(stream=True))
    assert [c["choices"][0]["delta"].get("content") for c in raw.chunks()][1:-1] == list("slow")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Reply.text("x", chunk_size=0), id="chunk-size-zero"),
        pytest.param(lambda: Reply.text("x", delay=-1), id="negative-delay"),
        pytest.param(lambda: Reply.tool_calls([]), id="no-calls"),
        pytest.param(lambda: Fault.drop_after(-1), id="negative-chunks"),
        pytest.param(lambda: Fault.stall(seconds=-1), id="negative-stall"),
    ],
)
def test_bad_script_items_are_refused_at_once(make: Any) -> None:
    """Impossible replies and faults raise ValueError when built, not when served."""
    with pytest.raises(ValueError):
        make()


async def test_queue_refuses_non_items(server: FakeServer) -> None:
    """queue() only takes Reply and Fault objects."""
    with pytest.raises(TypeError):
        server.queue("hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ToolCall.coerce(["f", {}])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------
# observation
# ------------------------------------------------------------------------------------


async def test_requests_are_recorded_as_received(
    server: FakeServer, session: aiohttp.ClientSession
) -> None:
    """Every request is recorded: method, path, lower-cased headers, parsed or raw body."""
    await post(session, server, chat(), headers={"Authorization": "Bearer k", "X-Trace": "1"})
    await post(session, server, b"not json")
    async with session.get(server.base_url + "/models"):
        pass
    first, second, third = server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.body) == ("POST", "/v1/chat/completions", chat())
    assert first.headers["authorization"] == "Bearer k"
    assert first.headers["x-trace"] == "1"
    assert second.body == b"not json"
    assert (third.method, third.path, third.body) == ("GET", "/v1/models", None)
    assert first.time <= second.time <= third.time
    server.clear()
    assert server.requests == []


async def test_open_connections_counts_live_tcp_connections(server: FakeServer) -> None:
    """open_connections counts kept-alive connections and drops to 0 when clients close."""
    assert server.open_connections == 0
    async with aiohttp.ClientSession() as client:
        await asyncio.gather(*(post(client, server, chat(stream=True)) for _ in range(3)))
        assert server.open_connections == 3
    await server.wait_for_connections(0)
    assert server.open_connections == 0


async def test_wait_for_connections_times_out(server: FakeServer) -> None:
    """wait_for_connections raises TimeoutError when the count is not reached."""
    with pytest.raises(TimeoutError):
        await server.wait_for_connections(1, timeout=0.01)


async def test_port_and_urls(server: FakeServer) -> None:
    """base_url is http://127.0.0.1:PORT/v1; an unstarted server has no port."""
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.port > 0
    with pytest.raises(RuntimeError):
        _ = FakeServer().port


async def test_serve_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    """serve() runs a server reachable once on_ready fires, and stops when cancelled."""
    ready: asyncio.Queue[FakeServer] = asyncio.Queue()
    task = asyncio.create_task(serve(port=0, api_key="k", on_ready=ready.put_nowait))
    running = await ready.get()
    raw = await post(session, running, chat(), headers={"Authorization": "Bearer k"})
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert raw.status == 200
    assert running.open_connections == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_forever_serves_until_a_signal(sig: signal.Signals) -> None:
    """run_forever() announces its URL, serves, and exits cleanly on Ctrl-C or SIGTERM."""
    root = str(Path(kkiai_async.__file__).resolve().parent.parent)
    # A child started from a non-interactive shell may inherit an ignored SIGINT, which
    # Python then leaves ignored: restore Python's own handler first.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from kkiai_async.testing import run_forever; run_forever(port=0)"
    )
    with subprocess.Popen(
        [sys.executable, "-W", "error", "-c", code],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": root},
    ) as child:
        assert child.stderr is not None
        line = child.stderr.readline()
        url = line.split()[-1]
        request = urllib.request.Request(
            url + "/chat/completions", data=json.dumps(chat()).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        child.send_signal(sig)
        returncode = child.wait(timeout=30)
        rest = child.stderr.read()
    assert re.fullmatch(r"kkiai fake server listening on http://127\.0\.0\.1:\d+/v1\n", line)
    assert body["choices"][0]["message"]["content"].startswith('You said "hello". ')
    assert (returncode, rest) == (0, "")


@pytest.mark.slow
async def test_a_thousand_concurrent_streams(server: FakeServer) -> None:
    """1,000 concurrent streams all complete with [DONE]."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as client:
        results = await asyncio.gather(
            *(post(client, server, chat(stream=True, seed=i)) for i in range(1000))
        )
    assert all(r.events()[-1] == b"data: [DONE]\n\n" for r in results)
    assert len(server.requests) == 1000


# ------------------------------------------------------------------------------------
# the official openai SDK as an independent client
# ------------------------------------------------------------------------------------

openai = pytest.importorskip("openai")


@pytest.fixture
async def sdk(server: FakeServer) -> AsyncIterator[Any]:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    try:
        yield client
    finally:
        await client.close()


async def test_openai_sdk_stream_helper_assembles_a_tool_call(sdk: Any) -> None:
    """The SDK's stream helper assembles our streamed tool call and its JSON arguments."""
    async with sdk.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Find flights from Paris to Rome"}],
        tools=[WEATHER, SEARCH],
    ) as stream:
        done = [e async for e in stream if e.type == "tool_calls.function.arguments.done"]
        completion = await stream.get_final_completion()
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "search_flights"
    assert done[0].arguments == call.function.arguments
    arguments = json.loads(call.function.arguments)
    assert schema_errors(arguments, SEARCH["function"]["parameters"]) == []  # type: ignore[index]
    assert completion.choices[0].finish_reason == "tool_calls"


async def test_openai_sdk_streams_parallel_tool_calls(sdk: Any) -> None:
    """The SDK assembles two parallel tool calls from one streamed choice."""
    async with sdk.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "weather and time in Oslo"}],
        tools=[WEATHER, TIME],
    ) as stream:
        completion = await stream.get_final_completion()
    calls = completion.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo", "unit": "celsius"}


async def test_openai_sdk_reads_n_choices_and_usage(sdk: Any, server: FakeServer) -> None:
    """create(stream=True, n=2, include_usage) yields both choices and a final usage chunk."""
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=USER, n=2, stream=True, stream_options={"include_usage": True}
    )
    texts = {0: "", 1: ""}
    finish = {}
    usage = None
    async for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finish[choice.index] = choice.finish_reason
        if chunk.usage is not None:
            usage = chunk.usage
    assert finish == {0: "stop", 1: "stop"}
    assert texts[0].startswith('You said "hello".')
    assert texts[0] != texts[1]
    assert usage is not None
    assert usage.completion_tokens == count_tokens(texts[0]) + count_tokens(texts[1])


async def test_openai_sdk_reads_a_completion_with_logprobs(sdk: Any) -> None:
    """A non-streamed completion with logprobs parses into the SDK's types."""
    completion = await sdk.chat.completions.create(
        model=MODEL, messages=USER, logprobs=True, top_logprobs=2
    )
    choice = completion.choices[0]
    assert "".join(t.token for t in choice.logprobs.content) == choice.message.content
    assert completion.system_fingerprint == "fp_kkiai0fake"


async def test_openai_sdk_raises_its_own_errors(sdk: Any, server: FakeServer) -> None:
    """Our error bodies become the SDK's typed errors with param, code and request id."""
    with pytest.raises(openai.BadRequestError) as bad:
        await sdk.chat.completions.create(model=MODEL, messages=USER, n=0)
    server.queue(Fault.status(429, retry_after=1))
    with pytest.raises(openai.RateLimitError) as limited:
        await sdk.chat.completions.create(model=MODEL, messages=USER)
    assert bad.value.param == "n"
    assert bad.value.code == "integer_below_min_value"
    assert bad.value.request_id.startswith("req_")
    assert limited.value.status_code == 429


async def test_openai_sdk_sees_a_stream_error_event(sdk: Any, server: FakeServer) -> None:
    """The SDK raises on our in-stream error object, as it does against the real API."""
    server.queue(Fault.error_event(after_chunks=1, message="boom"))
    stream = await sdk.chat.completions.create(model=MODEL, messages=USER, stream=True)
    with pytest.raises(openai.APIError, match="boom"):
        async for _ in stream:
            pass


# ------------------------------------------------------------------------------------
# the pytest plugin, run in a child pytest in both pytest-asyncio modes
# ------------------------------------------------------------------------------------

_PLUGIN_TESTS = """
import aiohttp
import pytest


@pytest.mark.asyncio
async def test_server(kkiai_server):
    async with aiohttp.ClientSession() as session:
        async with session.post(
            kkiai_server.base_url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        ) as resp:
            assert resp.status == 200
    assert len(kkiai_server.requests) == 1


@pytest.mark.asyncio
@pytest.mark.kkiai_server(api_key="sk-marker", models=["m"])
async def test_marker_options(kkiai_server):
    assert kkiai_server.api_key == "sk-marker"
"""

_CLIENT_TEST = """

@pytest.mark.asyncio
async def test_client(kkiai_client, kkiai_server):
    completion = await kkiai_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content.startswith('You said "hi".')
    assert kkiai_server.requests[0].headers["authorization"] == "Bearer test-key"
"""


def _run_child_pytest(tmp_path: Path, source: str, mode: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_child.py").write_text(textwrap.dedent(source))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    root = str(Path(kkiai_async.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider",
            "-p", "no:kkiai", "-p", "kkiai_async.testing._plugin",
            "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
            "-o", f"asyncio_mode={mode}", "-o", "asyncio_default_fixture_loop_scope=function",
            str(tmp_path / "test_child.py"),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_plugin_fixtures_work_in_both_asyncio_modes(tmp_path: Path, mode: str) -> None:
    """The kkiai_server fixture and its marker work under pytest-asyncio auto and strict mode."""
    result = _run_child_pytest(tmp_path, _PLUGIN_TESTS, mode)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("kkiai_async._client") is None, reason="the client is not written yet"
)
def test_plugin_client_fixture_talks_to_the_server(tmp_path: Path) -> None:
    """The kkiai_client fixture is an AsyncClient bound to kkiai_server with the test key."""
    result = _run_child_pytest(tmp_path, _PLUGIN_TESTS + _CLIENT_TEST, "strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
