"""The kkiai command, run as a user runs it: in a subprocess, piped or on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kkiai_async as kk
from kkiai_async.testing import FakeServer, Fault, Reply

ROOT = Path(__file__).resolve().parent.parent


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KKIAI_")}
    base["PYTHONPATH"] = str(ROOT)
    return {**base, **extra}


async def kkiai(*args: str, cwd: Path | None = None, **extra_env: str) -> tuple[int, str, str]:
    """Run `python -m kkiai_async ARGS` without blocking the loop the test server runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kkiai_async",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(**extra_env),
        cwd=cwd,
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


# --------------------------------------------------------------------------------------
# kkiai chat --json-schema
# --------------------------------------------------------------------------------------

FORECAST: dict[str, object] = {
    "title": "Forecast",
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "celsius": {"type": "number"},
        "sky": {"enum": ["sunny", "cloudy", "rainy"]},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "hours": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "properties": {"hour": {"type": "integer"}, "rain": {"type": "boolean"}},
                "required": ["hour", "rain"],
                "additionalProperties": False,
            },
        },
        "wind": {
            "type": "object",
            "properties": {"kmh": {"type": "integer"}, "from": {"enum": ["N", "E", "S", "W"]}},
            "required": ["kmh", "from"],
            "additionalProperties": False,
        },
    },
    "required": ["city", "celsius", "sky", "warnings", "hours", "wind"],
    "additionalProperties": False,
}


def schema_file(tmp_path: Path, content: object, name: str = "forecast.json") -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return str(path)


async def test_json_schema_piped_prints_exactly_the_answer_as_json(tmp_path: Path) -> None:
    """Piped, stdout is one JSON document: the server's answer, nested objects and arrays
    included, the same value a direct request with the same format gets; stderr is empty."""
    path = schema_file(tmp_path, FORECAST)
    async with FakeServer() as server:
        code, out, err = await kkiai(
            "chat", "Weather in Paris?", "--json-schema", path, "--base-url", server.base_url
        )
        sent = server.requests[-1].body["response_format"]
        async with kk.AsyncClient(base_url=server.base_url) as client:
            direct = await client.chat.completions.create(
                model="kkiai-chat",
                messages=[{"role": "user", "content": "Weather in Paris?"}],
                response_format=sent,
            )
    assert (code, err) == (0, "")
    answer = json.loads(out)  # the whole of stdout: nothing before or after the document
    assert direct.choices[0].message.content is not None
    assert answer == json.loads(direct.choices[0].message.content)
    assert answer["city"] == "Paris"
    assert len(answer["hours"]) >= 2 and isinstance(answer["hours"][0]["rain"], bool)
    assert answer["wind"]["from"] in ("N", "E", "S", "W")
    assert out == json.dumps(answer, indent=2) + "\n"  # indented, one newline at the end


async def test_json_schema_output_keeps_the_answer_as_the_server_wrote_it(
    tmp_path: Path,
) -> None:
    """The answer is reformatted, not re-encoded: numbers keep their digits and
    non-ASCII text is not escaped."""
    path = schema_file(tmp_path, FORECAST)
    async with FakeServer() as server:
        server.queue(
            Reply.text('{"city":"Zürich","celsius":1.10,"big":12345678901234567890,"tags":[]}')
        )
        code, out, err = await kkiai(
            "chat", "x", "--json-schema", path, "--base-url", server.base_url
        )
    assert code == 0, err
    assert out == (
        "{\n"
        '  "city": "Zürich",\n'
        '  "celsius": 1.10,\n'
        '  "big": 12345678901234567890,\n'
        '  "tags": []\n'
        "}\n"
    )


BARE_WITHOUT_TITLE = {k: v for k, v in FORECAST.items() if k != "title"}
JSON_SCHEMA_OBJECT = {"name": "weather", "schema": FORECAST, "description": "A forecast."}


@pytest.mark.parametrize(
    ("file_name", "content", "sent"),
    [
        pytest.param(
            "forecast.json",
            FORECAST,
            {
                "type": "json_schema",
                "json_schema": {"name": "Forecast", "schema": FORECAST, "strict": True},
            },
            id="bare schema: named after its title, strict",
        ),
        pytest.param(
            "my forecast.v2.json",
            BARE_WITHOUT_TITLE,
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "my_forecast_v2",
                    "schema": BARE_WITHOUT_TITLE,
                    "strict": True,
                },
            },
            id="bare schema without a title: named after the file, made valid",
        ),
        pytest.param(
            "f.json",
            {**FORECAST, "title": "Tomorrow's forecast"},
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "f",
                    "schema": {**FORECAST, "title": "Tomorrow's forecast"},
                    "strict": True,
                },
            },
            id="bare schema whose title is no valid name: named after the file",
        ),
        pytest.param(
            "f.json",
            JSON_SCHEMA_OBJECT,
            {"type": "json_schema", "json_schema": JSON_SCHEMA_OBJECT},
            id="json_schema object: sent as written",
        ),
        pytest.param(
            "f.json",
            {"type": "json_schema", "json_schema": {**JSON_SCHEMA_OBJECT, "strict": True}},
            {"type": "json_schema", "json_schema": {**JSON_SCHEMA_OBJECT, "strict": True}},
            id="response_format: sent as written",
        ),
    ],
)
async def test_json_schema_file_forms(
    tmp_path: Path, file_name: str, content: dict[str, object], sent: dict[str, object]
) -> None:
    """A bare JSON Schema is wrapped (the schema itself unchanged); a json_schema object
    or a whole response_format is sent as the file has it; each answer is printed."""
    path = schema_file(tmp_path, content, file_name)
    async with FakeServer() as server:
        code, out, err = await kkiai(
            "chat", "Paris", "--json-schema", path, "--base-url", server.base_url
        )
        assert code == 0, err
        assert server.requests[-1].body["response_format"] == sent
        assert server.requests[-1].body["stream"] is True
    assert json.loads(out)["city"] == "Paris"


@pytest.mark.parametrize(
    "content",
    [FORECAST, {"type": "json_schema", "json_schema": {**JSON_SCHEMA_OBJECT, "strict": True}}],
    ids=["bare schema", "response_format"],
)
async def test_no_strict_sends_strict_false(tmp_path: Path, content: dict[str, object]) -> None:
    """`--no-strict` sends `strict: false`, whatever the file says."""
    path = schema_file(tmp_path, content)
    async with FakeServer() as server:
        code, _, err = await kkiai(
            "chat", "x", "--json-schema", path, "--no-strict", "--base-url", server.base_url
        )
        assert code == 0, err
        assert server.requests[-1].body["response_format"]["json_schema"]["strict"] is False


async def test_no_strict_without_a_schema_is_a_usage_error() -> None:
    """`--no-strict` only means something with `--json-schema`."""
    code, out, err = await kkiai("chat", "x", "--no-strict", KKIAI_BASE_URL="http://127.0.0.1:9/v1")
    assert (code, out) == (2, "")
    assert err == "kkiai: --no-strict needs --json-schema\n"


async def test_json_schema_with_json_prints_the_events(tmp_path: Path) -> None:
    """With `--json` too, stdout holds the events as JSON lines (deltas carry the value
    parsed so far, text.done the whole value), not the document."""
    path = schema_file(tmp_path, FORECAST)
    async with FakeServer() as server:
        server.queue(Reply.text('{"city": "Oslo", "hours": [1, 2]}', chunk_size=5))
        code, out, err = await kkiai(
            "chat", "x", "--json-schema", path, "--json", "--base-url", server.base_url
        )
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    deltas = [e for e in events if e["type"] == "text.delta"]
    assert "".join(e["delta"] for e in deltas) == '{"city": "Oslo", "hours": [1, 2]}'
    assert deltas[2]["parsed"] == {"city": "Oslo"}  # after `Oslo"`
    done = next(e for e in events if e["type"] == "text.done")
    assert done["parsed"] == {"city": "Oslo", "hours": [1, 2]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            None,
            "kkiai: cannot read the schema file '{path}': No such file or directory",
            id="missing file",
        ),
        pytest.param(
            '{"type": "object",\n  "properties": {,}}',
            "kkiai: the schema file '{path}' is not JSON: Expecting property name enclosed "
            "in double quotes: line 2 column 18 (char 36)",
            id="not JSON",
        ),
        pytest.param(
            '["city", "celsius"]',
            "kkiai: the schema file '{path}' holds a JSON array, not an object: give a JSON "
            "Schema, a json_schema object or a response_format",
            id="not an object",
        ),
    ],
)
async def test_a_bad_schema_file_is_one_line_and_nothing_is_sent(
    tmp_path: Path, content: str | None, message: str
) -> None:
    """A schema file that cannot be read, is not JSON (the line and column are named) or
    holds no object: one line, exit status 1, no request."""
    path = str(tmp_path / "forecast.json") if content is None else schema_file(tmp_path, content)
    async with FakeServer() as server:
        code, out, err = await kkiai(
            "chat", "x", "--json-schema", path, "--base-url", server.base_url
        )
        assert server.requests == []
    assert (code, out) == (1, "")
    assert err == message.format(path=path) + "\n"


async def test_a_format_the_library_refuses_is_one_line_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    """A json_schema object without a name is refused before sending, in one line."""
    path = schema_file(tmp_path, {"schema": FORECAST, "strict": True})
    async with FakeServer() as server:
        code, out, err = await kkiai(
            "chat", "x", "--json-schema", path, "--base-url", server.base_url
        )
        assert server.requests == []
    assert (code, out) == (1, "")
    assert err == (
        "kkiai: InvalidParameterError: invalid parameter 'response_format.json_schema.name': "
        "must be a non-empty string, got None\n"
    )


STRICT_REJECTION = {
    "error": {
        "message": "Invalid schema for response_format 'Forecast': In context=(), "
        "'additionalProperties' is required to be supplied and to be false.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
}


async def test_a_schema_the_server_rejects_is_one_line_with_a_hint(tmp_path: Path) -> None:
    """A strict schema the server rejects (as the real API rejects one without
    `additionalProperties: false`) is sent as written, and the rejection is one line,
    exit status 1, pointing at `--no-strict`."""
    loose = {k: v for k, v in FORECAST.items() if k != "additionalProperties"}
    path = schema_file(tmp_path, loose)
    async with FakeServer() as server:
        server.queue(Fault.status(400, body=STRICT_REJECTION))
        code, out, err = await kkiai(
            "chat", "x", "--json-schema", path, "--base-url", server.base_url
        )
        assert server.requests[-1].body["response_format"]["json_schema"]["schema"] == loose
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("kkiai: BadRequestError: HTTP 400")
    assert "'additionalProperties' is required to be supplied and to be false" in err
    assert err.endswith(" (--no-strict sends the schema without strict mode)\n")


async def test_a_refusal_goes_to_stderr_with_exit_status_1(tmp_path: Path) -> None:
    """A refusal is no answer: its text on stderr, nothing on stdout, exit status 1."""
    path = schema_file(tmp_path, FORECAST)
    async with FakeServer() as server:
        server.queue(Reply.refusal("I can't help with that.", chunk_size=4))
        code, out, err = await kkiai(
            "chat", "x", "--json-schema", path, "--base-url", server.base_url
        )
    assert (code, out) == (1, "")
    assert err == "kkiai: the model refused: I can't help with that.\n"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        pytest.param(
            Reply.text('{"city": "Par', finish_reason="length"),
            "kkiai: LengthFinishReasonError: choice 0 was cut off at the token limit "
            "(finish_reason 'length'), so its content cannot be parsed",
            id="length",
        ),
        pytest.param(
            Reply.text('{"city": "Paris"}', finish_reason="content_filter"),
            "kkiai: ContentFilterFinishReasonError: choice 0 was stopped by the content "
            "filter (finish_reason 'content_filter')",
            id="content_filter",
        ),
        pytest.param(
            Reply.text("Sure! Paris will be sunny."),
            "kkiai: OutputValidationError: choice 0: the content does not fit the response "
            "format: JSON is malformed: invalid character (byte 0); the content begins "
            "'Sure! Paris will be sunny.'",
            id="not JSON",
        ),
    ],
)
async def test_an_answer_that_is_no_document_is_one_line(
    tmp_path: Path, reply: Reply, message: str
) -> None:
    """A cut-off or filtered answer, or content that is not JSON: the library's typed
    error in one line, nothing on stdout, exit status 1."""
    path = schema_file(tmp_path, FORECAST)
    async with FakeServer() as server:
        server.queue(reply)
        code, out, err = await kkiai(
            "chat", "x", "--json-schema", path, "--base-url", server.base_url
        )
    assert (code, out) == (1, "")
    assert err == message + "\n"


async def test_json_schema_on_a_terminal_shows_progress_then_only_the_document(
    tmp_path: Path,
) -> None:
    """On a terminal a line redrawn in place shows the answer arriving; it is erased, and
    what remains is the indented document."""
    path = schema_file(tmp_path, FORECAST)
    async with FakeServer() as server:
        server.queue(Reply.text('{"city": "Zürich", "warnings": ["日本語"]}', chunk_size=3))
        code, out = await asyncio.to_thread(
            run_on_pty, "chat", "x", "--json-schema", path, "--base-url", server.base_url
        )
    assert code == 0, out
    assert '\r\x1b[2Kreceiving (6 characters): {"city' in out
    shown = out.rsplit("\r\x1b[2K", 1)[1].replace("\r\n", "\n")
    assert shown == '{\n  "city": "Zürich",\n  "warnings": [\n    "日本語"\n  ]\n}\n'


def test_chat_help_explains_json_schema() -> None:
    """`kkiai chat --help` says what --json-schema takes and what it prints."""
    result = subprocess.run(
        [sys.executable, "-m", "kkiai_async", "chat", "--help"],
        capture_output=True,
        text=True,
        env=env(COLUMNS="200"),
        check=True,
    )
    help_text = " ".join(result.stdout.split())
    assert "--json-schema FILE" in help_text
    assert "json_schema object" in help_text and "response_format" in help_text
    assert "--no-strict" in help_text
    assert "| jq" in help_text


def docs_section() -> str:
    page = (ROOT / "docs" / "structured-outputs.md").read_text("utf-8")
    return page.split("\n## From the command line\n", 1)[1].split("\n## ", 1)[0]


def fenced(section: str, info: str) -> str:
    """The body of the one code block of ``section`` whose fence has this info string."""
    found: list[str] = []
    body: list[str] | None = None
    for line in section.splitlines(keepends=True):
        if body is None and line.startswith("```") and line[3:].strip() == info:
            body = []
        elif body is not None and line.rstrip("\n") == "```":
            found.append("".join(body))
            body = None
        elif body is not None:
            body.append(line)
    assert len(found) == 1, f"{len(found)} blocks with info {info!r}"
    return found[0]


async def test_the_docs_command_line_example_prints_what_the_page_shows(tmp_path: Path) -> None:
    """docs/structured-outputs.md's command-line example, run against the embedded server
    (`kkiai serve`) as the page says, prints the very document the page shows."""
    section = docs_section()
    (tmp_path / "forecast.json").write_text(fenced(section, 'json title="forecast.json"'), "utf-8")
    command = shlex.split(fenced(section, "sh"))
    assert command[0] == "kkiai"
    async with FakeServer() as server:
        code, out, err = await kkiai(*command[1:], cwd=tmp_path, KKIAI_BASE_URL=server.base_url)
    assert code == 0, err
    assert out == fenced(section, 'json title="stdout"')
