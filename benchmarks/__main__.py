"""``python -m benchmarks``: run the suite (see :func:`benchmarks.suite.main`)."""

from __future__ import annotations

from benchmarks.suite import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
