"""The suite's results as markdown tables, a PNG chart and raw JSON.

The chart needs matplotlib (the ``bench`` extra); without it the tables are still
written and the report says the chart was skipped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from benchmarks.clients import CLIENTS, FLOOR
from benchmarks.suite import SCALE_SCENARIOS, ClientResult, ScenarioResult, SuiteResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["render_chart", "render_markdown", "render_tables", "write"]

# (header, key) of the figures each scenario's table shows before the ratio columns.
_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "content_20k": [("CPU µs/chunk", "cpu_us_per_chunk"), ("wall ms", "wall_ms")],
    "tools_60k": [
        ("CPU µs/chunk", "cpu_us_per_chunk"),
        ("CPU µs/KB", "cpu_us_per_kb"),
        ("wall ms", "wall_ms"),
    ],
    "concurrent_1000": [
        ("CPU µs/chunk", "cpu_us_per_chunk"),
        ("chunks/s", "chunks_per_s"),
        ("RSS KB/stream", "rss_kb_per_stream"),
    ],
    "nonstream_2000": [
        ("CPU µs/request", "cpu_us_per_request"),
        ("requests/s", "requests_per_s"),
    ],
    "ttft": [
        ("median TTFT µs", "ttft_us"),
        ("added over floor µs", "ttft_added_us"),
        ("CPU µs/request", "cpu_us_per_request"),
    ],
    "import_time": [("import ms", "import_ms")],
}
_SHOW_PEAK_RSS = {"content_20k", "tools_60k", "concurrent_1000"}
_RATIO_OF = {
    "content_20k": "CPU µs/chunk",
    "tools_60k": "CPU µs/chunk",
    "tools_scale": "µs/KB at the largest size both clients finished",
    "structured_scale": "µs/KB at the largest size both clients finished",
    "concurrent_1000": "CPU µs/chunk",
    "nonstream_2000": "CPU µs/request",
    "ttft": "median TTFT",
    "import_time": "import time",
}
_CHART_IMAGE = "benchmarks.png"


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    if value >= 0.1:
        return f"{value:.2f}x"
    return f"{value:.2g}x"


def _size(kb: int) -> str:
    return f"{kb} KB" if kb < 1024 else f"{kb / 1024:g} MB"


def _status(row: ClientResult) -> str:
    if row.status == "ok":
        return "ok"
    detail = row.detail.strip().splitlines()[-1] if row.detail.strip() else ""
    detail = detail.replace("|", "\\|")
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return f"**{row.status}**: {detail}" if detail else f"**{row.status}**"


def _scale_sizes(scenario: ScenarioResult) -> list[int]:
    sizes = {
        int(key.rsplit("_", 1)[1])
        for row in scenario.rows
        for key in row.values
        if key.startswith(("us_per_kb_", "min_us_per_kb_"))
    }
    return sorted(sizes)


def _scale_points(row: ClientResult) -> list[tuple[int, float, bool]]:
    """``(kb, µs per KB, is a lower bound)`` of a tools_scale or structured_scale row."""
    points = []
    for key, value in row.values.items():
        if key.startswith("us_per_kb_"):
            points.append((int(key.rsplit("_", 1)[1]), value, False))
        elif key.startswith("min_us_per_kb_"):
            points.append((int(key.rsplit("_", 1)[1]), value, True))
    return sorted(points)


def _cell(row: ClientResult, key: str) -> str:
    if key in row.values:
        return _number(row.values[key])
    if "min_" + key in row.values:
        return "≥ " + _number(row.values["min_" + key])
    return ""


def _table(scenario: ScenarioResult) -> str:
    scale = scenario.name in SCALE_SCENARIOS
    if scale:
        columns = [(f"µs/KB at {_size(kb)}", f"us_per_kb_{kb}") for kb in _scale_sizes(scenario)]
        columns.append(("growth", ""))
    else:
        columns = _COLUMNS[scenario.name]
    headers = ["Client", *(h for h, _ in columns), "vs floor", "vs SDK"]
    if scenario.name in _SHOW_PEAK_RSS:
        headers.append("peak RSS MB")
    headers += ["runs", "status"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in scenario.rows:
        ok = row.status == "ok"
        cells = [row.label]
        for _, key in columns:
            if not ok:
                cells.append("")
            elif scale and not key:
                cells.append(_growth(row))
            else:
                cells.append(_cell(row, key))
        cells += [_ratio(row.ratio_floor) if ok else "", _ratio(row.ratio_sdk) if ok else ""]
        if scenario.name in _SHOW_PEAK_RSS:
            cells.append(f"{row.peak_rss_kb / 1024:.0f}" if ok and row.peak_rss_kb else "")
        cells += [str(row.runs), _status(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _growth(row: ClientResult) -> str:
    """Cost per KB at the largest size over that at the smallest: 1.0 is linear."""
    points = _scale_points(row)
    if len(points) < 2 or points[0][2]:
        return ""
    growth = points[-1][1] / points[0][1]
    return f"{'≥ ' if points[-1][2] else ''}{growth:.1f}x"


def _scenario_section(scenario: ScenarioResult) -> str:
    parts = [
        f"### `{scenario.name}`: {scenario.title}",
        "",
        scenario.description,
        f"Ratios are of the {_RATIO_OF[scenario.name]}; lower is better everywhere but in"
        " the per-second columns.",
        "",
        _table(scenario),
    ]
    stopped = [
        f"{row.label} was stopped in the {_size(kb)} stream after"
        f" {row.values.get(f'progress_kb_{kb}', 0):,.0f} KB"
        + (
            f" of {row.values[f'size_kb_{kb}']:,.0f}, having spent"
            f" {row.values[f'stopped_s_{kb}']:.0f} s of CPU"
            if f"stopped_s_{kb}" in row.values
            else ""
        )
        for row in scenario.rows
        for kb, _, bound in _scale_points(row)
        if bound
    ]
    if stopped:
        parts += [
            "",
            "≥: a lower bound, the cost per KB of the part streamed before the time budget"
            " ran out (" + "; ".join(stopped) + ").",
        ]
    return "\n".join(parts)


def render_tables(suite: SuiteResult) -> str:
    """Every scenario's section, for the terminal and the report."""
    return "\n\n".join(_scenario_section(scenario) for scenario in suite.scenarios) + "\n"


def render_markdown(suite: SuiteResult, image: str | None) -> str:
    """The whole report: how it was run, where, with what, the chart and the tables."""
    machine = suite.machine
    lines = [
        "# Performance",
        "",
        "<!-- Generated by `python -m benchmarks --update-docs`; edit benchmarks/report.py. -->",
        "",
        "How much a client costs on top of the least any Python client can do: each client"
        " streams the same pre-encoded responses from a local OpenAI-compatible server"
        " (its own process), runs in a fresh process of its own, and must assemble exactly"
        " the floor's output for its figures to count. CPU time is the client process's"
        " (`time.process_time`) over the measured requests only; figures are medians over"
        " the runs, ratios the medians of the ratios taken run by run (runs of different"
        " clients are interleaved). `vs floor` compares with aiohttp + msgspec written out"
        " by hand; `vs SDK` with the official `openai` SDK on its default transport.",
        "",
        f"Run {suite.started}, preset `{suite.preset}`, up to {suite.repeat} runs per"
        f" figure, {suite.elapsed_s / 60:.1f} minutes in all"
        " (`python -m benchmarks`; see `benchmarks/README.md`).",
        "",
        f"Machine: {machine['platform']}; {machine['cpu']}, {machine['cpu_count']} CPUs;"
        f" {machine['python']}.",
        "",
        "| Library | Version |",
        "|---|---|",
        *(f"| {name} | {version} |" for name, version in suite.versions.items()),
        "",
        "Clients:",
        "",
        *(f"- **{info.label}** (`{info.name}`)" for info in CLIENTS.values()),
        "",
    ]
    if image is not None:
        lines += [f"![Benchmark chart]({image})", ""]
    else:
        lines += ["(No chart: matplotlib is not installed; `pip install -e .[bench]`.)", ""]
    lines += ["## Results", "", render_tables(suite), _NOTES]
    return "\n".join(lines)


_NOTES = """## Where the time goes

What separates `kkiai_async` from the floor, layer by layer; `python -m benchmarks.micro`
measures each layer alone, per KB, at 10 KB, 100 KB and 1 MB (see `benchmarks/README.md`).

- **Bytes to events.** The SSE decoder follows the whole WHATWG algorithm, yet costs less
  than the floor's framing: a run of one-line `data:` events is taken apart by one
  `bytes.split` on the blank line and the next event's field name, with no per-line
  work, and a plain `message` event reaches the chat layer as its data bytes, without an
  event object. A read holding exactly one event (a token stream as it really arrives)
  has a path of its own. Single bytes are searched for as integers (`13 in chunk`):
  CPython 3.11 first tries a `bytes` argument of `in`/`find` as an integer and raises
  and clears a `TypeError` before searching, which cost more than the search.
- **Typed chunks.** Each payload is decoded once into `ChatCompletionChunk`, which keeps
  what the API sends: `id`, `object`, `model`, `system_fingerprint` and `service_tier`
  are built as strings for every chunk, where the floor's minimal struct skips them.
  That is about a sixth of the floor's whole cost per text chunk, and most of the
  distance of `create(stream=True)` to the floor; the rest is assembling the chunk and
  resuming an async generator once per chunk. The event stream hands out no chunks, so
  once the completion's id, model and creation time are known it decodes only what its
  events need, and hands the common text delta over without a list around it: it costs
  about what the chunk stream costs.
- **Tool-call arguments shown as they arrive.** The event stream parses the arguments
  after every fragment (4 characters in these streams) so that `parsed_arguments` shows
  the arguments so far. The incremental parser is linear (the `tools_scale` growth stays
  near 1.0) but written in Python, and a fragment of structure-dense JSON costs it about
  as much as the floor spends on the whole chunk: that, not the stream, is the distance
  of `stream()` to the floor in the tool-call scenarios, where the floor parses nothing.
  `create(stream=True)` assembles the same calls without parsing, close to the floor.
- **One long string argument** (a file's content): showing it after every fragment means
  a `str` of the text so far each time. The parser appends the new text in place when
  nothing else holds the string (CPython's `+=` on a string with one reference), so the
  total stays linear (`python -m benchmarks.micro --only partial_json`). A consumer that
  keeps the string of every event gets a copy each time, which is quadratic in the
  length, as any `str` view of a growing text would be; `PartialJSONParser` with
  `track_string_deltas=True` gives the new text alone.
- **Structured outputs.** `stream(response_format=T)` parses the answer with the
  incremental parser the tool-call arguments use, once per delta, so that each
  `TextDeltaEvent.parsed` is the answer so far, and decodes the whole content into `T`
  once it is complete: the cost is linear (the `structured_scale` growth stays at or
  below 1.0; the smallest answer costs a little more per KB, as the request's fixed cost
  is spread over fewer KB). The partial parse is most of the distance to the floor, which
  shows nothing until the end: `create(stream=True, response_format=T)`, which skips it
  and decodes once at the end as the floor does, stays close to the floor. The SDK's
  helper, after every delta, rebuilds the message snapshot, encodes the whole content so
  far to bytes and parses all of it again with jiter into new Python objects: its cost
  per KB grows with the answer, and a 1 MB answer does not finish within the scenario's
  time budget.
- **Import.** `import kkiai_async` imports neither aiohttp (imported with the first
  client's transport) nor `kkiai_async.batch` (imported on first use of `kk.batch`).
"""


# --------------------------------------------------------------------------------------
# Chart
# --------------------------------------------------------------------------------------

_COLOURS = {
    "kkiai-chunks": "#1f77b4",
    "kkiai-events": "#4a9fe0",
    "kkiai-httpx": "#9467bd",
    "openai-httpx": "#d62728",
    "openai-aiohttp": "#ff7f0e",
    "openai-helper": "#e377c2",
    "httpx-sse": "#2ca02c",
    FLOOR: "#555555",
}
_SHORT = {
    "kkiai-chunks": "kkiai chunks",
    "kkiai-events": "kkiai events",
    "kkiai-httpx": "kkiai httpx",
    "openai-httpx": "openai (httpx)",
    "openai-aiohttp": "openai (aiohttp)",
    "openai-helper": "openai stream()",
    "httpx-sse": "httpx-sse",
    FLOOR: "floor",
}
_PANELS: list[tuple[str, str, str]] = [
    ("content_20k", "cpu_us_per_chunk", "content_20k: CPU µs per chunk"),
    ("tools_60k", "cpu_us_per_chunk", "tools_60k: CPU µs per chunk"),
    ("tools_scale", "", "tools_scale: CPU µs per KB of arguments"),
    ("structured_scale", "", "structured_scale: CPU µs per KB of a typed answer"),
    ("concurrent_1000", "cpu_us_per_chunk", "concurrent_1000: CPU µs per chunk"),
    ("concurrent_1000", "rss_kb_per_stream", "concurrent_1000: RSS KB per open stream"),
    ("nonstream_2000", "cpu_us_per_request", "nonstream_2000: CPU µs per request"),
    ("ttft", "ttft_us", "ttft: median time to first token, µs"),
    ("import_time", "import_ms", "import_time: ms"),
]


def render_chart(suite: SuiteResult, path: Path) -> bool:
    """Draw the chart to ``path``; ``False`` when matplotlib is not installed.

    Bars use a log scale: the clients differ by up to two orders of magnitude.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    scenarios = {scenario.name: scenario for scenario in suite.scenarios}
    panels = [panel for panel in _PANELS if panel[0] in scenarios]
    if not panels:
        return False
    columns = 2
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(13, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (name, key, title) in zip(axes.flat, panels, strict=False):
        scenario = scenarios[name]
        if name in SCALE_SCENARIOS:
            _scale_panel(ax, scenario)
        else:
            _bar_panel(ax, scenario, key)
        ax.set_title(title, fontsize=10, loc="left")
    figure.suptitle(
        f"kkiai-async benchmarks ({suite.machine['cpu_count']} CPUs,"
        f" {suite.machine['python']}; lower is better)",
        fontsize=12,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _bar_panel(ax: Axes, scenario: ScenarioResult, key: str) -> None:
    rows = [row for row in scenario.rows if row.status == "ok" and row.values.get(key)]
    labels = [_SHORT[row.client] for row in rows]
    if scenario.name == "nonstream_2000":
        labels = [label.replace("kkiai chunks", "kkiai create()") for label in labels]
    if scenario.name == "import_time":
        labels = [CLIENTS[row.client].imports for row in rows]
    values = [row.values[key] for row in rows]
    bars = ax.barh(labels, values, color=[_COLOURS[row.client] for row in rows])
    ax.invert_yaxis()
    if values and max(values) / max(min(values), 1e-9) > 20:
        ax.set_xscale("log")
    for bar, value in zip(bars, values, strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            " " + _number(value),
            va="center",
            fontsize=8,
        )
    ax.margins(x=0.25)
    ax.tick_params(labelsize=8)


def _scale_panel(ax: Axes, scenario: ScenarioResult) -> None:
    sizes: set[int] = set()
    for row in scenario.rows:
        points = _scale_points(row) if row.status == "ok" else []
        if not points:
            continue
        colour = _COLOURS[row.client]
        ax.plot(
            [kb for kb, _, _ in points],
            [value for _, value, _ in points],
            marker="o",
            color=colour,
            label=_SHORT[row.client],
        )
        for kb, value, bound in points:
            sizes.add(kb)
            if bound:
                ax.annotate(
                    "≥ (stopped)",
                    (kb, value),
                    fontsize=7,
                    color=colour,
                    xytext=(6, -12),
                    textcoords="offset points",
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = sorted(sizes)
    ax.set_xticks(ticks, [_size(kb) for kb in ticks])
    ax.minorticks_off()
    what = "answer" if scenario.name == "structured_scale" else "arguments"
    ax.set_xlabel(f"size of the {what} (a flat line is a linear cost)", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=8)


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def write(suite: SuiteResult, output: Path, *, update_docs: bool, root: Path) -> list[Path]:
    """Write results.json, results.md and the chart (and the docs page if asked).

    Returns:
        The paths written.
    """
    output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    raw = output / "results.json"
    raw.write_bytes(msgspec.json.format(msgspec.json.encode(suite)))
    written.append(raw)
    chart = output / _CHART_IMAGE
    has_chart = render_chart(suite, chart)
    if has_chart:
        written.append(chart)
    markdown = output / "results.md"
    markdown.write_text(render_markdown(suite, _CHART_IMAGE if has_chart else None))
    written.append(markdown)
    if update_docs:
        docs = root / "docs"
        assets = docs / "assets"
        assets.mkdir(parents=True, exist_ok=True)
        image: str | None = None
        if has_chart:
            (assets / _CHART_IMAGE).write_bytes(chart.read_bytes())
            written.append(assets / _CHART_IMAGE)
            image = f"assets/{_CHART_IMAGE}"
        page = docs / "performance.md"
        page.write_text(render_markdown(suite, image))
        written.append(page)
    return written
