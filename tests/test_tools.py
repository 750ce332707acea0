"""Tools from functions, calling them from tool calls, toolboxes and tool_choice."""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
from typing import Any, Literal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kkiai_async.tools as kt
from kkiai_async._exceptions import InvalidParameterError, KkiaiError
from kkiai_async.tools import (
    AUTO,
    NONE,
    REQUIRED,
    FunctionTool,
    ToolArgumentsError,
    Toolbox,
    ToolDefinitionError,
    call_tool,
    force,
    tool,
)
from kkiai_async.types import (
    ChatCompletionMessageToolCall,
    Function,
    FunctionDefinition,
    NamedFunction,
    NamedToolChoice,
    Tool,
    ToolCallDoneEvent,
    ToolMessage,
)

# --------------------------------------------------------------------------------------
# Tools used across the tests
# --------------------------------------------------------------------------------------


@tool
async def get_weather(city: str, days: int = 1, units: Literal["c", "f"] = "c") -> dict[str, Any]:
    """Get the forecast for a city.

    Args:
        city: The city name.
        days: How many days ahead.
    """
    if city == "Atlantis":
        raise ValueError("unknown city")
    return {"city": city, "days": days, "units": units}


@tool(name="adder", description="Add two numbers.", strict=True)
def add(a: int, b: int = 2) -> int:
    return a + b


class Point(msgspec.Struct):
    """A point on the plane."""

    x: float
    y: float


def norm(point: Point) -> float:
    """Length of a vector."""
    return float((point.x**2 + point.y**2) ** 0.5)


def call(name: str, arguments: str, call_id: str = "call_1") -> ChatCompletionMessageToolCall:
    return ChatCompletionMessageToolCall(
        id=call_id, function=Function(name=name, arguments=arguments)
    )


# --------------------------------------------------------------------------------------
# The decorator and FunctionTool
# --------------------------------------------------------------------------------------


def test_bare_decorator_makes_function_tool() -> None:
    """@tool gives a FunctionTool named after the function, described by its docstring."""
    assert isinstance(get_weather, FunctionTool)
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Get the forecast for a city."
    assert get_weather.strict is False
    assert get_weather.thread is False


def test_decorator_with_options() -> None:
    """@tool(name=..., description=..., strict=True) overrides name and description."""
    assert add.name == "adder"
    assert add.description == "Add two numbers."
    assert add.strict is True


def test_definition_is_ready_to_send() -> None:
    """.definition is a kk.types.Tool whose JSON is the API's tool object."""
    assert add.definition == Tool(
        function=FunctionDefinition(
            name="adder",
            description="Add two numbers.",
            parameters={
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": ["integer", "null"]}},
                "required": ["a", "b"],
                "additionalProperties": False,
            },
            strict=True,
        )
    )
    # Non-strict tools do not send "strict" at all.
    assert msgspec.to_builtins(get_weather.definition)["function"].keys() == {
        "name",
        "description",
        "parameters",
    }


def test_direct_calls_still_work() -> None:
    """Calling the decorated object calls the original function, sync or async."""
    assert add(1, 2) == 3
    assert add(1) == 3
    assert asyncio.run(get_weather("Paris", days=2)) == {"city": "Paris", "days": 2, "units": "c"}


def test_tool_looks_like_the_function() -> None:
    """The tool keeps the function's signature, __name__, __doc__ and __wrapped__."""
    assert get_weather.__name__ == "get_weather"  # type: ignore[attr-defined]
    assert get_weather.__doc__ is not None and get_weather.__doc__.startswith("Get the forecast")
    assert str(inspect.signature(add)) == "(a: 'int', b: 'int' = 2) -> 'int'"


def test_tool_called_as_function() -> None:
    """tool(fn, name=...) works as a plain call, e.g. for bound methods."""

    class Greeter:
        def greet(self, who: str) -> str:
            """Say hello."""
            return f"hello {who}"

    t = tool(Greeter().greet, name="greet")
    assert t.parameters["properties"] == {"who": {"type": "string"}}
    assert t.description == "Say hello."
    assert asyncio.run(t.invoke('{"who": "you"}')) == "hello you"


def test_repr() -> None:
    """repr shows the tool's name and options."""
    assert repr(add) == "FunctionTool(name='adder', strict=True, thread=False)"


def test_arguments_type_decodes_typed_values() -> None:
    """arguments_type is the Struct the arguments decode into, for the accumulator."""
    value = msgspec.json.decode(b'{"city": "Oslo"}', type=get_weather.arguments_type)
    assert (value.city, value.days, value.units) == ("Oslo", 1, "c")  # type: ignore[attr-defined]
    assert repr(value) == "get_weather(city='Oslo', days=1, units='c')"


# --------------------------------------------------------------------------------------
# decode() and invoke()
# --------------------------------------------------------------------------------------


async def test_invoke_async_tool() -> None:
    """invoke() decodes the arguments, applies defaults and awaits an async tool."""
    assert await get_weather.invoke('{"city": "Paris", "units": "f"}') == {
        "city": "Paris",
        "days": 1,
        "units": "f",
    }


async def test_invoke_sync_tool_inline() -> None:
    """A sync tool runs on the event loop's thread unless thread=True."""
    seen: list[int] = []

    @tool
    def where() -> int:
        seen.append(threading.get_ident())
        return 1

    assert await where.invoke("{}") == 1
    assert seen == [threading.get_ident()]


async def test_invoke_sync_tool_in_thread() -> None:
    """A thread=True tool runs in a worker thread."""
    seen: list[int] = []

    @tool(thread=True)
    def where() -> int:
        seen.append(threading.get_ident())
        return 1

    assert await where.invoke("{}") == 1
    assert len(seen) == 1 and seen[0] != threading.get_ident()


async def test_strict_null_means_default() -> None:
    """In a strict tool, null for a defaulted non-nullable parameter gives its default."""
    assert await add.invoke('{"a": 1, "b": null}') == 3
    assert await add.invoke('{"a": 1, "b": 5}') == 6


async def test_strict_null_for_nullable_parameter_is_none() -> None:
    """In a strict tool, null for a nullable parameter is passed as None, not the default."""

    @tool(strict=True)
    def echo(x: int | None = 7) -> int | None:
        return x

    assert await echo.invoke('{"x": null}') is None
    assert await echo.invoke("{}") == 7


async def test_positional_only_parameters() -> None:
    """Positional-only parameters are passed by position."""

    @tool
    def sub(a: int, b: int, /, *, scale: int = 1) -> int:
        return (a - b) * scale

    assert await sub.invoke('{"a": 5, "b": 2, "scale": 10}') == 30


async def test_mutable_default_is_the_signatures_object() -> None:
    """A non-empty mutable default works, and is the very object of the signature."""
    default = [1, 2]

    @tool
    def first(items: list[int] = default) -> bool:
        return items is default

    assert await first.invoke("{}") is True
    assert first.parameters["properties"]["items"]["default"] == [1, 2]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param('{"city": 3}', "Expected `str`, got `int` - at `$.city`", id="wrong-type"),
        pytest.param('{"city": "P", "days": "3"}', "got `str` - at `$.days`", id="no-coercion"),
        pytest.param('{"days": 3}', "missing required field `city`", id="missing"),
        pytest.param('{"city": "P", "x": 1}', "unknown field `x`", id="extra-key"),
        pytest.param(
            '{"city": "P", "units": "k"}', "Invalid enum value 'k' - at `$.units`", id="bad-literal"
        ),
        pytest.param("[1]", "Expected `object`, got `array`", id="not-object"),
    ],
)
def test_decode_rejects_invalid_arguments(arguments: str, message: str) -> None:
    """Arguments that do not fit the parameters raise ToolArgumentsError naming the field."""
    with pytest.raises(ToolArgumentsError, match="invalid arguments") as info:
        get_weather.decode(arguments)
    assert message in str(info.value)
    assert info.value.tool == "get_weather"
    assert info.value.arguments == arguments


@pytest.mark.parametrize(
    "arguments",
    [pytest.param('{"city": ', id="truncated"), pytest.param("{'a': 1}", id="python")],
)
def test_decode_rejects_invalid_json(arguments: str) -> None:
    """Text that is not JSON raises ToolArgumentsError saying so."""
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        get_weather.decode(arguments)


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param("", id="empty"),
        pytest.param("  \n", id="blank"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param(bytearray(b" "), id="blank-bytearray"),
    ],
)
def test_empty_arguments_mean_no_arguments(arguments: str | bytes) -> None:
    """Empty or blank arguments (some models send them) decode as {}."""
    assert add.decode(b'{"a": 1}').a == 1
    with pytest.raises(ToolArgumentsError, match="missing required field `a`"):
        add.decode(arguments)

    @tool
    def ping() -> str:
        return "pong"

    assert ping.decode(arguments) == ping.arguments_type()


def test_decode_accepts_parsed_objects_and_values() -> None:
    """decode() takes a parsed JSON object (strictly) or returns an arguments value as is."""
    value = get_weather.decode({"city": "Rome"})
    assert value.city == "Rome"
    assert get_weather.decode(value) is value
    with pytest.raises(ToolArgumentsError, match=re.escape("got `str` - at `$.days`")):
        get_weather.decode({"city": "Rome", "days": "2"})
    with pytest.raises(ToolArgumentsError, match="Expected `get_weather`, got `Point`"):
        get_weather.decode(Point(1, 2))


def test_arguments_error_is_caught_as_value_error_and_kkiai_error() -> None:
    """Arguments that are not JSON are caught by ``except ValueError`` and by
    ``except kk.KkiaiError`` alike, with the tool's name and what was received."""
    for catch in (ValueError, KkiaiError):
        with pytest.raises(catch) as info:
            get_weather.decode("{not json")
        assert isinstance(info.value, ToolArgumentsError)
        assert (info.value.tool, info.value.arguments) == ("get_weather", "{not json")


async def test_invoke_does_not_call_with_invalid_arguments() -> None:
    """invoke() raises before the function runs when the arguments are invalid."""
    calls: list[int] = []

    @tool
    def count(n: int) -> int:
        calls.append(n)
        return n

    with pytest.raises(ToolArgumentsError):
        await count.invoke('{"n": 1.5}')
    assert calls == []


async def test_invoke_propagates_tool_exceptions() -> None:
    """invoke() lets the tool's own exception through unchanged."""
    with pytest.raises(ValueError, match="unknown city"):
        await get_weather.invoke('{"city": "Atlantis"}')


@given(a=st.integers(min_value=-(2**63), max_value=2**63 - 1), b=st.integers(-(2**40), 2**40))
def test_encoded_arguments_round_trip(a: int, b: int) -> None:
    """Any valid arguments, encoded as JSON, reach the function unchanged."""
    arguments = msgspec.json.encode({"a": a, "b": b})
    assert asyncio.run(add.invoke(arguments)) == a + b


# --------------------------------------------------------------------------------------
# from_struct
# --------------------------------------------------------------------------------------


async def test_from_struct_passes_the_struct() -> None:
    """A from_struct tool's function receives the decoded Struct instance."""
    t = FunctionTool.from_struct(Point, fn=norm)
    assert t.name == "norm"
    assert t.description == "Length of a vector."
    assert t.arguments_type is Point
    assert await t.invoke('{"x": 3, "y": 4}') == 5.0
    assert t(Point(6, 8)) == 10.0


def test_from_struct_description_falls_back_to_struct_docstring() -> None:
    """Without a function docstring, the struct's docstring describes the tool."""
    t = FunctionTool.from_struct(Point, fn=lambda p: p.x, name="px")
    assert t.description == "A point on the plane."


# --------------------------------------------------------------------------------------
# call_tool
# --------------------------------------------------------------------------------------


async def test_call_tool_ok() -> None:
    """A valid call gives a tool message with the JSON result and the call's id."""
    message = await call_tool([get_weather], call("get_weather", '{"city": "Paris"}', "c9"))
    assert message == ToolMessage(
        content='{"city":"Paris","days":1,"units":"c"}', tool_call_id="c9"
    )
    assert msgspec.json.decode(msgspec.json.encode(message)) == {
        "role": "tool",
        "content": '{"city":"Paris","days":1,"units":"c"}',
        "tool_call_id": "c9",
    }


@pytest.mark.parametrize(
    ("result", "content"),
    [
        pytest.param("plain text", "plain text", id="str-as-is"),
        pytest.param('{"a": 1}', '{"a": 1}', id="str-not-reencoded"),
        pytest.param(3, "3", id="int"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(None, "null", id="none"),
        pytest.param(True, "true", id="bool"),
        pytest.param([1, "a"], '[1,"a"]', id="list"),
        pytest.param({"k": [None]}, '{"k":[null]}', id="dict"),
        pytest.param(Point(1.0, 2.0), '{"x":1.0,"y":2.0}', id="struct"),
    ],
)
async def test_result_serialisation(result: object, content: str) -> None:
    """A str result is sent as is; anything else as JSON."""

    @tool
    def produce() -> object:
        return result

    assert (await call_tool([produce], call("produce", "{}"))).content == content


async def test_unencodable_result_becomes_error_message() -> None:
    """A result that has no JSON form is reported to the model, not raised."""

    @tool
    def produce() -> object:
        return object()

    message = await call_tool([produce], call("produce", "{}"))
    assert message.content == (
        "Error: tool 'produce' returned a value that cannot be sent as JSON: "
        "TypeError: Encoding objects of type object is unsupported"
    )


@pytest.mark.parametrize(
    ("tool_call", "content"),
    [
        pytest.param(
            call("get_weather", '{"city": "Atlantis"}'),
            "Error: tool 'get_weather' failed: ValueError: unknown city",
            id="tool-raises",
        ),
        pytest.param(
            call("get_weather", '{"city": 1}'),
            "Error: tool 'get_weather' was called with invalid arguments: "
            "Expected `str`, got `int` - at `$.city`",
            id="invalid-type",
        ),
        pytest.param(
            call("get_weather", "{}"),
            "Error: tool 'get_weather' was called with invalid arguments: "
            "Object missing required field `city`",
            id="missing-required",
        ),
        pytest.param(
            call("get_weather", '{"city": "P", "country": "FR"}'),
            "Error: tool 'get_weather' was called with invalid arguments: "
            "Object contains unknown field `country`",
            id="extra-key",
        ),
        pytest.param(
            call("get_weather", '{"city": "P"'),
            "Error: tool 'get_weather' was called with arguments that are not valid JSON: "
            "Input data was truncated",
            id="invalid-json",
        ),
        pytest.param(
            call("get_wether", "{}"),
            "Error: there is no tool named 'get_wether'. "
            "The available tools are: 'get_weather', 'adder', 'lookup'.",
            id="unknown-tool",
        ),
        pytest.param(
            call("lookup", "{}"),
            "Error: tool 'lookup' is not available to run here.",
            id="definition-only",
        ),
    ],
)
async def test_call_tool_errors_become_messages(
    tool_call: ChatCompletionMessageToolCall, content: str
) -> None:
    """What goes wrong in a call is told to the model in a tool message, never raised."""
    lookup = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    message = await call_tool([get_weather, add, lookup], tool_call)
    assert message == ToolMessage(content=content, tool_call_id="call_1")


async def test_exception_without_message() -> None:
    """An exception with no text is reported by its type name."""

    @tool
    def fail() -> None:
        raise KeyError

    assert (await call_tool([fail], call("fail", ""))).content == (
        "Error: tool 'fail' failed: KeyError"
    )


async def test_tool_raising_timeout_error_is_not_a_timeout() -> None:
    """A TimeoutError raised by the tool itself is reported as the tool's failure."""

    @tool
    async def slow() -> None:
        raise TimeoutError("upstream")

    message = await call_tool([slow], call("slow", "{}"), timeout=60)
    assert message.content == "Error: tool 'slow' failed: TimeoutError: upstream"


async def test_timeout_becomes_message() -> None:
    """A tool still running when the timeout expires is cancelled and reported."""
    cancelled = asyncio.Event()

    @tool
    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    message = await call_tool([hang], call("hang", "{}"), timeout=0.01)
    assert message.content == "Error: tool 'hang' did not finish within 0.01 seconds."
    assert cancelled.is_set()


async def test_cancellation_propagates() -> None:
    """Cancelling call_tool cancels the tool and raises CancelledError (not swallowed)."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @tool
    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    for timeout in (None, 60.0):
        started.clear()
        cancelled.clear()
        task = asyncio.ensure_future(call_tool([hang], call("hang", "{}"), timeout=timeout))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancelled.is_set()


async def test_call_tool_with_dict_tool_call() -> None:
    """A dict tool call works, with arguments as text or as an object."""
    as_text = {
        "id": "a",
        "type": "function",
        "function": {"name": "adder", "arguments": '{"a": 1}'},
    }
    as_object = {"id": "b", "function": {"name": "adder", "arguments": {"a": 2, "b": 2}}}
    no_arguments = {"id": "c", "function": {"name": "ping"}}

    @tool
    def ping() -> str:
        return "pong"

    box = Toolbox([add, ping])
    assert await box.call(as_text) == ToolMessage(content="3", tool_call_id="a")
    assert await box.call(as_object) == ToolMessage(content="4", tool_call_id="b")
    assert await box.call(no_arguments) == ToolMessage(content="pong", tool_call_id="c")


async def test_call_tool_with_done_event_uses_typed_value() -> None:
    """A ToolCallDoneEvent's typed value is used without decoding the text again."""
    value = add.decode('{"a": 40}')
    event = ToolCallDoneEvent(
        choice_index=0, index=0, id="e1", name="adder", arguments="not json", value=value
    )
    assert await call_tool([add], event) == ToolMessage(content="42", tool_call_id="e1")


async def test_call_tool_with_done_event_without_value() -> None:
    """A ToolCallDoneEvent without a value is decoded from its arguments text."""
    event = ToolCallDoneEvent(choice_index=0, index=0, id=None, name="adder", arguments='{"a": 1}')
    assert await call_tool([add], event) == ToolMessage(content="3", tool_call_id="")


@pytest.mark.parametrize(
    "tool_call",
    [
        pytest.param({"id": "x"}, id="no-function"),
        pytest.param({"id": 1, "function": {"name": "adder"}}, id="id-not-str"),
        pytest.param({"id": "x", "function": {"name": "adder", "arguments": 3}}, id="bad-args"),
        pytest.param("adder", id="not-a-call"),
    ],
)
async def test_malformed_tool_call_raises(tool_call: Any) -> None:
    """Something that is not a tool call is a programming error: InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="tool_call"):
        await call_tool([add], tool_call)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
async def test_bad_timeout_raises(timeout: float) -> None:
    """A timeout that is not a positive number is refused before the tool runs."""
    with pytest.raises(InvalidParameterError, match="timeout"):
        await call_tool([add], call("adder", '{"a": 1}'), timeout=timeout)


# --------------------------------------------------------------------------------------
# Toolbox
# --------------------------------------------------------------------------------------


def test_toolbox_is_a_mapping_of_tools() -> None:
    """A Toolbox maps names to tools as given, in order."""
    as_dict = {"type": "function", "function": {"name": "lookup"}}
    as_struct = Tool(function=FunctionDefinition(name="search"))
    box = Toolbox([get_weather, add, as_dict, as_struct])
    assert list(box) == ["get_weather", "adder", "lookup", "search"]
    assert len(box) == 4
    assert box["adder"] is add
    assert box["lookup"] is as_dict
    assert "search" in box and "nope" not in box
    assert box.get("nope") is None
    assert repr(box) == "Toolbox(['get_weather', 'adder', 'lookup', 'search'])"


def test_toolbox_definitions_and_argument_types() -> None:
    """definitions are ready for tools=; arguments_types cover the runnable tools."""
    as_dict = {"type": "function", "function": {"name": "lookup"}}
    box = Toolbox([add, as_dict])
    assert box.definitions == [add.definition, as_dict]
    assert box.definitions[1] is as_dict
    assert box.arguments_types == {"adder": add.arguments_type}


async def test_toolbox_wraps_plain_functions() -> None:
    """A plain function given to a Toolbox is made into a tool."""

    def double(n: int) -> int:
        return 2 * n

    box = Toolbox([double])
    assert isinstance(box["double"], FunctionTool)
    assert (await box.call(call("double", '{"n": 4}'))).content == "8"


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        pytest.param([add, add], "two tools are named 'adder'", id="duplicate"),
        pytest.param([{"type": "function"}], "has no function.name", id="dict-without-name"),
        pytest.param([{"function": {"name": ""}}], "has no function.name", id="empty-name"),
        pytest.param([42], "not a tool", id="not-a-tool"),
    ],
)
def test_toolbox_rejects_bad_tools(tools: list[Any], message: str) -> None:
    """A Toolbox refuses duplicates and things that are not tools."""
    with pytest.raises(ToolDefinitionError, match=message):
        Toolbox(tools)


async def test_call_tool_accepts_a_toolbox() -> None:
    """call_tool uses a given Toolbox as it is."""
    box = Toolbox([add])
    assert (await call_tool(box, call("adder", '{"a": 0}'))).content == "2"


# --------------------------------------------------------------------------------------
# tool_choice
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(add, id="function-tool"),
        pytest.param("adder", id="name"),
        pytest.param({"type": "function", "function": {"name": "adder"}}, id="dict"),
        pytest.param(Tool(function=FunctionDefinition(name="adder")), id="tool-struct"),
    ],
)
def test_force(target: Any) -> None:
    """force() names one tool in a NamedToolChoice."""
    choice = force(target)
    assert choice == NamedToolChoice(function=NamedFunction(name="adder"))
    assert msgspec.to_builtins(choice) == {"type": "function", "function": {"name": "adder"}}


def test_tool_choice_constants() -> None:
    """AUTO, NONE and REQUIRED are the API's tool_choice strings."""
    assert (AUTO, NONE, REQUIRED) == ("auto", "none", "required")


def test_public_names() -> None:
    """tools.__all__ lists exactly the module's public API."""
    assert sorted(kt.__all__) == [
        "AUTO",
        "FunctionTool",
        "NONE",
        "REQUIRED",
        "ToolArgumentsError",
        "ToolDefinitionError",
        "ToolLike",
        "ToolOutcome",
        "Toolbox",
        "call_tool",
        "force",
        "tool",
    ]
    for name in kt.__all__:
        assert hasattr(kt, name)


async def test_run_says_whether_the_tool_failed_without_reading_the_text() -> None:
    """Toolbox.run carries failure as a field: a tool whose answer merely starts with
    "Error: " succeeded, a tool that raised failed."""

    @tool
    async def echo(text: str) -> str:
        """Say it back."""
        return text

    @tool
    async def broken() -> str:
        """Always fails."""
        raise RuntimeError("disk full")

    box = Toolbox([echo, broken])

    def call(name: str, arguments: str) -> dict[str, Any]:
        return {"id": "c", "function": {"name": name, "arguments": arguments}}

    said = await box.run(call("echo", '{"text": "Error: none, all fine"}'))
    assert (said.message.content, said.failed) == ("Error: none, all fine", False)
    raised = await box.run(call("broken", "{}"))
    assert raised.failed is True
    assert "disk full" in str(raised.message.content)
    assert (await box.run(call("missing", "{}"))).failed is True
    assert (await box.run(call("echo", "{not json"))).failed is True
