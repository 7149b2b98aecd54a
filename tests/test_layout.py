"""The house rules the code itself can check: import direction, module size, static checks."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "workloads", "faults", "mock_models")


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import module`` imports the module, not the package's __init__
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _module_graph() -> dict[str, set[str]]:
    """Each module of ours and the modules of ours it imports (anywhere in the file)."""
    names = {_name(path).removesuffix(".__init__"): path for path in _modules()}
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        targets: set[str] = set()
        for imported in _imports(path):
            while imported and imported not in names:
                imported = imported.rpartition(".")[0]
            if imported and imported != module:
                targets.add(imported)
        graph[module] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_files() -> None:
    assert _cycles(_module_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_import_contracts_hold() -> None:
    """The layers declared in pyproject.toml ([tool.importlinter]), checked by import-linter."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


def test_every_part_of_the_harness_has_a_place_in_the_layers() -> None:
    """A new harness module must be named in the contracts, or no contract would check it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    named: set[str] = set()
    for contract in config["tool"]["importlinter"]["contracts"]:
        for key in ("source_modules", "forbidden_modules", "layers"):
            named.update(contract.get(key, ()))
    children = {
        path.stem
        for path in (ROOT / "harness").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    unnamed = {f"harness.{child}" for child in children} - named
    assert unnamed == set(), f"add these to a contract in pyproject.toml: {sorted(unnamed)}"


#: What the wire API layer may import besides our contract and itself: pure standard modules
#: and orjson. No sockets, no asyncio, no clock: bytes and events in, values out.
_SANS_IO_ROOTS = frozenset(
    {"__future__", "array", "base64", "collections", "dataclasses", "email", "enum", "math"}
    | {"orjson", "re", "struct", "sys", "types", "typing", "itertools", "functools", "hashlib"}
)


def test_the_api_layer_does_no_io() -> None:
    problems = []
    for path in sorted((ROOT / "harness" / "api").rglob("*.py")):
        for imported in _imports(path):
            ours = imported.startswith(("harness.contract", "harness.api"))
            if not ours and imported.split(".")[0] not in _SANS_IO_ROOTS:
                problems.append(f"{_name(path)} imports {imported}")
    assert problems == []


def test_modules_stay_small_and_open_with_a_docstring() -> None:
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 400, f"{path} has grown past 400 lines: split it"
        if path.name != "__init__.py" or text.strip():
            assert ast.get_docstring(ast.parse(text)), f"{path} has no module docstring"
    names = {p.name for p in _modules()}
    assert not names & {"utils.py", "helpers.py", "common.py"}


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
