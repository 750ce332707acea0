"""The documentation's examples run, its site builds, and it agrees with the code.

Convention for code blocks in ``docs/*.md`` and ``README.md``:

- A fence whose info string is ``python`` and whose first line starts with ``import`` is
  a **complete program**. Each one is run here as its own subprocess, with
  ``KKIAI_BASE_URL`` pointing at a :class:`kkiai_async.testing.FakeServer` started by the
  test and ``KKIAI_API_KEY=test``, in an empty working directory. It must exit 0 and
  leave no "Unclosed ..." / "Exception ignored" complaint on stderr (a leaked
  connection is a bug in an example). So examples use ``kk.AsyncClient()`` (which reads
  both variables) and models such as ``"kkiai-chat"``.
- Any other ``python`` block is a **fragment**. It is not run, but it must compile
  (top-level ``await``, ``async for`` and ``async with`` are allowed, and ``...`` stands
  for "what you would put here"), so a typo in a fragment still fails.
- A fence with the info string ``py`` (or anything else) is not checked at all: for
  output, pseudo-code and shell sessions.

Besides the examples: ``mkdocs build --strict`` must succeed (skipped, with the reason,
when mkdocs and its plugins are not installed: install the ``docs`` extra), and the pages
that copy something from the code (the exception tree, the event classes, the request
parameters, the README's two commands) must still match it.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

import kkiai_async._exceptions as exceptions_module
from kkiai_async import types as kk_types
from kkiai_async._params import BODY_PARAMS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

# A hang guard for a broken example, not a performance threshold: every example
# finishes in well under a second when it works.
EXAMPLE_DEADLINE = 120.0

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_LEAK_MARKERS = ("Unclosed client session", "Unclosed connector", "Exception ignored")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the opening fence, from 1
    info: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def is_python(self) -> bool:
        return self.info.split(maxsplit=1)[:1] == ["python"]

    @property
    def is_program(self) -> bool:
        return self.is_python and self.code.startswith("import")


def extract_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file, with its indentation removed."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        start = i + 1
        j = start
        while j < len(lines) and not (
            lines[j].strip().startswith(fence) and not lines[j].strip().strip(fence[0])
        ):
            j += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[start:j]]
        blocks.append(Block(path, start, info, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in extract_blocks(page)]
PROGRAMS = [block for block in ALL_BLOCKS if block.is_program]
FRAGMENTS = [block for block in ALL_BLOCKS if block.is_python and not block.is_program]


def test_extraction_follows_the_convention(tmp_path: Path) -> None:
    """Only ``python`` fences starting with ``import`` are programs; indented fences count."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport asyncio\n```\n\n"
        "```python\nawait x\n```\n\n"
        "```py\nimport nothing\n```\n\n"
        "!!! note\n    ```python\n    import os\n    ```\n\n"
        "````python\nimport sys\n```\nstill inside\n````\n",
        encoding="utf-8",
    )
    blocks = extract_blocks(page)
    assert [(b.line, b.info, b.is_program) for b in blocks] == [
        (1, "python", True),
        (5, "python", False),
        (9, "py", False),
        (14, "python", True),
        (18, "python", True),
    ]
    assert blocks[3].code == "import os\n"
    assert blocks[4].code == "import sys\n```\nstill inside\n"


def test_every_page_has_a_runnable_example() -> None:
    """Each page that teaches a call shows it as a complete program that is run."""
    teaching = {
        "index.md",
        "streaming.md",
        "function-calling.md",
        "errors.md",
        "reliability.md",
        "batch.md",
        "testing.md",
        "web-apps.md",
        "migrating.md",
        "api-parameters.md",
    }
    with_programs = {block.page.name for block in PROGRAMS}
    assert sorted(teaching - with_programs) == []


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in FRAGMENTS])
def test_fragment_compiles(block: Block) -> None:
    """A fragment is valid Python (top-level await and async blocks allowed)."""
    compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _example_env(base_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KKIAI_", "OPENAI_", "PYTEST_"))
    }
    env["KKIAI_BASE_URL"] = base_url
    env["KKIAI_API_KEY"] = "test"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Examples must not need the terminal's width or colours.
    env["NO_COLOR"] = "1"
    return env


async def _run_program(block: Block, cwd: Path, base_url: str) -> tuple[int, str, str]:
    script = cwd / "example.py"
    script.write_text(block.code, encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error::DeprecationWarning",
        str(script),
        cwd=cwd,
        env=_example_env(base_url),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), EXAMPLE_DEADLINE)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        err += b"\n[test_docs] killed: the example did not finish"
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in PROGRAMS])
async def test_example_runs(block: Block, tmp_path: Path) -> None:
    """A complete program from the docs runs against a FakeServer and exits cleanly."""
    from kkiai_async.testing import FakeServer

    async with FakeServer() as server:
        code, out, err = await _run_program(block, tmp_path, server.base_url)
    report = f"{block.id} exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"
    assert code == 0, report
    assert not [marker for marker in _LEAK_MARKERS if marker in err], report


TEST_MODULES = [block for block in FRAGMENTS if re.match(r"# test_\w+\.py\n", block.code)]


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in TEST_MODULES])
def test_example_test_module_passes(block: Block, tmp_path: Path) -> None:
    """A test module shown in the docs (``# test_x.py`` first) passes with the plugin."""
    name = block.code.split("\n", 1)[0].removeprefix("# ")
    (tmp_path / name).write_text(block.code, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # The plugin by module, whether or not its entry point is installed.
            "-p",
            "no:kkiai",
            "-p",
            "kkiai_async.testing._plugin",
            name,
        ],
        cwd=tmp_path,
        env=_example_env("http://127.0.0.1:9/v1"),
        capture_output=True,
        text=True,
        timeout=EXAMPLE_DEADLINE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout


def test_docs_show_a_test_module() -> None:
    """The testing page's pytest example is found, so the test above runs it."""
    assert [block.page.name for block in TEST_MODULES] == ["testing.md"]


# --------------------------------------------------------------------------------------
# The site builds
# --------------------------------------------------------------------------------------


def _missing_docs_tools() -> list[str]:
    wanted = {
        "mkdocs": "mkdocs",
        "material": "mkdocs-material",
        "mkdocstrings": "mkdocstrings",
        "mkdocstrings_handlers.python": "mkdocstrings-python",
    }
    missing = []
    for module, package in wanted.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(package)
    return missing


def test_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` succeeds: no broken link, nav entry or API reference."""
    missing = _missing_docs_tools()
    if missing:
        pytest.skip(f"docs tools not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    # Not ``-q``: mkdocs then drops warnings before --strict counts them, and passes.
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        # mkdocs-material prints a banner about MkDocs 2 that contains the word
        # WARNING but is no warning about this site.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "index.html").is_file()


# --------------------------------------------------------------------------------------
# What the pages copy from the code still matches it
# --------------------------------------------------------------------------------------


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _tree(text: str) -> list[str]:
    """The lines of the exception-tree diagram in ``text`` (from ``KkiaiError`` on)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("KkiaiError "))
    tree = []
    for line in lines[start:]:
        if not line.strip() or line.lstrip().startswith("```"):
            break
        tree.append(line.strip())
    return tree


def test_errors_page_has_the_exception_tree() -> None:
    """docs/errors.md shows the same exception tree as the _exceptions module docstring."""
    assert exceptions_module.__doc__ is not None
    assert _tree(_page("errors.md")) == _tree(exceptions_module.__doc__)


def _event_classes() -> list[type[msgspec.Struct]]:
    return [
        cls
        for name in kk_types.__all__
        if isinstance(cls := getattr(kk_types, name), type)
        and name.endswith("Event")
        and issubclass(cls, msgspec.Struct)
    ]


def test_streaming_page_lists_every_event_with_its_fields() -> None:
    """docs/streaming.md has a row for every event class naming each of its fields."""
    text = _page("streaming.md")
    classes = _event_classes()
    assert len(classes) == 13
    for cls in classes:
        row = next(
            (line for line in text.splitlines() if line.startswith(f"| `{cls.__name__}`")),
            None,
        )
        assert row is not None, f"no table row for {cls.__name__}"
        tag = cls.__struct_config__.tag
        assert f"`{tag}`" in row, f"{cls.__name__}: tag {tag!r} missing"
        for field in cls.__struct_fields__:
            assert f"`{field}`" in row, f"{cls.__name__}: field {field!r} missing"


def test_parameters_page_covers_every_body_parameter() -> None:
    """docs/api-parameters.md has a section for every parameter create() sends."""
    text = _page("api-parameters.md")
    headings = set(re.findall(r"^### `(\w+)`", text, flags=re.MULTILINE))
    expected = set(BODY_PARAMS) | {"extra_body", "extra_headers"}
    assert sorted(expected - headings) == []


def test_getting_started_copies_the_readme_commands() -> None:
    """docs/index.md shows the README's two commands exactly."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = _page("index.md")
    for marker in ("<!-- demo-command -->", "<!-- test-command -->"):
        command = readme.split(marker, 1)[1].split("```", 2)[1].strip()
        assert f"```\n{command}\n```" in page, command
