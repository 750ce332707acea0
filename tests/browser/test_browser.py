"""The web example (examples/web/) driven in headless Chromium with Playwright.

Needs the ``playwright`` Python package (its bundled driver only: never ``playwright
install``) and Debian's ``chromium`` at /usr/bin/chromium; skipped, saying which is
missing, without them. The screenshot is kept in tests/artifacts/web-example.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Reply

pytest.importorskip(
    "playwright.async_api",
    reason="browser tests need playwright (pip install 'playwright>=1.45')",
)

from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
)

# Without the background-networking flags Chromium keeps trying to reach Google's
# services, which a closed network refuses many times a start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_ROOT = Path(__file__).resolve().parents[2]
_APP = _ROOT / "examples" / "web" / "app.py"
SCREENSHOT = _ROOT / "tests" / "artifacts" / "web-example.png"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kkiai_web_example_browser", _APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses and msgspec resolve string annotations through it.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


web = _load_example()


@dataclass
class Demo:
    url: str
    app: Any
    fake: FakeServer


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def demo(*, paced: bool) -> AsyncIterator[Demo]:
    """The example as ``python examples/web/app.py`` runs it, on a free port."""
    async with (
        FakeServer() as fake,
        kk.AsyncClient(api_key="test-key", base_url=fake.base_url, max_retries=0) as client,
    ):
        hook = web.pace_fake_model(fake, delay=0.01) if paced else None
        app = web.create_app(client, backend="FakeServer", before_request=hook)
        runner = await web.start(app, "127.0.0.1", 0)
        try:
            yield Demo(f"http://127.0.0.1:{runner.addresses[0][1]}", app, fake)
        finally:
            await runner.cleanup()


async def _open(browser: Browser, url: str, requested: list[str]) -> Page:
    page = await browser.new_page(viewport={"width": 900, "height": 860})
    page.set_default_timeout(20_000)
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(url + "/")
    # Locators, not wait_for_function: the page's CSP forbids the eval that polling a
    # JavaScript predicate needs.
    await expect(page.locator("#backend")).to_have_text("FakeServer · kkiai-chat")
    return page


async def _ask(page: Page, question: str) -> None:
    await page.fill("#input", question)
    await page.press("#input", "Enter")


async def _eventually(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def _pieces(text: str, size: int = 3) -> int:
    return -(-len(text) // size)


async def test_answer_and_tool_call_stream_into_the_page(browser: Browser) -> None:
    """A typed question shows the tool call, its arguments and result, then the answer."""
    requested: list[str] = []
    errors: list[str] = []
    async with demo(paced=True) as run:
        page = await _open(browser, run.url, requested)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )

        await _ask(page, "hello")
        await page.wait_for_selector(".turn.done:not(.streaming)")
        await _ask(page, "When will order ORD-1042 arrive?")
        await page.wait_for_selector(".turn.done:not(.streaming) >> nth=1")

        expected = await web.get_delivery_date("ORD-1042")
        answer = web._answer(msgspec.json.encode(expected).decode())
        turn = page.locator(".turn").nth(1)
        card = turn.locator(".tool")
        assert await card.get_attribute("class") == "tool done"
        assert await card.locator(".tool-name").inner_text() == "get_delivery_date"
        assert await card.locator(".tool-state").inner_text() == "done"
        assert await card.locator(".tool-args dt").all_inner_texts() == ["order_id"]
        assert await card.locator(".tool-args dd").all_inner_texts() == ["ORD-1042"]
        assert msgspec.json.decode(await card.locator(".tool-result").inner_text()) == expected
        assert await turn.locator(".bubble.assistant").all_inner_texts() == [
            "Let me look that order up.",
            answer,
        ]
        # Every text delta was rendered as it came: the FakeServer streamed 3 characters
        # a chunk.
        deltas = await turn.get_attribute("data-deltas")
        assert deltas == str(_pieces("Let me look that order up.") + _pieces(answer))
        assert await page.locator(".bubble.user").all_inner_texts() == [
            "hello",
            "When will order ORD-1042 arrive?",
        ]

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT))

        # The page sent the earlier exchange back with the new question.
        history = run.fake.requests[1].body["messages"]
        assert [(m["role"], m["content"]) for m in history[1:]] == [
            ("user", "hello"),
            ("assistant", web._ASK_FOR_ID),
            ("user", "When will order ORD-1042 arrive?"),
        ]
        await page.close()

    assert errors == []
    assert requested and all(url.startswith(run.url + "/") for url in requested)
    assert SCREENSHOT.stat().st_size > 0


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("close-tab", id="close-tab"),
        pytest.param("stop-button", id="stop-button"),
    ],
)
async def test_leaving_mid_answer_cancels_the_upstream_stream(browser: Browser, how: str) -> None:
    """Closing the tab, or pressing Stop, mid-answer ends the app's upstream stream."""
    requested: list[str] = []
    async with demo(paced=False) as run:
        text = " ".join(f"word{i}" for i in range(600))
        run.fake.queue(Reply.text(text, chunk_size=4, delay=0.03))
        stats = run.app[web.STATS]
        page = await _open(browser, run.url, requested)

        await _ask(page, "talk to me")
        await page.wait_for_selector(".bubble.assistant")
        assert run.fake.active_requests == 1
        if how == "close-tab":
            await page.close()
        else:
            await page.click("#stop")
            await page.wait_for_selector(".turn:not(.streaming) .meta")
            assert await page.locator(".meta").inner_text() == "stopped"
            assert await page.locator("#input").is_enabled()

        await _eventually(lambda: stats.cancelled == 1, "the app saw the disconnect")
        await run.fake.wait_for_connections(0)
        assert stats == web.StreamStats(started=1, cancelled=1)
        assert len(run.fake.requests) == 1
        if how == "stop-button":
            await page.close()
