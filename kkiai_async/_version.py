"""The installed version of kkiai-async, read from the package metadata.

One source of truth: the version lives in ``pyproject.toml`` and reaches the code through
the installed distribution's metadata, so a release never needs a second edit here. A
source checkout that was never installed reports ``"0+unknown"`` (a valid PEP 440 local
version) rather than failing at import.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("kkiai-async")
except PackageNotFoundError:  # pragma: no cover - depends on how the package was installed
    __version__ = "0+unknown"
