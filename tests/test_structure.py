"""The package layout rule (issue 9 §1), enforced by reading every module's imports with ``ast``.

Data flows one way::

    base (errors, io, paths, schema, cli_types)  <-  every module
    vocab <- modalities <- (model | mol3d | protein3d) <- corpus <- tasks <- eval
    llamafactory/ (+ the top-level biomatrix_plugin_hook)  ->  modalities, base, itself only
    demo/ and biomatrix_plugin/cli.py  ->  anything;  nothing imports eval (but eval) or demo (but demo)

All imports count, function-local ones included: a lazy import is still a dependency, and it is where
cycles hide. ``importlib.import_module("...")`` strings (the CLI dispatcher, the hook, registries that
name ``"module:function"``) are not edges: loading by name is the sanctioned way to reach upward.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "biomatrix_plugin"
PKG = "biomatrix_plugin"
HOOK_MODULE = "biomatrix_plugin_hook"  # the .pth hook's one-file module: part of the LLaMA-Factory integration

BASE = {"errors", "io", "paths", "schema", "cli_types"}
# stage rank: a library module may import stages of a strictly lower rank (and its own stage, and the base)
RANK = {"vocab": 1, "modalities": 2, "model": 3, "mol3d": 3, "protein3d": 3, "corpus": 4, "tasks": 5, "eval": 6}
SIDE = {"llamafactory", "demo"}  # beside the stages: they depend on stages, no stage depends on them

# Cycles allowed while they are being removed (each entry one strongly connected component: the modules
# that reach each other). Any other cycle fails; an entry that is no longer a cycle warns, to be deleted.
KNOWN_CYCLES: set[frozenset[str]] = set()  # empty: the three cycles of issue 9 are gone

# Subpackages whose docstring does not yet say what they may import (their owners are adding it); an entry
# that passes warns so it is deleted here.
PENDING_DOCSTRINGS: set[str] = set()

# Upward imports from a command module, each with its reason. A ``*/cli.py`` may import library modules of
# its own stage and below; these are the documented exceptions.
CLI_UPWARD_ALLOWED = {
    # `vocab build` counts symbols over a corpus, which needs the serializers one stage up; the counting
    # lives in modalities.census and the vocab CLI composes the two (see vocab/__init__'s docstring).
    ("biomatrix_plugin.vocab.cli", "biomatrix_plugin.modalities.census"),
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    found = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    found[HOOK_MODULE] = REPO / f"{HOOK_MODULE}.py"
    return found


def _resolve(name: str) -> str | None:
    """The deepest module of ours that ``name`` denotes (``a.b.func`` -> ``a.b``), or None if not ours."""
    if name != PKG and not name.startswith(PKG + ".") and name != HOOK_MODULE:
        return None
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def _is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def _absolute(node: ast.ImportFrom, source: str) -> str:
    if not node.level:
        return node.module or ""
    # relative import: resolve against the importing module's package (the test below refuses them anyway)
    base = source.split(".") if _is_package(source) else source.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_in(text: str, source: str) -> list[Edge]:
    """Every import of one of our modules in ``text`` (module ``source``), at any depth of the tree."""
    out: list[Edge] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, source)
            # `from pkg import sub` imports the submodule when `sub` is one
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules() else module for a in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target)
            if resolved and resolved != source:
                out.append(Edge(source, resolved, node.lineno))
    return out


@lru_cache(maxsize=None)
def edges() -> tuple[Edge, ...]:
    return tuple(e for source, path in modules().items() for e in imports_in(path.read_text(encoding="utf-8"), source))


def unit(module: str) -> str:
    """``base``, ``cli`` (the top-level dispatcher), ``root`` (the package __init__), or the subpackage."""
    if module == HOOK_MODULE:
        return "llamafactory"
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if len(parts) == 2 and parts[1] in BASE:
        return "base"
    if len(parts) == 2 and parts[1] == "cli":
        return "cli"
    if len(parts) == 2 and not _is_package(module):
        raise AssertionError(f"{module}: a new top-level module; put it in a stage or add it to BASE deliberately")
    return parts[1]


def is_command_module(module: str) -> bool:
    return module.endswith(".cli")


def violation(edge: Edge) -> str | None:
    """Why ``edge`` breaks the layout rule, or None."""
    src, dst = unit(edge.source), unit(edge.target)
    if is_command_module(edge.target) and edge.target != edge.source:
        return "no module imports a command (cli) module; share the code through a library module"
    if src in ("cli", "demo") or src == dst:
        return None
    if src in ("base", "root"):
        return "the base layer imports no stage" if dst not in ("base",) else None
    if dst in ("base", "root"):
        return None
    if dst == "eval":
        return "nothing imports eval (it reads the stages, never the other way)"
    if dst == "demo":
        return "nothing imports the demo"
    if src == "llamafactory":
        return None if dst == "modalities" else "llamafactory/ imports only modalities, the base layer and itself"
    if dst in SIDE:
        return f"stages do not depend on {dst}/"
    if RANK[dst] < RANK[src]:
        return None
    if is_command_module(edge.source) and (edge.source, edge.target) in CLI_UPWARD_ALLOWED:
        return None
    direction = "a sibling stage" if RANK[dst] == RANK[src] else "a later stage"
    order = "vocab <- modalities <- model|mol3d|protein3d <- corpus <- tasks <- eval"
    return f"{src} may not import {dst} ({direction}: {order})"


def test_the_walk_sees_the_package():
    # guards the test itself: the layout it checks must be the one on disk
    names = set(modules())
    for stage in (*RANK, *SIDE):
        assert f"{PKG}.{stage}" in names, f"{stage}/ missing: update RANK/SIDE with the layout"
    assert len(edges()) > 50
    assert "biomatrix_plugin.vocab.tokens" in {
        e.target for e in edges() if e.source == "biomatrix_plugin.modalities.serialization"}


def test_function_local_and_from_imports_are_seen():
    text = (
        "import os\nfrom biomatrix_plugin.errors import ConfigError\n"
        "def f():\n    from biomatrix_plugin.eval import registry\n"
        "    class C:\n        def g(self):\n            import biomatrix_plugin.corpus.build as b\n"
    )
    found = {(e.target, e.line) for e in imports_in(text, "biomatrix_plugin.vocab.vocabulary")}
    assert found == {("biomatrix_plugin.errors", 2), ("biomatrix_plugin.eval.registry", 4),
                     ("biomatrix_plugin.corpus.build", 7)}


def test_import_direction():
    bad = [f"{edge}: {reason}" for edge in edges() if (reason := violation(edge))]
    assert not bad, "imports against the layout rule:\n  " + "\n  ".join(bad)


def test_rule_catches_upward_imports():
    # the checker itself, on edges the old flat layout had or that a careless change would add
    assert violation(Edge("biomatrix_plugin.vocab.vocabulary", "biomatrix_plugin.modalities.serialization", 1))
    assert violation(Edge("biomatrix_plugin.corpus.molecules", "biomatrix_plugin.eval.molecules", 1))
    assert violation(Edge("biomatrix_plugin.mol3d.tokenizer", "biomatrix_plugin.protein3d.tokenizer", 1))
    assert violation(Edge("biomatrix_plugin.llamafactory.patches", "biomatrix_plugin.corpus.records", 1))
    assert violation(Edge("biomatrix_plugin.llamafactory.patches", "biomatrix_plugin.vocab.tokens", 1))
    assert violation(Edge("biomatrix_plugin.paths", "biomatrix_plugin.vocab.vocabulary", 1))
    assert violation(Edge("biomatrix_plugin.corpus.build", "biomatrix_plugin.demo.data", 1))
    assert violation(Edge("biomatrix_plugin.corpus.build", "biomatrix_plugin.mol3d.cli", 1))
    assert violation(Edge("biomatrix_plugin.tasks.cli", "biomatrix_plugin.corpus.cli", 1))
    assert violation(Edge("biomatrix_plugin.corpus.cli", "biomatrix_plugin.eval.registry", 1))
    assert not violation(Edge("biomatrix_plugin.eval.report", "biomatrix_plugin.tasks.suite", 1))
    assert not violation(Edge("biomatrix_plugin.demo.run", "biomatrix_plugin.eval.generation", 1))
    assert not violation(Edge("biomatrix_plugin.corpus.cli", "biomatrix_plugin.mol3d.batch", 1))


def test_absolute_imports_only():
    relative = []
    for source, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                relative.append(f"{source} line {node.lineno}")
    assert not relative, "use absolute imports (from biomatrix_plugin.x.y import z):\n  " + "\n  ".join(relative)


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm (iterative); components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def import_cycles() -> list[frozenset[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for edge in edges():
        graph[edge.source].add(edge.target)
    return strongly_connected(graph)


def test_cycle_finder():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["e", "f"]]


def test_no_import_cycles():
    cycles = import_cycles()
    new = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert not new, "import cycles (break them: a table, a lazy registry by name, or a shared lower module):\n  " + \
        "\n  ".join(" <-> ".join(c) for c in new)
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    if stale:
        warnings.warn(f"KNOWN_CYCLES entries that are no longer cycles, delete them: {stale}", stacklevel=1)


def _subpackages() -> list[str]:
    return sorted(name for name, path in modules().items() if path.name == "__init__.py" and name != PKG)


@pytest.mark.parametrize("package", _subpackages())
def test_subpackage_docstring_says_what_it_owns_and_may_import(package):
    doc = ast.get_docstring(ast.parse(modules()[package].read_text(encoding="utf-8"))) or ""
    complete = len(doc.split()) >= 12 and "may import" in doc.lower()
    if package in PENDING_DOCSTRINGS:
        if complete:
            warnings.warn(f"{package} now has its docstring: delete it from PENDING_DOCSTRINGS", stacklevel=1)
        pytest.xfail(f"{package}/__init__.py: docstring lacks 'May import:' (pending, its owner adds it)")
    assert len(doc.split()) >= 12, f"{package}/__init__.py: a docstring saying what the subpackage owns"
    assert "may import" in doc.lower(), f"{package}/__init__.py: the docstring says what it 'May import:'"
