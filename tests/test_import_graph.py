"""No import cycles between govkit's packages or between the modules of one
package, counting every import: module-level and inside functions."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import govkit

ROOT = Path(govkit.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every govkit module named by an import anywhere in the file."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # from pkg import submodule
    return {m for m in out if m == "govkit" or m.startswith("govkit.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: {m for m in _imports(p) if m in modules} for name, p in modules.items()}


def _child(parent: str, module: str) -> str | None:
    """The direct child of package ``parent`` that holds ``module``, if any."""
    if not module.startswith(parent + "."):
        return None
    return parent + "." + module[len(parent) + 1 :].split(".")[0]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def package_cycles(graph: dict[str, set[str]]) -> dict[str, list[list[str]]]:
    """For each package, the cycles among its direct children."""
    packages = {
        ".".join(d.relative_to(ROOT.parent).parts)
        for d in [ROOT, *ROOT.rglob("*")]
        if d.is_dir() and any(d.glob("*.py"))
    }
    found = {}
    for pkg in sorted(packages):
        edges: dict[str, set[str]] = defaultdict(set)
        for src, targets in graph.items():
            a = _child(pkg, src)
            if a is None:
                continue
            for t in targets:
                b = _child(pkg, t)
                if b is not None and b != a:
                    edges[a].add(b)
        cycles = _cycles(edges)
        if cycles:
            found[pkg] = cycles
    return found


def test_no_import_cycles():
    assert package_cycles(_graph()) == {}


def test_cycle_detector_finds_a_planted_cycle():
    graph = _graph()
    graph["govkit.errors"] = graph["govkit.errors"] | {"govkit.registry.tables"}
    graph["govkit.registry.tables"] = graph["govkit.registry.tables"] | {"govkit.errors"}
    assert "govkit" in package_cycles(graph)
