"""One client, one scenario, a process of its own: ``python -m benchmarks.runner``.

The suite starts this module once per client and scenario, so that no client inherits
another's imports, caches or heap and the peak RSS is this client's own (``--quick``
shares one process per client across scenarios, to save the start-ups). The runner
imports its client, opens it, warms it up (lazy imports done, first connection made)
and prints ``{"ready": true}``. Then, for each ``run SCENARIO`` line on stdin, it
measures the scenario once and prints one JSON line:
``{"measurements": [...], "peak_rss_kb": N}`` (or ``{"error": traceback}``). The suite
asks every client of the scenario in turn, so repeats are interleaved across clients
while each client pays its start-up only once.

Only the scenario's requests are measured: CPU time with ``time.process_time`` (every
thread of the process) and wall time with ``time.perf_counter``. Each measurement
carries the assembled output for the suite's equality check.

Exit status 3 (after ``{"unavailable": ...}``) means the client cannot be imported here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from benchmarks.clients import load
from benchmarks.common import (
    BenchClient,
    Output,
    Request,
    current_rss_kb,
    no_hook,
    peak_rss_kb,
)
from benchmarks.scenarios import (
    PRESETS,
    WARMUP_JSON,
    WARMUP_STREAM,
    WARMUP_STRUCTURED,
    Preset,
    canonical,
    requests,
)

__all__ = ["EXIT_UNAVAILABLE", "Measurement", "main"]

EXIT_UNAVAILABLE = 3


class Measurement(msgspec.Struct, kw_only=True):
    """One measured part of a run (a ``tools_scale`` or ``structured_scale`` run has one
    per size).

    ``status`` is ``ok``, ``timeout`` (stopped after the budget; ``progress_bytes`` says
    how far it got), ``skipped`` (a smaller size already timed out) or ``mismatch``
    (the many outputs of one run were not all equal; ``detail`` says how many).
    """

    model: str
    cpu_s: float
    wall_s: float
    output: Output | None = None
    status: str = "ok"
    detail: str = ""
    progress_bytes: int | None = None
    count: int = 1
    ttft_s: float | None = None
    rss_baseline_kb: int | None = None
    rss_open_kb: int | None = None


class _Run:
    """What one runner process needs across its runs."""

    def __init__(self, client: BenchClient, preset: Preset, scenario: str) -> None:
        self.client = client
        self.preset = preset
        self.scenario = scenario
        self.requests = requests(scenario, preset)
        # tools_scale, structured_scale: sizes from this one on are skipped once one
        # timed out.
        self.scale_stop: int | None = None


async def _timed(action: Awaitable[Any]) -> tuple[Any, float, float]:
    gc.collect()
    cpu = time.process_time()
    wall = time.perf_counter()
    result = await action
    return result, time.process_time() - cpu, time.perf_counter() - wall


def _same(outputs: list[Output], model: str, cpu_s: float, wall_s: float) -> Measurement:
    """One measurement for many identical requests; a differing output marks it."""
    first = outputs[0]
    differing = sum(1 for output in outputs if output != first)
    return Measurement(
        model=model,
        cpu_s=cpu_s,
        wall_s=wall_s,
        output=first,
        count=len(outputs),
        status="mismatch" if differing else "ok",
        detail=f"{differing} of {len(outputs)} outputs differ from the first" if differing else "",
    )


async def _single(run: _Run) -> list[Measurement]:
    (request,) = run.requests
    output, cpu_s, wall_s = await _timed(run.client.stream(request))
    return [Measurement(model=request.model, cpu_s=cpu_s, wall_s=wall_s, output=output)]


async def _scale(run: _Run) -> list[Measurement]:
    return await _growing(run, run.client.stream, run.preset.scale_budget_s)


async def _structured_scale(run: _Run) -> list[Measurement]:
    client = run.client

    async def answer(request: Request) -> Callable[[], Output]:
        value, finish_reason = await client.structured(request)
        # Converting the answer for the comparison is no part of what is measured.
        return lambda: Output(canonical(client.to_builtins(value)), (), finish_reason)

    return await _growing(run, answer, run.preset.structured_budget_s)


async def _growing(
    run: _Run,
    call: Callable[[Request], Awaitable[Output | Callable[[], Output]]],
    budget_s: float,
) -> list[Measurement]:
    """One stream per size, smallest first; each stopped after ``budget_s``.

    ``call`` returns the output, or a function that makes it, called after the clock
    stopped.
    """
    results: list[Measurement] = []
    for index, request in enumerate(run.requests):
        if run.scale_stop is not None and index >= run.scale_stop:
            results.append(Measurement(model=request.model, cpu_s=0, wall_s=0, status="skipped"))
            continue
        gc.collect()
        cpu = time.process_time()
        wall = time.perf_counter()
        try:
            result = await asyncio.wait_for(call(request), budget_s)
        except asyncio.TimeoutError:
            results.append(
                Measurement(
                    model=request.model,
                    cpu_s=time.process_time() - cpu,
                    wall_s=time.perf_counter() - wall,
                    status="timeout",
                    progress_bytes=_progress(run.client),
                )
            )
            # Sizes grow: a client that could not finish this one will not finish the next.
            run.scale_stop = index
            continue
        cpu_s = time.process_time() - cpu
        wall_s = time.perf_counter() - wall
        output = result if isinstance(result, Output) else result()
        results.append(Measurement(model=request.model, cpu_s=cpu_s, wall_s=wall_s, output=output))
    return results


def _progress(client: BenchClient) -> int | None:
    """How far a cancelled stream got; ``None`` when the client cannot tell."""
    try:
        return client.progress()
    except Exception:
        return None


async def _concurrent(run: _Run) -> list[Measurement]:
    (request,) = run.requests
    count = run.preset.concurrent_streams
    gc.collect()
    baseline = current_rss_kb()
    opened = 0
    at_barrier: int | None = None

    def on_first() -> None:
        # The server holds every stream after its first chunk until all have arrived, so
        # when the last one shows its first delta, all are open and nothing else has
        # been sent yet: the memory of open streams, not of data in flight.
        nonlocal opened, at_barrier
        opened += 1
        if opened == count:
            at_barrier = current_rss_kb()

    run.client.on_first = on_first
    try:
        streams = (run.client.stream(request) for _ in range(count))
        outputs, cpu_s, wall_s = await _timed(asyncio.gather(*streams))
    finally:
        run.client.on_first = no_hook
    measurement = _same(outputs, request.model, cpu_s, wall_s)
    measurement.rss_baseline_kb = baseline
    measurement.rss_open_kb = at_barrier
    return [measurement]


async def _nonstream(run: _Run) -> list[Measurement]:
    (request,) = run.requests
    outputs: list[Output] = []
    remaining = run.preset.nonstream_requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            outputs.append(await run.client.complete(request))

    workers = (worker() for _ in range(run.preset.nonstream_concurrency))
    _, cpu_s, wall_s = await _timed(asyncio.gather(*workers))
    return [_same(outputs, request.model, cpu_s, wall_s)]


async def _ttft(run: _Run) -> list[Measurement]:
    (request,) = run.requests
    outputs: list[Output] = []
    ttfts: list[float] = []

    async def sequence() -> None:
        for _ in range(run.preset.ttft_requests):
            start = time.perf_counter()
            first_at, output = await run.client.first_token(request)
            if not first_at:
                raise RuntimeError("the client saw no content delta")
            ttfts.append(first_at - start)
            outputs.append(output)

    _, cpu_s, wall_s = await _timed(sequence())
    measurement = _same(outputs, request.model, cpu_s, wall_s)
    measurement.ttft_s = statistics.median(ttfts)
    return [measurement]


_SCENARIOS: dict[str, Callable[[_Run], Awaitable[list[Measurement]]]] = {
    "content_20k": _single,
    "tools_60k": _single,
    "tools_scale": _scale,
    "structured_scale": _structured_scale,
    "concurrent_1000": _concurrent,
    "nonstream_2000": _nonstream,
    "ttft": _ttft,
}

_encode = msgspec.json.Encoder().encode


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(_encode(message).decode() + "\n")
    sys.stdout.flush()


async def _serve(
    adapter: type[BenchClient], scenarios: list[str], base_url: str, preset: Preset
) -> int:
    connections = max(preset.concurrent_streams, preset.nonstream_concurrency)
    try:
        client = adapter(base_url, connections)
        await client.__aenter__()
        await client.stream(WARMUP_STREAM)
        if "nonstream_2000" in scenarios:
            await client.complete(WARMUP_JSON)
        if "structured_scale" in scenarios:
            # The first typed answer builds the type's schema and decoder and imports
            # the parsing code: a cost of the first request, not of a KB.
            await client.structured(WARMUP_STRUCTURED)
    except Exception:
        _emit({"error": traceback.format_exc()})
        return 1
    _emit({"ready": True})
    runs = {name: _Run(client, preset, name) for name in scenarios}
    try:
        # Blocking reads on purpose: between runs there is nothing for the loop to do, and
        # a reader thread would be one more thread in the measured process.
        for line in iter(sys.stdin.readline, ""):
            command, _, name = line.strip().partition(" ")
            if command != "run" or name not in runs:
                break
            try:
                measurements = await _SCENARIOS[name](runs[name])
            except Exception:
                _emit({"error": traceback.format_exc()})
                continue
            _emit({"measurements": measurements, "peak_rss_kb": peak_rss_kb()})
    finally:
        await client.__aexit__(None, None, None)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.runner``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runner")
    parser.add_argument("--client", required=True)
    parser.add_argument(
        "--scenario",
        required=True,
        action="append",
        choices=sorted(_SCENARIOS),
        help="a scenario this process will be asked to run (may be repeated)",
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    args = parser.parse_args(argv)
    try:
        adapter = load(args.client)
    except ImportError as exc:
        _emit({"unavailable": f"{type(exc).__name__}: {exc}"})
        return EXIT_UNAVAILABLE
    return asyncio.run(_serve(adapter, args.scenario, args.base_url, PRESETS[args.preset]))


if __name__ == "__main__":
    raise SystemExit(main())
