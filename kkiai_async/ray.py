"""Batch jobs beyond one machine: chat completions over a Ray Data ``Dataset``.

``kk.batch`` runs thousands of requests a second from one process, and one process is
enough for most jobs. This module is for the jobs that outgrow it: prompts already in
Parquet or object storage, a team's Ray cluster, post-processing that needs more CPU
than one machine has. It adds no scheduler of its own: Ray Data moves the rows, a pool
of Ray actors runs ``kk.batch`` on their blocks, and one named actor holds the job's
rate budget, so that the cluster as a whole stays within ``rpm`` and ``tpm`` however
many workers it runs (see :mod:`._ray_budget`).

- :func:`chat_completions`: ``Dataset`` of requests in, ``Dataset`` of results out.
- :func:`run_file`: the same as :func:`kkiai_async.batch.run_file` (input checks, output
  lines, errors file, progress, resume) with the requests sent from a Ray cluster; what
  ``kkiai batch --ray`` runs.

Nothing of Ray is imported until one of these is called; install it with the ``ray``
extra (``pip install 'kkiai-async[ray]'``).

The API key never travels as a value: the driver puts it in Ray's object store and the
workers receive a reference (see :class:`._ray_worker.Secret`), so it appears neither
in task arguments shown by Ray's state API and dashboard nor in Ray's logs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from . import batch
from ._exceptions import InvalidParameterError

if TYPE_CHECKING:
    import ray.data

__all__ = ["chat_completions", "run_file"]

_DEFAULT_NUM_CPUS = 0.5


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ImportError("kkiai_async.ray needs Ray Data: pip install 'kkiai-async[ray]'") from exc
    return ray


def _check(workers: int, concurrency: int, rpm: float | None, tpm: float | None) -> None:
    if workers < 1:
        raise InvalidParameterError("workers", "must be at least 1")
    if concurrency < 1:
        raise InvalidParameterError("concurrency", "must be at least 1")
    for name, limit in (("rpm", rpm), ("tpm", tpm)):
        if limit is not None and not limit > 0:
            raise InvalidParameterError(name, "must be positive")


def _budget(ray: Any, name: str | None, rpm: float | None, tpm: float | None) -> Any:
    """The job's budget actor: created here, or found by name when jobs share one."""
    from ._ray_budget import Budget

    actor = ray.remote(Budget).options(
        name=name or f"kkiai-budget-{uuid.uuid4().hex[:12]}",
        get_if_exists=True,
        # It does microseconds of work per call: it must never wait for a free CPU
        # behind the job's own workers.
        num_cpus=0,
    )
    return actor.remote(rpm, tpm)


def _map(
    ds: ray.data.Dataset,
    *,
    base_url: str | None,
    api_key: str | None,
    workers: int,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    max_attempts: int,
    id_column: str,
    body_column: str,
    build: Callable[[dict[str, Any]], Mapping[str, Any]] | None,
    num_cpus: float,
    batch_size: int | None,
    budget_name: str | None,
    lines: bool,
    client_options: dict[str, Any],
) -> ray.data.Dataset:
    _check(workers, concurrency, rpm, tpm)
    ray = _import_ray()
    from ._ray_worker import ChatWorker, Secret

    # The driver's settings define the job: workers on other machines do not share its
    # environment.
    key = api_key if api_key is not None else os.environ.get("KKIAI_API_KEY")
    base_url = base_url or os.environ.get("KKIAI_BASE_URL")
    budget = _budget(ray, budget_name, rpm, tpm)
    return ds.map_batches(
        ChatWorker,
        fn_constructor_kwargs={
            "budget": budget,
            "base_url": base_url,
            "secret": Secret(ray.put(key)) if key else None,
            "concurrency": concurrency,
            "max_attempts": max_attempts,
            "id_column": id_column,
            "body_column": body_column,
            "build": build,
            "client_options": client_options,
            "lines": lines,
        },
        # Two calls at once per actor share its `concurrency`, so the slowest request
        # of one batch does not hold up the next (see _ray_worker).
        compute=ray.data.ActorPoolStrategy(
            size=workers, max_concurrent_calls_per_actor=2, enable_true_multi_threading=True
        ),
        num_cpus=num_cpus,
        batch_size=batch_size or 2 * concurrency,
        batch_format="pyarrow",
    )


def chat_completions(
    ds: ray.data.Dataset,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    workers: int = 2,
    concurrency: int = 64,
    rpm: float | None = None,
    tpm: float | None = None,
    max_attempts: int = 6,
    id_column: str = "custom_id",
    body_column: str = "body",
    build: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
    num_cpus: float = _DEFAULT_NUM_CPUS,
    batch_size: int | None = None,
    budget_name: str | None = None,
    **client_options: Any,
) -> ray.data.Dataset:
    """Send every row of a Dataset as a chat completion request; a Dataset of results.

    The result is lazy, like any Dataset: requests are sent as it is consumed
    (``write_parquet``, ``iter_rows``, ``take_all``...).

    Args:
        ds: Rows with an id and a request body, as in the OpenAI Batch format (the body
            a dict, or a JSON string — the exact choice for Parquet, whose structs fill
            absent fields with nulls), or any rows together with ``build``.
        base_url: The API's base URL. Default: the driver's ``KKIAI_BASE_URL``, else
            the kkiai service.
        api_key: The key. Default: the driver's ``KKIAI_API_KEY``; it reaches the
            workers as an object reference, never as a value in a task's arguments.
        workers: Ray actors in the pool.
        concurrency: Requests in flight in each actor.
        rpm: Requests per minute for the whole job, across all workers, or ``None``.
        tpm: Tokens per minute for the whole job, or ``None``.
        max_attempts: Attempts per request for retryable failures.
        id_column: The column of request ids.
        body_column: The column of request bodies.
        build: ``row -> body``, for rows that are not in the Batch format.
        num_cpus: CPUs each actor reserves; fractional, since a worker mostly waits on
            the network (two workers fit on a 2-core machine beside Ray Data's tasks).
        batch_size: Rows per call into an actor (default ``2 * concurrency``): a larger
            batch costs less per row, a smaller one loses less when a worker dies.
        budget_name: Name the budget actor to share one limit between jobs of the same
            Ray namespace that use the same key; by default each job has its own.
        **client_options: More :class:`kkiai_async.AsyncClient` keywords (``timeout``...).

    Returns:
        A Dataset with one row per request: ``custom_id``, ``status_code``,
        ``request_id``, ``response`` (the completion as the API's JSON, streamed bodies
        assembled), ``error`` (``{code, message}`` or null), ``attempts``, ``latency``
        and ``prompt_tokens``/``completion_tokens``/``total_tokens``.

    Raises:
        InvalidParameterError: ``workers`` or ``concurrency`` below 1, or a
            non-positive limit.
        ImportError: Ray Data is not installed.
    """
    return _map(
        ds,
        base_url=base_url,
        api_key=api_key,
        workers=workers,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        max_attempts=max_attempts,
        id_column=id_column,
        body_column=body_column,
        build=build,
        num_cpus=num_cpus,
        batch_size=batch_size,
        budget_name=budget_name,
        lines=False,
        client_options=client_options,
    )


def run_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    errors_path: str | os.PathLike[str] | None = None,
    resume: bool = True,
    address: str | None = None,
    workers: int = 2,
    concurrency: int = 64,
    rpm: float | None = None,
    tpm: float | None = None,
    max_attempts: int = 6,
    base_url: str | None = None,
    api_key: str | None = None,
    num_cpus: float = _DEFAULT_NUM_CPUS,
    batch_size: int | None = None,
    progress: Callable[[batch.BatchStats], None] | None = None,
    progress_interval: float = 0.5,
) -> batch.BatchStats:
    """:func:`kkiai_async.batch.run_file` with the requests sent from a Ray cluster.

    The same input checks, output lines, errors file and resume. The driver (this
    process) writes every line; a result reaches it once its worker has finished the
    batch it belongs to, and a line is written for each ``custom_id`` exactly once:

    - a worker that dies mid-batch is restarted by Ray and its batch re-run; requests
      of that batch may be sent again, but no result of it had reached the driver;
    - a result that arrives twice all the same is dropped;
    - a killed driver, run again, skips what the output already holds (``resume``).

    Args:
        input_path: The requests, in the OpenAI Batch format.
        output_path: Where results go.
        errors_path: Where failures go; ``None`` writes them to ``output_path``.
        resume: Skip custom_ids already in the output (and errors) file.
        address: The Ray cluster (``"auto"`` or an address); ``None`` joins the Ray
            instance this process already has, else starts a new local one.
        workers: Ray actors in the pool.
        concurrency: Requests in flight in each actor.
        rpm: Requests per minute for the whole job.
        tpm: Tokens per minute for the whole job.
        max_attempts: Attempts per request for retryable failures.
        base_url: The API's base URL.
        api_key: The key (default: ``KKIAI_API_KEY``).
        num_cpus: CPUs each actor reserves.
        batch_size: Rows per call into an actor.
        progress: Called with the live counters every ``progress_interval`` seconds and
            at the end.
        progress_interval: Seconds between ``progress`` calls.

    Returns:
        The final counters.

    Raises:
        BatchInputError: The input has bad lines; nothing was sent.
    """
    _check(workers, concurrency, rpm, tpm)
    input_file, output_file = os.fspath(input_path), os.fspath(output_path)
    errors_file = os.fspath(errors_path) if errors_path is not None else None
    total, skip = batch.check_files(input_file, output_file, errors_file, resume)
    stats = batch.BatchStats(total=total, skipped=len(skip))
    rows = [
        {"custom_id": request.custom_id, "body": msgspec.json.encode(request.body).decode()}
        for request in batch.read_requests(input_file, skip)
    ]
    if rows:
        ray = _import_ray()
        if not ray.is_initialized():
            # "local": a new instance of our own, never a cluster that happens to be
            # recorded on this machine; "auto" or an address joins one.
            ray.init(address=address or "local", log_to_driver=False, logging_level="WARNING")
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        size = batch_size or 2 * concurrency
        ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // size)))
        del rows
        results = _map(
            ds,
            base_url=base_url,
            api_key=api_key,
            workers=workers,
            concurrency=concurrency,
            rpm=rpm,
            tpm=tpm,
            max_attempts=max_attempts,
            id_column="custom_id",
            body_column="body",
            build=None,
            num_cpus=num_cpus,
            batch_size=size,
            budget_name=None,
            lines=True,
            client_options={},
        )
        _write(results, output_file, errors_file, skip, stats, progress, progress_interval)
    if progress is not None:
        progress(stats)
    return stats


def _write(
    results: ray.data.Dataset,
    output_file: str,
    errors_file: str | None,
    written: set[str],
    stats: batch.BatchStats,
    progress: Callable[[batch.BatchStats], None] | None,
    progress_interval: float,
) -> None:
    out = batch.LineWriter(output_file)
    err = batch.LineWriter(errors_file) if errors_file is not None else out
    last_progress = 0.0
    try:
        table: Any
        for table in results.iter_batches(batch_format="pyarrow", batch_size=None):
            columns = table.select(
                ["custom_id", "line", "error", "attempts", "prompt_tokens", "completion_tokens"]
            ).to_pydict()
            for custom_id, line, error, attempts, prompt, completion in zip(
                *columns.values(), strict=True
            ):
                if custom_id in written:
                    continue  # a re-run batch delivered it again: written once only
                written.add(custom_id)
                (out if error is None else err).write(line.encode())
                if error is None:
                    stats.done += 1
                else:
                    stats.failed += 1
                stats.retried += attempts - 1
                stats.prompt_tokens += prompt or 0
                stats.completion_tokens += completion or 0
            if progress is not None and time.monotonic() - last_progress >= progress_interval:
                last_progress = time.monotonic()
                progress(stats)
    finally:
        out.close()
        if err is not out:
            err.close()
