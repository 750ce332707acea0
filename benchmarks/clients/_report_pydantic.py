"""The type of the ``structured_scale`` answer as pydantic models, for the official SDK.

Field for field the structs of :mod:`benchmarks.clients._report` (a nullable field is
required and may be ``None``, as strict mode wants): the SDK's ``stream()`` helper takes
a pydantic model as ``response_format``, ``kkiai_async`` a ``msgspec.Struct``, and both
must give the same answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["Reading", "Record", "Report", "Summary", "to_builtins"]


class Reading(BaseModel):
    """One measurement of a record."""

    sensor: str
    value: float
    unit: str
    ok: bool


class Record(BaseModel):
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


class Summary(BaseModel):
    """Totals over the records."""

    count: int
    active: int
    mean_score: float


class Report(BaseModel):
    """The whole answer."""

    title: str
    author: str
    version: int
    draft: bool
    records: list[Record]
    summary: Summary


def to_builtins(value: Report) -> Any:
    """The answer as JSON values, to compare with the expected document."""
    return value.model_dump(mode="json")
