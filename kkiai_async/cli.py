"""The ``kkiai`` command: chat, demo, serve, batch.

Why a CLI in a library: the first thing a new user runs is ``kkiai demo``, which needs
nothing but Python (it starts the embedded server itself); ``kkiai chat`` is the
quickest way to see a relay's stream live (or, with ``--json-schema``, to get one JSON
document for a shell pipeline), and ``kkiai batch`` runs a JSONL job with a progress
bar. Every command turns library errors into one line on stderr and an exit status,
never a traceback.

Output adapts to where it goes: on a terminal, tool-call arguments are redrawn in place
as they grow and the batch progress bar refreshes; piped, the same information comes as
plain lines that a log or another program can read.

The command is an application of the library: it uses the public API only
(``import kkiai_async as kk``), so it keeps working however the internals move.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec

import kkiai_async as kk

__all__ = ["main"]

DEMO_MODEL = "kkiai-demo"


class _Console:
    """Writes streamed output; redraws the current line only on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self._line_open = False

    def text(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self._line_open = not text.endswith("\n")

    def line(self, text: str = "") -> None:
        self.end_line()
        self.out.write(text + "\n")
        self.out.flush()

    def redraw(self, text: str) -> None:
        """Replace the current line on a terminal (a growing tool call)."""
        if self.live:
            width = 200
            shown = text if len(text) <= width else text[: width - 1] + "…"
            self.out.write("\r\x1b[2K" + shown)
            self.out.flush()
            self._line_open = True

    def end_line(self) -> None:
        if self._line_open:
            self.out.write("\n")
            self.out.flush()
            self._line_open = False


def _call_text(name: str, arguments: str) -> str:
    return f"→ {name}({arguments})"


async def _stream_turn(
    client: kk.AsyncClient,
    console: _Console,
    *,
    as_json: bool,
    prefix: str = "",
    **params: Any,
) -> Any:
    """Stream one model turn to the console; return the final completion.

    ``prefix`` (a speaker label) is written before the first text, so a turn that only
    calls tools shows no empty label.
    """
    encoder = msgspec.json.Encoder()
    pending_prefix = prefix
    async with client.chat.completions.stream(**params) as events:
        growing: dict[int, list[str]] = {}
        async for event in events:
            if as_json:
                console.out.write(encoder.encode(event).decode() + "\n")
                console.out.flush()
                continue
            match event:
                case (
                    kk.ReasoningDeltaEvent(delta=delta)
                    | kk.TextDeltaEvent(delta=delta)
                    | kk.RefusalDeltaEvent(delta=delta)
                ):
                    console.text(pending_prefix + delta)
                    pending_prefix = ""
                case kk.ToolCallStartedEvent(index=index, name=name):
                    console.end_line()
                    growing[index] = []
                    console.redraw(_call_text(name, ""))
                case kk.ToolCallArgumentsDeltaEvent(index=index, name=name, delta=delta):
                    pieces = growing.setdefault(index, [])
                    pieces.append(delta)
                    console.redraw(_call_text(name, "".join(pieces)))
                case kk.ToolCallDoneEvent(name=name, arguments=arguments):
                    if console.live:
                        console.redraw(_call_text(name, arguments))
                        console.end_line()
                    else:
                        console.line(_call_text(name, arguments))
                case kk.ChoiceFinishedEvent():
                    console.end_line()
                case _:
                    pass
        return await events.final_completion()


# --------------------------------------------------------------------------------------
# kkiai chat
# --------------------------------------------------------------------------------------


def _url_and_key(base_url: str | None) -> tuple[str | None, str | None]:
    """The server and key to use; a URL of ``None`` is the library's default, the service.

    Without a key, the kkiai service can only answer 401: say so before sending. Only
    the case where no server was named is caught (the library's default URL is not
    part of its public API, and a user who types the service's URL has chosen it).
    """
    url = base_url or os.environ.get("KKIAI_BASE_URL") or None
    key = os.environ.get("KKIAI_API_KEY") or None
    if key is None and url is None:
        raise _Usage(
            "no API key: set KKIAI_API_KEY to use the kkiai service "
            "(or point --base-url / KKIAI_BASE_URL at a local server, e.g. `kkiai serve`)"
        )
    return url, key


def _client_from_env(base_url: str | None) -> kk.AsyncClient:
    url, key = _url_and_key(base_url)
    return kk.AsyncClient(api_key=key, base_url=url)


async def _chat(args: argparse.Namespace) -> int:
    if args.no_strict and args.json_schema is None:
        raise _Usage("--no-strict needs --json-schema")
    # The schema file first: a mistake in it is found without a key or a server.
    response_format = (
        None
        if args.json_schema is None
        else _response_format(args.json_schema, no_strict=args.no_strict)
    )
    console = _Console(sys.stdout)
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    async with _client_from_env(args.base_url) as client:
        if response_format is None:
            await _stream_turn(
                client, console, as_json=args.json, model=args.model, messages=messages
            )
            console.end_line()
            return 0
        params: dict[str, Any] = {
            "model": args.model,
            "messages": messages,
            "response_format": response_format,
        }
        try:
            if args.json:
                completion = await _stream_turn(client, console, as_json=True, **params)
            else:
                completion = await _stream_structured(client, _Progress(sys.stderr), **params)
        except kk.BadRequestError as exc:
            raise _schema_rejected(exc, response_format) from None
    document = _document(completion)
    if not args.json:
        # The document alone on stdout: `kkiai chat ... --json-schema s.json | jq .`
        sys.stdout.write(document + "\n")
        sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------------------
# kkiai chat --json-schema
# --------------------------------------------------------------------------------------

# The API's rule for a json_schema's name.
_NAME_OK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME_BAD_CHAR = re.compile(r"[^A-Za-z0-9_-]")


def _response_format(path: str, *, no_strict: bool) -> dict[str, Any]:
    """The ``response_format`` to send for ``--json-schema FILE``.

    The file may hold what a user has at hand: a bare JSON Schema (wrapped here, named
    after its ``title`` or the file, strict by default), a ``json_schema`` object
    (``{"name", "schema", "strict", "description"}``) or a whole ``response_format``
    (``{"type": "json_schema", "json_schema": {...}}``). The last two are sent as
    written. The schema itself is never rewritten: when strict mode rejects it (no
    ``additionalProperties: false``, a property not ``required``), the server says
    why, which is more honest than a schema silently changed to pass.

    Raises:
        _Failed: The file cannot be read, is not JSON, or holds no JSON object.
    """
    shown = repr(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _Failed(f"cannot read the schema file {shown}: {exc.strerror or exc}") from None
    try:
        # The json module, not msgspec: its errors give a line and a column, which is
        # what a person editing the file needs.
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise _Failed(f"the schema file {shown} is not UTF-8 text") from None
    except ValueError as exc:
        raise _Failed(f"the schema file {shown} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _Failed(
            f"the schema file {shown} holds a JSON {_json_kind(data)}, not an object: "
            "give a JSON Schema, a json_schema object or a response_format"
        )
    if "json_schema" in data or data.get("type") == "json_schema":
        response_format = dict(data)
    elif isinstance(data.get("schema"), dict) and "type" not in data:
        response_format = {"type": "json_schema", "json_schema": data}
    else:
        title = data.get("title")
        name = (
            title
            if isinstance(title, str) and _NAME_OK.fullmatch(title)
            else _NAME_BAD_CHAR.sub("_", Path(path).stem)[:64] or "response"
        )
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": data, "strict": True},
        }
    spec = response_format.get("json_schema")
    if no_strict and isinstance(spec, dict):
        response_format["json_schema"] = {**spec, "strict": False}
    return response_format


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def _schema_rejected(exc: kk.BadRequestError, response_format: dict[str, Any]) -> _Failed:
    """The server's 400, in one line; a hint when it is about a strict schema.

    Real servers reject a strict schema that breaks strict mode's rules; the user may
    want the schema as it is, without strict mode, rather than to change it.
    """
    spec = response_format.get("json_schema")
    strict = isinstance(spec, dict) and spec.get("strict") is True
    about_format = isinstance(exc.param, str) and exc.param.startswith("response_format")
    hint = " (--no-strict sends the schema without strict mode)" if strict and about_format else ""
    return _Failed(f"{type(exc).__name__}: {exc}{hint}")


async def _stream_structured(
    client: kk.AsyncClient, progress: _Progress, **params: Any
) -> kk.ChatCompletion:
    """Stream a structured answer, showing its progress; return the final completion."""
    async with client.chat.completions.stream(**params) as events:
        try:
            async for event in events:
                match event:
                    case kk.TextDeltaEvent(delta=delta):
                        progress.show("receiving", delta)
                    case kk.ReasoningDeltaEvent(delta=delta):
                        progress.show("reasoning", delta)
                    case kk.RefusalDeltaEvent(delta=delta):
                        progress.show("refusing", delta)
                    case _:
                        pass
        finally:
            progress.clear()
        completion: kk.ChatCompletion = await events.final_completion()
        return completion


def _document(completion: kk.ChatCompletion) -> str:
    """The answer of a structured completion as indented JSON, or why there is none.

    The content is reformatted, not decoded and re-encoded, so what is printed is the
    very value the server sent: numbers keep their digits (``1.10`` stays ``1.10``),
    text stays as written (non-ASCII characters are not escaped). Checked as the
    library's ``parse()`` checks a typed answer, with the library's errors.

    Raises:
        kk.LengthFinishReasonError: The answer was cut off at the token limit.
        kk.ContentFilterFinishReasonError: The content filter stopped the answer.
        kk.OutputValidationError: The content is not JSON.
        _Failed: The model refused (the refusal is the message), or sent no answer.
    """
    if not completion.choices:
        raise _Failed("the server sent no answer")
    choice = completion.choices[0]
    if choice.finish_reason == "length":
        raise kk.LengthFinishReasonError(completion=completion, choice_index=choice.index)
    if choice.finish_reason == "content_filter":
        raise kk.ContentFilterFinishReasonError(completion=completion, choice_index=choice.index)
    message = choice.message
    if message.refusal:
        raise _Failed(f"the model refused: {message.refusal}")
    content = message.content or ""
    try:
        return msgspec.json.format(content, indent=2)
    except msgspec.DecodeError as exc:
        raise kk.OutputValidationError(
            f"{exc}; the content begins {content[:60]!r}",
            content=content,
            path=None,
            completion=completion,
            choice_index=choice.index,
        ) from None


def _terminal_width(stream: TextIO) -> int:
    """Columns of the terminal ``stream`` writes to; 80 when it cannot say."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80
    return columns if columns > 0 else 80


def _cell_width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class _Progress:
    """One line that shows a structured answer arriving, redrawn on a terminal.

    It goes to stderr, so stdout holds the JSON document alone (``| jq .`` works while
    the person at the terminal still sees the answer grow), and it is erased before the
    document is printed. Piped or redirected, stderr gets nothing: a log wants no
    redraws. The line shows the end of what arrived, the part that changes, within the
    terminal's width (wide characters count twice), so it never wraps.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self.width = _terminal_width(out) if self.live else 80
        self._label = ""
        self._count = 0
        self._tail = ""
        self._shown = False

    def show(self, label: str, delta: str) -> None:
        if not self.live:
            return
        if label != self._label:
            self._label, self._count, self._tail = label, 0, ""
        self._count += len(delta)
        self._tail = (self._tail + delta)[-self.width :]
        head = f"{label} ({self._count:,} characters): "
        room = self.width - 1 - len(head)
        if room < 8:
            head, room = "", self.width - 1
        shown: list[str] = []
        used = 0
        for char in reversed(self._tail):
            char = char if char.isprintable() else " "
            used += _cell_width(char)
            if used > room:
                break
            shown.append(char)
        self.out.write("\r\x1b[2K" + head + "".join(reversed(shown)))
        self.out.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._shown = False


# --------------------------------------------------------------------------------------
# kkiai demo
# --------------------------------------------------------------------------------------


@kk.tool
def get_delivery_date(order_id: str) -> dict[str, str]:
    """Get the delivery date for a customer's order.

    Call this whenever you need to know the delivery date, for example when a customer
    asks 'Where is my package'.

    Args:
        order_id: The customer's order ID.
    """
    # A stand-in for the shop's order database.
    digits = sum(ord(c) for c in order_id)
    return {"order_id": order_id, "delivery_date": f"2026-12-{1 + digits % 28:02d}"}


DEMO_SYSTEM = (
    "You are a helpful customer support assistant. Use the supplied tools to assist the user."
)


async def _demo(args: argparse.Namespace) -> int:
    """The customer-support conversation of the API's function-calling documentation.

    The embedded server scripts the first two model turns (asking for the order id,
    then calling ``get_delivery_date``); the tool runs here, and the last turn is the
    server's own default behaviour, which answers from the tool's result.
    """
    from kkiai_async.testing import FakeServer, Reply

    console = _Console(sys.stdout)
    delay = 0.0 if args.fast else 0.02
    async with FakeServer() as server, kk.AsyncClient(base_url=server.base_url) as client:
        console.line(f"[embedded server at {server.base_url}; no key, no network]")
        server.queue(
            Reply.text(
                "Hi there! I can help with that. Can you please provide your order ID?",
                delay=delay,
            ),
            Reply.tool_call(
                "get_delivery_date", {"order_id": "order_12345"}, chunk_size=3, delay=delay
            ),
        )
        messages: list[Any] = [{"role": "system", "content": DEMO_SYSTEM}]
        for said in (
            "Hi, can you tell me the delivery date for my order?",
            "i think it is order_12345",
        ):
            console.line(f"\nuser: {said}")
            messages.append({"role": "user", "content": said})
            while True:
                completion = await _stream_turn(
                    client,
                    console,
                    as_json=False,
                    prefix="assistant: ",
                    model=DEMO_MODEL,
                    messages=messages,
                    tools=[get_delivery_date],
                )
                console.end_line()
                message = completion.choices[0].message
                messages.append(message.to_param())
                if not message.tool_calls:
                    break
                for call in message.tool_calls:
                    result = await kk.call_tool([get_delivery_date], call)
                    console.line(f"tool {call.function.name} → {result.content}")
                    messages.append(result)
        console.line(f"\n[{len(server.requests)} requests streamed; demo complete]")
    return 0


# --------------------------------------------------------------------------------------
# kkiai serve
# --------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from kkiai_async.testing import run_forever

    run_forever(args.host, args.port, api_key=args.api_key, rpm=args.rpm, tpm=args.tpm)
    return 0


# --------------------------------------------------------------------------------------
# kkiai batch
# --------------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60:02d}:{rest % 60:02d}"
    )


def _progress_text(stats: kk.batch.BatchStats) -> str:
    finished = stats.skipped + stats.done + stats.failed
    total = stats.total or 0
    return (
        f"{finished}/{total} done={stats.done} failed={stats.failed} "
        f"retried={stats.retried} {stats.requests_per_second:.1f} req/s "
        f"{stats.tokens_per_second:.0f} tok/s ETA {_duration(stats.eta)}"
    )


def _progress_printer(out: TextIO) -> Any:
    live = out.isatty()

    def show(stats: kk.batch.BatchStats) -> None:
        text = _progress_text(stats)
        if live:
            total = stats.total or 1
            finished = stats.skipped + stats.done + stats.failed
            filled = int(30 * finished / total)
            bar = "#" * filled + "-" * (30 - filled)
            out.write(f"\r\x1b[2K[{bar}] {text}")
        else:
            out.write(text + "\n")
        out.flush()

    return show


async def _batch(args: argparse.Namespace) -> int:
    progress = _progress_printer(sys.stderr)
    async with _client_from_env(args.base_url) as client:
        stats = await kk.batch.run_file(
            client,
            args.input,
            args.output,
            errors_path=args.errors,
            resume=not args.no_resume,
            concurrency=args.concurrency,
            rpm=args.rpm,
            tpm=args.tpm,
            progress=progress,
            progress_interval=0.2 if sys.stderr.isatty() else 5.0,
        )
    return _batch_summary(stats)


def _batch_summary(stats: kk.batch.BatchStats) -> int:
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    sys.stderr.write(
        f"batch finished in {_duration(stats.elapsed)}: {stats.done} succeeded, "
        f"{stats.failed} failed, {stats.skipped} already done, {stats.retried} retries, "
        f"{stats.prompt_tokens + stats.completion_tokens} tokens\n"
    )
    return 1 if stats.failed else 0


def _batch_on_ray(args: argparse.Namespace) -> int:
    """``kkiai batch --ray``: the same job, sent from a Ray cluster's workers.

    Synchronous: the driver's work is consuming Ray Data's results and writing lines.
    The key is read from ``KKIAI_API_KEY`` here and handed to the workers as an object
    reference (see :mod:`kkiai_async.ray`), never on a command line or in a task.
    """
    from kkiai_async import ray as kk_ray

    base_url, key = _url_and_key(args.base_url)
    try:
        import ray.data  # noqa: F401 - only to say what is missing, in one line
    except ImportError:
        raise _Usage("--ray needs Ray Data: pip install 'kkiai-async[ray]'") from None
    # Ray Data announces every execution at INFO on stderr, between our progress lines.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    stats = kk_ray.run_file(
        args.input,
        args.output,
        errors_path=args.errors,
        resume=not args.no_resume,
        address=args.ray or None,
        workers=args.workers,
        concurrency=args.concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        base_url=base_url,
        api_key=key,
        progress=_progress_printer(sys.stderr),
        progress_interval=0.2 if sys.stderr.isatty() else 5.0,
    )
    return _batch_summary(stats)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


class _Usage(Exception):
    """A mistake of the caller's, explained in one line."""


class _Failed(Exception):
    """A command that could not do its work, explained in one line (exit status 1)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kkiai", description="The kkiai Chat Completions API from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser(
        "chat",
        help="stream one reply to the terminal",
        description="Stream one reply to the terminal.\n\n"
        "With --json-schema, the reply is held to a JSON schema and printed as one\n"
        "indented JSON document. stdout holds the document alone (on a terminal, a\n"
        "line on stderr shows it arriving), so it can be piped into jq:\n\n"
        "  kkiai chat 'Tomorrow in Paris?' --json-schema forecast.json | jq .city",
        # The description's lines and example stay as written.
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chat.add_argument("prompt")
    chat.add_argument("--model", default="kkiai-chat")
    chat.add_argument("--system", help="a system message")
    chat.add_argument(
        "--json",
        action="store_true",
        help="print the stream events as JSON lines (with --json-schema: the events, "
        "whose text.done carries the parsed document, instead of the document)",
    )
    chat.add_argument(
        "--json-schema",
        metavar="FILE",
        help="answer as JSON fitting this schema and print it indented; FILE holds a JSON "
        'Schema (named after its "title" or the file, sent with strict mode), a '
        '{"name", "schema", "strict"} json_schema object, or a whole response_format '
        "(both sent as written)",
    )
    chat.add_argument(
        "--no-strict",
        action="store_true",
        help="with --json-schema: send strict: false (for a schema that strict mode's "
        "rules reject)",
    )
    chat.add_argument("--base-url", help="default: KKIAI_BASE_URL or the kkiai service")

    demo = commands.add_parser("demo", help="a tool-calling conversation on the embedded server")
    demo.add_argument("--fast", action="store_true", help="no delay between streamed chunks")

    serve = commands.add_parser("serve", help="run the embedded OpenAI-compatible server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", help="require this bearer key")
    serve.add_argument("--rpm", type=int, help="requests per minute before 429s")
    serve.add_argument("--tpm", type=int, help="tokens per minute before 429s")

    run = commands.add_parser("batch", help="run an OpenAI Batch format JSONL file")
    run.add_argument("input")
    run.add_argument("output")
    run.add_argument("--errors", help="write failures here instead of to the output")
    run.add_argument("--concurrency", type=int, default=64)
    run.add_argument("--rpm", type=float)
    run.add_argument("--tpm", type=float)
    run.add_argument("--no-resume", action="store_true", help="start over instead of resuming")
    run.add_argument("--base-url", help="default: KKIAI_BASE_URL or the kkiai service")
    run.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="send from Ray workers: a local Ray instance, or the cluster at ADDRESS "
        "('auto' or host:port); needs the ray extra",
    )
    run.add_argument("--workers", type=int, help="Ray workers (with --ray; default 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kkiai`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "batch" and args.ray is not None:
            args.workers = 2 if args.workers is None else args.workers
            return _batch_on_ray(args)
        if args.command == "batch" and args.workers is not None:
            raise _Usage("--workers needs --ray")
        command = {"chat": _chat, "demo": _demo, "batch": _batch}[args.command]
        return asyncio.run(command(args))
    except _Usage as exc:
        print(f"kkiai: {exc}", file=sys.stderr)
        return 2
    except _Failed as exc:
        print(f"kkiai: {exc}", file=sys.stderr)
        return 1
    except kk.KkiaiError as exc:
        print(f"kkiai: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of ours. Point the
        # descriptor at /dev/null so the interpreter's last flush of stdout cannot fail
        # again; no file object is opened that nobody closes.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            finally:
                os.close(devnull)
        return 0
    except OSError as exc:
        # A file that cannot be read or written (a batch input that is missing or a
        # directory, an output folder that does not exist): the user's input, one line.
        print(f"kkiai: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
