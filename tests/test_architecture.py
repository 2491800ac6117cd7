"""The import directions docs/architecture.md states, checked on the code (every import,
including the ones inside functions): no circle, the runtime below every stage, the stages below
their callers, and data flowing one way between the stages."""
from __future__ import annotations

import ast

import pytest

from helpers import ROOT

PACKAGE = ROOT / "xqg_tevatron"


def module_graph() -> dict[str, set[str]]:
    """``module -> the package's modules it imports`` (``a.b`` for ``xqg_tevatron/a/b.py``)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        names[".".join(p for p in parts if p != "__init__") or "xqg_tevatron"] = path
    graph = {}
    for name, path in names.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xqg_tevatron."):
                base = node.module[len("xqg_tevatron."):]
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in names else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name[len("xqg_tevatron."):] for a in node.names if a.name.startswith("xqg_tevatron.")]
            found.update(t for t in targets if t in names and t != name)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


GRAPH = module_graph()


def imports_of(prefix: str) -> set[tuple[str, str]]:
    return {(m, d) for m, deps in GRAPH.items() if m == prefix or m.startswith(prefix + ".") for d in deps}


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_is_read_from_the_code():
    """A test of the reader itself: known arrows are found, including an import inside a function."""
    assert "runtime.engine" in GRAPH["runtime.stage"]
    assert "runtime.ray_executor" in GRAPH["runtime.executors"]  # imported lazily, inside a function
    assert "generate.ct2_backend" in GRAPH["generate.factory"]
    assert len(GRAPH) > 60


def test_no_import_circle():
    assert cycles(GRAPH) == []
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]  # the check can fail


STAGES = ("data", "generate", "indexing", "xqg", "search", "evaluation", "words")
CALLERS = ("demo", "study", "job", "driver")


@pytest.mark.parametrize("rule, package, forbidden", [
    ("the runtime imports no stage and no caller", "runtime", STAGES + CALLERS),
    ("the fusion rule and the store format import no stage", "xqg", ("data", "generate", "indexing", "search",
                                                                     "evaluation") + CALLERS),
    ("generation imports no later stage", "generate", ("indexing", "xqg", "search", "evaluation") + CALLERS),
    ("indexing imports no later stage and no caller", "indexing", ("generate", "search", "evaluation") + CALLERS),
    ("search reads an index (manifest), never the indexer", "search", ("generate", "indexing.indexer",
                                                                      "indexing.merging", "evaluation") + CALLERS),
    ("evaluation reads data's question format and an index's manifest, nothing else upstream", "evaluation",
     ("generate", "indexing.indexer", "indexing.merging", "indexing.store", "search") + CALLERS),
    ("data imports no evaluation", "data", ("evaluation", "generate", "indexing", "search") + CALLERS),
])
def test_import_directions(rule, package, forbidden):
    wrong = sorted((m, d) for m, d in imports_of(package) if under(d, *forbidden))
    assert not wrong, f"{rule}: {wrong}"
