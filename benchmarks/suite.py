"""``python -m benchmarks``: schedule the runs, check the outputs, write the report.

For each scenario the suite starts one runner process per client (see
:mod:`benchmarks.runner`), then asks them in turn for one run each, repeat after
repeat, rotating the order so that no client always runs first or last. Every run's
assembled output is compared with the floor's output of the same repeat (the floor's
with the expected output the scenarios module generated): a difference marks the
client's row FAILED and its figures are not reported. Figures are medians over the
repeats; the ratios to the floor and to the official SDK are taken repeat by repeat,
between runs made moments apart, and their median reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.clients import CLIENTS, FLOOR, SDK
from benchmarks.common import Output
from benchmarks.runner import EXIT_UNAVAILABLE, Measurement
from benchmarks.scenarios import (
    PRESETS,
    SCENARIOS,
    STRUCTURED_FRAGMENT,
    Payload,
    Preset,
    build_payloads,
)

__all__ = ["ClientResult", "ScenarioResult", "SuiteResult", "main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
_START_TIMEOUT_S = 180.0
_RUN_TIMEOUT_S = 900.0
_LINE_LIMIT = 256 * 1024 * 1024  # a run's JSON line holds its outputs (1 MiB of arguments)


@dataclass
class ClientResult:
    """One row of a scenario's table."""

    client: str
    label: str
    status: str = "ok"  # ok | FAILED | error | unavailable | not run
    detail: str = ""
    runs: int = 0
    values: dict[str, float] = field(default_factory=dict)
    ratio_floor: float | None = None
    ratio_sdk: float | None = None
    peak_rss_kb: int = 0


@dataclass
class ScenarioResult:
    """A scenario's rows, in the order of :data:`benchmarks.clients.CLIENTS`."""

    name: str
    title: str
    description: str
    primary: str
    rows: list[ClientResult]
    elapsed_s: float


@dataclass
class SuiteResult:
    """Everything the report shows."""

    preset: str
    repeat: int
    started: str
    elapsed_s: float
    machine: dict[str, str]
    versions: dict[str, str]
    scenarios: list[ScenarioResult]


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------

# The client the "vs SDK" column compares with: the SDK's default, or its stream helper
# where only the helper takes part.
SDK_REFERENCE = {"tools_scale": "openai-helper", "structured_scale": "openai-helper"}

# The scenarios of one stream per size, reported in µs per KB at each size.
SCALE_SCENARIOS = ("tools_scale", "structured_scale")

# The figure whose ratios the tables show.
PRIMARY: dict[str, str] = {
    "content_20k": "cpu_us_per_chunk",
    "tools_60k": "cpu_us_per_chunk",
    "tools_scale": "us_per_kb_<largest size both finished>",
    "structured_scale": "us_per_kb_<largest size both finished>",
    "concurrent_1000": "cpu_us_per_chunk",
    "nonstream_2000": "cpu_us_per_request",
    "ttft": "ttft_us",
    "import_time": "import_ms",
}


def _kb(size: int) -> float:
    return size / 1024


def _metrics(
    scenario: str, measurements: list[Measurement], payloads: dict[str, Payload], preset: Preset
) -> dict[str, float]:
    """The figures of one run.

    A ``tools_scale`` or ``structured_scale`` stream stopped at the time budget gives
    ``min_us_per_kb_<kb>`` instead of ``us_per_kb_<kb>``: its cost over the part it got
    through, which is a lower bound of the whole when the cost per KB grows. Also
    ``stopped_s_<kb>``, the CPU seconds it had spent when stopped.
    """
    values: dict[str, float] = {}
    if scenario in SCALE_SCENARIOS:
        for kb, m in zip(preset.scale_kb, measurements, strict=True):
            payload = payloads[m.model]
            size = payload.arguments_bytes or payload.answer_bytes
            if m.status == "ok":
                values[f"us_per_kb_{kb}"] = m.cpu_s * 1e6 / _kb(size)
                values[f"wall_ms_{kb}"] = m.wall_s * 1e3
            elif m.status == "timeout" and m.progress_bytes:
                values[f"min_us_per_kb_{kb}"] = m.cpu_s * 1e6 / _kb(m.progress_bytes)
                values[f"progress_kb_{kb}"] = _kb(m.progress_bytes)
                values[f"size_kb_{kb}"] = _kb(size)
                values[f"stopped_s_{kb}"] = m.cpu_s
        return values
    (m,) = measurements
    payload = payloads[m.model]
    if scenario in ("content_20k", "tools_60k"):
        values["cpu_us_per_chunk"] = m.cpu_s * 1e6 / payload.chunks
        values["wall_ms"] = m.wall_s * 1e3
        if payload.arguments_bytes:
            values["cpu_us_per_kb"] = m.cpu_s * 1e6 / _kb(payload.arguments_bytes)
    elif scenario == "concurrent_1000":
        chunks = payload.chunks * m.count
        values["chunks_per_s"] = chunks / m.wall_s
        values["cpu_us_per_chunk"] = m.cpu_s * 1e6 / chunks
        values["wall_ms"] = m.wall_s * 1e3
        if m.rss_open_kb is not None and m.rss_baseline_kb is not None:
            values["rss_kb_per_stream"] = (m.rss_open_kb - m.rss_baseline_kb) / m.count
    elif scenario == "nonstream_2000":
        values["requests_per_s"] = m.count / m.wall_s
        values["cpu_us_per_request"] = m.cpu_s * 1e6 / m.count
    elif scenario == "ttft":
        assert m.ttft_s is not None
        values["ttft_us"] = m.ttft_s * 1e6
        values["cpu_us_per_request"] = m.cpu_s * 1e6 / m.count
    return values


def _describe_difference(got: Output, want: Output) -> str:
    """Where an output differs from the reference, short enough for a table cell."""

    def first_difference(a: str, b: str) -> int:
        return next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )

    if got.content != want.content:
        return (
            f"content differs at character {first_difference(got.content, want.content)}"
            f" (length {len(got.content)}, expected {len(want.content)})"
        )
    if len(got.tool_calls) != len(want.tool_calls):
        return f"{len(got.tool_calls)} tool calls, expected {len(want.tool_calls)}"
    for index, (a, b) in enumerate(zip(got.tool_calls, want.tool_calls, strict=True)):
        for name, x, y in zip(("id", "name", "arguments"), a, b, strict=True):
            if x != y:
                where = f" at character {first_difference(x, y)}" if name == "arguments" else ""
                return f"tool call {index} {name} differs{where}"
    return f"finish_reason {got.finish_reason!r}, expected {want.finish_reason!r}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _tail(path: Path) -> str:
    """The end of a process's stderr, for an error message."""
    try:
        return path.read_text(errors="replace").strip()[-2000:]
    except OSError:
        return ""


class _Process:
    """A client's runner process (one per scenario, or one for all with ``--quick``).

    ``failure`` is set, as ``(status, detail)``, once the process cannot run anything
    more: its library is unavailable, or it did not start, or it died.
    """

    def __init__(self, client: str, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.client = client
        self.process = process
        self.stderr_path = stderr
        self.failure: tuple[str, str] | None = None

    def stderr_tail(self) -> str:
        return _tail(self.stderr_path)

    async def read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            await self.process.wait()
            if self.process.returncode == EXIT_UNAVAILABLE:
                self.failure = ("unavailable", "cannot be imported")
            else:
                status = self.process.returncode
                self.failure = ("error", f"exited with status {status}\n{self.stderr_tail()}")
            return {self.failure[0]: self.failure[1]}
        message: dict[str, Any] = msgspec.json.decode(line)
        return message

    async def ready(self) -> None:
        try:
            message = await self.read(_START_TIMEOUT_S)
        except asyncio.TimeoutError:
            message = {"error": "did not start in time"}
        if "unavailable" in message:
            self.failure = ("unavailable", message["unavailable"])
        elif "error" in message:
            self.failure = ("error", message["error"])

    async def run(self, name: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(f"run {name}\n".encode())
            await self.process.stdin.drain()
            return await self.read(_RUN_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            self.failure = ("error", f"{type(exc).__name__}: {exc}\n{self.stderr_tail()}")
            return {"error": self.failure[1]}

    async def close(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _start_processes(
    plan: dict[str, list[str]], preset: Preset, server: _Server, workdir: Path
) -> dict[str, _Process]:
    """Start a runner for each client of ``plan`` (client -> its scenarios); wait for all."""
    processes: dict[str, _Process] = {}
    for client, names in plan.items():
        stderr = workdir / f"runner-{client}.err"
        args = ["-m", "benchmarks.runner", "--client", client]
        for name in names:
            args += ["--scenario", name]
        args += ["--base-url", server.base_url, "--preset", preset.name]
        processes[client] = _Process(client, await _spawn(args, stderr), stderr)
    for process in processes.values():
        await process.ready()
    return processes


class _Runs:
    """One client's runs in one scenario."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.status = "ok"
        self.detail = ""
        self.spent_s = 0.0
        self.runs: dict[int, list[Measurement]] = {}
        self.peak_rss_kb = 0

    def fail(self, status: str, detail: str) -> None:
        if self.status == "ok":
            self.status, self.detail = status, detail.strip()


async def _spawn(args: list[str], stderr: Path) -> asyncio.subprocess.Process:
    with stderr.open("wb") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            cwd=ROOT,
            limit=_LINE_LIMIT,
        )


class _Server:
    """The benchmark server's process (:mod:`benchmarks.server`)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}/v1"

    @classmethod
    async def start(cls, preset: Preset, scenarios: list[str], stderr: Path) -> _Server:
        args = ["-m", "benchmarks.server", "--preset", preset.name]
        for name in scenarios:
            args += ["--scenario", name]
        process = await _spawn(args, stderr)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT_S)
        match = re.fullmatch(rb"READY (\d+)\s*", line)
        if match is None:
            process.kill()
            raise RuntimeError(f"the benchmark server did not start:\n{_tail(stderr)}")
        return cls(process, int(match.group(1)))

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------


def _scenario_clients(name: str, preset: Preset, wanted: set[str]) -> tuple[list[str], list[str]]:
    """The clients that run ``name``, and those the preset leaves out of it."""
    clients = [c for c in CLIENTS if c in SCENARIOS[name].clients and c in wanted]
    skipped = [c for c in clients if (name, c) in preset.skip]
    return [c for c in clients if c not in skipped], skipped


async def _run_scenario(
    name: str,
    preset: Preset,
    repeat: int,
    wanted: set[str],
    processes: dict[str, _Process],
    payloads: dict[str, Payload],
) -> ScenarioResult:
    started = time.perf_counter()
    clients, skipped = _scenario_clients(name, preset, wanted)
    states = {client: _Runs(client) for client in clients}
    for client, state in states.items():
        failure = processes[client].failure
        if failure is not None:
            state.fail(*failure)
    for index in range(repeat):
        shift = index % len(clients)
        for client in clients[shift:] + clients[:shift]:
            state = states[client]
            if state.status != "ok":
                continue
            done = len(state.runs)
            if done and state.spent_s + state.spent_s / done > preset.time_cap_s:
                continue
            await _one_run(name, processes[client], state, index, repeat)
    rows = _rows(name, preset, states, payloads)
    rows += [
        ClientResult(
            client=client,
            label=CLIENTS[client].label,
            status="not run",
            detail=f"left out of the {preset.name} preset to keep it short; see --full",
        )
        for client in skipped
    ]
    order = list(CLIENTS)
    rows.sort(key=lambda row: order.index(row.client))
    return ScenarioResult(
        name=name,
        title=SCENARIOS[name].title,
        description=describe(name, preset),
        primary=PRIMARY[name],
        rows=rows,
        elapsed_s=time.perf_counter() - started,
    )


async def _one_run(name: str, process: _Process, state: _Runs, index: int, repeat: int) -> None:
    began = time.perf_counter()
    message = await process.run(name)
    state.spent_s += time.perf_counter() - began
    if "measurements" not in message:
        state.fail("error", str(message.get("error", message)))
        _log(f"[{name} {index + 1}/{repeat}] {state.client}: ERROR")
        return
    measurements = msgspec.convert(message["measurements"], list[Measurement])
    state.runs[index] = measurements
    state.peak_rss_kb = max(state.peak_rss_kb, int(message["peak_rss_kb"]))
    cpu = sum(m.cpu_s for m in measurements)
    wall = sum(m.wall_s for m in measurements)
    _log(f"[{name} {index + 1}/{repeat}] {state.client}: {cpu:.3f} s CPU, {wall:.3f} s wall")


# Where a client's usual label would mislead (no stream in nonstream_2000) or say too
# little (structured_scale's type as response_format).
_LABELS = {
    ("nonstream_2000", "kkiai-chunks"): "kkiai_async create()",
    ("nonstream_2000", "kkiai-httpx"): "kkiai_async create(), httpx transport",
    ("structured_scale", "kkiai-chunks"): "kkiai_async create(stream=True, response_format=T)",
    ("structured_scale", "kkiai-events"): "kkiai_async stream(response_format=T) events",
    ("structured_scale", "openai-helper"): "openai SDK stream(response_format=T) helper",
    ("structured_scale", "floor"): "floor: aiohttp + msgspec, one decode into T at the end",
}


def _rows(
    name: str, preset: Preset, states: dict[str, _Runs], payloads: dict[str, Payload]
) -> list[ClientResult]:
    floor = states.get(FLOOR)
    per_run: dict[str, dict[int, dict[str, float]]] = {}
    rows: list[ClientResult] = []
    for client, runner in states.items():
        label = _LABELS.get((name, client), CLIENTS[client].label)
        row = ClientResult(client=client, label=label)
        rows.append(row)
        _check_outputs(runner, floor, payloads)
        row.status, row.detail = runner.status, runner.detail
        row.runs = len(runner.runs)
        row.peak_rss_kb = runner.peak_rss_kb
        if runner.status != "ok":
            continue
        figures = {
            index: _metrics(name, measurements, payloads, preset)
            for index, measurements in runner.runs.items()
        }
        per_run[client] = figures
        for key in sorted({key for values in figures.values() for key in values}):
            median = _median([values[key] for values in figures.values() if key in values])
            if median is not None:
                row.values[key] = median
        first = figures[min(figures)] if figures else {}
        if "rss_kb_per_stream" in first:
            # Memory freed after a run stays with the process and serves the next run,
            # which then grows by less: only a process's first run tells.
            row.values["rss_kb_per_stream"] = first["rss_kb_per_stream"]
    sdk = SDK_REFERENCE.get(name, SDK)
    for row in rows:
        figures = per_run.get(row.client, {})
        row.ratio_floor = _paired_ratio(name, preset, figures, per_run.get(FLOOR, {}))
        row.ratio_sdk = _paired_ratio(name, preset, figures, per_run.get(sdk, {}))
        if name == "ttft" and FLOOR in per_run:
            added = [
                values["ttft_us"] - per_run[FLOOR][index]["ttft_us"]
                for index, values in figures.items()
                if index in per_run[FLOOR]
            ]
            if added:
                row.values["ttft_added_us"] = statistics.median(added)
    return rows


def _paired_ratio(
    name: str,
    preset: Preset,
    mine: dict[int, dict[str, float]],
    reference: dict[int, dict[str, float]],
) -> float | None:
    """The median over the repeats both ran of the ratio of the primary figures.

    tools_scale and structured_scale compare at the largest size both finished in that
    repeat.
    """
    ratios: list[float] = []
    for index, values in mine.items():
        other = reference.get(index)
        if other is None:
            continue
        keys = [PRIMARY[name]]
        if name in SCALE_SCENARIOS:
            keys = [f"us_per_kb_{kb}" for kb in reversed(preset.scale_kb)]
        for key in keys:
            if key in values and other.get(key):
                ratios.append(values[key] / other[key])
                break
    return _median(ratios)


def _check_outputs(runner: _Runs, floor: _Runs | None, payloads: dict[str, Payload]) -> None:
    """Mark ``runner`` FAILED if any output differs from the floor's of the same repeat."""
    for index, measurements in runner.runs.items():
        reference_runs = (
            floor.runs.get(index) if floor is not None and floor is not runner else None
        )
        for position, m in enumerate(measurements):
            if m.status == "mismatch":
                runner.fail("FAILED", m.detail)
                return
            if m.output is None:
                continue
            want = payloads[m.model].output
            reference = "the expected output"
            if reference_runs is not None and floor is not None and floor.status == "ok":
                floor_output = reference_runs[position].output
                if floor_output is not None:
                    want, reference = floor_output, "the floor's"
            if m.output != want:
                runner.fail(
                    "FAILED",
                    f"{m.model}: output differs from {reference}:"
                    f" {_describe_difference(m.output, want)}",
                )
                return


# --------------------------------------------------------------------------------------
# Import time
# --------------------------------------------------------------------------------------


def _python(statement: str, *, write_bytecode: bool = False) -> float:
    env = None
    if write_bytecode:
        # PYTHONDONTWRITEBYTECODE (set in many containers and CI images) would leave a
        # library's changed modules to be compiled again by every timed run.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", statement],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    return time.perf_counter() - began


def _import_time(preset: Preset, clients: list[str]) -> ScenarioResult:
    """``python -c "import X"`` minus ``python -c "pass"``, paired run by run."""
    started = time.perf_counter()
    groups = {client: CLIENTS[client].imports for client in clients}
    rows: dict[str, ClientResult] = {
        client: ClientResult(client=client, label=f"`import {imports}`")
        for client, imports in groups.items()
    }
    for client, imports in groups.items():
        # Also compiles the bytecode, so that the timed runs do not.
        check = f"import {imports}"
        if client.startswith("kkiai"):
            check += "; kkiai_async.AsyncClient"
        try:
            _python(check, write_bytecode=True)
        except subprocess.CalledProcessError:
            rows[client].status, rows[client].detail = "unavailable", f"`{check}` failed"
    samples: dict[str, list[float]] = {client: [] for client in groups}
    for index in range(preset.import_runs):
        baseline = _python("pass")
        for client, imports in groups.items():
            if rows[client].status == "ok":
                samples[client].append((_python(f"import {imports}") - baseline) * 1e3)
        _log(f"[import_time {index + 1}/{preset.import_runs}] baseline {baseline * 1e3:.1f} ms")
    for client, values in samples.items():
        row = rows[client]
        if not values:
            continue
        row.runs = len(values)
        row.values["import_ms"] = statistics.median(values)
        for reference, attr in ((FLOOR, "ratio_floor"), (SDK, "ratio_sdk")):
            pairs = [
                a / b for a, b in zip(values, samples.get(reference, []), strict=False) if b > 0
            ]
            setattr(row, attr, _median(pairs))
    return ScenarioResult(
        name="import_time",
        title=SCENARIOS["import_time"].title,
        description=describe("import_time", preset),
        primary=PRIMARY["import_time"],
        rows=list(rows.values()),
        elapsed_s=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------
# Machine and versions
# --------------------------------------------------------------------------------------

_DISTRIBUTIONS = (
    "kkiai-async",
    "aiohttp",
    "msgspec",
    "openai",
    "httpx2",
    "httpx",
    "httpx-sse",
    "pydantic",
    "jiter",
    "matplotlib",
)


def machine() -> dict[str, str]:
    """Where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def versions() -> dict[str, str]:
    """The version of every library the clients use."""
    found: dict[str, str] = {}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    if found["kkiai-async"] == "not installed":
        pyproject = (ROOT / "pyproject.toml").read_text()
        match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject, re.MULTILINE)
        if match and (ROOT / "kkiai_async").is_dir():
            found["kkiai-async"] = f"{match.group(1)} (source tree)"
    return found


def describe(name: str, preset: Preset) -> str:
    """The scenario's description with this preset's sizes."""
    sizes = ", ".join(f"{kb} KB" if kb < 1024 else f"{kb / 1024:g} MB" for kb in preset.scale_kb)
    fields = {**preset.__dict__, "scale_sizes": sizes, "structured_fragment": STRUCTURED_FRAGMENT}
    return SCENARIOS[name].description.format(**fields)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark kkiai_async against the openai SDK, httpx-sse and a floor.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, 2 repeats (< 1 min)")
    size.add_argument("--full", action="store_true", help="the issue's sizes, every repeat (long)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run only this scenario (may be given more than once)",
    )
    parser.add_argument(
        "--client",
        action="append",
        choices=list(CLIENTS),
        help="run only this client (may be given more than once; the floor always runs)",
    )
    parser.add_argument("--repeat", type=int, help="repeats per figure (default: the preset's)")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also write docs/performance.md and docs/assets/benchmarks.png",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the results (default: benchmarks/results/, and its quick/"
        " folder with --quick, so a smoke run never replaces the published figures)",
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="JSON",
        help="run nothing: render the report of an earlier run's results.json",
    )
    return parser.parse_args(argv)


async def _suite(args: argparse.Namespace, preset: Preset) -> SuiteResult:
    started = time.perf_counter()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    names = args.scenario or list(SCENARIOS)
    repeat = args.repeat or preset.repeat
    wanted = set(args.client or CLIENTS) | {FLOOR}
    results: list[ScenarioResult] = []
    served = [name for name in names if name != "import_time"]
    if served:
        # The processes' stderr goes to files, read back only to explain a failure.
        with tempfile.TemporaryDirectory(prefix="kkiai-bench-") as logs:
            workdir = Path(logs)
            server = await _Server.start(preset, served, workdir / "server.err")
            try:
                results += await _served_scenarios(served, preset, repeat, wanted, server, workdir)
            finally:
                await server.stop()
    if "import_time" in names:
        clients = [c for c in SCENARIOS["import_time"].clients if c in wanted]
        _log(f"== import_time: {describe('import_time', preset)}")
        results.append(_import_time(preset, clients))
    return SuiteResult(
        preset=preset.name,
        repeat=repeat,
        started=stamp,
        elapsed_s=time.perf_counter() - started,
        machine=machine(),
        versions=versions(),
        scenarios=results,
    )


async def _served_scenarios(
    names: list[str],
    preset: Preset,
    repeat: int,
    wanted: set[str],
    server: _Server,
    workdir: Path,
) -> list[ScenarioResult]:
    payloads = build_payloads(preset, set(names))
    plan: dict[str, list[str]] = {}
    for name in names:
        for client in _scenario_clients(name, preset, wanted)[0]:
            plan.setdefault(client, []).append(name)
    shared = (
        await _start_processes(plan, preset, server, workdir) if preset.shared_processes else {}
    )
    results: list[ScenarioResult] = []
    try:
        for name in names:
            _log(f"== {name}: {describe(name, preset)}")
            processes = shared
            if not preset.shared_processes:
                clients = _scenario_clients(name, preset, wanted)[0]
                plan = {client: [name] for client in clients}
                processes = await _start_processes(plan, preset, server, workdir)
            try:
                results.append(
                    await _run_scenario(name, preset, repeat, wanted, processes, payloads)
                )
            finally:
                if processes is not shared:
                    for process in processes.values():
                        await process.close()
    finally:
        for process in shared.values():
            await process.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print the tables; write them, the chart and the raw results."""
    from benchmarks import report

    args = _parse(argv)
    preset = PRESETS["quick" if args.quick else "full" if args.full else "default"]
    if args.repeat is not None and args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    if args.update_docs and preset.name == "quick":
        raise SystemExit("--update-docs publishes figures: not with --quick's small sizes")
    if args.output is None:
        args.output = RESULTS_DIR / "quick" if preset.name == "quick" else RESULTS_DIR
    if args.from_results is not None:
        suite = msgspec.json.decode(args.from_results.read_bytes(), type=SuiteResult)
    else:
        args.output.mkdir(parents=True, exist_ok=True)
        suite = asyncio.run(_suite(args, preset))
    written = report.write(suite, args.output, update_docs=args.update_docs, root=ROOT)
    print(report.render_tables(suite))
    for path in written:
        _log(f"wrote {path}")
    failed = [
        row
        for scenario in suite.scenarios
        for row in scenario.rows
        if row.status in ("FAILED", "error")
    ]
    if args.from_results is None:
        _log(f"done in {suite.elapsed_s:.0f} s")
    return 1 if failed else 0
