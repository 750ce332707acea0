"""Load: thousands of concurrent streams against the loopback FakeServer, with faults.

Two phases, each on its own client, against one :class:`FakeServer`:

1. 1,000 concurrent streams of 200 chunks each, 5% of them cut mid-stream
   (``Fault.drop_after`` at a seeded random chunk): every complete stream must assemble
   exactly, every cut one must raise ``IncompleteStreamError`` whose ``partial`` holds
   exactly the chunks sent before the cut.
2. 1,000 more, each stopped at a seeded random chunk while its body is still open (the
   server stalls there): a third by ``break``, a third by cancelling the task while it
   awaits something else inside ``async with``, a third by cancelling it while it awaits
   the next chunk. Afterwards the server must see every one of their connections closed
   and the client's pool must hold none of them, before the client itself is closed.

The FakeServer answers queued items in arrival order, which is not known in advance; so
each stream's content names it (its first fragment is its number), and the checks find
the expected content, and whether it was to be cut, from what arrived.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest
from _transports import RecordingTransport

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Fault, Reply

pytestmark = pytest.mark.slow

STREAMS = 1000
CANCELLED = 1000
CHUNKS = 200  # per stream: the role chunk, 198 content fragments, the finish chunk
FRAGMENTS = CHUNKS - 2
WIDTH = 9  # characters per content fragment, "0042.197|"
DROP_EVERY = 20  # 5%
SEED = 20240611
MESSAGES = [{"role": "user", "content": "Count for me."}]


def fragment(stream: int, index: int) -> str:
    """The ``index``-th content fragment of stream ``stream``: it names both."""
    return f"{stream:04d}.{index:03d}|"


def content(stream: int) -> str:
    """The whole content of stream ``stream``."""
    return "".join(fragment(stream, j) for j in range(FRAGMENTS))


def stream_number(text: str | None) -> int:
    """Which stream a content belongs to, from its first fragment."""
    assert text is not None
    assert len(text) >= WIDTH, text
    return int(text[:4])


@dataclass
class Outcome:
    """What one stream of phase 1 ended with."""

    text: str | None
    finish: str | None
    chunks: int
    error: kk.KkiaiError | None


async def read_stream(client: kk.AsyncClient) -> Outcome:
    """Read one stream to its end or its error."""
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    count = 0
    try:
        async with stream:
            async for _ in stream:
                count += 1
        final = await stream.final_completion()
    except kk.IncompleteStreamError as exc:
        assert exc.partial is not None
        choice = exc.partial.choices[0]
        return Outcome(choice.message.content, choice.finish_reason, count, exc)
    choice = final.choices[0]
    return Outcome(choice.message.content, choice.finish_reason, count, None)


async def test_concurrent_streams_with_drops_and_cancellations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,000 streams (5% cut) assemble exactly; 1,000 cancelled ones leave no connection."""
    rng = random.Random(SEED)
    cut_at = {i: rng.randint(2, CHUNKS - 1) for i in range(STREAMS) if i % DROP_EVERY == 7}
    stop_at = [rng.randint(2, CHUNKS - 1) for _ in range(CANCELLED)]

    async with FakeServer() as server:
        # ---- phase 1: complete streams and streams cut mid-stream
        items: list[Reply | Fault] = []
        for i in range(STREAMS):
            reply = Reply.text(content(i), chunk_size=WIDTH)
            items.append(Fault.drop_after(cut_at[i], reply=reply) if i in cut_at else reply)
        rng.shuffle(items)
        server.queue(*items)
        transport = RecordingTransport(connection_limit=0)
        async with kk.AsyncClient(
            base_url=server.base_url, api_key="sk-load", max_retries=0, transport=transport
        ) as client:
            outcomes = await asyncio.gather(*(read_stream(client) for _ in range(STREAMS)))
            in_use, idle = transport.pool_state()
            assert in_use == 0
            # Only the connections of complete streams may be kept alive.
            assert idle <= STREAMS - len(cut_at)
        await server.wait_for_connections(0, timeout=30)
        assert server.pending == 0

        seen: set[int] = set()
        lost = 0
        for outcome in outcomes:
            number = stream_number(outcome.text)
            assert number not in seen
            seen.add(number)
            if number in cut_at:
                sent = cut_at[number]  # chunks sent before the cut, the role chunk first
                assert isinstance(outcome.error, kk.IncompleteStreamError)
                assert outcome.chunks == sent
                assert outcome.text == content(number)[: (sent - 1) * WIDTH]
                assert outcome.finish is None
            else:
                assert outcome.error is None
                assert outcome.chunks == CHUNKS
                assert outcome.text == content(number)
                assert outcome.finish == "stop"
            lost += cut_at.get(number, CHUNKS) - outcome.chunks
        assert seen == set(range(STREAMS))

        # ---- phase 2: streams stopped at random points while their bodies are open
        server.queue(
            *(
                Fault.stall(stop_at[i], reply=Reply.text(content(i), chunk_size=WIDTH))
                for i in range(CANCELLED)
            )
        )
        reached: list[asyncio.Future[None]] = []
        hold = asyncio.Event()
        modes: dict[str, int] = {"break": 0, "cancel-holding": 0, "cancel-reading": 0}

        async def stop_one(client: kk.AsyncClient, signal: asyncio.Future[None]) -> str:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            count = 0
            mode = "unknown"
            target = -1
            async with stream:
                async for _ in stream:
                    count += 1
                    if count == 2:
                        number = stream_number(
                            stream.current_completion().choices[0].message.content
                        )
                        mode = ("break", "cancel-holding", "cancel-reading")[number % 3]
                        target = stop_at[number]
                    if count == target:
                        modes[mode] += 1
                        if mode == "break":
                            signal.set_result(None)
                            break
                        signal.set_result(None)
                        if mode == "cancel-holding":
                            await hold.wait()
                        # "cancel-reading": go on awaiting a chunk that never comes.
            return mode

        transport = RecordingTransport(connection_limit=0)
        async with kk.AsyncClient(
            base_url=server.base_url, api_key="sk-load", max_retries=0, transport=transport
        ) as client:
            loop = asyncio.get_running_loop()
            tasks = []
            for _ in range(CANCELLED):
                signal: asyncio.Future[None] = loop.create_future()
                reached.append(signal)
                tasks.append(asyncio.create_task(stop_one(client, signal)))
            # A hang guard, not a timing threshold: a failing task never signals.
            await asyncio.wait_for(asyncio.gather(*reached), 120)
            for task in tasks:
                if not task.done():
                    task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            broke = sum(1 for r in results if r == "break")
            cancelled = sum(1 for r in results if isinstance(r, asyncio.CancelledError))
            assert broke == modes["break"]
            assert cancelled == modes["cancel-holding"] + modes["cancel-reading"]
            assert broke + cancelled == CANCELLED
            # Before the client is closed: every stopped stream closed its connection.
            await server.wait_for_connections(0, timeout=30)
            assert transport.pool_state() == (0, 0)
        assert server.pending == 0

    faults = len(cut_at) + CANCELLED
    with capsys.disabled():
        print(
            f"\nload: {STREAMS + CANCELLED} streams x {CHUNKS} chunks; faults injected "
            f"{faults} ({len(cut_at)} cut mid-stream, {CANCELLED} stopped: {modes['break']} "
            f"break, {modes['cancel-holding'] + modes['cancel-reading']} task.cancel), "
            f"survived {faults}, chunks lost {lost}, connections left open 0"
        )
    assert lost == 0
