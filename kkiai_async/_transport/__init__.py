"""HTTP transports: the interface the client needs, and its aiohttp implementation.

Only this package imports an HTTP library, so the rest of the client stays independent
of it; see :mod:`._base` for the interface and its error contract.
"""

from __future__ import annotations

from ._base import Response, Transport

__all__ = ["Response", "Transport"]
