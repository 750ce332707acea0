"""Structured outputs: a type as ``response_format``, sent as a strict JSON schema and the
answer decoded into it (``parse()``), against the fake server on loopback."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import enum
import ipaddress
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any, Generic, Literal, TypeVar

import msgspec
import pydantic
import pytest
from typing_extensions import TypedDict

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Reply

MODEL = "kkiai-chat"
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
_V = TypeVar("_V")


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeServer) -> AsyncIterator[kk.AsyncClient]:
    async with kk.AsyncClient(api_key="k", base_url=server.base_url, max_retries=0) as c:
        yield c


# ------------------------------------------------------------------------------------
# the types
# ------------------------------------------------------------------------------------


class Unit(str, enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(msgspec.Struct):
    """Where the reading was taken."""

    city: str
    zip: int | None = None


class Weather(msgspec.Struct):
    """The weather in a city.

    Attributes:
        city: The city's name.
    """

    city: str
    unit: Unit
    sky: Literal["sunny", "rainy"]
    temps: list[float]
    address: Address
    note: str | None = None


@dataclasses.dataclass
class WeatherDC:
    city: str
    temps: list[float]
    note: str | None = None


class WeatherTD(TypedDict):
    """The weather, as a dict."""

    city: str
    temps: list[float]


class WeatherPD(pydantic.BaseModel):
    """The weather in a city."""

    city: str
    unit: Unit
    temps: list[float]
    note: str | None = None


class Loose(msgspec.Struct):
    city: str
    extra: dict[str, int]


class Defaulted(msgspec.Struct):
    city: str
    units: str = "metric"


class Outer(msgspec.Struct):
    inner: Defaulted


class Node(msgspec.Struct):
    name: str
    children: list[Node]


class Chain(msgspec.Struct):
    value: int
    next: Chain | None = None


class PNode(pydantic.BaseModel):
    name: str
    children: list[PNode]


class PDefaulted(pydantic.BaseModel):
    city: str
    units: str = "metric"


def _format_sent(server: FakeServer, i: int = -1) -> Any:
    return server.requests[i].body["response_format"]


# ------------------------------------------------------------------------------------
# what is sent
# ------------------------------------------------------------------------------------


async def test_a_struct_is_sent_as_a_strict_json_schema(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """A Struct becomes a strict json_schema named after the class, its docstring the
    description, every property required, optional ones nullable, enums and literals
    typed, nested types in $defs."""
    await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=Weather)
    fmt = _format_sent(server)
    assert fmt["type"] == "json_schema"
    spec = fmt["json_schema"]
    assert (spec["name"], spec["description"], spec["strict"]) == (
        "Weather",
        "The weather in a city.",
        True,
    )
    schema = spec["schema"]
    assert schema["required"] == ["city", "unit", "sky", "temps", "address", "note"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["city"] == {"description": "The city's name.", "type": "string"}
    assert props["note"] == {"type": ["string", "null"]}
    assert props["sky"] == {"enum": ["rainy", "sunny"], "type": "string"}
    assert props["temps"] == {"type": "array", "items": {"type": "number"}}
    assert schema["$defs"]["Unit"] == {"enum": ["celsius", "fahrenheit"], "type": "string"}
    assert schema["$defs"]["Address"] == {
        "description": "Where the reading was taken.",
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": ["integer", "null"]}},
        "required": ["city", "zip"],
        "additionalProperties": False,
    }


async def test_create_and_stream_send_a_type_as_parse_does(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """create() and stream() take a type too and send the same response_format."""
    await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=Weather)
    await client.chat.completions.create(model=MODEL, messages=ASK, response_format=Weather)
    async with client.chat.completions.stream(
        model=MODEL, messages=ASK, response_format=Weather
    ) as events:
        await events.final_completion()
    assert _format_sent(server, 0) == _format_sent(server, 1) == _format_sent(server, 2)


async def test_a_dict_format_is_sent_as_given(client: kk.AsyncClient, server: FakeServer) -> None:
    """A dict response_format is still sent unchanged."""
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    await client.chat.completions.create(model=MODEL, messages=ASK, response_format=fmt)
    assert _format_sent(server) == fmt


async def test_strict_false_is_asked_with_typed_response_format(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """TypedResponseFormat(T, strict=False) sends a non-strict schema, and the name and
    description given."""
    fmt = kk.TypedResponseFormat(Loose, strict=False, name="loose", description="Anything.")
    completion = await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=fmt)
    assert isinstance(completion.choices[0].message.parsed, Loose)
    spec = _format_sent(server)["json_schema"]
    assert (spec["name"], spec["description"], spec["strict"]) == ("loose", "Anything.", False)
    assert spec["schema"]["properties"]["extra"]["type"] == "object"


@pytest.mark.parametrize(
    ("tp", "where"),
    [
        pytest.param(Loose, "#/properties/extra", id="free-form-dict"),
        pytest.param(Defaulted, "#/properties/units", id="non-null-default"),
        pytest.param(Outer, "#/$defs/Defaulted/properties/units", id="nested-default"),
        pytest.param(PDefaulted, "#/properties/units", id="pydantic-default"),
    ],
)
async def test_a_type_that_cannot_be_strict_is_refused_before_sending(
    client: kk.AsyncClient, server: FakeServer, tp: type, where: str
) -> None:
    """A type strict mode cannot take raises InvalidParameterError naming the field and
    strict=False; nothing is sent."""
    with pytest.raises(kk.InvalidParameterError, match="cannot be strict") as info:
        await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=tp)
    assert info.value.param == "response_format"
    assert where in str(info.value) and "strict=False" in str(info.value)
    with pytest.raises(kk.InvalidParameterError):
        await client.chat.completions.create(model=MODEL, messages=ASK, response_format=tp)
    assert server.requests == []


@pytest.mark.parametrize("name", ["", "a b", "x" * 65])
async def test_a_bad_schema_name_is_refused(
    client: kk.AsyncClient, server: FakeServer, name: str
) -> None:
    """A name the API would refuse is refused before sending."""
    fmt = kk.TypedResponseFormat(Weather, name=name)
    with pytest.raises(kk.InvalidParameterError, match="is not valid"):
        await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=fmt)
    assert server.requests == []


async def test_a_generic_class_name_is_made_valid(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """A class name the API would refuse (a parametrised pydantic generic) is sent with
    its invalid characters replaced."""

    class Box(pydantic.BaseModel, Generic[_V]):
        value: _V

    await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=Box[int])
    assert _format_sent(server)["json_schema"]["name"] == "Box_int_"


@pytest.mark.parametrize("tp", [int, list, dict, object])
async def test_a_type_that_is_not_a_record_is_refused(
    client: kk.AsyncClient, server: FakeServer, tp: type
) -> None:
    """A type other than a Struct, dataclass, TypedDict or pydantic model is refused
    before sending, saying which kinds are accepted."""
    with pytest.raises(kk.InvalidParameterError, match=r"msgspec\.Struct, a dataclass"):
        await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=tp)
    assert server.requests == []


# ------------------------------------------------------------------------------------
# what is parsed
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tp",
    [
        pytest.param(Weather, id="struct"),
        pytest.param(WeatherDC, id="dataclass"),
        pytest.param(WeatherPD, id="pydantic"),
    ],
)
async def test_each_accepted_type_is_parsed_from_the_servers_answer(
    client: kk.AsyncClient, tp: type
) -> None:
    """The fake server answers a json_schema request with content valid against it, and
    parse() decodes it into the type."""
    completion: kk.ParsedChatCompletion[Any] = await client.chat.completions.parse(
        model=MODEL, messages=ASK, response_format=tp
    )
    assert isinstance(completion, kk.ParsedChatCompletion)
    message = completion.choices[0].message
    assert isinstance(message.parsed, tp)
    assert message.parsed.city == "Paris"  # type: ignore[attr-defined]
    assert message.content is not None and json.loads(message.content)["city"] == "Paris"


async def test_a_typeddict_is_parsed_into_a_dict(client: kk.AsyncClient) -> None:
    """A TypedDict answer is a dict with the declared keys."""
    completion = await client.chat.completions.parse(
        model=MODEL, messages=ASK, response_format=WeatherTD
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, dict) and set(parsed) == {"city", "temps"}


async def test_a_scripted_answer_is_decoded_exactly(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """Nested types, enums, literals, lists and a null optional field decode to the
    values sent."""
    answer = {
        "city": "Oslo",
        "unit": "fahrenheit",
        "sky": "rainy",
        "temps": [1.5, -2.0],
        "address": {"city": "Oslo", "zip": None},
        "note": None,
    }
    server.queue(Reply.text(json.dumps(answer)))
    completion = await client.chat.completions.parse(
        model=MODEL, messages=ASK, response_format=Weather
    )
    assert completion.choices[0].message.parsed == Weather(
        city="Oslo",
        unit=Unit.FAHRENHEIT,
        sky="rainy",
        temps=[1.5, -2.0],
        address=Address(city="Oslo"),
    )
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("tp", [Node, Chain, PNode])
async def test_recursive_types_are_answered_and_parsed(client: kk.AsyncClient, tp: type) -> None:
    """The fake server ends a recursive strict schema (an empty list, a null) so that
    parse() works out of the box for trees and chains."""
    completion: kk.ParsedChatCompletion[Any] = await client.chat.completions.parse(
        model=MODEL, messages=ASK, response_format=tp
    )
    assert isinstance(completion.choices[0].message.parsed, tp)


class Times(msgspec.Struct):
    when: datetime.datetime
    at: datetime.time | None
    day: datetime.date
    span: datetime.timedelta
    id: uuid.UUID
    log: list[datetime.datetime]


@dataclasses.dataclass
class Visit:
    times: Times
    seen: datetime.datetime | None


class TimesPD(pydantic.BaseModel):
    when: datetime.datetime
    at: datetime.time | None
    day: datetime.date
    span: datetime.timedelta
    id: uuid.UUID
    v4: ipaddress.IPv4Address
    v6: ipaddress.IPv6Address


@pytest.mark.parametrize("tp", [Times, Visit, TimesPD])
async def test_dates_times_and_ids_are_answered_in_their_format(
    client: kk.AsyncClient, server: FakeServer, tp: type
) -> None:
    """Every string format strict mode knows is sent (a msgspec datetime or time that may
    have an offset as RFC 3339's), and the fake server's answer decodes into the type."""
    completion = await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=tp)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, tp)
    times = parsed.times if isinstance(parsed, Visit) else parsed
    assert isinstance(times.when, datetime.datetime) and times.when.tzinfo is not None
    if isinstance(parsed, Visit):
        defs = _format_sent(server)["json_schema"]["schema"]["$defs"]
        assert defs["Times"]["properties"]["log"]["items"] == {
            "type": "string",
            "format": "date-time",
        }


async def test_every_choice_is_parsed(client: kk.AsyncClient) -> None:
    """With n > 1 each choice carries its own parsed value."""
    completion = await client.chat.completions.parse(
        model=MODEL, messages=ASK, response_format=Weather, n=2
    )
    assert [type(c.message.parsed) for c in completion.choices] == [Weather, Weather]


async def test_a_refusal_is_parsed_as_none(client: kk.AsyncClient, server: FakeServer) -> None:
    """When the model refuses, parsed is None and refusal says why."""
    server.queue(Reply.refusal("I can't help with that."))
    completion = await client.chat.completions.parse(
        model=MODEL, messages=ASK, response_format=Weather
    )
    message = completion.choices[0].message
    assert message.parsed is None
    assert message.refusal == "I can't help with that."


@pytest.mark.parametrize(
    ("finish", "error"),
    [
        pytest.param("length", kk.LengthFinishReasonError, id="length"),
        pytest.param("content_filter", kk.ContentFilterFinishReasonError, id="content-filter"),
    ],
)
async def test_an_unfinished_answer_raises_a_typed_error_with_the_completion(
    client: kk.AsyncClient, server: FakeServer, finish: str, error: type[kk.StructuredOutputError]
) -> None:
    """finish_reason "length" and "content_filter" raise their error, carrying the
    completion as it arrived."""
    server.queue(Reply.text('{"city": "Pa', finish_reason=finish))
    with pytest.raises(error) as info:
        await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=Weather)
    assert isinstance(info.value, kk.StructuredOutputError)
    assert info.value.choice_index == 0
    assert info.value.completion is not None
    assert info.value.completion.choices[0].message.content == '{"city": "Pa'


@pytest.mark.parametrize(
    ("content", "path", "problem"),
    [
        pytest.param('{"city": "Oslo", ', None, "truncated", id="not-json"),
        pytest.param('{"city": 3, "temps": []}', "$.city", "Expected `str`", id="wrong-type"),
        pytest.param('{"city": "Oslo"}', "$", "missing required field `temps`", id="missing"),
        pytest.param('{"city": "x", "temps": ["hot"]}', "$.temps[0]", "", id="in-a-list"),
    ],
)
async def test_content_that_does_not_fit_raises_with_the_raw_content_and_where(
    client: kk.AsyncClient, server: FakeServer, content: str, path: str | None, problem: str
) -> None:
    """Invalid JSON or a failed validation raises OutputValidationError with the raw
    content and the path where it failed (None for invalid JSON)."""
    server.queue(Reply.text(content))
    with pytest.raises(kk.OutputValidationError) as info:
        await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=WeatherDC)
    assert info.value.content == content
    assert info.value.path == path
    assert problem in info.value.problem
    assert info.value.completion is not None


@pytest.mark.parametrize(
    ("content", "path"),
    [
        pytest.param('{"city": "Oslo"', None, id="not-json"),
        pytest.param(
            '{"city": "Oslo", "unit": "kelvin", "temps": [], "note": null}', "$.unit", id="enum"
        ),
        pytest.param(
            '{"city": "x", "unit": "celsius", "temps": [1, "a"]}', "$.temps[1]", id="list"
        ),
    ],
)
async def test_pydantic_validation_errors_say_where(
    client: kk.AsyncClient, server: FakeServer, content: str, path: str | None
) -> None:
    """A pydantic model is validated by pydantic; its errors carry the same path form."""
    server.queue(Reply.text(content))
    with pytest.raises(kk.OutputValidationError) as info:
        await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=WeatherPD)
    assert info.value.path == path
    assert info.value.content == content


async def test_parse_refuses_stream(client: kk.AsyncClient) -> None:
    """parse() returns a whole completion: stream=True is refused, pointing to stream()."""
    with pytest.raises(kk.InvalidParameterError, match="stream"):
        await client.chat.completions.parse(
            model=MODEL,
            messages=ASK,
            response_format=Weather,
            stream=True,  # type: ignore[call-arg]
        )


async def test_parse_refuses_a_dict_format(client: kk.AsyncClient, server: FakeServer) -> None:
    """parse() decodes into a type: a dict format is refused before sending, pointing
    to create()."""
    with pytest.raises(kk.InvalidParameterError, match="create") as info:
        await client.chat.completions.parse(
            model=MODEL,
            messages=ASK,
            response_format={"type": "json_object"},  # type: ignore[arg-type]
        )
    assert info.value.param == "response_format"
    assert server.requests == []


# ------------------------------------------------------------------------------------
# create() with a type: the same typed results as parse() and stream()
# ------------------------------------------------------------------------------------

OSLO = '{"city": "Oslo", "temps": [1.5, -2.0], "note": null}'


async def test_create_with_a_type_returns_the_parsed_completion(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """create(response_format=T) decodes the answer as parse() does (the SDK's create()
    refuses a type)."""
    server.queue(Reply.text(OSLO))
    completion = await client.chat.completions.create(
        model=MODEL, messages=ASK, response_format=WeatherDC
    )
    assert isinstance(completion, kk.ParsedChatCompletion)
    assert completion.choices[0].message.parsed == WeatherDC(city="Oslo", temps=[1.5, -2.0])
    assert completion.choices[0].message.content == OSLO


async def test_create_with_a_dict_format_returns_a_plain_completion(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """A dict format is the caller's own: nothing is decoded and nothing is raised."""
    server.queue(Reply.text('{"city": "Pa', finish_reason="length"))
    completion = await client.chat.completions.create(
        model=MODEL, messages=ASK, response_format={"type": "json_object"}
    )
    assert type(completion) is kk.ChatCompletion
    assert completion.choices[0].message.content == '{"city": "Pa'


# Answers a WeatherDC cannot be made of, and what each raises.
UNPARSABLE = [
    pytest.param(
        Reply.text('{"city": "Pa', finish_reason="length"), kk.LengthFinishReasonError, id="length"
    ),
    pytest.param(
        Reply.text('{"city": "Pa', finish_reason="content_filter"),
        kk.ContentFilterFinishReasonError,
        id="content-filter",
    ),
    pytest.param(Reply.text('{"city": 1, "temps": []}'), kk.OutputValidationError, id="type"),
]


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("reply", "error"), UNPARSABLE)
async def test_create_with_a_type_raises_what_parse_raises(
    client: kk.AsyncClient,
    server: FakeServer,
    reply: Reply,
    error: type[kk.StructuredOutputError],
    streamed: bool,
) -> None:
    """An answer that cannot be decoded raises the error parse() raises, whole or at the
    end of a chunk stream, carrying the completion."""
    server.queue(reply)
    with pytest.raises(error) as info:
        if streamed:
            stream = await client.chat.completions.create(
                model=MODEL, messages=ASK, response_format=WeatherDC, stream=True
            )
            async with stream:
                await stream.final_completion()
        else:
            await client.chat.completions.create(
                model=MODEL, messages=ASK, response_format=WeatherDC
            )
    assert info.value.completion is not None
    assert info.value.completion.choices[0].message.content == reply.content


async def test_a_typed_chunk_stream_gives_plain_chunks_then_the_parsed_completion(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """create(stream=True, response_format=T): the chunks are those of any stream, and
    final_completion() returns the parsed completion."""
    server.queue(Reply.text(OSLO, chunk_size=4))
    stream = await client.chat.completions.create(
        model=MODEL, messages=ASK, response_format=WeatherDC, stream=True
    )
    assert isinstance(stream, kk.ParsedChatCompletionStream)
    async with stream:
        text = "".join(
            [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        )
        final = await stream.final_completion()
    assert text == OSLO
    assert isinstance(final, kk.ParsedChatCompletion)
    assert final.choices[0].message.parsed == WeatherDC(city="Oslo", temps=[1.5, -2.0])


async def test_a_typed_stream_is_of_the_parsed_event_stream_class(client: kk.AsyncClient) -> None:
    """stream(response_format=T) yields a ParsedChatCompletionEventStream; a dict format
    the plain event stream."""
    async with client.chat.completions.stream(
        model=MODEL, messages=ASK, response_format=Weather
    ) as typed:
        assert isinstance(typed, kk.ParsedChatCompletionEventStream)
        assert isinstance((await typed.final_completion()).choices[0].message.parsed, Weather)
    async with client.chat.completions.stream(
        model=MODEL, messages=ASK, response_format={"type": "json_object"}
    ) as plain:
        assert type(plain) is kk.ChatCompletionEventStream
        assert type(await plain.final_completion()) is kk.ChatCompletion


async def test_the_raw_response_of_a_typed_create_parses_into_the_type(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """with_raw_response.create(response_format=T): parse() gives the typed completion."""
    server.queue(Reply.text(OSLO))
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=ASK, response_format=WeatherDC
    )
    assert raw.status_code == 200
    completion = raw.parse()
    assert isinstance(completion, kk.ParsedChatCompletion)
    assert completion.choices[0].message.parsed == WeatherDC(city="Oslo", temps=[1.5, -2.0])


# ------------------------------------------------------------------------------------
# the official SDK, given an equivalent pydantic type, sends the same format
# ------------------------------------------------------------------------------------


def _canonical(fmt: dict[str, Any]) -> dict[str, Any]:
    """A response_format with the differences that carry no meaning taken out.

    They are: pydantic's ``title``\\s (we send none), the root description (the SDK leaves
    it inside the schema; we send it as ``json_schema.description``, where the API
    documents it), ``anyOf`` of bare types (``{"type": [...]}`` is the same schema) and
    the order of ``enum`` values and of keys.
    """

    def node(value: Any) -> Any:
        if isinstance(value, list):
            return [node(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: node(v) for k, v in value.items() if k != "title"}
        any_of = out.get("anyOf")
        if any_of and all(isinstance(m, dict) and m.keys() == {"type"} for m in any_of):
            del out["anyOf"]
            out["type"] = [m["type"] for m in any_of]
        if isinstance(out.get("type"), list):
            out["type"] = sorted(out["type"])
        if isinstance(out.get("enum"), list):
            out["enum"] = sorted(out["enum"], key=repr)
        return out

    spec = dict(fmt["json_schema"])
    schema = node(spec.pop("schema"))
    description = spec.pop("description", None) or schema.pop("description", None)
    return {"type": fmt["type"], **spec, "description": description, "schema": schema}


def _pydantic_twins() -> type[pydantic.BaseModel]:
    """Pydantic models equivalent to Weather and Address, with the same names."""

    class Address(pydantic.BaseModel):
        """Where the reading was taken."""

        city: str
        zip: int | None = None

    class Weather(pydantic.BaseModel):
        """The weather in a city."""

        city: str = pydantic.Field(description="The city's name.")
        unit: Unit
        sky: Literal["sunny", "rainy"]
        temps: list[float]
        address: Address
        note: str | None = None

    return Weather


async def test_the_official_sdk_sends_the_same_response_format(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """The openai SDK's parse() with a pydantic model, and ours with that model or the
    equivalent Struct, send the same response_format (up to the meaningless differences
    of _canonical)."""
    openai = pytest.importorskip("openai")
    twin = _pydantic_twins()
    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    try:
        answer = await sdk.chat.completions.parse(model=MODEL, messages=ASK, response_format=twin)
    finally:
        await sdk.close()
    assert isinstance(answer.choices[0].message.parsed, twin)
    await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=twin)
    await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=Weather)
    theirs, ours_pydantic, ours_struct = (_canonical(_format_sent(server, i)) for i in range(3))
    assert ours_pydantic == theirs
    assert ours_struct == theirs


# ------------------------------------------------------------------------------------
# streaming
# ------------------------------------------------------------------------------------


async def _stream_events(
    client: kk.AsyncClient, tp: Any
) -> tuple[list[kk.StreamEvent], kk.ChatCompletion | BaseException]:
    async with client.chat.completions.stream(
        model=MODEL, messages=ASK, response_format=tp
    ) as events:
        seen = [event async for event in events]
        try:
            final: kk.ChatCompletion | BaseException = await events.final_completion()
        except kk.StructuredOutputError as exc:
            final = exc
    return seen, final


async def test_a_typed_stream_gives_partial_values_then_the_type(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """stream() with a type: each TextDeltaEvent has the value parsed so far, the
    TextDoneEvent the typed value, and final_completion() the parsed completion."""
    answer = {"city": "Oslo", "temps": [1.5, 2.5], "note": "windy"}
    server.queue(Reply.text(json.dumps(answer), chunk_size=3))
    snapshots: list[Any] = []  # the live partial value, copied as it was at each delta
    seen: list[kk.StreamEvent] = []
    async with client.chat.completions.stream(
        model=MODEL, messages=ASK, response_format=WeatherDC
    ) as events:
        async for event in events:
            seen.append(event)
            if isinstance(event, kk.TextDeltaEvent):
                snapshots.append(copy.deepcopy(event.parsed))
        final = await events.final_completion()
    assert len(snapshots) > 10
    assert {"city": "Oslo"} in snapshots
    assert {"city": "Oslo", "temps": [1.5]} in snapshots
    assert snapshots[-1] == answer
    (done,) = [e for e in seen if isinstance(e, kk.TextDoneEvent)]
    assert done.parsed == WeatherDC(city="Oslo", temps=[1.5, 2.5], note="windy")
    assert isinstance(final, kk.ParsedChatCompletion)
    assert final.choices[0].message.parsed == done.parsed
    assert final.choices[0].message.parsed is done.parsed  # decoded once, not twice
    assert final.choices[0].message.content == json.dumps(answer)


@pytest.mark.parametrize("tp", [Weather, WeatherPD, WeatherTD])
async def test_the_fake_servers_streamed_answer_parses(client: kk.AsyncClient, tp: Any) -> None:
    """The fake server streams content valid against the schema; the done event and the
    final completion carry it typed."""
    seen, final = await _stream_events(client, tp)
    (done,) = [e for e in seen if isinstance(e, kk.TextDoneEvent)]
    expected = dict if tp is WeatherTD else tp
    assert isinstance(done.parsed, expected)
    assert isinstance(final, kk.ParsedChatCompletion)
    assert isinstance(final.choices[0].message.parsed, expected)


async def test_a_typed_stream_of_n_interleaved_choices(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """A scripted raw stream with two interleaved choices gives each its typed value."""

    def chunk(index: int, content: str | None = None, finish: str | None = None) -> Any:
        delta = {} if content is None else {"content": content}
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": MODEL,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        }

    server.queue(
        Reply.chunks(
            [
                chunk(0, '{"city": "A'),
                chunk(1, '{"city": "B'),
                chunk(1, '", "temps": [2]}'),
                chunk(0, '", "temps": [1]}'),
                chunk(0, finish="stop"),
                chunk(1, finish="stop"),
            ]
        )
    )
    seen, final = await _stream_events(client, WeatherDC)
    done = {e.choice_index: e.parsed for e in seen if isinstance(e, kk.TextDoneEvent)}
    assert done == {0: WeatherDC(city="A", temps=[1.0]), 1: WeatherDC(city="B", temps=[2.0])}
    assert isinstance(final, kk.ParsedChatCompletion)
    assert [c.message.parsed for c in final.choices] == [done[0], done[1]]


async def test_a_streamed_refusal_is_parsed_as_none(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """A streamed refusal gives no text events and a final parsed None with refusal."""
    server.queue(Reply.refusal("No.", chunk_size=1))
    seen, final = await _stream_events(client, Weather)
    assert not [e for e in seen if isinstance(e, kk.TextDoneEvent)]
    assert isinstance(final, kk.ParsedChatCompletion)
    assert final.choices[0].message.parsed is None
    assert final.choices[0].message.refusal == "No."


@pytest.mark.parametrize(("reply", "error"), UNPARSABLE)
async def test_a_typed_stream_that_cannot_be_parsed(
    client: kk.AsyncClient, server: FakeServer, reply: Reply, error: type[Exception]
) -> None:
    """The done event's parsed is None and final_completion() raises the same error as
    parse() would, carrying the completion."""
    server.queue(reply)
    seen, final = await _stream_events(client, WeatherDC)
    (done,) = [e for e in seen if isinstance(e, kk.TextDoneEvent)]
    assert done.parsed is None
    assert isinstance(final, error)
    assert isinstance(final, kk.StructuredOutputError) and final.completion is not None


# ------------------------------------------------------------------------------------
# tool calls in parsed completions
# ------------------------------------------------------------------------------------


@kk.tool
def get_forecast(city: str, days: int | None = None) -> str:
    """Get the forecast for a city.

    Args:
        city: The city.
        days: How many days.
    """
    return "sunny"


PLAIN_TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


@pytest.mark.parametrize("streamed", [False, True], ids=["parse", "stream"])
async def test_tool_calls_carry_parsed_arguments(
    client: kk.AsyncClient, server: FakeServer, streamed: bool
) -> None:
    """A typed tool's call gets its arguments decoded into the tool's type, another
    tool's the JSON value, and arguments that do not fit None with the text kept."""
    server.queue(
        Reply.tool_calls(
            [
                ("get_forecast", {"city": "Oslo", "days": 2}),
                ("lookup", {"q": 1}),
                ("get_forecast", {"town": "Oslo"}),
            ]
        )
    )
    tools: list[Any] = [get_forecast, PLAIN_TOOL]
    completion: kk.ParsedChatCompletion[Any]
    if streamed:
        async with client.chat.completions.stream(
            model=MODEL, messages=ASK, response_format=Weather, tools=tools
        ) as events:
            final = await events.final_completion()
        assert isinstance(final, kk.ParsedChatCompletion)
        completion = final
    else:
        completion = await client.chat.completions.parse(
            model=MODEL, messages=ASK, response_format=Weather, tools=tools
        )
    message = completion.choices[0].message
    assert message.parsed is None
    assert message.tool_calls is not None
    first, second, third = (call.function for call in message.tool_calls)
    assert isinstance(first.parsed_arguments, get_forecast.arguments_type)
    assert msgspec.structs.asdict(first.parsed_arguments) == {"city": "Oslo", "days": 2}
    assert second.parsed_arguments == {"q": 1}
    assert third.parsed_arguments is None
    assert json.loads(third.arguments) == {"town": "Oslo"}


async def test_a_parsed_message_is_sent_back_as_the_model_wrote_it(
    client: kk.AsyncClient, server: FakeServer
) -> None:
    """to_param() of a parsed message drops the decoded arguments: the API refuses a tool
    call with properties it does not know (the fake server, as the API, answers 400)."""
    server.queue(Reply.tool_calls([("get_forecast", {"city": "Oslo"})]))
    completion = await client.chat.completions.parse(
        model=MODEL, messages=ASK, response_format=Weather, tools=[get_forecast]
    )
    message = completion.choices[0].message
    assert message.tool_calls is not None
    (call,) = message.tool_calls
    assert call.function.parsed_arguments is not None
    server.queue(Reply.text('{"city": "Oslo", "temps": []}'))
    again = await client.chat.completions.parse(
        model=MODEL,
        messages=[
            *ASK,
            message.to_param(),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        response_format=WeatherDC,
        tools=[get_forecast],
    )
    assert again.choices[0].message.parsed == WeatherDC(city="Oslo", temps=[])
    sent = server.requests[-1].body["messages"][1]["tool_calls"]
    assert sent == [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": "get_forecast", "arguments": call.function.arguments},
        }
    ]


@pytest.mark.parametrize("streamed", [False, True], ids=["run_tools", "stream_tools"])
async def test_the_tool_loop_with_a_type_ends_with_the_parsed_answer(
    client: kk.AsyncClient, server: FakeServer, streamed: bool
) -> None:
    """run_tools()/stream_tools() with response_format=T: the tool rounds go back to the
    server as plain calls, and the last completion is parsed into T."""
    server.queue(Reply.tool_calls([("get_forecast", {"city": "Oslo", "days": 1})]))
    server.queue(Reply.text(OSLO))
    final: kk.ChatCompletion
    if streamed:
        async with client.chat.completions.stream_tools(
            model=MODEL, messages=ASK, tools=[get_forecast], response_format=WeatherDC
        ) as run:
            async for _ in run:
                pass
            final = await run.final_completion()
    else:
        result = await client.chat.completions.run_tools(
            model=MODEL, messages=ASK, tools=[get_forecast], response_format=WeatherDC
        )
        final = result.completion
    assert isinstance(final, kk.ParsedChatCompletion)
    assert final.choices[0].message.parsed == WeatherDC(city="Oslo", temps=[1.5, -2.0])
    assert len(server.requests) == 2
    assert server.requests[1].body["messages"][2] == {
        "role": "tool",
        "tool_call_id": server.requests[1].body["messages"][1]["tool_calls"][0]["id"],
        "content": "sunny",
    }


def test_pydantic_is_never_imported_by_the_library() -> None:
    """Sending and parsing a msgspec type does not import pydantic (checked in a fresh
    interpreter): pydantic models are recognised only when their user loaded pydantic."""
    code = (
        "import sys, msgspec, kkiai_async as kk\n"
        "from kkiai_async._structured import compile_format, parse_completion\n"
        "class A(msgspec.Struct):\n"
        "    x: int\n"
        "fmt = compile_format(A)\n"
        "done = kk.ChatCompletion(choices=[kk.Choice(message=kk.ChatCompletionMessage("
        "content='{\"x\": 1}'))])\n"
        "assert parse_completion(done, fmt).choices[0].message.parsed == A(x=1)\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
