"""The exception tree: one module defines every error, and its drawing is the truth."""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path

import kkiai_async as kk
from kkiai_async import _exceptions


def _drawn_tree() -> dict[str, str | None]:
    """Class name -> drawn parent, read off the diagram in ``_exceptions``' docstring."""
    assert _exceptions.__doc__ is not None
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in _exceptions.__doc__.splitlines():
        match = re.match(r"^([│ ]*(?:[├└]── )?)([A-Z]\w+)\b", line)
        if match is None or not match.group(2).endswith("Error"):
            continue
        column = len(match.group(1))
        name = match.group(2)
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((column, name))
    return parents


def test_the_drawn_tree_is_the_class_hierarchy() -> None:
    """Every KkiaiError subclass is drawn once, under its real base class."""
    drawn = _drawn_tree()
    real = {
        name: next(
            (b.__name__ for b in cls.__bases__ if issubclass(b, _exceptions.KkiaiError)), None
        )
        for name, cls in vars(_exceptions).items()
        if inspect.isclass(cls) and issubclass(cls, _exceptions.KkiaiError)
    }
    assert drawn == real


def test_every_exception_is_defined_in_the_exceptions_module() -> None:
    """No module but _exceptions defines an exception class: none derived from one of
    the library's errors, none from a built-in exception (a private one that never
    leaves its module, such as a transport's internal deadline signal, aside).

    Read from the source, so that optional integrations need not be importable here.
    """
    errors = {
        name
        for name, cls in [*vars(_exceptions).items(), *vars(builtins).items()]
        if inspect.isclass(cls) and issubclass(cls, BaseException)
    }
    package = Path(kk.__file__).parent
    elsewhere = []
    for path in sorted(package.rglob("*.py")):
        # The embedded server (testing/) answers bad requests with HTTP errors; its
        # internal signal for one is a server's, never raised to a client.
        if path.name == "_exceptions.py" or path.parent.name == "testing":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ClassDef)
                and not node.name.startswith("_")
                and any(
                    (base.id if isinstance(base, ast.Name) else getattr(base, "attr", None))
                    in errors
                    for base in node.bases
                )
            ):
                elsewhere.append(f"{path.relative_to(package)}: {node.name}")
    assert elsewhere == []


def test_unknown_keyword_error_is_a_type_error_and_an_invalid_parameter() -> None:
    """UnknownParameterError is caught by ``except TypeError`` and by
    ``except kk.InvalidParameterError``, with the parameter named."""
    for catch in (TypeError, kk.InvalidParameterError):
        try:
            raise kk.UnknownParameterError("seen", "unknown parameter (did you mean 'seed'?)")
        except catch as exc:
            assert isinstance(exc, kk.UnknownParameterError)
            assert exc.param == "seen"
