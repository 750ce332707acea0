"""Benchmarks of kkiai-async against the official SDK, hand-rolled clients and a floor.

Run ``python -m benchmarks`` (``--quick`` for a short run, ``--scenario NAME`` for one
scenario, ``--update-docs`` to refresh ``docs/performance.md``). See ``README.md`` here.

The layout keeps the measurement honest: a pre-encoded local server runs in its own
process (:mod:`benchmarks.server`), every client runs in a fresh process of its own
(:mod:`benchmarks.runner`) so that imports, memory and CPU time of one client never
leak into another's, and :mod:`benchmarks.suite` only schedules, checks and reports.
"""

from __future__ import annotations

__all__: list[str] = []
