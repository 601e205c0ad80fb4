"""No import cycle anywhere in the product: each package's modules import "down" (a handler imports
the domain layer, a use case its stores and adapters, never the other way round), lazy imports
inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import TESTS

ROOT = TESTS.parent
# (folder to walk, the module prefix its files are imported by)
TREES = (
    (ROOT / "shared" / "prompter", "prompter"),
    (ROOT / "functions", "functions"),
    (ROOT / "local", "local"),
    (ROOT / "infra", "infra"),
    (ROOT / "bench", "bench"),
)


def module_name(path: Path, base: Path, prefix: str) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([prefix, *parts])


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base, prefix in TREES:
        for path in base.rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path, base, prefix)] = path
    return found


def imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The first-party modules ``path`` imports (``from a import b`` counts ``a.b`` when it is a
    module, else ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")
                base = ".".join([*parents[: len(parents) - node.level + 1], base]).strip(".")
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    known = modules()
    graph = {name: imports(path, name, known) for name, path in known.items()}
    assert len(graph) > 100  # the whole product was read
    assert cycles(graph) == []


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
