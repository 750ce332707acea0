"""``python -m benchmarks.otel``: what telemetry costs a stream, off and on.

The issue's two stream scenarios (a 20,000-chunk stream; 1,000 concurrent streams of
200 chunks), served by the suite's server (``benchmarks/server.py``, a process of its
own), each measured as client CPU time (``time.process_time``) in a child process per
mode, the modes interleaved repeat by repeat:

- ``no-api``: ``opentelemetry`` cannot be imported (the ``otel`` extra not installed);
- ``off``: the API installed, no SDK provider configured (the global no-op proxies);
- ``on``: an SDK tracer provider (a batch span processor and an exporter that drops
  what it gets) and meter provider (an in-memory reader) given to the client;
- ``before`` (with ``--before PATH``): the package at ``PATH`` (a copy of the code
  before telemetry, e.g. ``git archive <commit> kkiai_async | tar -x -C PATH``), no
  provider.

``KKIAI_BENCH_TRANSPORT=httpx`` measures the httpx transport. Figures are medians over
``--repeat`` runs; ``on`` also shows the extra CPU per request
over ``off``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["main"]

_MODES = ("no-api", "off", "on")
_MESSAGES = [{"role": "user", "content": "bench"}]


async def _drain(client: Any, model: str) -> None:
    stream = await client.chat.completions.create(
        model=model, messages=_MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        async for _ in stream:
            pass


async def _child(mode: str, port: int, concurrent: int) -> dict[str, float]:
    import kkiai_async as kk

    options: dict[str, Any] = {}
    if mode == "on":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class _Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
        options = {
            "tracer_provider": tracer_provider,
            "meter_provider": MeterProvider(metric_readers=[InMemoryMetricReader()]),
        }
    figures: dict[str, float] = {}
    transport = os.environ.get("KKIAI_BENCH_TRANSPORT") or None
    async with kk.AsyncClient(
        api_key="bench", base_url=f"http://127.0.0.1:{port}/v1", transport=transport, **options
    ) as client:
        await _drain(client, "bench-warmup")
        if mode in ("on", "off", "no-api"):
            on = client._telemetry_now() is not None
            assert on == (mode == "on"), (mode, on)
        start = time.process_time()
        await _drain(client, "bench-content")
        figures["content_20k_ms"] = (time.process_time() - start) * 1e3
        start = time.process_time()
        await asyncio.gather(*[_drain(client, "bench-concurrent") for _ in range(concurrent)])
        figures["concurrent_1000_ms"] = (time.process_time() - start) * 1e3
    return figures


def _run_child(mode: str, port: int, before: str | None) -> dict[str, float]:
    env = dict(os.environ)
    cwd = None
    if mode == "before":
        # "-c" puts the working directory first on sys.path: the copy's package wins.
        cwd = before
        env["PYTHONPATH"] = os.getcwd() + os.pathsep + env.get("PYTHONPATH", "")
    code = (
        "import sys; sys.modules['opentelemetry'] = None; " if mode == "no-api" else ""
    ) + "from benchmarks.otel import child_main; child_main()"
    out = subprocess.run(
        [sys.executable, "-c", code, mode, str(port)],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def child_main() -> None:
    """The child process: ``argv`` is the mode and the server's port."""
    mode, port = sys.argv[1], int(sys.argv[2])
    print(json.dumps(asyncio.run(_child(mode, port, 1000))))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.otel``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otel")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", help="a copy of the package before telemetry")
    args = parser.parse_args(argv)
    modes = [*_MODES, *(["before"] if args.before else [])]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.server",
            "--scenario",
            "content_20k",
            "--scenario",
            "concurrent_1000",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for repeat in range(args.repeat):
            order = modes[repeat % len(modes) :] + modes[: repeat % len(modes)]
            for mode in order:
                runs[mode].append(_run_child(mode, port, args.before))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    print(f"client CPU ms, median of {args.repeat} (interleaved)")
    print(f"{'mode':8} {'20k-chunk stream':>18} {'1,000 streams':>15}")
    medians = {
        mode: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for mode, results in runs.items()
    }
    for mode, figures in medians.items():
        print(f"{mode:8} {figures['content_20k_ms']:18.1f} {figures['concurrent_1000_ms']:15.1f}")
    on, off = medians["on"], medians["off"]
    print(
        "on - off, per request: "
        f"20k stream {on['content_20k_ms'] - off['content_20k_ms']:.2f} ms; "
        f"concurrent {(on['concurrent_1000_ms'] - off['concurrent_1000_ms']) / 1000 * 1e3:.0f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
