"""The import structure of ``src/segwise``, checked from the source with ``ast`` (nothing is imported).

The rules (docs/STYLE: imports flow one way, no package uses another's private names):

(a) no import cycles between modules; module-level, function-level and lazy imports
    (``importlib.import_module("segwise...")`` tables) all count, ``if TYPE_CHECKING:`` imports do not
    (they never run);
(b) the bottom packages ``metrics``, ``data``, ``models``, ``losses`` import none of ``evaluate``,
    ``train``, ``infer``, ``report``, ``cli``, ``demo``; ``infer`` does not import ``train``;
    ``report`` does not import ``infer``;
(c) no module imports a name starting with ``_`` from another top-level package, imports a module
    whose name starts with ``_`` from another package, or reads a ``_`` attribute of a module of
    another package (``stats._helper``). Dunder names (``__version__``) are public.

A "top-level package" is the second component of a module name: ``segwise.train.loop`` belongs to
``train``, ``segwise.errors`` to ``errors``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

BOTTOM = {"metrics", "data", "models", "losses"}
UPPER = {"evaluate", "train", "infer", "report", "cli", "demo"}
FORBIDDEN = {**{low: UPPER for low in BOTTOM}, "infer": {"train"}, "report": {"infer"}}

# Violations that remain for now, each with the reason and who removes it. The test fails when one
# of them is fixed, so that this set shrinks to empty: delete the entry then.
KNOWN_VIOLATIONS: set[str] = set()  # none left; a new one fails test_no_violations


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``target`` (a segwise module), or ``name`` from it, at ``line``."""

    importer: str
    target: str
    name: str | None
    line: int


def package(module: str) -> str:
    """``segwise.train.loop`` -> ``train``; ``segwise`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "segwise").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _last_name(node: ast.AST) -> str:
    """``x`` for ``x`` and ``a.b.x``; ``""`` for anything else."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            if _last_name(node.test) == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _resolve_from(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = modules()[module].name == "__init__.py"
    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _owner(dotted: str) -> str | None:
    """The longest segwise module that ``dotted`` starts with."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in modules():
            return ".".join(parts[:i])
    return None


@cache
def tree_of(module: str) -> ast.Module:
    path = modules()[module]
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


@cache
def edges_of(module: str) -> tuple[Edge, ...]:
    tree = tree_of(module)
    skip = _type_checking_nodes(tree)
    out: list[Edge] = []
    lazy = False
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _owner(alias.name)
                if target is not None:
                    out.append(Edge(module, target, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, node)
            if _owner(base) is None:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules():
                    out.append(Edge(module, sub, None, node.lineno))
                else:
                    out.append(Edge(module, _owner(base) or base, alias.name, node.lineno))
        elif isinstance(node, ast.Call):
            lazy = lazy or _last_name(node.func) in ("import_module", "lazy_exports")
    if lazy:  # a table of module names for importlib (segwise.exports): each one is imported on use
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in modules()
                and node.value != module
            ):
                out.append(Edge(module, node.value, None, node.lineno))
    return tuple(out)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def private_attribute_uses(module: str) -> Iterator[tuple[str, str, int]]:
    """``(target module, attribute, line)`` for each ``alias._name`` read of a segwise module."""
    tree = tree_of(module)
    bound: dict[str, str] = {}  # local name -> segwise module it refers to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _owner(alias.name) is not None:
                    local = alias.asname or alias.name.split(".")[0]
                    bound[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, node)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules():
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            dotted = _dotted(node.value)
            if dotted is None or dotted.split(".")[0] not in bound:
                continue
            head, _, rest = dotted.partition(".")
            full = bound[head] + (f".{rest}" if rest else "")
            if full in modules():
                yield full, node.attr, node.lineno


def module_graph() -> dict[str, list[str]]:
    return {m: sorted({e.target for e in edges_of(m)} - {m}) for m in modules()}


def import_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for m in graph:
        if m not in index:
            visit(m)
    return out


def violations() -> dict[str, str]:
    """Every violation as ``{key: where}``; the keys are what KNOWN_VIOLATIONS lists."""
    found: dict[str, str] = {}
    for component in import_cycles(module_graph()):
        where = {
            f"{e.importer}:{e.line} -> {e.target}"
            for m in component
            for e in edges_of(m)
            if e.target in component
        }
        found["cycle: " + " <-> ".join(component)] = "; ".join(sorted(where))
    for module in modules():
        low = package(module)
        for e in edges_of(module):
            high = package(e.target)
            where = f"{modules()[module].relative_to(SRC.parent)}:{e.line}"
            if high in FORBIDDEN.get(low, ()) and high != low:
                found[f"layer: {module} -> {e.target}"] = where
            if high == low:
                continue
            if e.name is not None and is_private(e.name):
                found[f"private name: {module} imports {e.target}.{e.name}"] = where
            if any(is_private(part) for part in e.target.split(".")[1:]):
                found[f"private module: {module} imports {e.target}"] = where
        for target, attr, line in private_attribute_uses(module):
            if package(target) != low:
                found[f"private attribute: {module} reads {target}.{attr}"] = f"{modules()[module]}:{line}"
    return found


def _listing(keys: set[str], found: dict[str, str]) -> str:
    return "\n".join(f"  {k}\n      at {found.get(k, '(gone)')}" for k in sorted(keys))


def test_the_source_tree_is_found():
    assert {"segwise", "segwise.cli", "segwise.models", "segwise.train.loop"} <= set(modules())


def test_no_new_layering_violations():
    found = violations()
    new = set(found) - KNOWN_VIOLATIONS
    assert not new, f"import rules broken (see this file's docstring):\n{_listing(new, found)}"


def test_known_violations_are_still_real():
    fixed = KNOWN_VIOLATIONS - set(violations())
    assert not fixed, f"fixed, so remove them from KNOWN_VIOLATIONS:\n{_listing(fixed, {})}"


def test_the_cycle_finder():
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e"]}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_the_checker_sees_function_level_and_lazy_imports():
    """Self-test: ``segwise.infer`` loads its modules from a name table (``segwise.exports``); ``cli``
    imports inside functions."""
    lazy = {e.target for e in edges_of("segwise.infer")}
    assert "segwise.infer.predict" in lazy
    assert any(e.target == "segwise.train.loop" for e in edges_of("segwise.cli.train"))


def test_only_the_cli_imports_the_cli():
    """The command line is the top layer: no library module imports ``segwise.cli`` (``__main__`` runs it)."""
    found = [
        f"{e.importer}:{e.line} imports {e.target}"
        for module in modules()
        if package(module) != "cli" and module != "segwise.__main__"
        for e in edges_of(module)
        if package(e.target) == "cli"
    ]
    assert not found, found


def test_tables_are_rendered_by_the_cli_only():
    """Library modules return data; every rich table or panel is drawn in ``cli/`` (``cli/render.py``).
    (The training log's progress bar and the demo's narration print lines through a console; they
    draw no table.)"""
    drawn = []
    for module in modules():
        if package(module) == "cli":
            continue
        for node in ast.walk(tree_of(module)):
            if isinstance(node, ast.ImportFrom) and node.module in ("rich.table", "rich.panel"):
                drawn.append(f"{module}:{node.lineno} imports {node.module}")
    assert not drawn, drawn
