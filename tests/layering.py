"""Import-layering facts about ag/, read with ``ast`` (used by tests/core/test_layering.py).

Run it to see them: ``python tests/layering.py`` prints every import of a private
name from another module and every module-level import cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ag"

def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)

def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}

def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

def _resolve(mod: str, node: ast.ImportFrom, is_pkg: bool) -> str | None:
    if node.level:
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))
    return node.module

def _module_level(tree: ast.Module):
    """Import statements that run at import time (not in functions or TYPE_CHECKING blocks)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" not in test:
                todo[:0] = node.body + node.orelse
        elif isinstance(node, (ast.Try,)):
            todo[:0] = node.body + [h for hd in node.handlers for h in hd.body] + node.orelse + node.finalbody
        elif isinstance(node, (ast.With,)):
            todo[:0] = node.body
        elif isinstance(node, ast.ClassDef):
            todo[:0] = node.body

def private_imports(root: Path = ROOT) -> list[str]:
    """``from ag.x import _name`` (anywhere in a module) where ag.x is another module."""
    mods = modules(root)
    found = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(mod, node, path.name == "__init__.py")
                if not source or not (source == "ag" or source.startswith("ag.")) or source == mod:
                    continue
                for alias in node.names:
                    if _is_private(alias.name) and f"{source}.{alias.name}" not in mods:
                        found.append(f"{mod}:{node.lineno} imports {source}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if any(_is_private(p) for p in alias.name.split(".")) and alias.name.startswith("ag"):
                        found.append(f"{mod}:{node.lineno} imports {alias.name}")
    return found

def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module-level import edges among ag's modules (a submodule's edge to its own
    ancestor packages is left out: Python loads those first anyway)."""
    mods = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in _module_level(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                source = _resolve(mod, node, path.name == "__init__.py")
                if source is None:
                    continue
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    targets.append(full if full in mods else source)
            for t in targets:
                if t in mods and t != mod and not mod.startswith(t + "."):
                    graph[mod].add(t)
    return graph

def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other (strongly connected, size > 1)."""
    reach = {m: _reachable(graph, m) for m in graph}
    groups = {tuple(sorted(m2 for m2 in reach[m] if m in reach[m2])) for m in graph if m in reach[m]}
    return sorted(list(g) for g in groups if len(g) > 1)


if __name__ == "__main__":
    import sys
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    p = private_imports(root)
    print(len(p), "private cross-module imports")
    for line in p:
        print("  ", line)
    for c in cycles(import_graph(root)):
        print("cycle:", c)
