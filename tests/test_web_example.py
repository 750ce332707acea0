"""The web example (examples/web/app.py) served for real and read over HTTP, no browser."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import msgspec
import pytest
from _waiting import eventually, log_changes

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Fault, Reply, ToolCall

_APP = Path(__file__).resolve().parents[1] / "examples" / "web" / "app.py"
_QUESTION = "When will order ORD-1042 arrive?"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kkiai_web_example", _APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses and msgspec resolve the module's string annotations
    # through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


web = _load_example()


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    async with FakeServer() as server:
        yield server


@pytest.fixture
async def client(fake: FakeServer) -> AsyncIterator[kk.AsyncClient]:
    async with kk.AsyncClient(api_key="test-key", base_url=fake.base_url, max_retries=0) as c:
        yield c


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@contextlib.asynccontextmanager
async def serving(app: Any, *, handler_cancellation: bool = True) -> AsyncIterator[str]:
    runner = await web.start(app, "127.0.0.1", 0, handler_cancellation=handler_cancellation)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _body(*turns: tuple[str, str]) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": content} for role, content in turns]}


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    async for line in response.content:
        if line.startswith(b"data: "):
            yield msgspec.json.decode(line[6:])


async def _ask(session: aiohttp.ClientSession, url: str, question: str) -> list[dict[str, Any]]:
    async with session.post(url + "/chat", json=_body(("user", question))) as response:
        assert response.status == 200
        return [event async for event in _events(response)]


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


def _positions(events: list[dict[str, Any]], kind: str) -> list[int]:
    return [i for i, event in enumerate(events) if event["type"] == kind]


async def test_page_and_assets_come_only_from_the_app(
    client: kk.AsyncClient, session: aiohttp.ClientSession
) -> None:
    """The page, its script and its style are served by the app and name no other origin."""
    async with serving(web.create_app(client)) as url:
        for path, media in [
            ("/", {"text/html"}),
            # The type of .js comes from the system's mimetypes tables, which differ.
            ("/static/chat.js", {"text/javascript", "application/javascript"}),
            ("/static/chat.css", {"text/css"}),
        ]:
            async with session.get(url + path) as response:
                assert response.status == 200
                assert response.content_type in media
                assert "default-src 'self'" in response.headers["Content-Security-Policy"]
                text = await response.text()
                assert "://" not in text
        async with session.get(url + "/") as response:
            page = await response.text()
    assert 'src="/static/chat.js"' in page
    assert 'href="/static/chat.css"' in page


async def test_question_streams_tool_call_its_result_and_the_answer(
    fake: FakeServer, client: kk.AsyncClient, session: aiohttp.ClientSession
) -> None:
    """The FakeServer's own model calls the tool, the app runs it, and round 2 answers."""
    app = web.create_app(client, model="m")
    async with serving(app) as url:
        events = await _ask(session, url, _QUESTION)

    assert [e["round"] for e in _of(events, "round.started")] == [1, 2]
    assert events[-1] == {"type": "done"}
    (started,) = _of(events, "tool_call.started")
    (done,) = _of(events, "tool_call.done")
    (result,) = _of(events, "tool.result")
    deltas = _of(events, "tool_call.arguments.delta")
    assert started["name"] == done["name"] == result["name"] == "get_delivery_date"
    assert started["id"] == done["id"] == result["id"]
    assert deltas and "".join(d["delta"] for d in deltas) == done["arguments"]
    assert done["parsed_arguments"] == msgspec.json.decode(done["arguments"])
    assert deltas[-1]["parsed_arguments"] == done["parsed_arguments"]
    expected = await web.get_delivery_date(**done["parsed_arguments"])
    assert msgspec.json.decode(result["content"]) == expected

    round_two = _positions(events, "round.started")[1]
    assert _positions(events, "tool_call.done")[0] < _positions(events, "tool.result")[0]
    assert _positions(events, "tool.result")[0] < round_two
    answer = "".join(e["delta"] for e in events[round_two:] if e["type"] == "text.delta")
    (text_done,) = _of(events, "text.done")
    assert text_done["text"] == answer
    assert expected["delivery_date"] in answer

    first, second = (r.body for r in fake.requests)
    assert first["messages"][1:] == [{"role": "user", "content": _QUESTION}]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][2]["tool_calls"][0]["id"] == done["id"]
    assert second["messages"][3]["tool_call_id"] == done["id"]
    assert second["messages"][3]["content"] == result["content"]
    assert app[web.STATS] == web.StreamStats(started=1, completed=1)


async def test_each_event_is_one_data_line(
    client: kk.AsyncClient, session: aiohttp.ClientSession
) -> None:
    """The response is text/event-stream and every event is a single ``data:`` line."""
    body = _body(("user", _QUESTION))
    async with (
        serving(web.create_app(client)) as url,
        session.post(url + "/chat", json=body) as response,
    ):
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        raw = await response.text()
    *blocks, tail = raw.split("\n\n")
    assert tail == ""
    assert len(blocks) > 10
    for block in blocks:
        assert block.startswith("data: {")
        assert "\n" not in block


@pytest.mark.parametrize(
    ("question", "order_id"),
    [
        pytest.param("Where is ORD-77 now?", "ORD-77", id="prefixed-id"),
        pytest.param("my parcel 55731 is late", "55731", id="number-only"),
    ],
)
async def test_demo_script_calls_the_tool_with_the_order_id_written(
    fake: FakeServer,
    client: kk.AsyncClient,
    session: aiohttp.ClientSession,
    question: str,
    order_id: str,
) -> None:
    """The demo's pacing script asks for the order ID the user typed and answers from it."""
    app = web.create_app(client, before_request=web.pace_fake_model(fake, delay=0))
    async with serving(app) as url:
        events = await _ask(session, url, question)

    (done,) = _of(events, "tool_call.done")
    assert done["parsed_arguments"] == {"order_id": order_id}
    (result,) = _of(events, "tool.result")
    expected = await web.get_delivery_date(order_id)
    first, answer = (e["text"] for e in _of(events, "text.done"))
    assert first == "Let me look that order up."
    assert answer.startswith(f"Good news: order {order_id} is on its way with ")
    assert answer.endswith(f"({expected['delivery_date']}).")
    assert msgspec.json.decode(result["content"]) == expected
    assert fake.pending == 0


async def test_demo_script_asks_for_an_order_id_when_none_is_given(
    fake: FakeServer, client: kk.AsyncClient, session: aiohttp.ClientSession
) -> None:
    """Without an order ID the demo answers in one round, asking for one, calling no tool."""
    app = web.create_app(client, before_request=web.pace_fake_model(fake, delay=0))
    async with serving(app) as url:
        events = await _ask(session, url, "hello")

    assert [e["text"] for e in _of(events, "text.done")] == [web._ASK_FOR_ID]
    assert _of(events, "tool_call.started") == []
    assert len(fake.requests) == 1


async def test_rounds_end_with_tools_refused(
    fake: FakeServer, client: kk.AsyncClient, session: aiohttp.ClientSession
) -> None:
    """A model that keeps calling tools gets ``tool_choice: none`` on the last round."""
    call = Reply.tool_call("get_delivery_date", {"order_id": "A-1"})
    fake.queue(*[call] * (web.MAX_ROUNDS - 1))
    async with serving(web.create_app(client)) as url:
        events = await _ask(session, url, _QUESTION)

    assert len(_of(events, "tool.result")) == web.MAX_ROUNDS - 1
    tool_choices = [r.body.get("tool_choice") for r in fake.requests]
    assert tool_choices == [None] * (web.MAX_ROUNDS - 1) + ["none"]
    assert events[-1] == {"type": "done"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"messages": []}', id="no-messages"),
        pytest.param(b'{"messages": [{"role": "system", "content": "x"}]}', id="system-role"),
        pytest.param(b'{"messages": [{"role": "user", "content": ""}]}', id="empty-content"),
        pytest.param(
            b'{"messages": [{"role": "user", "content": "a"},'
            b' {"role": "assistant", "content": "b"}]}',
            id="last-not-user",
        ),
        pytest.param(
            b'{"messages": [{"role": "user", "content": "a", "tool_calls": []}]}',
            id="unknown-field",
        ),
    ],
)
async def test_bad_request_is_refused_before_any_upstream_call(
    fake: FakeServer, client: kk.AsyncClient, session: aiohttp.ClientSession, body: bytes
) -> None:
    """A body that is not a user/assistant conversation gets a 400 and sends nothing upstream."""
    app = web.create_app(client)
    async with serving(app) as url, session.post(url + "/chat", data=body) as response:
        assert response.status == 400
        problem = await response.json()
    assert isinstance(problem["error"], str) and problem["error"]
    assert fake.requests == []
    assert app[web.STATS].started == 0


@pytest.mark.parametrize(
    ("fault", "deltas"),
    [
        pytest.param(Fault.status(500), 0, id="status-500"),
        pytest.param(
            Fault.error_event(after_chunks=3, reply=Reply.text("one two three four")),
            2,
            id="error-mid-stream",
        ),
    ],
)
async def test_upstream_failure_ends_the_stream_with_an_error_event(
    fake: FakeServer,
    client: kk.AsyncClient,
    session: aiohttp.ClientSession,
    fault: Fault,
    deltas: int,
) -> None:
    """An upstream error becomes a final ``error`` event after what had already arrived."""
    fake.queue(fault)
    app = web.create_app(client)
    async with serving(app) as url:
        events = await _ask(session, url, "hi")

    assert [e["type"] for e in events] == ["round.started"] + ["text.delta"] * deltas + ["error"]
    assert events[-1]["message"]
    assert app[web.STATS] == web.StreamStats(started=1, failed=1)


@pytest.mark.parametrize(
    "handler_cancellation",
    [
        pytest.param(True, id="handler-cancelled"),
        pytest.param(False, id="write-fails"),
    ],
)
async def test_browser_disconnect_closes_the_upstream_stream(
    fake: FakeServer,
    client: kk.AsyncClient,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    handler_cancellation: bool,
) -> None:
    """Closing the SSE connection mid-answer ends the upstream stream early and is counted."""
    text = " ".join(f"word{i}" for i in range(500))
    fake.queue(Reply.text(text, chunk_size=4, delay=0.02))
    app = web.create_app(client)
    stats = app[web.STATS]
    caplog.set_level(logging.INFO, logger="kkiai.examples.web")
    async with serving(app, handler_cancellation=handler_cancellation) as url:
        response = await session.post(url + "/chat", json=_body(("user", "talk")))
        seen = []
        async for event in _events(response):
            seen.append(event["type"])
            if seen.count("text.delta") == 2:
                break
        await eventually(lambda: fake.active_requests == 1, "upstream stream open")
        with log_changes("kkiai.examples.web") as app_logged:
            response.close()
            # The app counts the disconnect, then logs it: the log line wakes the test.
            await app_logged.until(lambda: stats.cancelled == 1, "app saw the disconnect")
        await fake.wait_for_connections(0)
        await eventually(lambda: fake.active_requests == 0, "upstream handler ended")

    assert seen == ["round.started", "text.delta", "text.delta"]
    assert stats == web.StreamStats(started=1, cancelled=1)
    assert len(fake.requests) == 1
    assert [r.getMessage() for r in caplog.records if r.name == "kkiai.examples.web"] == [
        "browser disconnected: upstream stream cancelled"
        if handler_cancellation
        else "browser disconnected: upstream stream closed after a failed write"
    ]


def test_real_mode_needs_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--real`` without ``KKIAI_API_KEY`` stops with a usage error before serving."""
    monkeypatch.delenv("KKIAI_API_KEY", raising=False)
    with pytest.raises(SystemExit) as info:
        web.main(["--real"])
    assert info.value.code == 2


async def test_tool_calls_are_answered_in_the_order_made(
    fake: FakeServer, client: kk.AsyncClient, session: aiohttp.ClientSession
) -> None:
    """Parallel tool calls each get their result event and ``tool`` message, in order."""
    fake.queue(
        Reply.tool_calls(
            [
                ToolCall("get_delivery_date", {"order_id": "A-1"}, id="call_a"),
                ToolCall("get_delivery_date", {"order_id": "B-2"}, id="call_b"),
            ]
        )
    )
    async with serving(web.create_app(client)) as url:
        events = await _ask(session, url, _QUESTION)

    assert [e["id"] for e in _of(events, "tool.result")] == ["call_a", "call_b"]
    tool_messages = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_a", "call_b"]
    assert [msgspec.json.decode(m["content"])["order_id"] for m in tool_messages] == [
        "A-1",
        "B-2",
    ]
