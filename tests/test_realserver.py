"""The client against a real OpenAI-compatible server made by others: llama.cpp's.

``llama_cpp.server`` (from ``llama-cpp-python[server]``) serves a tiny random-weight
model the suite writes itself (see ``_llama.py``), with the ``chatml-function-calling``
chat format, on a loopback port. What it sends is asserted from the raw bytes first, so
the tests document the server's real shapes, then the client is shown to read them.

What llama.cpp's server sends, as these tests found it:

- text streams: a first chunk ``{"role": "assistant"}``, then one ``{"content": ...}``
  per token, then an empty delta with the ``finish_reason``; no ``usage`` in a stream,
  even when ``stream_options.include_usage`` is asked, and no ``service_tier`` or
  ``system_fingerprint``; ``n`` is ignored (one choice);
- a forced tool call streams ``id`` and ``name`` again on every fragment, with a legacy
  ``function_call`` carrying the same name and fragment beside ``tool_calls``, and
  explicit ``null``\\ s for ``role``, ``content``, ``function_call`` and ``tool_calls``;
  ``finish_reason`` is ``"tool_calls"``;
- a prompt over the context length: ``400`` with ``code: "context_length_exceeded"``,
  ``param: "messages"`` when not streamed; when streamed, a ``200`` event stream that
  ends without a single event (the error happens after the headers).

The tests skip only where ``llama_cpp`` is not installed, and never in CI (where the
``realserver`` extra is installed by ``.ci/run``): there a missing server is a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

if os.environ.get("CI"):
    # CI installs the realserver extra: its absence is a broken CI, not a reason to skip.
    import gguf  # noqa: F401
    import llama_cpp  # noqa: F401
else:
    pytest.importorskip("llama_cpp", reason="needs the realserver extra (llama-cpp-python)")
    pytest.importorskip("gguf", reason="needs the realserver extra (gguf)")

from _llama import LlamaServer, run_llama_server

import kkiai_async as kk

SET_FLAG = {
    "type": "function",
    "function": {
        "name": "set_flag",
        "description": "Turn the flag on or off",
        "parameters": {
            "type": "object",
            "properties": {"on": {"type": "boolean"}},
            "required": ["on"],
        },
    },
}
FORCED = {"type": "function", "function": {"name": "set_flag"}}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama.cpp's server on a free loopback port, for the whole session."""
    with run_llama_server(tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture
async def client(llama: LlamaServer) -> AsyncIterator[kk.AsyncClient]:
    async with kk.AsyncClient(api_key="unused", base_url=llama.base_url) as c:
        yield c


async def raw_stream(llama: LlamaServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST a streamed request with plain aiohttp; return the ``data:`` payloads, decoded."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{llama.base_url}/chat/completions", json={"model": llama.model, **body}
        ) as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        text = (await response.read()).decode()
    payloads = [line[len("data: ") :] for line in text.replace("\r\n", "\n").split("\n") if line]
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


async def test_streamed_completion_equals_the_non_streamed_one(
    llama: LlamaServer, client: kk.AsyncClient
) -> None:
    """At temperature 0 with a seed, the streamed answer is the non-streamed one, whole."""
    params: dict[str, Any] = {
        "model": llama.model,
        "messages": HELLO,
        "temperature": 0,
        "seed": 7,
        "max_tokens": 24,
    }
    whole = await client.chat.completions.create(**params)
    stream = await client.chat.completions.create(**params, stream=True)
    async with stream:
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    streamed = await stream.final_completion()
    async with client.chat.completions.stream(**params) as events:
        texts = [e.delta async for e in events if isinstance(e, kk.TextDeltaEvent)]
        from_events = await events.final_completion()

    content = whole.choices[0].message.content
    assert content
    assert streamed.choices[0].message.content == content == "".join(pieces)
    assert from_events.choices[0].message.content == content == "".join(texts)
    assert streamed.choices[0].finish_reason == whole.choices[0].finish_reason == "length"
    assert from_events.choices[0].finish_reason == "length"


async def test_text_stream_has_llama_cpps_shape_and_no_usage(
    llama: LlamaServer, client: kk.AsyncClient
) -> None:
    """A text stream is role, one token per chunk, finish; include_usage gets no usage."""
    body: dict[str, Any] = {
        "messages": HELLO,
        "max_tokens": 4,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = await raw_stream(llama, body)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant"}
    assert [list(d) for d in deltas[1:-1]] == [["content"]] * 4
    assert deltas[-1] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert not any("usage" in c for c in chunks)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}

    del body["stream"], body["stream_options"]
    stream = await client.chat.completions.create(
        model=llama.model, **body, stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        completion = await stream.final_completion()
    assert completion.usage is None
    assert completion.choices[0].message.content == "".join(d["content"] for d in deltas[1:-1])


async def test_forced_tool_call_repeats_id_and_name_and_sends_function_call(
    llama: LlamaServer,
) -> None:
    """A forced tool call streams id and name on every fragment, beside a legacy function_call."""
    chunks = await raw_stream(
        llama,
        {"messages": HELLO, "tools": [SET_FLAG], "tool_choice": FORCED, "temperature": 0,
         "seed": 7, "stream": True},
    )  # fmt: skip
    first, *fragments, last = (c["choices"][0] for c in chunks)
    assert first["delta"] == {
        "role": "assistant",
        "content": None,
        "function_call": None,
        "tool_calls": None,
    }
    assert len(fragments) > 1
    ids = set()
    for choice in fragments:
        delta = choice["delta"]
        assert (delta["role"], delta["content"]) == (None, None)
        (call,) = delta["tool_calls"]
        assert (call["index"], call["type"]) == (0, "function")
        assert call["function"]["name"] == "set_flag"
        assert delta["function_call"] == call["function"]
        ids.add(call["id"])
    assert len(ids) == 1
    assert last["delta"]["tool_calls"] is None
    assert last["finish_reason"] == "tool_calls"


async def test_forced_tool_call_assembles_to_one_call(
    llama: LlamaServer, client: kk.AsyncClient
) -> None:
    """The repeated ids and names assemble to one call, the same as the non-streamed answer."""
    params: dict[str, Any] = {
        "model": llama.model,
        "messages": HELLO,
        "tools": [SET_FLAG],
        "tool_choice": FORCED,
        "temperature": 0,
        "seed": 7,
    }
    whole = await client.chat.completions.create(**params)
    (expected,) = whole.choices[0].message.tool_calls or []
    stream = await client.chat.completions.create(**params, stream=True)
    async with stream:
        fragment_ids = {
            call.id
            async for chunk in stream
            for choice in chunk.choices
            for call in choice.delta.tool_calls or ()
        }
    streamed = await stream.final_completion()
    async with client.chat.completions.stream(**params) as events:
        done = [e async for e in events if isinstance(e, kk.ToolCallDoneEvent)]

    (call,) = streamed.choices[0].message.tool_calls or []
    assert fragment_ids == {call.id}
    assert (call.id, call.function.name) == (fragment_ids.pop(), "set_flag")
    assert call.function.arguments == expected.function.arguments
    assert isinstance(json.loads(call.function.arguments)["on"], bool)
    assert streamed.choices[0].finish_reason == "tool_calls"
    # The legacy function_call beside it assembles too: one name, not one per fragment.
    legacy = streamed.choices[0].message.function_call
    assert legacy is not None
    assert (legacy.name, legacy.arguments) == ("set_flag", expected.function.arguments)
    (event,) = done
    assert (event.name, event.arguments) == ("set_flag", expected.function.arguments)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_max_tokens_gives_finish_reason_length(
    llama: LlamaServer, client: kk.AsyncClient, stream: bool
) -> None:
    """max_tokens stops the answer after that many tokens with finish_reason "length"."""
    params: dict[str, Any] = {"model": llama.model, "messages": HELLO, "max_tokens": 5}
    if stream:
        response = await client.chat.completions.create(**params, stream=True)
        async with response:
            completion = await response.final_completion()
    else:
        completion = await client.chat.completions.create(**params)
    assert completion.choices[0].finish_reason == "length"
    # One byte-level token is one character of this model's printable answers.
    assert len(completion.choices[0].message.content or "") == 5
    if not stream:
        assert completion.usage is not None
        assert completion.usage.completion_tokens == 5


async def test_prompt_over_the_context_length_is_a_typed_400(
    llama: LlamaServer, client: kk.AsyncClient
) -> None:
    """A prompt longer than the context is a BadRequestError with llama.cpp's error object."""
    too_long = [{"role": "user", "content": "x" * (2 * llama.n_ctx)}]
    with pytest.raises(kk.BadRequestError) as caught:
        await client.chat.completions.create(model=llama.model, messages=too_long, max_tokens=4)
    error = caught.value
    assert error.status_code == 400
    assert (error.type, error.param, error.code) == (
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
    )
    assert f"maximum context length is {llama.n_ctx} tokens" in str(error.body)


async def test_streamed_prompt_over_the_context_length_is_an_error(
    llama: LlamaServer, client: kk.AsyncClient
) -> None:
    """Streamed, the overflow is a 200 with no events: a typed error, not an empty answer."""
    too_long = [{"role": "user", "content": "x" * (2 * llama.n_ctx)}]
    stream = await client.chat.completions.create(
        model=llama.model, messages=too_long, max_tokens=4, stream=True
    )
    # A clean end without [DONE] is TruncatedStreamError where the library has it (issue
    # 13's exception work); IncompleteStreamError before.
    expected = getattr(kk, "TruncatedStreamError", kk.IncompleteStreamError)
    with pytest.raises(expected) as caught:
        async with stream:
            await stream.final_completion()
    assert caught.value.partial is not None
    assert caught.value.partial.choices == []
    # The server breaks that connection; the client's next request must not fail for it.
    completion = await client.chat.completions.create(
        model=llama.model, messages=HELLO, max_tokens=3
    )
    assert completion.choices[0].finish_reason == "length"
