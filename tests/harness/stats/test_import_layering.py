"""Import layering of gates, compare and stats: their sources in, import cycles and wrong-way
imports found (none allowed) out.

Module-level imports only (those inside functions run late and cannot form a load-time
cycle), but an ``if TYPE_CHECKING:`` import counts: a cycle hidden from the interpreter is
still a cycle in the design. Project-wide checks belong to import-linter; this one is local.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("harness.gates", "harness.compare", "harness.stats")


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module) -> Iterable[ast.Import | ast.ImportFrom]:
    """Imports at module level, including those under a module-level ``if`` or ``try``."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            pending.extend(node.body)
            pending.extend(node.orelse)
            if isinstance(node, ast.Try):
                pending.extend(node.finalbody)
                for handler in node.handlers:
                    pending.extend(handler.body)


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports at module level."""
    paths = {
        _module_name(root, path): path
        for package in packages
        for path in (root / package.replace(".", "/")).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            edges.add(base)
            edges.update(f"{base}.{alias.name}" for alias in node.names)
        graph[module] = {name for name in edges if name in paths and name != module}
    return graph


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (or a module importing itself),
    each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_gates_compare_and_stats_have_no_import_cycle() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert "harness.gates.budget" in graph and "harness.stats.bootstrap" in graph
    assert find_cycles(graph) == []


def test_stats_sits_under_both_and_neither_imports_the_other() -> None:
    graph = import_graph(ROOT, PACKAGES)
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if (module.startswith("harness.stats") and not target.startswith("harness.stats"))
        or (module.startswith("harness.gates") and target.startswith("harness.compare"))
        or (module.startswith("harness.compare") and target.startswith("harness.gates"))
    ]
    assert wrong == []
    assert any(t.startswith("harness.stats") for m, ts in graph.items() for t in ts if "gates" in m)


def test_a_planted_cycle_is_found_even_behind_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""Toy."""\n')
    (package / "a.py").write_text("from pkg.b import B\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n"
    )
    (package / "c.py").write_text(
        "from . import a\n\n\ndef late() -> None:\n    from pkg import d\n"
    )
    (package / "d.py").write_text("import pkg.c\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.b"] == {"pkg", "pkg.c"}
    assert graph["pkg.c"] == {"pkg", "pkg.a"}  # the import inside late() is not load-time
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    (package / "b.py").write_text("B = 1\n")
    assert find_cycles(import_graph(tmp_path, ["pkg"])) == []
