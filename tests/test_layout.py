"""The house rules the code itself can check: import direction, module size, static checks."""

from __future__ import annotations

import ast
import subprocess
import sys
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
            found.add(node.module)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


#: What the wire API layer may import: our contract and itself, and pure standard modules.
_SANS_IO_ROOTS = frozenset(
    {"__future__", "array", "base64", "collections", "dataclasses", "email", "enum", "math"}
    | {"orjson", "sys", "types", "typing"}
)


def _sans_io(imported: str) -> bool:
    if _within(imported, "harness.contract") or _within(imported, "harness.api"):
        return True
    return imported.split(".")[0] in _SANS_IO_ROOTS


def test_imports_follow_the_pipeline() -> None:
    problems = []
    for path in _modules():
        module, imports = _name(path), _imports(path)
        for imported in imports:
            if _within(imported, "harness.cli") and not _within(module, "harness.cli"):
                problems.append(f"{module} imports the CLI ({imported})")
            if module == "harness.engine" and imported.startswith("workloads"):
                problems.append("the engine imports workloads")
            pure = module.startswith(("workloads", "faults")) and not _within(
                module, "faults.proxy"
            )
            if pure and imported.startswith(
                (
                    "harness.engine",
                    "harness.client",
                    "harness.runner",
                    "mock_models.server",
                    "aiohttp",
                    "httpx",
                )
            ):
                problems.append(f"pure module {module} imports I/O code ({imported})")
            if (
                module.startswith(("mock_models", "faults"))
                and imported.startswith("harness")
                and not _within(imported, "harness.contract")
                and not _within(imported, "harness.api")
            ):
                problems.append(f"{module} reaches into the harness ({imported})")
            if _within(module, "harness.api") and not _sans_io(imported):
                problems.append(f"the wire API layer {module} imports {imported}")
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


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
