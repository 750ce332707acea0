"""The tool loop: run_tools() and stream_tools() against the fake server.

Every run goes over a real loopback socket to :class:`kkiai_async.testing.FakeServer`,
which validates each request as the API does (a ``tool`` message must answer a
preceding assistant ``tool_calls`` entry, and every call must be answered), records
the bodies, and answers unscripted requests by calling offered tools and, after tool
messages, quoting their results.

Tests that describe the loop rather than one variant run twice, through
``run_tools()`` and through ``stream_tools()`` (the ``mode`` parameter).

Hang guards: a test whose failure would be a deadlock (two tools waiting for each
other, a consumer waiting for a tool to start) bounds the wait with ``GUARD`` seconds;
it is never reached when the behaviour holds, so it is not a timing threshold.
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import msgspec
import pytest

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Fault, Reply, ToolCall
from kkiai_async.tools import FunctionTool

MODEL = "kkiai-chat"
GUARD = 30.0

MODES = [pytest.param("run", id="run_tools"), pytest.param("stream", id="stream_tools")]

# The delivery-date conversation of the API's function-calling documentation.
SYSTEM = {
    "role": "system",
    "content": "You are a helpful customer support assistant. Use the supplied tools to assist "
    "the user.",
}
DELIVERY_CONVERSATION = [
    SYSTEM,
    {"role": "user", "content": "Hi, can you tell me the delivery date for my order?"},
    {
        "role": "assistant",
        "content": "Hi there! I can help with that. Can you please provide your order ID?",
    },
    {"role": "user", "content": "i think it is order_12345"},
]
DELIVERY_TOOL = {
    "type": "function",
    "function": {
        "name": "get_delivery_date",
        "description": "Get the delivery date for a customer's order. Call this whenever you "
        "need to know the delivery date, for example when a customer asks 'Where is my "
        "package'",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "The customer's order ID."},
            },
            "required": ["order_id"],
            "additionalProperties": False,
        },
    },
}
USER = [{"role": "user", "content": "Please look that up."}]


@kk.tool
def get_delivery_date(order_id: str) -> dict[str, str]:
    """Get the delivery date for a customer's order. Call this whenever you need to know the delivery date, for example when a customer asks 'Where is my package'

    Args:
        order_id: The customer's order ID.
    """  # noqa: E501 - the description of the API's documentation, word for word
    return {"order_id": order_id, "delivery_date": "2026-11-27"}


def wire(value: Any) -> Any:
    """``value`` as JSON builtins, as it goes over the wire."""
    return msgspec.to_builtins(value)


def bodies(server: FakeServer) -> list[dict[str, Any]]:
    """The chat request bodies the server received, in order."""
    return [r.body for r in server.requests if r.path == "/v1/chat/completions"]


async def run(
    client: kk.AsyncClient, mode: str, **params: Any
) -> tuple[kk.ChatCompletion, list[Any], list[kk.ToolRunEvent]]:
    """Run the loop through ``run_tools()`` or ``stream_tools()``: completion, messages, events."""
    params.setdefault("model", MODEL)
    if mode == "run":
        result = await client.chat.completions.run_tools(**params)
        assert result.completion is await result.final_completion()
        return result.completion, result.messages, []
    async with client.chat.completions.stream_tools(**params) as stream:
        events = [event async for event in stream]
        completion = await stream.final_completion()
    return completion, stream.messages, events


def text_of(completion: kk.ChatCompletion) -> str | None:
    return completion.choices[0].message.content


def tool_contents(messages: list[Any]) -> list[str]:
    return [m["content"] for m in wire(messages) if m["role"] == "tool"]


# --------------------------------------------------------------------------------------
# The conversation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_delivery_date_conversation_end_to_end(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """The API docs' delivery-date conversation: one tool round, then the answer quoting it."""
    kkiai_server.queue(Reply.tool_call("get_delivery_date", {"order_id": "order_12345"}))
    completion, messages, _ = await run(
        kkiai_client, mode, messages=DELIVERY_CONVERSATION, tools=[get_delivery_date]
    )
    result = '{"order_id":"order_12345","delivery_date":"2026-11-27"}'
    assert text_of(completion) == f"The get_delivery_date tool returned: {result}"
    sent = bodies(kkiai_server)
    assert [body["tools"] for body in sent] == [[DELIVERY_TOOL], [DELIVERY_TOOL]]
    assert sent[0]["messages"] == DELIVERY_CONVERSATION
    (call,) = completion_calls = sent[1]["messages"][4]["tool_calls"]
    assert sent[1]["messages"] == [
        *DELIVERY_CONVERSATION,
        {"role": "assistant", "tool_calls": completion_calls},
        {"role": "tool", "content": result, "tool_call_id": call["id"]},
    ]
    assert call["function"] == {
        "name": "get_delivery_date",
        "arguments": '{"order_id":"order_12345"}',
    }
    assert wire(messages) == [
        *sent[1]["messages"],
        {"role": "assistant", "content": text_of(completion)},
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_answer_without_tools_is_one_round(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """A model that answers in text at once ends the run after one request."""
    kkiai_server.queue(Reply.text("No tool needed."))
    given = list(USER)
    completion, messages, _ = await run(
        kkiai_client, mode, messages=given, tools=[get_delivery_date]
    )
    assert text_of(completion) == "No tool needed."
    assert wire(messages) == [*USER, {"role": "assistant", "content": "No tool needed."}]
    assert given == USER
    assert len(bodies(kkiai_server)) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_unscripted_model_calls_the_tool_and_answers(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """With nothing scripted, the fake model calls the offered tool and quotes its result."""
    completion, messages, _ = await run(
        kkiai_client,
        mode,
        messages=[{"role": "user", "content": "When will order Q-42 arrive?"}],
        tools=[get_delivery_date],
    )
    assert tool_contents(messages) == ['{"order_id":"Q-42","delivery_date":"2026-11-27"}']
    assert text_of(completion) == (
        'The get_delivery_date tool returned: {"order_id":"Q-42","delivery_date":"2026-11-27"}'
    )


async def test_given_messages_are_not_modified(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """run_tools() builds a new conversation; the caller's list stays as it was."""
    given: list[Any] = list(DELIVERY_CONVERSATION)
    result = await kkiai_client.chat.completions.run_tools(
        model=MODEL, messages=given, tools=[get_delivery_date]
    )
    assert given == DELIVERY_CONVERSATION
    assert result.messages is not given
    assert result.rounds == 2
    assert repr(result) == "<ToolRunResult rounds=2 messages=7>"


# --------------------------------------------------------------------------------------
# Parallel calls
# --------------------------------------------------------------------------------------


def waiting_pair() -> tuple[FunctionTool[..., Any], FunctionTool[..., Any]]:
    """Two tools that can only finish if they run at the same time; the second ends first."""
    first_in, second_in, second_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @kk.tool
    async def first(x: str) -> str:
        """The first tool."""
        first_in.set()
        await second_in.wait()
        await second_out.wait()
        return f"first {x}"

    @kk.tool
    async def second(x: str) -> str:
        """The second tool."""
        second_in.set()
        await first_in.wait()
        second_out.set()
        return f"second {x}"

    return first, second


PAIR = Reply.tool_calls(
    [ToolCall("first", {"x": "1"}, id="call_a"), ToolCall("second", {"x": "2"}, id="call_b")],
    chunk_size=4,
)


@pytest.mark.parametrize("mode", MODES)
async def test_parallel_calls_run_concurrently(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """Two calls of one turn run at once: each tool waits for the other to have started."""
    kkiai_server.queue(PAIR)
    _, messages, _ = await run(
        kkiai_client, mode, messages=USER, tools=list(waiting_pair()), tool_timeout=GUARD
    )
    assert tool_contents(messages) == ["first 1", "second 2"]


@pytest.mark.parametrize("mode", MODES)
async def test_request_bodies_answer_calls_in_call_order(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """The next request has the assistant turn, then one tool message per call, in call order."""
    kkiai_server.queue(PAIR, Reply.text("Both done."))
    await run(kkiai_client, mode, messages=USER, tools=list(waiting_pair()), tool_timeout=GUARD)
    first, second = bodies(kkiai_server)
    assert first["messages"] == USER
    assert second["messages"] == [
        *USER,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "first", "arguments": '{"x":"1"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "second", "arguments": '{"x":"2"}'},
                },
            ],
        },
        {"role": "tool", "content": "first 1", "tool_call_id": "call_a"},
        {"role": "tool", "content": "second 2", "tool_call_id": "call_b"},
    ]


async def test_the_official_sdk_sends_the_same_conversation(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """The run's messages, sent by the openai SDK, are accepted, and unpaired ones are not."""
    openai = pytest.importorskip("openai")
    kkiai_server.queue(PAIR, Reply.text("Both done."))
    first, second = waiting_pair()
    result = await kkiai_client.chat.completions.run_tools(
        model=MODEL, messages=USER, tools=[first, second], tool_timeout=GUARD
    )
    conversation = wire(result.messages[:-1])
    tools = [wire(first.definition), wire(second.definition)]
    sdk = openai.AsyncOpenAI(base_url=kkiai_server.base_url, api_key="x", max_retries=0)
    try:
        completion = await sdk.chat.completions.create(
            model=MODEL, messages=conversation, tools=tools
        )
        with pytest.raises(openai.BadRequestError) as unpaired:
            await sdk.chat.completions.create(model=MODEL, messages=conversation[:-1], tools=tools)
    finally:
        await sdk.close()
    ours, theirs = bodies(kkiai_server)[1], bodies(kkiai_server)[2]
    assert theirs["messages"] == ours["messages"]
    assert completion.choices[0].message.content == (
        "The first tool returned: first 1 The second tool returned: second 2"
    )
    assert "call_b" in str(unpaired.value)


@pytest.mark.parametrize("mode", MODES)
async def test_parallel_false_runs_calls_one_after_the_other(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """parallel=False runs the calls of a turn in call order, each after the previous ended."""
    log: list[str] = []

    async def step(name: str) -> str:
        log.append(f"{name} start")
        for _ in range(3):
            await asyncio.sleep(0)
        log.append(f"{name} end")
        return name

    @kk.tool
    async def first(x: str) -> str:
        """The first tool."""
        return await step("first")

    @kk.tool
    async def second(x: str) -> str:
        """The second tool."""
        return await step("second")

    kkiai_server.queue(PAIR)
    _, messages, _ = await run(
        kkiai_client, mode, messages=USER, tools=[first, second], parallel=False
    )
    assert log == ["first start", "first end", "second start", "second end"]
    assert tool_contents(messages) == ["first", "second"]


@pytest.mark.parametrize("mode", MODES)
async def test_max_concurrency_bounds_running_tools(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """With three calls and max_concurrency=2, at most two tools run at any moment."""
    running = 0
    most = 0

    @kk.tool
    async def work(x: str) -> str:
        """Some work."""
        nonlocal running, most
        running += 1
        most = max(most, running)
        for _ in range(5):
            await asyncio.sleep(0)
        running -= 1
        return x

    kkiai_server.queue(Reply.tool_calls([("work", {"x": str(i)}) for i in range(3)]))
    _, messages, _ = await run(kkiai_client, mode, messages=USER, tools=[work], max_concurrency=2)
    assert most == 2
    assert tool_contents(messages) == ["0", "1", "2"]


# --------------------------------------------------------------------------------------
# What goes wrong in a tool goes back to the model
# --------------------------------------------------------------------------------------


@kk.tool
def lookup(order_id: str) -> str:
    """Look an order up."""
    if order_id == "missing":
        raise LookupError(f"no order {order_id}")
    return f"order {order_id} found"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("name", "arguments", "content"),
    [
        pytest.param(
            "lookup",
            {"order_id": "missing"},
            "Error: tool 'lookup' failed: LookupError: no order missing",
            id="tool_raises",
        ),
        pytest.param(
            "lookup",
            {"order_id": 12345},
            "Error: tool 'lookup' was called with invalid arguments: "
            "Expected `str`, got `int` - at `$.order_id`",
            id="wrong_type",
        ),
        pytest.param(
            "lookup",
            {},
            "Error: tool 'lookup' was called with invalid arguments: "
            "Object missing required field `order_id`",
            id="missing_field",
        ),
        pytest.param(
            "lookup",
            '{"order_id": "A-1"',
            "Error: tool 'lookup' was called with arguments that are not valid JSON: "
            "Input data was truncated",
            id="invalid_json",
        ),
        pytest.param(
            "cancel_order",
            {"order_id": "A-1"},
            "Error: there is no tool named 'cancel_order'. The available tools are: 'lookup'.",
            id="unknown_tool",
        ),
    ],
)
async def test_failed_call_is_answered_with_an_error_and_the_run_goes_on(
    kkiai_server: FakeServer,
    kkiai_client: kk.AsyncClient,
    mode: str,
    name: str,
    arguments: Any,
    content: str,
) -> None:
    """A failing call becomes an "Error: ..." tool message; the model's next answer arrives."""
    kkiai_server.queue(Reply.tool_call(name, arguments))
    completion, messages, events = await run(kkiai_client, mode, messages=USER, tools=[lookup])
    assert tool_contents(messages) == [content]
    assert text_of(completion) == f"The {name} tool returned: {content}"
    assert [e.error for e in events if isinstance(e, kk.ToolResultEvent)] == (
        [True] if mode == "stream" else []
    )


@pytest.mark.parametrize("mode", MODES)
async def test_tool_timeout_is_reported_to_the_model(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """A tool still running at tool_timeout is answered with an error, and the run goes on."""

    @kk.tool
    async def hang() -> str:
        """Never finishes."""
        await asyncio.Event().wait()
        return "never"

    kkiai_server.queue(Reply.tool_call("hang"))
    completion, messages, _ = await run(
        kkiai_client, mode, messages=USER, tools=[hang], tool_timeout=0.01
    )
    assert tool_contents(messages) == ["Error: tool 'hang' did not finish within 0.01 seconds."]
    assert text_of(completion) is not None


@pytest.mark.parametrize("mode", MODES)
async def test_definition_only_tool_is_offered_but_answered_with_an_error(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """A dict tool is sent as it is; a call to it gets an error, having no function behind it."""
    kkiai_server.queue(Reply.tool_call("get_delivery_date", {"order_id": "1"}))
    _, messages, _ = await run(kkiai_client, mode, messages=USER, tools=[DELIVERY_TOOL])
    assert bodies(kkiai_server)[0]["tools"] == [DELIVERY_TOOL]
    assert tool_contents(messages) == [
        "Error: tool 'get_delivery_date' is not available to run here."
    ]


# --------------------------------------------------------------------------------------
# The bound on rounds, and tool_choice
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_max_rounds_exceeded_raises_with_the_conversation(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """A model still calling tools at max_rounds raises; the last calls are not run."""
    calls: list[str] = []

    @kk.tool
    def ping(n: int) -> str:
        """Ping."""
        calls.append(f"ping {n}")
        return "pong"

    kkiai_server.queue(*(Reply.tool_call("ping", {"n": n}, id=f"call_{n}") for n in range(3)))
    with pytest.raises(kk.MaxRoundsExceededError) as raised:
        await run(kkiai_client, mode, messages=USER, tools=[ping], max_rounds=2)
    error = raised.value
    assert isinstance(error, kk.KkiaiError)
    assert calls == ["ping 0"]
    assert error.rounds == 2
    assert wire(error.messages) == bodies(kkiai_server)[-1]["messages"]
    assert [m["role"] for m in wire(error.messages)] == ["user", "assistant", "tool"]
    assert error.completion.choices[0].message.tool_calls is not None
    assert error.completion.choices[0].message.tool_calls[0].id == "call_1"
    assert str(error) == (
        "the model was still calling tools when max_rounds=2 was reached; "
        "its last calls (ping) were not run"
    )
    assert len(bodies(kkiai_server)) == 2
    assert pickle.loads(pickle.dumps(error)).rounds == 2


async def test_max_rounds_of_one_leaves_the_given_messages(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """With max_rounds=1 a tool call raises at once, carrying the caller's messages."""
    kkiai_server.queue(Reply.tool_call("lookup", {"order_id": "A"}))
    with pytest.raises(kk.MaxRoundsExceededError) as raised:
        await kkiai_client.chat.completions.run_tools(
            model=MODEL, messages=USER, tools=[lookup], max_rounds=1
        )
    assert raised.value.messages == USER


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("given", "first", "later"),
    [
        pytest.param("required", "required", "auto", id="required"),
        pytest.param(
            kk.tools.force(lookup),
            {"type": "function", "function": {"name": "lookup"}},
            "auto",
            id="forced_struct",
        ),
        pytest.param(
            {"type": "function", "function": {"name": "lookup"}},
            {"type": "function", "function": {"name": "lookup"}},
            "auto",
            id="forced_dict",
        ),
        pytest.param("auto", "auto", "auto", id="auto"),
        pytest.param(None, None, None, id="left_out"),
    ],
)
async def test_tool_choice_forces_only_the_first_request(
    kkiai_server: FakeServer,
    kkiai_client: kk.AsyncClient,
    mode: str,
    given: Any,
    first: Any,
    later: Any,
) -> None:
    """A forcing tool_choice applies to the first request; later ones use "auto"."""
    completion, _, _ = await run(
        kkiai_client,
        mode,
        messages=[{"role": "user", "content": "Look up order Z-9"}],
        tools=[lookup],
        tool_choice=given,
    )
    sent = bodies(kkiai_server)
    assert [body.get("tool_choice") for body in sent] == [first, later]
    assert text_of(completion) == "The lookup tool returned: order Z-9 found"


# --------------------------------------------------------------------------------------
# Errors of the requests themselves, and parameters
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_api_error_in_a_later_round_ends_the_run(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient, mode: str
) -> None:
    """An error status in round two propagates as the client's typed error."""
    kkiai_server.queue(Reply.tool_call("lookup", {"order_id": "A"}), Fault.status(400))
    with pytest.raises(kk.BadRequestError):
        await run(kkiai_client, mode, messages=USER, tools=[lookup])
    assert len(bodies(kkiai_server)) == 2


@pytest.mark.parametrize("method", ["run_tools", "stream_tools"])
@pytest.mark.parametrize(
    ("options", "param"),
    [
        pytest.param({"max_rounds": 0}, "max_rounds", id="max_rounds"),
        pytest.param({"max_rounds": True}, "max_rounds", id="max_rounds_bool"),
        pytest.param({"max_concurrency": 0}, "max_concurrency", id="max_concurrency"),
        pytest.param({"tool_timeout": 0}, "tool_timeout", id="tool_timeout"),
        pytest.param({"tool_timeout": "1"}, "tool_timeout", id="tool_timeout_text"),
        pytest.param({"n": 2}, "n", id="n"),
        pytest.param({"temperature": "hot"}, "temperature", id="create_parameter"),
    ],
)
async def test_bad_parameters_raise_before_anything_is_sent(
    kkiai_server: FakeServer,
    kkiai_client: kk.AsyncClient,
    method: str,
    options: dict[str, Any],
    param: str,
) -> None:
    """A bad loop or request parameter raises InvalidParameterError at the call."""
    start = getattr(kkiai_client.chat.completions, method)
    with pytest.raises(kk.InvalidParameterError) as raised:
        outcome = start(model=MODEL, messages=USER, tools=[lookup], **options)
        if method == "run_tools":
            await outcome
    assert raised.value.param == param
    assert kkiai_server.requests == []


# --------------------------------------------------------------------------------------
# Cancellation
# --------------------------------------------------------------------------------------


class Blocker:
    """An async tool that waits until cancelled, and records that it was."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

        @kk.tool
        async def block(x: str) -> str:
            """Wait forever."""
            self.started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            return x

        self.tool = block


async def test_cancelling_run_tools_cancels_the_running_tool(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """Cancelling the task awaiting run_tools() cancels the tool and waits for it."""
    blocker = Blocker()
    kkiai_server.queue(Reply.tool_call("block", {"x": "1"}))
    task = asyncio.ensure_future(
        kkiai_client.chat.completions.run_tools(model=MODEL, messages=USER, tools=[blocker.tool])
    )
    await asyncio.wait_for(blocker.started.wait(), GUARD)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert blocker.cancelled


async def test_cancelling_the_consumer_of_stream_tools_cancels_the_running_tool(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """Cancelling the task iterating stream_tools() cancels the tool it waits for."""
    blocker = Blocker()
    kkiai_server.queue(Reply.tool_call("block", {"x": "1"}))
    seen: list[str] = []

    async def consume() -> None:
        async with kkiai_client.chat.completions.stream_tools(
            model=MODEL, messages=USER, tools=[blocker.tool]
        ) as stream:
            async for event in stream:
                seen.append(type(event).__name__)

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(blocker.started.wait(), GUARD)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert blocker.cancelled
    assert "ToolResultEvent" not in seen
    assert seen[-1] == "ChoiceFinishedEvent"


async def test_leaving_stream_tools_early_cancels_a_started_tool(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """Leaving ``async with`` once a call is done cancels its tool before the block exits."""
    blocker = Blocker()
    kkiai_server.queue(Reply.tool_call("block", {"x": "1"}))
    async with kkiai_client.chat.completions.stream_tools(
        model=MODEL, messages=USER, tools=[blocker.tool]
    ) as stream:
        async for event in stream:
            if isinstance(event, kk.ToolCallDoneEvent):
                await asyncio.wait_for(blocker.started.wait(), GUARD)
                break
    assert blocker.cancelled
    with pytest.raises(kk.ClientClosedError):
        await stream.final_completion()


# --------------------------------------------------------------------------------------
# stream_tools: events
# --------------------------------------------------------------------------------------


def summary(events: list[kk.ToolRunEvent]) -> list[tuple[Any, ...]]:
    """The events as tuples of their telling fields; a run of deltas counts once."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        match event:
            case kk.RoundStartedEvent(round=n):
                item: tuple[Any, ...] = ("round.started", n)
            case kk.ToolCallStartedEvent(index=i, id=call_id, name=name):
                item = ("tool_call.started", i, call_id, name)
            case kk.ToolCallArgumentsDeltaEvent(index=i):
                item = ("tool_call.arguments.delta", i)
            case kk.ToolCallDoneEvent(index=i, arguments=arguments):
                item = ("tool_call.done", i, arguments)
            case kk.TextDeltaEvent():
                item = ("text.delta",)
            case kk.TextDoneEvent(text=text):
                item = ("text.done", text)
            case kk.ChoiceFinishedEvent(finish_reason=reason):
                item = ("choice.finished", reason)
            case kk.ToolResultEvent():
                item = ("tool.result", event.round, event.index, event.tool_call_id, event.content)
            case _:
                item = (type(event).__name__,)
        if not (out and out[-1] == item and item[0].endswith(".delta")):
            out.append(item)
    return out


async def test_stream_tools_event_order(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """Each round: round.started, the stream's events, then tool results as tools finish."""
    released = asyncio.Event()

    @kk.tool
    async def first(x: str) -> str:
        """Finishes only once the consumer has seen the second tool's result."""
        await released.wait()
        return f"first {x}"

    @kk.tool
    def second(x: str) -> str:
        """Finishes at once."""
        return f"second {x}"

    kkiai_server.queue(PAIR, Reply.text("Both done.", chunk_size=4))
    events: list[kk.ToolRunEvent] = []
    async with kkiai_client.chat.completions.stream_tools(
        model=MODEL, messages=USER, tools=[first, second], tool_timeout=GUARD
    ) as stream:
        async for event in stream:
            events.append(event)
            if isinstance(event, kk.ToolResultEvent) and event.name == "second":
                released.set()
    assert tool_contents(stream.messages) == ["first 1", "second 2"]
    assert summary(events) == [
        ("round.started", 1),
        ("tool_call.started", 0, "call_a", "first"),
        ("tool_call.arguments.delta", 0),
        ("tool_call.done", 0, '{"x":"1"}'),
        ("tool_call.started", 1, "call_b", "second"),
        ("tool_call.arguments.delta", 1),
        ("tool_call.done", 1, '{"x":"2"}'),
        ("choice.finished", "tool_calls"),
        ("tool.result", 1, 1, "call_b", "second 2"),
        ("tool.result", 1, 0, "call_a", "first 1"),
        ("round.started", 2),
        ("text.delta",),
        ("text.done", "Both done."),
        ("choice.finished", "stop"),
    ]
    result = next(e for e in events if isinstance(e, kk.ToolResultEvent))
    assert msgspec.json.encode(result) == (
        b'{"type":"tool.result","round":1,"index":1,"tool_call_id":"call_b","name":"second",'
        b'"content":"second 2","error":false}'
    )
    assert msgspec.json.encode(events[0]) == b'{"type":"round.started","round":1}'


async def test_stream_tools_starts_a_tool_while_the_round_streams(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """A tool starts at its call's done event, before the model has finished the turn."""
    started = asyncio.Event()

    @kk.tool
    async def first(x: str) -> str:
        """The first tool."""
        started.set()
        return "first"

    @kk.tool
    def second(x: str) -> str:
        """The second tool."""
        return "second"

    kkiai_server.queue(PAIR)
    after: list[str] = []
    async with kkiai_client.chat.completions.stream_tools(
        model=MODEL, messages=USER, tools=[first, second]
    ) as stream:
        async for event in stream:
            if isinstance(event, kk.ToolCallDoneEvent) and event.index == 0:
                # Would never be set if tools waited for the end of the stream.
                await asyncio.wait_for(started.wait(), GUARD)
            elif started.is_set():
                after.append(type(event).__name__)
    assert after[:2] == ["ToolCallStartedEvent", "ToolCallArgumentsDeltaEvent"]
    assert stream.rounds == 2


async def test_stream_tools_gives_the_tool_the_decoded_value(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """A tool with a typed arguments struct gets the done event's value, decoded once."""

    class Order(msgspec.Struct):
        order_id: str

    received: list[Order] = []

    def handle(order: Order) -> str:
        received.append(order)
        return order.order_id

    track = FunctionTool.from_struct(Order, fn=handle, name="track")
    kkiai_server.queue(Reply.tool_call("track", {"order_id": "T-1"}))
    async with kkiai_client.chat.completions.stream_tools(
        model=MODEL, messages=USER, tools=[track]
    ) as stream:
        done = [e async for e in stream if isinstance(e, kk.ToolCallDoneEvent)]
    assert done[0].value == Order(order_id="T-1")
    assert received[0] is done[0].value
    assert tool_contents(stream.messages) == ["T-1"]


async def test_stream_tools_final_completion_runs_the_whole_loop(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """final_completion() without iterating runs every round and returns the last answer."""
    kkiai_server.queue(Reply.tool_call("lookup", {"order_id": "B"}), Reply.text("Found it."))
    async with kkiai_client.chat.completions.stream_tools(
        model=MODEL, messages=USER, tools=[lookup]
    ) as stream:
        before = stream.completion
        assert before is None
        assert repr(stream) == "<ToolRunStream open rounds=0>"
        completion = await stream.final_completion()
    assert text_of(completion) == "Found it."
    assert stream.completion is completion
    assert stream.rounds == 2
    assert repr(stream) == "<ToolRunStream ended rounds=2>"
    assert tool_contents(stream.messages) == ["order B found"]


async def test_stream_tools_final_completion_raises_the_run_error_again(
    kkiai_server: FakeServer, kkiai_client: kk.AsyncClient
) -> None:
    """The error that ended a streamed run is raised by iteration and by final_completion()."""
    kkiai_server.queue(Reply.tool_call("lookup", {"order_id": "A"}), Fault.status(400))
    async with kkiai_client.chat.completions.stream_tools(
        model=MODEL, messages=USER, tools=[lookup]
    ) as stream:
        with pytest.raises(kk.BadRequestError) as first:
            async for _ in stream:
                pass
        with pytest.raises(kk.BadRequestError) as again:
            await stream.final_completion()
    assert again.value is first.value
    assert repr(stream) == "<ToolRunStream failed rounds=1>"
