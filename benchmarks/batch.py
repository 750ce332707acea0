"""Batch jobs: kk.batch against the hand-written alternative, and memory over a long file.

``python -m benchmarks.batch`` starts the benchmark server (pre-encoded non-streamed
completions) in its own process and reports:

- throughput: ``kk.batch.run`` at concurrency 100 against what batch users write by
  hand today, ``asyncio.gather`` over a semaphore with the official ``openai`` SDK,
  on the same server in the same run (medians of interleaved repeats, and the ratio);
- memory: ``kk.batch.run_file`` over a 100,000-line input, with the process's resident
  memory sampled as the results are written. Flat means the input is read lazily and
  nothing accumulates per request.

``python -m benchmarks.batch --ray`` instead compares ``kk.batch.run`` in one process
with ``kkiai_async.ray.chat_completions`` on a local Ray instance with 1 and 2 workers,
same server, same run: requests/s end to end (Ray's start-up of the actor pool
included), requests/s once the first results are in, the start-up itself, and the Ray
overhead per request (the steady per-request time with one worker minus that of one
process).

No figure here is asserted anywhere; the numbers go into the issue notes and the docs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import kkiai_async as kk
from kkiai_async import batch

MODEL = "bench-nonstream"


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--preset", "default"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        proc.kill()
        raise RuntimeError("the benchmark server did not start")
    return proc, f"http://127.0.0.1:{line[1]}/v1"


def _body(i: int) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"question {i}"}]}


async def kkiai_batch(base_url: str, n: int, concurrency: int) -> float:
    async with kk.AsyncClient(api_key="bench", base_url=base_url) as client:
        requests = (batch.BatchRequest(custom_id=str(i), body=_body(i)) for i in range(n))
        start = time.perf_counter()
        done = 0
        async for result in batch.run(client, requests, concurrency=concurrency):
            assert result.ok, result.error
            done += 1
        elapsed = time.perf_counter() - start
    assert done == n
    return n / elapsed


async def sdk_gather(base_url: str, n: int, concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(api_key="bench", base_url=base_url, max_retries=2)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with semaphore:
            return await client.chat.completions.create(**_body(i))

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    await client.close()
    assert len(results) == n
    return n / elapsed


async def memory_over_file(base_url: str, lines: int, concurrency: int) -> list[tuple[int, int]]:
    """RSS (KB) after every tenth of a ``lines``-line run_file job."""
    samples: list[tuple[int, int]] = []
    step = max(1, lines // 10)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        with inp.open("w") as f:
            for i in range(lines):
                line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions"}
                f.write(json.dumps({**line, "body": _body(i)}) + "\n")

        def progress(stats: batch.BatchStats) -> None:
            finished = stats.done + stats.failed
            if finished >= step * (len(samples) + 1):
                samples.append((finished, _rss_kb()))

        async with kk.AsyncClient(api_key="bench", base_url=base_url) as client:
            stats = await batch.run_file(
                client, inp, out, concurrency=concurrency, progress=progress, progress_interval=0
            )
        assert stats.done == lines
    return samples


def ray_workers(base_url: str, n: int, concurrency: int, workers: int) -> dict[str, float]:
    """One Ray job of ``n`` requests: end-to-end and steady rates, and the start-up."""
    import ray

    import kkiai_async.ray as kk_ray

    ds = ray.data.from_items(
        [{"custom_id": str(i), "body": _body(i)} for i in range(n)],
        override_num_blocks=max(1, n // (2 * concurrency)),
    )
    results = kk_ray.chat_completions(
        ds, base_url=base_url, api_key="bench", workers=workers, concurrency=concurrency
    )
    start = time.perf_counter()
    first_at = 0.0
    first_rows = done = 0
    for table in results.iter_batches(batch_format="pyarrow", batch_size=None):
        if not first_at:
            first_at, first_rows = time.perf_counter(), table.num_rows
        assert table.column("error").null_count == table.num_rows
        done += table.num_rows
    end = time.perf_counter()
    assert done == n
    return {
        "end_to_end": n / (end - start),
        "steady": (n - first_rows) / max(end - first_at, 1e-9),
        "startup": first_at - start,
    }


def ray_main(args: argparse.Namespace, base_url: str) -> None:
    import ray

    ray.init(
        address="local",
        log_to_driver=False,
        include_dashboard=False,
        logging_level="WARNING",
        _node_ip_address="127.0.0.1",
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        one: list[float] = []
        runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        for _ in range(args.repeat):
            one.append(asyncio.run(kkiai_batch(base_url, args.requests, args.concurrency)))
            for workers in runs:
                runs[workers].append(
                    ray_workers(base_url, args.requests, args.concurrency, workers)
                )
    finally:
        ray.shutdown()

    def median(workers: int, key: str) -> float:
        return statistics.median(run[key] for run in runs[workers])

    process = statistics.median(one)
    print(f"{args.requests:,} non-streamed requests, concurrency {args.concurrency} per process:")
    print(f"  kk.batch.run, one process        {process:8.0f} req/s")
    for workers in runs:
        print(
            f"  Ray, {workers} worker(s)                {median(workers, 'end_to_end'):8.0f} req/s"
            f" end to end, {median(workers, 'steady'):6.0f} req/s steady,"
            f" start-up {median(workers, 'startup'):.2f} s"
        )
    overhead = 1 / median(1, "steady") - 1 / process
    print(f"  Ray overhead per request (1 worker, steady) {overhead * 1e6:8.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--ray", action="store_true", help="one process against Ray workers")
    args = parser.parse_args()
    server, base_url = _start_server()
    try:
        if args.ray:
            ray_main(args, base_url)
            return
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(args.repeat):
            ours.append(asyncio.run(kkiai_batch(base_url, args.requests, args.concurrency)))
            theirs.append(asyncio.run(sdk_gather(base_url, args.requests, args.concurrency)))
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        print(f"{args.requests:,} non-streamed requests at concurrency {args.concurrency}:")
        print(f"  kk.batch.run                          {statistics.median(ours):8.0f} req/s")
        print(f"  asyncio.gather + semaphore, openai SDK {statistics.median(theirs):8.0f} req/s")
        print(f"  ratio (median of per-repeat ratios)    {statistics.median(ratios):8.1f}x")
        if args.lines:
            samples = asyncio.run(memory_over_file(base_url, args.lines, args.concurrency))
            print(f"run_file over {args.lines:,} lines, RSS as results are written:")
            for finished, rss in samples:
                print(f"  {finished:>8,} done   {rss / 1024:7.1f} MB")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
