"""The type of the ``structured_scale`` answer, as ``msgspec`` structs.

A report holding a list of records: strings (with escapes and non-ASCII text), integers,
floats, booleans, nested objects, a list of lists and nullable fields, the shapes a
structured answer has. Every field is required (a nullable one may be ``null``), as the
API's strict mode wants, so the same type can be sent as a strict ``response_format``.

:mod:`benchmarks.clients._report_pydantic` defines the same type as pydantic models for
the official SDK; :mod:`benchmarks.scenarios` generates documents of this shape. Kept
apart from both so that the floor and ``kkiai_async``'s processes import msgspec only.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "RESPONSE_FORMAT",
    "Reading",
    "Record",
    "Report",
    "Summary",
    "check_shown",
    "records_so_far",
    "to_builtins",
]


class Reading(msgspec.Struct):
    """One measurement of a record."""

    sensor: str
    value: float
    unit: str
    ok: bool


class Record(msgspec.Struct):
    """One entry of the report."""

    id: int
    title: str
    summary: str
    score: float
    active: bool
    tags: list[str]
    parent: int | None
    note: str | None
    readings: list[Reading]
    grid: list[list[int]]


class Summary(msgspec.Struct):
    """Totals over the records."""

    count: int
    active: int
    mean_score: float


class Report(msgspec.Struct):
    """The whole answer."""

    title: str
    author: str
    version: int
    draft: bool
    records: list[Record]
    summary: Summary


# What the floor sends (the server ignores it, but every client encodes one).
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "Report", "schema": msgspec.json.schema(Report), "strict": True},
}


def to_builtins(value: Report) -> Any:
    """The answer as JSON values, to compare with the expected document."""
    return msgspec.to_builtins(value)


def records_so_far(parsed: Any, shown: int) -> int:
    """What a progress display shows: the records of a partial answer (a delta's ``parsed``).

    ``shown`` (the count so far) is kept while the partial answer has no records yet.
    """
    if isinstance(parsed, dict):
        records = parsed.get("records")
        if isinstance(records, list):
            return len(records)
    return shown


def check_shown(shown: int, answer: Any) -> None:
    """The last partial answer must have held every record: proof the deltas were parsed.

    Raises:
        RuntimeError: It did not (the run is then reported as an error).
    """
    if answer is None or shown != len(answer.records):
        total = "no answer" if answer is None else f"{len(answer.records)} records"
        raise RuntimeError(f"the partial answers showed {shown} records; the answer has {total}")
