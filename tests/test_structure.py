"""The structure stays as designed, read from the source so that CI catches a regression.

- The layers run one way: ``bot`` → ``handlers`` → ``storage`` (the same check as
  ``grep -rnE '^(from|import) bot' handlers storage``, including imports inside functions).
- No module of the three packages is over 400 lines and no function over 60 lines.
  (Cyclomatic complexity over 15 is ruff's C901, set in pyproject.toml.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the top-level packages of this project it must not import
FORBIDDEN = {"handlers": {"bot"}, "storage": {"bot", "handlers"}}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``path``, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def sources(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py") if "versions" not in p.parts)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_a_layer_above_it(layer: str) -> None:
    files = sources(layer)
    assert len(files) > 5, f"found no sources under {layer}/"
    against = [
        f"{path.relative_to(ROOT)}:{line} imports {package}"
        for path in files
        for line, package in imported_packages(path)
        if package in FORBIDDEN[layer]
    ]
    assert against == []


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from bot.config import Settings\n    import handlers.text\n")
    assert imported_packages(sample) == [(2, "bot"), (3, "handlers")]


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def all_sources() -> list[Path]:
    return [p for layer in ("bot", "handlers", "storage") for p in sources(layer)]


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in all_sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long: dict[str, int] = {}
    for path in all_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}
