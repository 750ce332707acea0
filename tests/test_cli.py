"""The kkiai command, run as a user runs it: in a subprocess, piped or on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kkiai_async.testing import FakeServer, Reply

ROOT = Path(__file__).resolve().parent.parent


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KKIAI_")}
    base["PYTHONPATH"] = str(ROOT)
    return {**base, **extra}


async def kkiai(*args: str, **extra_env: str) -> tuple[int, str, str]:
    """Run `python -m kkiai_async ARGS` without blocking the loop the test server runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kkiai_async",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(**extra_env),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def run_on_pty(*args: str) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as stdout (what a person sees)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kkiai_async", *args],
        stdout=follower,
        stderr=follower,
        env=env(),
    )
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            output += data
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(10), output.decode(errors="replace")


async def test_demo_streams_the_conversation_and_the_tool_call() -> None:
    """`kkiai demo` exits 0 and shows the streamed text, the tool call and its result."""
    code, out, err = await kkiai("demo", "--fast")
    assert code == 0, err
    assert "Can you please provide your order ID?" in out
    assert '→ get_delivery_date({"order_id":"order_12345"})' in out
    assert 'tool get_delivery_date → {"order_id":"order_12345","delivery_date":"2026-12-' in out
    assert "delivery_date" in out.split("tool get_delivery_date")[1].split("assistant: ")[1]
    assert "\x1b[" not in out  # piped output is plain text


def test_demo_on_a_terminal_redraws_the_growing_arguments() -> None:
    """On a terminal the tool call's arguments are redrawn in place as they grow."""
    code, out = run_on_pty("demo", "--fast")
    assert code == 0, out
    assert "\r\x1b[2K→ get_delivery_date(" in out
    # Each redraw shows a longer prefix of the arguments.
    assert '\r\x1b[2K→ get_delivery_date({"o' in out
    assert "demo complete" in out


async def test_chat_streams_from_the_server() -> None:
    """`kkiai chat` sends the prompt and system message and prints the streamed reply."""
    async with FakeServer() as server:
        server.queue(Reply.text("Hello from the server!", chunk_size=4))
        code, out, err = await kkiai(
            "chat", "Hi", "--system", "Be brief.", "--model", "m1", "--base-url", server.base_url
        )
        assert code == 0, err
        assert out.strip() == "Hello from the server!"
        body = server.requests[-1].body
        assert body["model"] == "m1"
        assert body["stream"] is True
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ]


async def test_chat_json_prints_typed_events() -> None:
    """`kkiai chat --json` prints one JSON event a line, tagged by type."""
    async with FakeServer() as server:
        server.queue(Reply.text("ab cd", chunk_size=2))
        code, out, err = await kkiai("chat", "x", "--json", "--base-url", server.base_url)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert "".join(e["delta"] for e in events if e["type"] == "text.delta") == "ab cd"
    assert events[-1]["type"] in {"choice.finished", "text.done", "usage"}
    assert any(e["type"] == "choice.finished" and e["finish_reason"] == "stop" for e in events)


async def test_missing_key_for_the_real_service_is_one_line() -> None:
    """Without KKIAI_API_KEY against the real service, one line explains it; no traceback."""
    code, out, err = await kkiai("chat", "hello")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "KKIAI_API_KEY" in err and "Traceback" not in err


async def test_api_errors_are_one_line() -> None:
    """An error status from the server is reported in one line with exit status 1."""
    async with FakeServer(api_key="right") as server:
        code, _, err = await kkiai(
            "chat", "hello", "--base-url", server.base_url, KKIAI_API_KEY="wrong"
        )
    assert code == 1
    assert err.startswith("kkiai: AuthenticationError: HTTP 401")
    assert "Traceback" not in err and "wrong" not in err


async def test_batch_runs_a_file_and_prints_a_summary(tmp_path: Path) -> None:
    """`kkiai batch` writes one line per request and ends with a summary."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(
        "".join(
            json.dumps(
                {
                    "custom_id": f"r{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]},
                }
            )
            + "\n"
            for i in range(12)
        )
    )
    async with FakeServer() as server:
        code, _, err = await kkiai(
            "batch", str(inp), str(out), "--concurrency", "4", "--base-url", server.base_url
        )
    assert code == 0, err
    ids = sorted(json.loads(line)["custom_id"] for line in out.read_text().splitlines())
    assert ids == sorted(f"r{i}" for i in range(12))
    assert "12 succeeded, 0 failed" in err.splitlines()[-1]
    assert "12/12 done=12" in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_serve_answers_on_the_given_port() -> None:
    """`kkiai serve --port N` serves the chat API on 127.0.0.1:N until stopped."""
    import kkiai_async as kk

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kkiai_async",
        "serve",
        "--port",
        str(port),
        stderr=subprocess.PIPE,
        env=env(),
    )
    try:
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert f"http://127.0.0.1:{port}/v1" in line.decode()
        async with kk.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1") as client:
            completion = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "ping"}]
            )
        assert completion.choices[0].message.content
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.parametrize("argv", [["chat"], ["batch", "only-one"], ["nope"]])
async def test_bad_usage_exits_2(argv: list[str]) -> None:
    """Wrong arguments give argparse's usage message and exit status 2."""
    code, _, err = await kkiai(*argv)
    assert code == 2
    assert "usage: kkiai" in err


def test_closed_pipe_exits_0_and_leaves_nothing_unclosed() -> None:
    """Output piped into a reader that went away: exit 0, and no unclosed file behind."""
    proc = subprocess.Popen(
        [sys.executable, "-W", "always::ResourceWarning", "-m", "kkiai_async", "demo", "--fast"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(60) == 0
    assert "ResourceWarning" not in err
    assert "Traceback" not in err


async def test_workers_without_ray_is_a_usage_error(tmp_path: Path) -> None:
    """`--workers` only means something with `--ray`: alone it is a one-line usage error."""
    source = tmp_path / "in.jsonl"
    source.write_text("")
    code, _, err = await kkiai(
        "batch", str(source), str(tmp_path / "out.jsonl"), "--workers", "2",
        KKIAI_BASE_URL="http://127.0.0.1:9/v1",
    )  # fmt: skip
    assert code == 2
    assert err.strip() == "kkiai: --workers needs --ray"


async def test_ray_without_a_key_for_the_real_service_is_one_line(tmp_path: Path) -> None:
    """`--ray` checks the key like the plain batch command, before Ray is started."""
    source = tmp_path / "in.jsonl"
    source.write_text("")
    code, _, err = await kkiai("batch", str(source), str(tmp_path / "out.jsonl"), "--ray")
    assert code == 2
    assert err.startswith("kkiai: no API key")
