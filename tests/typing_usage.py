"""The public API as a user writes it, checked by ``mypy --strict`` in CI (never run).

If a change makes any line here fail to type-check, users' code breaks the same way.
``assert_type`` pins the return types the overloads promise.
"""

from __future__ import annotations

import msgspec
from typing_extensions import Unpack, assert_type

import kkiai_async as kk
from kkiai_async import batch, tools
from kkiai_async.testing import FakeServer, Fault, Reply


@kk.tool
async def get_delivery_date(order_id: str) -> str:
    """Get the delivery date for a customer's order.

    Args:
        order_id: The customer's order ID.
    """
    return "2026-12-01"


class Weather(msgspec.Struct):
    city: str
    days: int = 1


class City(msgspec.Struct):
    name: str
    population: int | None = None


async def usage() -> None:
    async with (
        FakeServer() as server,
        kk.AsyncClient(
            api_key="k", base_url=server.base_url, timeout=kk.Timeout(connect=5, read=30)
        ) as client,
    ):
        server.queue(Reply.text("hi"), Fault.status(429, retry_after=0))

        completion = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert_type(completion, kk.ChatCompletion)
        text: str | None = completion.choices[0].message.content

        typed = await client.chat.completions.create(
            model="m",
            messages=[kk.SystemMessage(content="be brief"), kk.UserMessage(content="hi")],
            tools=[get_delivery_date],
            tool_choice=tools.force(get_delivery_date),
            temperature=0.2,
            seed=7,
        )
        assert_type(typed, kk.ChatCompletion)

        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert_type(stream, kk.ChatCompletionStream)
        async with stream:
            async for chunk in stream:
                assert_type(chunk, kk.ChatCompletionChunk)
                for choice in chunk.choices:
                    delta: str | None = choice.delta.content
        final = await stream.final_completion()
        assert_type(final, kk.ChatCompletion)

        async with client.chat.completions.stream(
            model="m", messages=[{"role": "user", "content": "hi"}]
        ) as events:
            assert_type(events, kk.ChatCompletionEventStream)
            async for event in events:
                match event:
                    case kk.TextDeltaEvent(choice_index=index, delta=piece):
                        assert_type(index, int)
                        assert_type(piece, str)
                    case kk.ToolCallDoneEvent(name=name, arguments=arguments):
                        assert_type(name, str)
                        assert_type(arguments, str)
                    case _:
                        pass
            snapshot = events.current_completion()
            assert_type(snapshot, kk.ChatCompletion)

        try:
            await client.chat.completions.create(model="m", messages=[])
        except kk.APIStatusError as exc:
            code: int = exc.status_code
            rid: str | None = exc.request_id
        except kk.KkiaiError as exc:
            partial: kk.ChatCompletion | None = exc.partial

        # Every parameter of the current API is a typed keyword of every entry point.
        reasoned = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="low",
            verbosity="low",
            service_tier="flex",
            store=True,
            metadata={"team": "support"},
            prompt_cache_key="conv-1",
            safety_identifier="user-hash",
            timeout=None,
        )
        assert_type(reasoned, kk.ChatCompletion)
        # A misspelt keyword, and a value of the wrong type, are caught by the checker.
        await client.chat.completions.create(model="m", messages=[], seen=1)  # type: ignore[call-overload]
        await client.chat.completions.create(model="m", messages=[], temperature="hot")  # type: ignore[call-overload]
        raw = await client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}], store=False
        )
        assert_type(raw.parse(), kk.ChatCompletion)
        run = await client.chat.completions.run_tools(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            tools=[get_delivery_date],
            reasoning_effort="high",
            timeout=kk.USE_CLIENT_DEFAULT,
        )
        assert_type(run, kk.ToolRunResult)
        assert_type(run.completion, kk.ChatCompletion)
        typed_run = await client.chat.completions.run_tools(
            model="m", messages=[], tools=[get_delivery_date], response_format=City
        )
        assert_type(typed_run, kk.ToolRunResult[kk.ParsedChatCompletion[City]])
        assert_type(typed_run.completion.choices[0].message.parsed, City | None)
        async with client.chat.completions.stream_tools(
            model="m", messages=[], tools=[get_delivery_date], response_format=City
        ) as typed_tool_events:
            final_typed = await typed_tool_events.final_completion()
            assert_type(final_typed, kk.ParsedChatCompletion[City])
        async with client.chat.completions.stream_tools(
            model="m", messages=[], tools=[get_delivery_date]
        ) as tool_events:
            assert_type(tool_events, kk.ToolRunStream)
            assert_type(await tool_events.final_completion(), kk.ChatCompletion)

        parsed = await client.chat.completions.parse(
            model="m", messages=[{"role": "user", "content": "Paris"}], response_format=City
        )
        assert_type(parsed, kk.ParsedChatCompletion[City])
        assert_type(parsed.choices[0].message.parsed, City | None)
        loose = await client.chat.completions.parse(
            model="m",
            messages=[{"role": "user", "content": "Paris"}],
            response_format=kk.TypedResponseFormat(Weather, strict=False),
        )
        assert_type(loose, kk.ParsedChatCompletion[Weather])
        # create() and stream() take a type too, and give it back parsed.
        created = await client.chat.completions.create(model="m", messages=[], response_format=City)
        assert_type(created, kk.ParsedChatCompletion[City])
        chunks = await client.chat.completions.create(
            model="m", messages=[], response_format=City, stream=True
        )
        assert_type(chunks, kk.ParsedChatCompletionStream[City])
        async with chunks:
            assert_type(await chunks.final_completion(), kk.ParsedChatCompletion[City])
        async with client.chat.completions.stream(
            model="m", messages=[], response_format=City
        ) as typed_events:
            assert_type(typed_events, kk.ParsedChatCompletionEventStream[City])
            done = await typed_events.final_completion()
            assert_type(done.choices[0].message.parsed, City | None)
        as_dict = await client.chat.completions.create(
            model="m", messages=[], response_format={"type": "json_object"}
        )
        assert_type(as_dict, kk.ChatCompletion)
        await client.chat.completions.parse(
            model="m",
            messages=[],
            response_format=City,
            stream=True,  # type: ignore[call-arg]
        )

        async def ask(**params: Unpack[kk.ChatParams]) -> kk.ChatCompletion:
            # mypy does not pick an overload for a **TypedDict (it infers Any), so a
            # wrapper names the type it returns.
            completion: kk.ChatCompletion = await client.chat.completions.create(**params)
            return completion

        assert_type(await ask(model="m", messages=[], seed=7), kk.ChatCompletion)

        accumulator = kk.ChatCompletionAccumulator()
        accumulator.add(kk.ChatCompletionChunk())
        evs: list[kk.StreamEvent] = accumulator.process(kk.ChatCompletionChunk())
        whole: kk.ChatCompletion = accumulator.final_completion()

        async for result in batch.run(
            client,
            [batch.BatchRequest(custom_id="a", body={"model": "m", "messages": []})],
            concurrency=4,
        ):
            ok: bool = result.ok

        message = await tools.call_tool(
            [get_delivery_date],
            kk.ChatCompletionMessageToolCall(
                id="c", function=kk.Function(name="get_delivery_date", arguments="{}")
            ),
        )
        assert_type(message, kk.ToolMessage)
    del text, delta, final, code, rid, partial, evs, whole, ok
