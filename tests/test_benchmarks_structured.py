"""The ``structured_scale`` benchmark measures what it says: the right answer, both ways.

A benchmark whose clients got a different answer, or skipped the partial values, would
publish figures of something else. These tests run the scenario's pieces without timing
anything: the generated document (deterministic, the shapes it claims, cut inside
strings, escapes and numbers), the ``msgspec`` and pydantic types (the same answer from
both), every client of the scenario against the benchmark's own server (its typed
answer equals the document), the runner's time budget (a stopped stream is reported as
stopped, the larger sizes skipped) and the report of a stopped stream (a lower bound,
marked, with how far it got).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

# The benchmarks live beside the tests in the repository (not in the sdist): from a
# checkout they are importable from its root, elsewhere these tests are skipped.
_ROOT = Path(__file__).resolve().parents[1]
if (_ROOT / "benchmarks").is_dir() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
pytest.importorskip("benchmarks.scenarios")
pytest.importorskip("pydantic")
pytest.importorskip("openai")

from benchmarks import report, runner, scenarios, suite  # noqa: E402
from benchmarks.clients import _report, _report_pydantic, load  # noqa: E402
from benchmarks.common import Output  # noqa: E402
from benchmarks.server import create_app  # noqa: E402

_QUICK = scenarios.PRESETS["quick"]
_CLIENTS = scenarios.SCENARIOS["structured_scale"].clients


def _content_deltas(payload: scenarios.Payload) -> list[str]:
    """The content of each ``data:`` frame of a pre-encoded stream, in order."""
    pieces: list[str] = []
    for frame in payload.head.split(b"\n\n"):
        if not frame.startswith(b"data: {"):
            continue
        chunk = msgspec.json.decode(frame[6:])
        content = chunk["choices"][0]["delta"].get("content")
        if content:
            pieces.append(content)
    return pieces


def test_the_document_is_deterministic_and_about_the_size_asked() -> None:
    text = scenarios._report(10 * 1024, seed=31)
    assert text == scenarios._report(10 * 1024, seed=31)
    assert 10 * 1024 <= len(text.encode()) < 12 * 1024
    document = msgspec.json.decode(text)
    records = document["records"]
    assert document["summary"]["count"] == len(records)
    # What a structured answer holds: escapes, non-ASCII text, nulls and non-nulls,
    # booleans both ways, negative floats, nested objects and lists of lists.
    for escape in ('\\"', "\\\\", "\\n", "\\t"):
        assert escape in text
    assert any(ord(character) > 127 for character in text)
    assert {record["parent"] is None for record in records} == {True, False}
    assert {record["note"] is None for record in records} == {True, False}
    assert {record["active"] for record in records} == {True, False}
    assert any(record["score"] < 0 for record in records)
    assert any(record["readings"] for record in records)
    assert any(len(record["grid"]) > 1 for record in records)


def test_the_answer_streams_in_small_fragments_cut_anywhere() -> None:
    payloads = scenarios.build_payloads(_QUICK, {"structured_scale"})
    payload = payloads[scenarios.structured_model(_QUICK.scale_kb[-1])]
    pieces = _content_deltas(payload)
    text = "".join(pieces)
    assert len(text.encode()) == payload.answer_bytes
    assert payload.request.structured
    assert {len(piece) for piece in pieces[:-1]} == {scenarios.STRUCTURED_FRAGMENT}
    # Cut inside an escape (a piece ends with the backslash), inside a number (digits
    # on both sides of a cut) and inside a string (a piece starting with a letter).
    assert any(piece.endswith("\\") and not piece.endswith("\\\\") for piece in pieces)
    cuts = itertools.pairwise(pieces)
    assert any(a[-1].isdigit() and b[0].isdigit() for a, b in cuts)
    assert any(piece[0].isalpha() for piece in pieces)
    # The expected output is the document's canonical text, and the finish is "stop".
    assert payload.output == Output(
        scenarios.canonical(msgspec.json.decode(text)), (), finish_reason="stop"
    )


def test_the_msgspec_and_pydantic_types_read_the_same_answer() -> None:
    text = scenarios._report(20 * 1024, seed=5)
    expected = scenarios.canonical(msgspec.json.decode(text))
    as_struct = msgspec.json.decode(text, type=_report.Report)
    as_model = _report_pydantic.Report.model_validate_json(text)
    assert scenarios.canonical(_report.to_builtins(as_struct)) == expected
    assert scenarios.canonical(_report_pydantic.to_builtins(as_model)) == expected
    for name in ("Report", "Record", "Reading", "Summary"):
        struct_fields = {field.name for field in msgspec.structs.fields(getattr(_report, name))}
        assert struct_fields == set(getattr(_report_pydantic, name).model_fields)


def test_both_types_are_accepted_as_strict_response_formats() -> None:
    from openai.lib._parsing._completions import type_to_response_format_param

    from kkiai_async._structured import compile_format

    ours = compile_format(_report.Report).body()
    theirs: Any = type_to_response_format_param(_report_pydantic.Report)
    assert ours["json_schema"]["strict"] is True
    assert theirs["json_schema"]["strict"] is True
    assert ours["json_schema"]["name"] == theirs["json_schema"]["name"] == "Report"


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """The benchmark's server, serving the quick preset's structured answers."""
    payloads = scenarios.build_payloads(_QUICK, {"structured_scale"})
    app_runner = web.AppRunner(create_app(payloads), access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    port = app_runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await app_runner.cleanup()


@pytest.mark.parametrize("name", _CLIENTS)
async def test_every_client_gets_the_typed_answer(base_url: str, name: str) -> None:
    payloads = scenarios.build_payloads(_QUICK, {"structured_scale"})
    async with load(name)(base_url, 4) as client:
        for request in scenarios.requests("structured_scale", _QUICK):
            answer, finish_reason = await client.structured(request)
            assert type(answer).__name__ == "Report"
            assert finish_reason == "stop"
            got = scenarios.canonical(client.to_builtins(answer))
            assert got == payloads[request.model].output.content


def test_a_progress_display_that_saw_no_records_is_an_error() -> None:
    answer = msgspec.json.decode(scenarios._report(2048, seed=1), type=_report.Report)
    assert _report.records_so_far({"records": [{}, {}]}, 0) == 2
    assert _report.records_so_far({"title": "no records yet"}, 0) == 0
    assert _report.records_so_far(None, 3) == 3
    _report.check_shown(len(answer.records), answer)
    with pytest.raises(RuntimeError, match="showed 0 records"):
        _report.check_shown(0, answer)
    with pytest.raises(RuntimeError, match="no answer"):
        _report.check_shown(0, None)


async def _measure(base_url: str, name: str, budget_s: float) -> list[runner.Measurement]:
    preset = scenarios.Preset(**{**_QUICK.__dict__, "structured_budget_s": budget_s})
    async with load(name)(base_url, 4) as client:
        run = runner._Run(client, preset, "structured_scale")
        first = await runner._SCENARIOS["structured_scale"](run)
        return first + await runner._SCENARIOS["structured_scale"](run)


async def test_the_runner_checks_each_size_and_stops_at_the_budget(base_url: str) -> None:
    payloads = scenarios.build_payloads(_QUICK, {"structured_scale"})
    measured = await _measure(base_url, "kkiai-events", budget_s=600.0)
    assert [m.status for m in measured] == ["ok"] * 2 * len(_QUICK.scale_kb)
    for m in measured:
        assert m.output == payloads[m.model].output
        assert m.cpu_s > 0
    # A budget no stream can meet: the first size is stopped, the rest skipped, in this
    # run and the next (a client that could not finish a size will not finish a larger).
    stopped = await _measure(base_url, "openai-helper", budget_s=0.0)
    sizes = len(_QUICK.scale_kb)
    assert [m.status for m in stopped] == ["timeout"] + ["skipped"] * (2 * sizes - 1)
    assert stopped[0].output is None


def _result(measurements: list[runner.Measurement]) -> dict[str, float]:
    payloads = scenarios.build_payloads(_QUICK, {"structured_scale"})
    return suite._metrics("structured_scale", measurements, payloads, _QUICK)


def test_a_stopped_stream_is_reported_as_a_lower_bound() -> None:
    small, medium, large = (scenarios.structured_model(kb) for kb in _QUICK.scale_kb)
    values = _result(
        [
            runner.Measurement(model=small, cpu_s=0.02, wall_s=0.02),
            runner.Measurement(
                model=medium, cpu_s=3.0, wall_s=2.0, status="timeout", progress_bytes=4096
            ),
            runner.Measurement(model=large, cpu_s=0, wall_s=0, status="skipped"),
        ]
    )
    two, eight, _ = _QUICK.scale_kb
    payloads = scenarios.build_payloads(_QUICK, {"structured_scale"})
    assert values[f"us_per_kb_{two}"] == pytest.approx(
        0.02e6 / (payloads[small].answer_bytes / 1024)
    )
    assert values[f"min_us_per_kb_{eight}"] == pytest.approx(3.0e6 / 4)
    assert values[f"progress_kb_{eight}"] == 4
    assert values[f"stopped_s_{eight}"] == 3.0
    row = suite.ClientResult(
        client="openai-helper", label="the SDK", runs=1, values=values, ratio_sdk=1.0
    )
    section = report._scenario_section(
        suite.ScenarioResult(
            name="structured_scale",
            title="Structured outputs",
            description=suite.describe("structured_scale", _QUICK),
            primary=suite.PRIMARY["structured_scale"],
            rows=[row],
            elapsed_s=1.0,
        )
    )
    assert "≥ 750,000" in section
    assert "the SDK was stopped in the 8 KB stream after 4 KB of 8, having spent 3 s" in section
    assert "python -m benchmarks --scenario structured_scale" in section
