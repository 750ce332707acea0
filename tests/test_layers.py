"""The package's layers: imports flow one way, and the core never reaches up.

Read from the source (no module is imported to find out), so the checks hold for the
optional integrations too, whether or not their extras are installed here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import kkiai_async as kk

PACKAGE = Path(kk.__file__).parent

# The layers below the applications: what ``import kkiai_async`` needs.
CORE = {
    "kkiai_async",
    "kkiai_async.types",
    "kkiai_async._exceptions",
    "kkiai_async._config",
    "kkiai_async._sse",
    "kkiai_async._partial_json",
    "kkiai_async._accumulate",
    "kkiai_async._transport",
    "kkiai_async._transport._base",
    "kkiai_async._transport._aiohttp",
    "kkiai_async._transport._httpx",
    "kkiai_async._retry",
    "kkiai_async._chat_params",
    "kkiai_async._params",
    "kkiai_async._stream",
    "kkiai_async._chat",
    "kkiai_async._client",
    "kkiai_async._version",
}
# Built on the core, never imported by it at module level.
APPLICATIONS = ("tools", "_schema", "_tool_loop", "batch", "testing", "cli", "ray", "_ray", "_otel")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        anchor = module.split(".")
        if not is_package:
            anchor.pop()
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, node.module] if node.module else anchor)
    if node.module is None:  # "from . import tools": each name may be a module
        return [f"{base}.{alias.name}" for alias in node.names]
    return [base]


def _module_level_imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports when it is imported (not under
    ``TYPE_CHECKING``, not inside functions)."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        imports: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # top-level statements only
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            for inner in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
                if isinstance(inner, ast.ImportFrom):
                    imports.update(_resolve(module, inner, path.name == "__init__.py"))
                elif isinstance(inner, ast.Import):
                    imports.update(alias.name for alias in inner.names)
        found[module] = {
            name for name in imports if name == "kkiai_async" or name.startswith("kkiai_async.")
        }
    modules = set(found)
    # "from .x import y" where x.y is not a module names x itself.
    return {
        module: {name if name in modules else name.rpartition(".")[0] for name in names}
        for module, names in found.items()
    }


def _is_application(module: str) -> bool:
    last = module.split(".")[1] if "." in module else ""
    return any(last == app or last.startswith(app + "_") for app in APPLICATIONS)


def test_the_core_never_imports_the_applications_at_module_level() -> None:
    """No core module imports tools, the tool loop, batch, testing, the CLI, Ray or
    telemetry code when it is imported."""
    imports = _module_level_imports()
    reaching_up = {
        module: sorted(name for name in names if _is_application(name))
        for module, names in imports.items()
        if module in CORE
    }
    assert {module: names for module, names in reaching_up.items() if names} == {}


def test_there_is_no_import_cycle_at_module_level() -> None:
    """The module-level imports form no cycle (the package's own __init__ aside, which
    only re-exports)."""
    imports = {
        module: {name for name in names if name != "kkiai_async" and name != module}
        for module, names in _module_level_imports().items()
        if module != "kkiai_async"
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in sorted(imports.get(module, ())):
            if state.get(name) == 1:
                cycles.append([*path[path.index(name) :], name] if name in path else [name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = 2

    for module in sorted(imports):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_import_kkiai_async_loads_only_the_core() -> None:
    """``import kkiai_async`` imports no tool machinery, batch runner, testing server or
    HTTP library other than aiohttp's transport (checked in a fresh interpreter)."""
    code = (
        "import sys, kkiai_async\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('kkiai_async'))))\n"
        "print('httpx' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    loaded, httpx_loaded = set(out[:-1]), out[-1]
    assert loaded <= CORE, sorted(loaded - CORE)
    assert httpx_loaded == "False"
