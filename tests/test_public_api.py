"""The public face: ``kkiai_async.__all__`` is complete, sorted and free of private names."""

from __future__ import annotations

import inspect
import re

import kkiai_async as kk
from kkiai_async import _exceptions, types

# Names that must stay importable from the package, whatever else is added.
REQUIRED = {
    "AsyncClient",
    "AsyncCompletions",
    "ChatCompletionAccumulator",
    "ChatCompletionEventStream",
    "ChatCompletionStream",
    "ParsedChatCompletionEventStream",
    "ParsedChatCompletionStream",
    "Timeout",
    "__version__",
}


def test_all_is_sorted() -> None:
    """__all__ is sorted and has no duplicates."""
    assert kk.__all__ == sorted(set(kk.__all__))


def test_all_names_exist() -> None:
    """Every name in __all__ is an attribute of the package."""
    missing = [name for name in kk.__all__ if not hasattr(kk, name)]
    assert missing == []


def test_all_is_complete() -> None:
    """Every public type, every exception class and the client names are exported."""
    expected = set(types.__all__) | {n for n in _exceptions.__all__ if n[:1].isupper()} | REQUIRED
    assert expected - set(kk.__all__) == set()


def test_no_private_names() -> None:
    """No name in __all__ is private (bar __version__)."""
    assert [n for n in kk.__all__ if n.startswith("_") and n != "__version__"] == []


def test_public_objects_name_a_public_module() -> None:
    """Public classes report a public module, never an implementation module."""
    leaking = {
        name: obj.__module__
        for name in kk.__all__
        if inspect.isclass(obj := getattr(kk, name))
        and any(part.startswith("_") for part in obj.__module__.split("."))
    }
    assert leaking == {}


def test_exported_classes_keep_their_identity() -> None:
    """The package re-exports the very objects of the implementation modules."""
    assert kk.RateLimitError is _exceptions.RateLimitError
    assert kk.ChatCompletionChunk is types.ChatCompletionChunk


def test_version_is_a_version_string() -> None:
    """__version__ is a PEP 440-looking string (the metadata's, or 0+unknown)."""
    assert re.fullmatch(r"\d+(\.\d+)*([a-z0-9.+-]*)", kk.__version__)
