"""client.chat.completions: the body sent, validation before sending, whole responses."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from conftest import JSON_HEADERS, MESSAGES, Reply, Server, chunk, completion_json, sse_body

import kkiai_async as kk

OK = Reply(body=msgspec.json.encode(completion_json()), headers=JSON_HEADERS)


class WeatherArgs(msgspec.Struct):
    """Typed arguments of the weather tool below."""

    city: str


class WeatherTool:
    """A stand-in for a @kk.tool function: name, definition and arguments type."""

    name = "weather"
    arguments_type = WeatherArgs
    definition = kk.Tool(
        function=kk.FunctionDefinition(
            name="weather",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
        )
    )


async def test_every_parameter_is_sent(server: Server, client: kk.AsyncClient) -> None:
    """Every body parameter reaches the server as the API names it, exactly."""
    server.queue(Reply(body=sse_body(chunk("a", finish="stop"))))
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    stream = await client.chat.completions.create(
        model="kk-1",
        messages=[{"role": "system", "content": "Be brief."}, kk.UserMessage(content="Hi")],
        temperature=0.5,
        top_p=0.9,
        n=2,
        stream=True,
        stop=["\n"],
        max_tokens=100,
        max_completion_tokens=90,
        presence_penalty=0.1,
        frequency_penalty=-0.1,
        logit_bias={50256: -100},
        user="u-1",
        response_format={"type": "json_object"},
        seed=7,
        tools=[tool],
        tool_choice="auto",
        parallel_tool_calls=False,
        logprobs=True,
        top_logprobs=2,
        stream_options={"include_usage": True},
        extra_body={"vendor_flag": True},
    )
    await stream.final_completion()
    assert server.requests[0].json() == {
        "model": "kk-1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "n": 2,
        "stream": True,
        "stop": ["\n"],
        "max_tokens": 100,
        "max_completion_tokens": 90,
        "presence_penalty": 0.1,
        "frequency_penalty": -0.1,
        "logit_bias": {"50256": -100},
        "user": "u-1",
        "response_format": {"type": "json_object"},
        "seed": 7,
        "tools": [tool],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "logprobs": True,
        "top_logprobs": 2,
        "stream_options": {"include_usage": True},
        "vendor_flag": True,
    }


async def test_minimal_body(server: Server, client: kk.AsyncClient) -> None:
    """Parameters left out (None) are not sent, and stream is sent only when true."""
    server.queue(OK)
    await client.chat.completions.create(model="m", messages=MESSAGES, temperature=None)
    assert server.requests[0].body == b'{"messages":[{"role":"user","content":"Hi"}],"model":"m"}'


async def test_tool_objects_are_sent_as_their_definition(
    server: Server, client: kk.AsyncClient
) -> None:
    """A tool object is sent as its .definition."""
    server.queue(OK)
    await client.chat.completions.create(model="m", messages=MESSAGES, tools=[WeatherTool()])
    assert server.requests[0].json()["tools"] == [msgspec.to_builtins(WeatherTool.definition)]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"temperature": 3}, "temperature", id="temperature"),
        pytest.param({"messages": []}, "messages", id="no-messages"),
        pytest.param({"model": ""}, "model", id="empty-model"),
        pytest.param({"n": 0}, "n", id="n"),
        pytest.param({"tool_choice": "required"}, "tool_choice", id="choice-without-tools"),
        pytest.param({"stop": ["a", "b", "c", "d", "e"]}, "stop", id="five-stops"),
        pytest.param({"extra_body": {"x": object()}}, "body", id="not-json"),
    ],
)
async def test_invalid_parameters_raise_before_sending(
    server: Server, client: kk.AsyncClient, kwargs: dict[str, Any], param: str
) -> None:
    """A bad parameter raises InvalidParameterError naming it, and nothing is sent."""
    args: dict[str, Any] = {"model": "m", "messages": MESSAGES, **kwargs}
    with pytest.raises(kk.InvalidParameterError) as info:
        await client.chat.completions.create(**args)
    assert info.value.param == param
    with pytest.raises(kk.InvalidParameterError):
        client.chat.completions.stream(**args)
    assert server.requests == []


async def test_whole_completion(server: Server, client: kk.AsyncClient) -> None:
    """A non-streamed request returns the decoded ChatCompletion."""
    server.queue(OK)
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion == msgspec.convert(completion_json(), kk.ChatCompletion)


async def test_whole_completion_with_nulls(server: Server, client: kk.AsyncClient) -> None:
    """A relay's nulls where the API omits a field are tolerated."""
    body = completion_json("ok")
    body["choices"][0]["index"] = None
    body["created"] = None
    server.queue(Reply(body=msgspec.json.encode(body), headers=JSON_HEADERS))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "ok"
    assert completion.created == 0


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param(b"<html>oops</html>", "not JSON: '<html>oops</html>'", id="html"),
        pytest.param(b'{"hello": "world"}', "not a chat completion", id="other-json"),
        pytest.param(b'{"choices": 5}', "not a chat completion", id="choices-not-list"),
        pytest.param(b"[1, 2]", "not a chat completion", id="list"),
    ],
)
async def test_200_that_is_not_a_completion(
    server: Server, client: kk.AsyncClient, body: bytes, match: str
) -> None:
    """A 200 whose body is not a completion raises APIProtocolError with an excerpt."""
    server.queue(Reply(body=body, headers={**JSON_HEADERS, "x-request-id": "r9"}))
    with pytest.raises(kk.APIProtocolError, match=match) as info:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.request_id == "r9"


async def test_200_error_object(server: Server, client: kk.AsyncClient) -> None:
    """A 200 whose body is {"error": ...} raises APIStreamError with the error object."""
    error = {"message": "quota exceeded", "type": "insufficient_quota", "code": "quota"}
    server.queue(Reply(body=msgspec.json.encode({"error": error}), headers=JSON_HEADERS))
    with pytest.raises(kk.APIStreamError, match="quota exceeded") as info:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.body == error
    assert info.value.type == "insufficient_quota"


async def test_event_stream_answer_to_whole_request(server: Server, client: kk.AsyncClient) -> None:
    """A relay that streams a non-streamed request still yields the whole completion."""
    server.queue(Reply(body=sse_body(chunk("Hel", role="assistant"), chunk("lo", finish="stop"))))
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello"
    assert completion.choices[0].finish_reason == "stop"


async def test_stream_parses_json_content(server: Server, client: kk.AsyncClient) -> None:
    """stream() with a JSON response_format parses the content as it arrives."""
    body = sse_body(chunk('{"a": [1, '), chunk("2]}", finish="stop"))
    server.queue(Reply(body=body))
    async with client.chat.completions.stream(
        model="m", messages=MESSAGES, response_format={"type": "json_object"}
    ) as events:
        done = [e async for e in events if isinstance(e, kk.TextDoneEvent)]
    assert done[0].parsed == {"a": [1, 2]}


async def test_stream_decodes_typed_tool_arguments(server: Server, client: kk.AsyncClient) -> None:
    """stream() decodes a tool's arguments into the tool's arguments type."""
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": '},
    }
    body = sse_body(
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
        {
            "id": "c",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
                }
            ],
        },
        chunk(finish="tool_calls"),
    )
    server.queue(Reply(body=body))
    async with client.chat.completions.stream(
        model="m", messages=MESSAGES, tools=[WeatherTool()]
    ) as events:
        done = [e async for e in events if isinstance(e, kk.ToolCallDoneEvent)]
    assert done[0].value == WeatherArgs(city="Paris")
    assert done[0].parsed_arguments == {"city": "Paris"}


async def test_stream_context_enters_once(server: Server, client: kk.AsyncClient) -> None:
    """A stream() context manager sends one request and cannot be entered twice."""
    server.queue(Reply(body=sse_body(chunk("a", finish="stop"))))
    manager = client.chat.completions.stream(model="m", messages=MESSAGES)
    async with manager as events:
        await events.final_completion()
    with pytest.raises(RuntimeError, match="only once"):
        async with manager:
            pass
    assert len(server.requests) == 1


async def test_stream_sends_stream_true(server: Server, client: kk.AsyncClient) -> None:
    """stream() sends stream: true and accepts stream_options."""
    server.queue(Reply(body=sse_body(chunk("a", finish="stop"))))
    async with client.chat.completions.stream(
        model="m", messages=MESSAGES, stream_options={"include_usage": True}
    ) as events:
        await events.final_completion()
    sent = server.requests[0].json()
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


CURRENT: dict[str, Any] = {
    "reasoning_effort": "low",
    "verbosity": "high",
    "service_tier": "flex",
    "store": True,
    "metadata": {"team": "support"},
    "modalities": ["text"],
    "prediction": {"type": "content", "content": "draft"},
    "web_search_options": {},
    "prompt_cache_key": "conv-1",
    "prompt_cache_retention": "24h",
    "safety_identifier": "user-hash",
}


async def test_current_parameters_reach_the_server_from_every_entry_point(
    server: Server, client: kk.AsyncClient
) -> None:
    """The parameters of the current API are keywords of create(), stream(),
    with_raw_response.create() and run_tools(), and are sent as given."""
    for _ in range(4):
        server.queue(Reply(body=sse_body(chunk("a", finish="stop"))))
    completions = client.chat.completions
    stream = await completions.create(model="m", messages=MESSAGES, stream=True, **CURRENT)
    await stream.final_completion()
    async with completions.stream(model="m", messages=MESSAGES, **CURRENT) as events:
        await events.final_completion()
    await completions.with_raw_response.create(model="m", messages=MESSAGES, **CURRENT)
    await completions.run_tools(
        model="m", messages=MESSAGES, tools=[WeatherTool.definition], **CURRENT
    )
    assert len(server.requests) == 4
    for request in server.requests:
        sent = request.json()
        assert {name: sent[name] for name in CURRENT} == CURRENT


async def test_unknown_keyword_raises_type_error_before_sending(
    server: Server, client: kk.AsyncClient
) -> None:
    """seen= raises UnknownParameterError (a TypeError) naming seed, from every entry
    point, and nothing is sent."""
    args: dict[str, Any] = {"model": "m", "messages": MESSAGES, "seen": 7}
    completions = client.chat.completions
    attempts = [
        lambda: completions.create(**args),
        lambda: completions.create(stream=True, **args),
        lambda: completions.with_raw_response.create(**args),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="did you mean 'seed'"):
            await attempt()
    with pytest.raises(kk.UnknownParameterError):
        completions.stream(**args)
    assert server.requests == []
