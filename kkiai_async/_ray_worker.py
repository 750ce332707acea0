"""The Ray Data worker: ``kk.batch`` on the blocks that Ray hands one actor.

Why one long-lived batch run per actor, fed from a queue: Ray Data calls the worker once
per batch of rows. A fresh ``kk.batch.run`` per call would wait for the slowest request
of each batch (a request in its fifth backoff holds up the next batch) and open a new
connection pool each time. Instead the actor keeps one client, one run with
``concurrency`` requests in flight and one event loop on a thread of its own; each call
puts its rows into the run's queue and waits for their results, so two calls in flight
on one actor share its ``concurrency`` and the tail of one overlaps the next.

This module imports Ray at the top: it is only ever imported inside a Ray worker, or by
:mod:`kkiai_async.ray` once the caller has asked for Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future
from typing import Any

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]
import ray

from . import batch
from ._client import AsyncClient
from ._exceptions import KkiaiError
from ._ray_budget import ClusterLimiter

__all__ = ["OUTPUT_SCHEMA", "ChatWorker", "Secret"]

# Bounds the wait for a clean shutdown; a worker that cannot close in time is going
# away with its process anyway.
_CLOSE_TIMEOUT = 10.0
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

OUTPUT_SCHEMA = pa.schema(
    [
        ("custom_id", pa.string()),
        ("status_code", pa.int64()),
        ("request_id", pa.string()),
        ("response", pa.string()),
        ("error", pa.struct([("code", pa.string()), ("message", pa.string())])),
        ("attempts", pa.int64()),
        ("latency", pa.float64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
    ]
)
# The command-line driver also gets each result as the exact line `kk.batch.run_file`
# writes, formatted here by the batch module itself so the two cannot drift apart.
LINE_SCHEMA = OUTPUT_SCHEMA.append(pa.field("line", pa.string()))


class Secret:
    """The API key, as a reference into Ray's object store rather than a value.

    Why: whatever is passed to an actor's constructor is pickled into its creation task;
    the reference is all that travels there, and ``repr`` shows neither.
    """

    __slots__ = ("ref",)

    def __init__(self, ref: Any) -> None:
        self.ref = ref

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    def reveal(self) -> str:
        """The key, fetched from the object store."""
        value: str = ray.get(self.ref)
        return value


def _without_nulls(value: Any) -> Any:
    """Drop the ``None`` fields Arrow adds when it unifies differently shaped structs."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _body_of(value: Any) -> Any:
    """A row's body as the request body; what is not one is passed on as it is.

    A body that is not a JSON object is refused by ``kk.batch`` as a failed result for
    that row alone (``InvalidParameterError``), as a bad line of a batch file is: one
    bad row must not fail the whole Dataset.
    """
    if isinstance(value, (str, bytes)):
        try:
            return _decode(value)
        except msgspec.DecodeError:
            return value
    if isinstance(value, Mapping):
        return _without_nulls(dict(value))
    return value


class ChatWorker:
    """The callable class that ``Dataset.map_batches`` runs in each pool actor.

    Args:
        budget: The handle of the job's :class:`~._ray_budget.Budget` actor (a handle,
            not a name, so that the actor lives as long as the pool needs it).
        base_url: The API's base URL (``None``: the client's default).
        secret: The API key as a :class:`Secret`, or ``None`` to read the worker's
            ``KKIAI_API_KEY``.
        concurrency: Requests in flight in this actor.
        max_attempts: Attempts per request.
        id_column: The column of request ids.
        body_column: The column of request bodies (dicts or JSON strings).
        build: Makes a body from a whole row instead of ``body_column``.
        client_options: More ``AsyncClient`` keywords.
        lines: Also return each result as the output line of ``kk.batch.run_file``.
    """

    def __init__(
        self,
        *,
        budget: Any,
        base_url: str | None,
        secret: Secret | None,
        concurrency: int,
        max_attempts: int,
        id_column: str,
        body_column: str,
        build: Callable[[dict[str, Any]], Mapping[str, Any]] | None,
        client_options: dict[str, Any],
        lines: bool = False,
    ) -> None:
        interval, tpm = ray.get(budget.settings.remote())
        api_key = secret.reveal() if secret is not None else os.environ.get("KKIAI_API_KEY")
        self._id_column = id_column
        self._body_column = body_column
        self._build = build
        self._lines = lines
        self._calls = itertools.count()
        self._waiting: dict[str, asyncio.Future[batch.BatchResult]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kkiai-ray-worker", daemon=True
        )
        self._thread.start()
        self._started: Future[None] = asyncio.run_coroutine_threadsafe(
            self._start(
                budget,
                interval,
                tpm,
                api_key,
                base_url,
                concurrency,
                max_attempts,
                client_options,
            ),
            self._loop,
        )
        self._started.result()

    async def _start(
        self,
        budget: Any,
        interval: float,
        tpm: float | None,
        api_key: str | None,
        base_url: str | None,
        concurrency: int,
        max_attempts: int,
        client_options: dict[str, Any],
    ) -> None:
        self._queue: asyncio.Queue[batch.BatchRequest] = asyncio.Queue()
        self._limiter = ClusterLimiter(budget, interval=interval, tpm=tpm)
        self._client = AsyncClient(api_key=api_key, base_url=base_url, **client_options)
        self._run = batch.run(
            self._client,
            self._requests(),
            concurrency=concurrency,
            max_attempts=max_attempts,
            limiter=self._limiter,
        )
        self._dispatcher = asyncio.ensure_future(self._dispatch())

    async def _requests(self) -> AsyncIterator[batch.BatchRequest]:
        while True:
            yield await self._queue.get()

    async def _dispatch(self) -> None:
        try:
            async for result in self._run:
                waiter = self._waiting.pop(result.custom_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(result)
                if not self._waiting and self._queue.empty():
                    self._limiter.give_back()
        except BaseException as exc:  # the run itself broke: fail every waiting call
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                    )
            raise

    def __call__(self, rows: pa.Table) -> pa.Table:
        """Run one batch of rows; return one output row per input row, in order."""
        records = rows.to_pylist()
        call = next(self._calls)
        requests = []
        for index, row in enumerate(records):
            body: Any = self._build(row) if self._build else _body_of(row[self._body_column])
            if isinstance(body, Mapping) and not isinstance(body, dict):
                body = dict(body)
            # The key is ours, not the caller's id: ids need not be unique across the
            # calls this actor is running at once.
            requests.append(batch.BatchRequest(custom_id=f"{call}/{index}", body=body))
        results = asyncio.run_coroutine_threadsafe(self._submit(requests), self._loop).result()
        ids = [str(row[self._id_column]) for row in records]
        return self._table(ids, results)

    async def _submit(self, requests: list[batch.BatchRequest]) -> list[batch.BatchResult]:
        if self._dispatcher.done():
            # The run broke earlier: fail this call (Ray Data reports it) rather than
            # wait for results that will never come.
            raise RuntimeError("this worker's batch run has stopped") from (
                None if self._dispatcher.cancelled() else self._dispatcher.exception()
            )
        loop = asyncio.get_running_loop()
        waiters = []
        for request in requests:
            waiter: asyncio.Future[batch.BatchResult] = loop.create_future()
            self._waiting[request.custom_id] = waiter
            waiters.append(waiter)
            self._queue.put_nowait(request)
        return list(await asyncio.gather(*waiters))

    def _table(self, ids: list[str], results: list[batch.BatchResult]) -> pa.Table:
        columns: dict[str, list[Any]] = {name: [] for name in LINE_SCHEMA.names}
        for custom_id, result in zip(ids, results, strict=True):
            result.custom_id = custom_id
            usage = result.response.usage if result.response is not None else None
            error = result.error
            columns["custom_id"].append(custom_id)
            columns["status_code"].append(result.status_code)
            columns["request_id"].append(result.request_id)
            columns["response"].append(
                _encode(result.response).decode() if result.response is not None else None
            )
            columns["error"].append(None if error is None else _error_record(error))
            columns["attempts"].append(result.attempts)
            columns["latency"].append(result.latency)
            columns["prompt_tokens"].append(usage.prompt_tokens if usage else None)
            columns["completion_tokens"].append(usage.completion_tokens if usage else None)
            columns["total_tokens"].append(usage.total_tokens if usage else None)
            if self._lines:
                columns["line"].append(batch.result_line(result).decode())
        schema = LINE_SCHEMA if self._lines else OUTPUT_SCHEMA
        return pa.table({name: columns[name] for name in schema.names}, schema=schema)

    def close(self) -> None:
        """Stop the run, close the connections, and stop the loop's thread."""
        if not self._thread.is_alive():
            return
        done = asyncio.run_coroutine_threadsafe(self._aclose(), self._loop)
        with contextlib.suppress(Exception):
            done.result(timeout=_CLOSE_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_CLOSE_TIMEOUT)

    async def _aclose(self) -> None:
        self._dispatcher.cancel()
        await self._run.aclose()
        with contextlib.suppress(asyncio.CancelledError):
            await self._dispatcher
        self._limiter.give_back()
        await self._limiter.aclose()
        await self._client.aclose()

    def __del__(self) -> None:
        # Ray Data's only shutdown hook for a UDF: it drops the instance when it retires
        # the pool gracefully (a killed actor gets no call, and needs none). The work runs
        # on the worker's own loop thread; here we only wait for it.
        self.close()


def _error_record(error: KkiaiError) -> dict[str, str]:
    code = getattr(error, "code", None) or type(error).__name__
    return {"code": str(code), "message": str(error)}
