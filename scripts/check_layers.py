"""Check that TinyRL's imports run one way: down the layers, never up, never sideways, never in a cycle.

Every ``import`` counts, at module level or inside a function (a lazy import is still a dependency); only
``if TYPE_CHECKING:`` blocks are exempt, since they never run. Run by ``make lint``; exits 1 and lists every
offending import. ``--root DIR`` checks another tree (the tests use a fixture package).

Usage: ``python scripts/check_layers.py [--root DIR]``
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Bottom to top. A module may import its own group and any lower layer. Groups that share a layer are
#: siblings and must not import each other. A name covers its submodules, except the bare package name.
LAYERS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (
        (
            "tinyrl.errors",
            "tinyrl.io",
            "tinyrl.config",
            "tinyrl.processes",
            "tinyrl.workers",
            "tinyrl.cli_options",
            "tinyrl.provenance",
        ),
    ),
    (("tinyrl.sim",),),
    (("tinyrl.tasks",),),
    (("tinyrl.common",),),
    (("tinyrl.train",),),
    (("tinyrl.compress",),),
    (("tinyrl.export",),),
    (("tinyrl.hil",), ("tinyrl.report",), ("tinyrl.scale",)),
    (("tinyrl", "tinyrl.cli", "tinyrl.eval_cli", "tinyrl.__main__"),),
)


@dataclass(frozen=True)
class Import:
    """One import of a TinyRL module: where it is and what it names."""

    path: Path
    line: int
    source: str
    target: str


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every import outside ``if TYPE_CHECKING:`` blocks (``from a import b``: ``a.b``)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str, modules: set[str]) -> str | None:
    """The longest known module that ``name`` starts with (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def collect_imports(root: Path, package: str = "tinyrl") -> tuple[set[str], list[Import]]:
    """Every module under ``root/package`` and every import between them."""
    paths = {_module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}
    modules = set(paths)
    imports = []
    for source, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in _imported_names(tree):
            target = _resolve(name, modules)
            if target is not None and target != source:
                imports.append(Import(path, line, source, target))
    return modules, imports


def placement(module: str) -> tuple[int, int] | None:
    """``(layer, group)`` of a module: the group with the longest matching prefix."""
    best: tuple[int, int, int] | None = None
    for layer, groups in enumerate(LAYERS):
        for group, prefixes in enumerate(groups):
            for prefix in prefixes:
                covers = module == prefix or ("." in prefix and module.startswith(prefix + "."))
                if covers and (best is None or len(prefix) > best[2]):
                    best = (layer, group, len(prefix))
    return None if best is None else best[:2]


def _cycles(modules: set[str], imports: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def check(root: Path, package: str = "tinyrl") -> list[str]:
    """Problems found under ``root/package``, one line each (empty: the layers hold)."""
    modules, imports = collect_imports(root, package)
    problems = [f"{package}/{m.removeprefix(package + '.')}: in no layer" for m in sorted(modules) if not placement(m)]
    for imp in imports:
        src, dst = placement(imp.source), placement(imp.target)
        if src is None or dst is None or src == dst or dst[0] < src[0]:
            continue
        how = "up" if dst[0] > src[0] else "sideways (sibling layers)"
        where = imp.path.relative_to(root)
        problems.append(f"{where}:{imp.line}: {imp.source} imports {imp.target}, {how}")
    problems += [f"import cycle: {' <-> '.join(c)}" for c in _cycles(modules, imports)]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    problems = check(args.root)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        order = " -> ".join(" | ".join(g[0].removeprefix("tinyrl.") for g in layer) for layer in LAYERS)
        print(f"{len(problems)} layer violation(s); the order, bottom to top: {order}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
