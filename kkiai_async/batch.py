"""Concurrent batch jobs: bounded concurrency, rate limits, retries, resumable JSONL.

Batch users send thousands to millions of requests. The usual ``asyncio.gather`` with a
semaphore holds every request in memory, ignores the rate limit until 429s pile up, and
loses all its work when the process dies. This module gives them:

- :func:`run`: an async iterator of :class:`BatchResult` as requests finish, reading the
  requests lazily (a million-line input is never held in memory), with bounded
  concurrency, request and token rate limits that adapt to the server's
  ``x-ratelimit-*`` headers and to 429s (a 429 slows down every request, not only the
  one that got it), and retries of what is safe to retry;
- :func:`run_file`: the same over files in the OpenAI Batch format, resumable: a job
  killed at any moment (even ``kill -9``) and started again writes each result exactly
  once, and every line is written whole.

It is built on the public client: each attempt is one ``client.chat.completions`` call
with the client's own retries turned off, so that the batch runner sees (and counts, and
paces) every attempt itself. What it retries, and how long it waits, is the client's one
policy (:mod:`._retry`: the same statuses, ``Retry-After`` in seconds or as an
HTTP-date, ``x-should-retry``); the runner only sets it up for a job nobody watches
request by request -- more attempts, and a server-requested wait of up to five minutes
honoured instead of one.

A request's body is the wire body, as in the OpenAI Batch format: the parameters the
client knows are checked as ``create()`` checks them, and any other key is sent as it
is (as ``extra_body`` would send it), because vendor parameters are normal in a batch
file. A request that cannot be sent -- a wrong type, a missing model -- becomes a
failed result naming the parameter; nothing a request contains can stop the job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ._config import RetryPolicy
from ._exceptions import (
    APIStatusError,
    APIStreamError,
    BatchInputError,
    IncompleteStreamError,
    InvalidParameterError,
    KkiaiError,
)
from ._params import BODY_PARAMS, build_body
from ._ratelimit import RateLimiter
from ._retry import describe_retry_reason, retry_decision, retry_delay
from .types import ChatCompletion

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._otel import Job

__all__ = [
    "BatchInputError",
    "BatchRequest",
    "BatchResult",
    "BatchRun",
    "BatchStats",
    "LineWriter",
    "check_files",
    "read_requests",
    "result_line",
    "run",
    "run_file",
]

logger = logging.getLogger("kkiai_async.batch")

# A job of thousands of requests loses nothing by waiting minutes for one of them, and a
# server that asks for five minutes means it: honour up to that (the client keeps 60 s,
# for a caller who would rather fail than hang).
_MAX_SERVER_DELAY = 300.0
# The backoff sleep, looked up at each use so that tests can record it instead of waiting.
_sleep = asyncio.sleep
_URLS = frozenset({"/v1/chat/completions", "/chat/completions"})
_DEFAULT_COMPLETION_TOKENS = 256
_json_encoder = msgspec.json.Encoder()
_line_decoder = msgspec.json.Decoder()


class BatchRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One request of a batch: an id of the caller's, and the request's body.

    The body is what goes on the wire: the parameters ``create()`` knows are checked
    as it checks them, and any other key is sent unchanged (as ``extra_body``).
    """

    custom_id: str
    body: dict[str, Any]


@dataclass(slots=True)
class BatchResult:
    """What became of one request.

    Attributes:
        custom_id: The request's id.
        response: The completion (streamed requests are assembled), or ``None``.
        error: The error of the last attempt when the request failed, or ``None``; an
            :class:`InvalidParameterError` naming the parameter when the body could not
            be sent at all.
        attempts: How many times it was sent (``0`` when its body was refused).
        latency: Seconds from the first attempt to the result, backoff included.
        status_code: The HTTP status of the last attempt, if one arrived.
        request_id: The server's id of the last attempt, if known.
    """

    custom_id: str
    response: ChatCompletion | None
    error: KkiaiError | None
    attempts: int
    latency: float
    status_code: int | None = None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded."""
        return self.error is None


@dataclass(slots=True)
class BatchStats:
    """Live counters of a batch run, for progress displays."""

    total: int | None = None
    done: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def requests_per_second(self) -> float:
        """Finished requests (done or failed) per second so far."""
        return (self.done + self.failed) / max(self.elapsed, 1e-9)

    @property
    def tokens_per_second(self) -> float:
        """Tokens (prompt and completion) per second so far."""
        return (self.prompt_tokens + self.completion_tokens) / max(self.elapsed, 1e-9)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, when the total is known."""
        if self.total is None:
            return None
        left = self.total - self.skipped - self.done - self.failed
        rate = self.requests_per_second
        return left / rate if rate > 0 else None


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """A cheap upper-leaning estimate of a request's tokens, for the ``tpm`` limit.

    About four characters a token for the prompt, plus the completion budget
    (``max_completion_tokens`` or ``max_tokens``, else a default) for each of ``n``
    choices. The limiter corrects it with the server's ``usage`` afterwards.
    """
    chars = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            chars += len(content)
        elif content is not None:
            chars += len(_json_encoder.encode(content))
        chars += 16  # role and framing
    if body.get("tools"):
        chars += len(_json_encoder.encode(body["tools"]))
    budget = body.get("max_completion_tokens") or body.get("max_tokens")
    completion = budget if isinstance(budget, int) else _DEFAULT_COMPLETION_TOKENS
    n = body.get("n")
    choices = n if isinstance(n, int) and n > 1 else 1
    return chars // 4 + 1 + completion * choices


async def _aiter(
    requests: Iterable[BatchRequest] | AsyncIterable[BatchRequest],
) -> AsyncGenerator[BatchRequest, None]:
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            yield request
    else:
        for request in requests:
            yield request


def _line_params(body: object) -> dict[str, Any]:
    """A request body as ``create()`` keywords, checked: nothing else can refuse it later.

    Known parameters (:data:`._params.BODY_PARAMS`) are passed as themselves, so they
    are checked as a ``create()`` call checks them; every other key goes through
    ``extra_body``, which sends it verbatim.

    Raises:
        InvalidParameterError: The body is not an object with string keys, or a known
            parameter is wrong (``param`` names it).
    """
    if not isinstance(body, Mapping) or not all(type(key) is str for key in body):
        raise InvalidParameterError(
            "body", f"must be a JSON object with string keys, got {type(body).__name__}"
        )
    params: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        (params if key in BODY_PARAMS else extra)[key] = value
    if extra:
        params["extra_body"] = extra
    build_body(params)
    return params


def _retryable(exc: KkiaiError) -> bool:
    """Whether an attempt that raised ``exc`` (not a status error) may be sent again.

    The one place where the runner decides for itself, as :func:`._retry.retry_decision`
    leaves to its caller: a stream that broke or carried an error object is retried,
    because the runner assembles a stream before anyone sees it -- sending the request
    again duplicates nothing. Everything else follows the shared table.
    """
    if isinstance(exc, (IncompleteStreamError, APIStreamError)):
        return True
    return retry_decision(None, {}, exc)


class _Runner:
    """The workers, limiter and counters of one :func:`run`."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        concurrency: int,
        limiter: RateLimiter,
        policy: RetryPolicy,
        stats: BatchStats,
    ) -> None:
        self.client = client
        self.concurrency = concurrency
        self.limiter = limiter
        self.policy = policy
        self.stats = stats
        self.stopping = False
        self.job: Job | None = None  # the job's telemetry, when it is on

    async def execute(self, request: BatchRequest) -> BatchResult:
        if self.job is not None:
            # In a span of its own under the job's.
            return await self.job.request(request.custom_id, lambda: self._execute(request))
        return await self._execute(request)

    async def _execute(self, request: BatchRequest) -> BatchResult:
        started = time.monotonic()
        try:
            params = _line_params(request.body)
        except InvalidParameterError as exc:
            # Nothing was sent: no attempt counted, no rate budget spent.
            return self._failed(request, exc, 0, started, None, None)
        estimate = estimate_tokens(request.body)
        attempts = 0
        while True:
            attempts += 1
            await self.limiter.acquire(estimate)
            status: int | None = None
            headers: Mapping[str, str] = {}
            error: KkiaiError
            try:
                completion, ok_headers, request_id = await self._attempt(params)
            except APIStatusError as exc:
                status, headers, error = exc.status_code, exc.headers, exc
                self.limiter.observe(headers)
                retry = retry_decision(status, headers, None)
            except KkiaiError as exc:
                error = exc
                retry = _retryable(exc)
            else:
                self.limiter.observe(ok_headers)
                usage = completion.usage
                if usage is not None:
                    self.limiter.correct(estimate, usage.total_tokens)
                    self.stats.prompt_tokens += usage.prompt_tokens
                    self.stats.completion_tokens += usage.completion_tokens
                self.stats.done += 1
                return BatchResult(
                    request.custom_id,
                    completion,
                    None,
                    attempts,
                    time.monotonic() - started,
                    200,
                    request_id,
                )
            self.limiter.correct(estimate, 0)
            delay = retry_delay(self.policy, attempts - 1, headers)
            if status == 429:
                # One 429 says the job as a whole is too fast: everyone waits.
                self.limiter.pause(delay)
            if not retry or attempts > self.policy.max_retries:
                return self._failed(request, error, attempts, started, status, error.request_id)
            self.stats.retried += 1
            logger.info(
                "retrying %s (attempt %d) in %.2fs: %s",
                request.custom_id,
                attempts + 1,
                delay,
                describe_retry_reason(status, error),
            )
            await _sleep(delay)

    async def _attempt(
        self, params: dict[str, Any]
    ) -> tuple[ChatCompletion, Mapping[str, str], str | None]:
        completions = self.client.chat.completions
        if params.get("stream"):
            stream = await completions.create(**params, max_retries=0)
            async with stream:
                completion = await stream.final_completion()
            return completion, stream.response_headers, stream.request_id
        raw = await completions.with_raw_response.create(**params, max_retries=0)
        return raw.parse(), raw.headers, raw.request_id

    def _failed(
        self,
        request: BatchRequest,
        exc: KkiaiError,
        attempts: int,
        started: float,
        status: int | None,
        request_id: str | None,
    ) -> BatchResult:
        self.stats.failed += 1
        logger.warning(
            "request %s failed after %d attempt(s): %s", request.custom_id, attempts, exc
        )
        return BatchResult(
            request.custom_id, None, exc, attempts, time.monotonic() - started, status, request_id
        )

    def crashed(self, request: BatchRequest, exc: Exception, started: float) -> BatchResult:
        """The failed result of a request whose handling raised what it never should.

        A bug (ours, a transport's, a custom limiter's) costs the one request, not the
        job; it is logged at ERROR with its traceback, so it is seen and reported.
        """
        logger.error(
            "request %s failed with an unexpected error (a bug: please report it)",
            request.custom_id,
            exc_info=exc,
        )
        error = KkiaiError(f"unexpected error: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        self.stats.failed += 1
        # How many attempts were made is lost with the frame that raised.
        return BatchResult(request.custom_id, None, error, 0, time.monotonic() - started)


class BatchRun:
    """The results of :func:`run`, as an async iterator; also the handle to stop it.

    Why a class and not an async generator: a generator is finished by the first
    exception that passes through it, so a caller cancelled mid-iteration could not go
    on to collect the results of the requests still in flight. Here it can: call
    :meth:`stop` and keep iterating until the iterator ends.
    """

    def __init__(
        self,
        runner: _Runner,
        source: AsyncGenerator[BatchRequest, None],
        on_cancel: Literal["finish", "cancel"],
    ) -> None:
        self._runner = runner
        self._source = source
        self._on_cancel = on_cancel
        # Bounded, so that workers stop taking requests while the consumer is behind:
        # at most 2 x concurrency requests are ever read ahead of the consumer.
        self._results: asyncio.Queue[BatchResult | None] = asyncio.Queue(runner.concurrency)
        self._take = asyncio.Lock()
        self._workers: list[asyncio.Task[None]] = []
        self._closer: asyncio.Task[None] | None = None
        self._ended = False

    @property
    def stats(self) -> BatchStats:
        """The live counters of this run."""
        return self._runner.stats

    def stop(self, *, cancel_in_flight: bool = False) -> None:
        """Take no new requests; the requests in flight finish (or are cancelled).

        Keep iterating to collect the results of those that finish.
        """
        self._runner.stopping = True
        if cancel_in_flight:
            for task in self._workers:
                task.cancel()

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> BatchResult:
        if self._ended:
            raise StopAsyncIteration
        if self._closer is None:
            self._start()
        result = await self._results.get()
        if result is None:
            self._ended = True
            await self._close_source()
            for task in self._workers:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            raise StopAsyncIteration
        return result

    async def aclose(self) -> None:
        """Stop the run: cancel what is in flight unless ``on_cancel="finish"``.

        Called by ``async with`` and when the consumer is done; safe to call twice.
        """
        if self._ended and self._closer is None:
            return
        self._runner.stopping = True
        if self._closer is not None:
            if self._on_cancel == "cancel":
                for task in self._workers:
                    task.cancel()
            # Nobody reads the results any more: drain them so no worker stays blocked
            # on the full queue while the requests in flight finish.
            while not self._closer.done():
                getter = asyncio.ensure_future(self._results.get())
                await asyncio.wait({getter, self._closer}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
            await asyncio.gather(self._closer, return_exceptions=True)
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        self._ended = True
        await self._close_source()

    async def __aenter__(self) -> BatchRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _start(self) -> None:
        telemetry = self._runner.client._telemetry_now()
        if telemetry is not None:
            self._runner.job = telemetry.job()
        self._workers = [
            asyncio.ensure_future(self._worker()) for _ in range(self._runner.concurrency)
        ]
        self._closer = asyncio.ensure_future(self._close_when_done())

    async def _worker(self) -> None:
        runner, stats = self._runner, self._runner.stats
        while True:
            async with self._take:
                # Checked under the lock: stop() may come while a worker waits for it.
                if runner.stopping:
                    return
                try:
                    request = await self._source.__anext__()
                except StopAsyncIteration:
                    return
            stats.in_flight += 1
            started = time.monotonic()
            try:
                result = await runner.execute(request)
            except Exception as exc:  # logged at ERROR, with its traceback, in crashed()
                result = runner.crashed(request, exc, started)
            finally:
                stats.in_flight -= 1
            await self._results.put(result)

    async def _close_when_done(self) -> None:
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._runner.job is not None:
            self._runner.job.end(self._runner.stats)
        await self._results.put(None)

    async def _close_source(self) -> None:
        # Called once no worker is inside the generator (they have all ended, or were
        # cancelled and awaited), so closing it cannot meet "already running"; whatever
        # the caller's iterable raises while it is closed is theirs to see.
        await self._source.aclose()


def run(
    client: AsyncClient,
    requests: Iterable[BatchRequest] | AsyncIterable[BatchRequest],
    *,
    concurrency: int = 64,
    rpm: float | None = None,
    tpm: float | None = None,
    max_attempts: int = 6,
    backoff_base: float = 0.5,
    backoff_cap: float = 30.0,
    on_cancel: Literal["finish", "cancel"] = "cancel",
    stats: BatchStats | None = None,
    limiter: RateLimiter | None = None,
) -> BatchRun:
    """Run requests concurrently; iterate the result to get them as they finish.

    ``async for result in kk.batch.run(client, requests): ...``

    Args:
        client: The client to send with; its own retries are turned off per attempt
            because the runner retries, paces and counts every attempt itself.
        requests: Any iterable or async iterable of :class:`BatchRequest`, read lazily:
            at most ``concurrency`` requests are taken ahead of their results.
        concurrency: How many requests are in flight at most.
        rpm: Requests per minute, or ``None``.
        tpm: Tokens per minute, or ``None`` (estimated before sending, settled from
            ``usage`` afterwards).
        max_attempts: Attempts per request for retryable failures: what the client
            retries (an ``x-should-retry`` header when the server sends one; else
            connection errors, connect and read timeouts, 408, 409, 429, 5xx, 529), and
            streams that broke or carried an error object.
        backoff_base: First backoff in seconds (full jitter, doubling); a server's
            ``Retry-After`` of up to five minutes is honoured instead.
        backoff_cap: Longest backoff in seconds.
        on_cancel: What :meth:`BatchRun.aclose` does with requests in flight when the
            consumer stops early: ``"cancel"`` cancels them; ``"finish"`` waits for them.
        stats: Counters to update as the run goes (for a progress display).
        limiter: Pace with this limiter instead of one made from ``rpm`` and ``tpm``:
            the hook through which several runs share one budget (the Ray
            integration's cluster-wide limit is one).

    Returns:
        A :class:`BatchRun`: an async iterator of :class:`BatchResult` in the order the
        requests finish, and the handle to stop the run.

    Raises:
        InvalidParameterError: ``concurrency`` or ``max_attempts`` below 1, a
            non-positive limit, or a negative backoff.
    """
    if concurrency < 1:
        raise InvalidParameterError("concurrency", "must be at least 1")
    if max_attempts < 1:
        raise InvalidParameterError("max_attempts", "must be at least 1")
    policy = RetryPolicy(
        max_retries=max_attempts - 1,
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
        max_server_delay=_MAX_SERVER_DELAY,
    )
    for name, limit in (("rpm", rpm), ("tpm", tpm)):
        if limit is not None and not limit > 0:
            raise InvalidParameterError(name, "must be positive")
    runner = _Runner(
        client,
        concurrency=concurrency,
        limiter=limiter if limiter is not None else RateLimiter(rpm=rpm, tpm=tpm),
        policy=policy,
        stats=stats if stats is not None else BatchStats(),
    )
    return BatchRun(runner, _aiter(requests), on_cancel)


# --------------------------------------------------------------------------------------
# Files in the OpenAI Batch format
# --------------------------------------------------------------------------------------


def _read_lines(path: str) -> Iterable[tuple[int, bytes]]:
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, line


def _check_input(path: str) -> int:
    """Find every bad line before anything is sent; return the number of requests."""
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    count = 0
    for number, line in _read_lines(path):
        try:
            obj = _line_decoder.decode(line)
        except msgspec.DecodeError as exc:
            problems.append((number, f"not valid JSON ({exc})"))
            continue
        if not isinstance(obj, dict):
            problems.append((number, "not a JSON object"))
            continue
        custom_id = obj.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            problems.append((number, "missing custom_id"))
        elif custom_id in seen:
            problems.append(
                (number, f"duplicate custom_id {custom_id!r} (first on line {seen[custom_id]})")
            )
        else:
            seen[custom_id] = number
        if obj.get("method", "POST") != "POST":
            problems.append((number, f"method must be POST, not {obj.get('method')!r}"))
        if obj.get("url", "/v1/chat/completions") not in _URLS:
            problems.append((number, f"url must be /v1/chat/completions, not {obj.get('url')!r}"))
        if "body" not in obj:
            problems.append((number, "missing body"))
        elif not isinstance(obj["body"], dict):
            problems.append(
                (number, f"body must be a JSON object, not {type(obj['body']).__name__}")
            )
        count += 1
    if problems:
        raise BatchInputError(path, problems)
    return count


def _done_ids(path: str) -> set[str]:
    """The custom_ids already written to an output file, after cutting a torn last line.

    A process killed while writing can leave a last line without its newline; that line
    is not a result, so it is cut off and its request runs again.
    """
    done: set[str] = set()
    if not os.path.exists(path):
        return done
    with open(path, "rb+") as f:
        data_end = f.seek(0, os.SEEK_END)
        if data_end:
            f.seek(data_end - 1)
            if f.read(1) != b"\n":
                # Find the start of the torn line and cut it.
                f.seek(0)
                content = f.read()
                f.truncate(content.rfind(b"\n") + 1)
        f.seek(0)
        for line in f:
            if not line.strip():
                continue
            try:
                obj = _line_decoder.decode(line)
            except msgspec.DecodeError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("custom_id"), str):
                done.add(obj["custom_id"])
    return done


def check_files(
    input_path: str, output_path: str, errors_path: str | None, resume: bool
) -> tuple[int, set[str]]:
    """Check a batch input file, and find what an earlier run already answered.

    The first half of :func:`run_file`, public for runners that write the same files
    (``kkiai_async.ray``): every bad input line is found before anything is sent, and
    with ``resume`` the custom_ids already in the output (and errors) file are returned
    so that they are not sent again; without it those files are emptied. File I/O:
    call it in a thread from async code.

    Args:
        input_path: The input JSONL (OpenAI Batch format).
        output_path: The output JSONL.
        errors_path: A separate errors JSONL, or ``None``.
        resume: Keep what the output files hold and skip those requests.

    Returns:
        The number of requests in the input, and the custom_ids to skip.

    Raises:
        BatchInputError: The input has bad lines.
    """
    total = _check_input(input_path)
    skip: set[str] = set()
    for path in (output_path, errors_path):
        if path is None:
            continue
        if resume:
            skip |= _done_ids(path)
        elif os.path.exists(path):
            os.truncate(path, 0)
    return total, skip


def read_requests(
    path: str, skip: set[str] | frozenset[str] = frozenset()
) -> Iterable[BatchRequest]:
    """The requests of a checked input file (see :func:`check_files`), but ``skip``'s."""
    for _, line in _read_lines(path):
        obj = _line_decoder.decode(line)
        if obj["custom_id"] not in skip:
            yield BatchRequest(custom_id=obj["custom_id"], body=obj["body"])


def result_line(result: BatchResult) -> bytes:
    """A result as one output line of the OpenAI Batch format (newline included)."""
    line_id = f"batch_req_{uuid.uuid4().hex}"
    if result.response is not None:
        record: dict[str, Any] = {
            "id": line_id,
            "custom_id": result.custom_id,
            "response": {
                "status_code": result.status_code or 200,
                "request_id": result.request_id,
                "body": result.response,
            },
            "error": None,
        }
    else:
        exc = result.error
        response = None
        if isinstance(exc, APIStatusError):
            response = {
                "status_code": exc.status_code,
                "request_id": exc.request_id,
                "body": exc.body,
            }
        code = getattr(exc, "code", None) or type(exc).__name__
        error: dict[str, str] = {"code": str(code), "message": str(exc)}
        param = getattr(exc, "param", None)
        if isinstance(param, str):
            error["param"] = param
        record = {
            "id": line_id,
            "custom_id": result.custom_id,
            "response": response,
            "error": error,
        }
    return _json_encoder.encode(record) + b"\n"


class LineWriter:
    """Appends whole lines: one ``write`` call per line on a file opened for appending.

    One ``write`` per line is what makes output files safe to resume from: a process
    killed mid-write leaves at most one torn last line, which :func:`check_files` cuts.
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        os.close(self._fd)


async def run_file(
    client: AsyncClient,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    errors_path: str | os.PathLike[str] | None = None,
    resume: bool = True,
    concurrency: int = 64,
    rpm: float | None = None,
    tpm: float | None = None,
    max_attempts: int = 6,
    on_cancel: Literal["finish", "cancel"] = "finish",
    progress: Callable[[BatchStats], None] | None = None,
    progress_interval: float = 0.5,
) -> BatchStats:
    """Run an OpenAI Batch format JSONL file and write the results as JSONL.

    Input lines are ``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
    "body"}``; output lines are ``{"id", "custom_id", "response": {"status_code",
    "request_id", "body"}, "error"}``.

    Args:
        client: The client to send with.
        input_path: The requests; checked whole before anything is sent (duplicate or
            missing custom_ids, invalid JSON, wrong url or method, a body that is not
            an object). A body's parameters are checked as its request comes up: a
            wrong one gives that request a failed line naming it, and the job goes on.
        output_path: Where results go, appended one whole line each.
        errors_path: Where failures go; ``None`` writes them to ``output_path``.
        resume: Skip custom_ids already in the output (and errors) file, so a killed
            job started again writes every result exactly once.
        concurrency: Requests in flight at most.
        rpm: Requests per minute, or ``None``.
        tpm: Tokens per minute, or ``None``.
        max_attempts: Attempts per request for retryable failures.
        on_cancel: On cancellation, ``"finish"`` writes the requests in flight before
            returning; ``"cancel"`` drops them (they run again on resume).
        progress: Called with the live counters every ``progress_interval`` seconds and
            at the end.
        progress_interval: Seconds between ``progress`` calls.

    Returns:
        The final counters.

    Raises:
        BatchInputError: The input has bad lines; nothing was sent.
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    errors_file = os.fspath(errors_path) if errors_path is not None else None
    total, skip = await asyncio.to_thread(check_files, input_path, output_path, errors_file, resume)
    stats = BatchStats(total=total, skipped=len(skip))
    out = LineWriter(output_path)
    err = LineWriter(errors_file) if errors_file is not None else out
    last_progress = 0.0
    batch = run(
        client,
        read_requests(input_path, skip),
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        max_attempts=max_attempts,
        on_cancel=on_cancel,
        stats=stats,
    )

    def write(result: BatchResult) -> None:
        nonlocal last_progress
        (out if result.ok else err).write(result_line(result))
        if progress is not None and time.monotonic() - last_progress >= progress_interval:
            last_progress = time.monotonic()
            progress(stats)

    try:
        try:
            async for result in batch:
                write(result)
        except asyncio.CancelledError:
            if on_cancel == "finish":
                # Write what is in flight, then let the cancellation go on.
                batch.stop()
                async for result in batch:
                    write(result)
            raise
    finally:
        await batch.aclose()
        out.close()
        if err is not out:
            err.close()
    if progress is not None:
        progress(stats)
    return stats
