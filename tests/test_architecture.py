"""The import directions docs/architecture.md states, checked on the code (every import,
including the ones inside functions): no circle, the runtime below every stage, the stages below
their callers, and data flowing one way between the stages.  The same reader checks
``benchmarks/``: a package with no circle, its shared modules below its scripts, nothing imported
from ``tests/`` and no ``sys.path`` edited.  Pure ``ast``: nothing scanned is imported."""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "xqg_tevatron"
BENCHMARKS = ROOT / "benchmarks"


@lru_cache(maxsize=None)
def module_names(folder: Path) -> dict[str, Path]:
    """``a.b`` for ``folder/a/b.py`` (the folder's own ``__init__.py``: the folder's name)."""
    names = {}
    for path in folder.rglob("*.py"):
        parts = path.relative_to(folder).with_suffix("").parts
        names[".".join(p for p in parts if p != "__init__") or folder.name] = path
    return names


def imported(name: str, path: Path, folder: Path) -> set[str]:
    """Every module that ``path`` (module ``name`` of the package in ``folder``) imports, anywhere
    in it, as a full dotted name: ``from a import b`` is ``a.b`` where that is one of the
    package's modules, else ``a``; a relative import is resolved inside the package."""
    package = folder.name
    modules = {package if n == package else f"{package}.{n}" for n in module_names(folder)}
    here = [package] if name == package else [package, *name.split(".")]
    if path.name != "__init__.py":
        here = here[:-1]  # a module's relative imports start at its folder
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return out


def module_graph(folder: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> the package's modules it imports`` (``a.b`` for ``<folder>/a/b.py``)."""
    names = module_names(folder)
    prefix = folder.name + "."
    graph = {}
    for name, path in names.items():
        targets = {m[len(prefix):] for m in imported(name, path, folder) if m.startswith(prefix)}
        graph[name] = {t for t in targets if t in names and t != name}
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
    assert "runtime.ray_executor" in GRAPH["runtime.executors"]
    assert "indexing.dense_encoder" in GRAPH["indexing.request"]  # imported inside a function
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
                                                                      "indexing.merge_units", "evaluation") + CALLERS),
    ("evaluation reads data's question format and an index's manifest, nothing else upstream", "evaluation",
     ("generate", "indexing.indexer", "indexing.merge_units", "indexing.store", "search") + CALLERS),
    ("data imports no evaluation", "data", ("evaluation", "generate", "indexing", "search") + CALLERS),
])
def test_import_directions(rule, package, forbidden):
    wrong = sorted((m, d) for m, d in imports_of(package) if under(d, *forbidden))
    assert not wrong, f"{rule}: {wrong}"


# ------------------------------------------------------------------ benchmarks/
BENCH_GRAPH = module_graph(BENCHMARKS)
TEST_MODULES = ("tests", "conftest", "helpers", "ray_processes")


def from_tests(module: str) -> bool:
    top = module.split(".")[0]
    return top in TEST_MODULES or top.startswith("test_")


def sys_path_edits(tree: ast.AST) -> list[int]:
    """Lines that change ``sys.path``: ``sys.path.insert/append/extend/...`` or an assignment."""
    def is_sys_path(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                and node.value.id == "sys")

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_sys_path(node.func.value):
            if node.func.attr in ("insert", "append", "extend", "remove", "pop", "clear"):
                lines.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if is_sys_path(target) or (isinstance(target, ast.Subscript) and is_sys_path(target.value)):
                    lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "path" for a in node.names):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_benchmarks_graph_is_read_from_the_code():
    assert "common.shaped_models" in BENCH_GRAPH["common.unit_costs"]
    assert "common.ray_processes" in BENCH_GRAPH["bench_scale"]  # imported lazily, inside a function
    assert "common.e5_pack" in BENCH_GRAPH["bench_gpu"]  # likewise
    assert {"run_all", "common.scratch", "bench_refuse"} <= set(BENCH_GRAPH)


def test_benchmarks_have_no_import_circle():
    assert cycles(BENCH_GRAPH) == []


def test_benchmarks_shared_modules_import_no_script():
    wrong = sorted((m, d) for m, deps in BENCH_GRAPH.items() if under(m, "common") for d in deps
                   if not under(d, "common"))
    assert not wrong, f"benchmarks.common imports a script: {wrong}"


def test_benchmarks_import_nothing_from_tests():
    wrong = sorted((name, m) for name, path in module_names(BENCHMARKS).items()
                   for m in imported(name, path, BENCHMARKS) if from_tests(m))
    assert not wrong, f"benchmarks import from tests/: {wrong}"
    assert from_tests("helpers") and from_tests("test_engine") and not from_tests("benchmarks.common.ray_processes")


def test_benchmarks_do_not_edit_sys_path():
    wrong = {name: lines for name, path in module_names(BENCHMARKS).items()
             if (lines := sys_path_edits(ast.parse(path.read_text(encoding="utf-8"))))}
    assert not wrong, f"sys.path changed (run scripts as python -m benchmarks.NAME instead): {wrong}"
    sample = "import sys\nsys.path.insert(0, 'x')\nsys.path[:0] = ['y']\nsys.path.append('z')\n"
    assert sys_path_edits(ast.parse(sample)) == [2, 3, 4]  # the check can fail


# The executor registry and the Ray executor's own module: the only places that may name Ray
RAY_HOMES = {"runtime.executors", "runtime.ray_executor"}
RAY_WORD = __import__("re").compile(r"(?<![A-Za-z])ray(?![a-z])", __import__("re").IGNORECASE)


def names_in_code(path: Path) -> set[str]:
    """Identifiers, attribute names, import names and string constants of ``path``, docstrings
    left out (they may explain what Ray is for; code may not branch on it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.alias):
            out.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out.add(node.value)
    return out


def test_nothing_outside_the_executor_registry_and_the_ray_executor_names_ray():
    """Adding an executor is its own module plus one registry line: no ``== "ray"`` test, Ray
    flag name or Ray import anywhere else in the package."""
    found = {name: sorted(n for n in names_in_code(path) if RAY_WORD.search(n))
             for name, path in module_names(PACKAGE).items() if name not in RAY_HOMES}
    assert {k: v for k, v in found.items() if v} == {}


def calls_in(path: Path) -> set[str]:
    """Names of what ``path`` calls (``f(...)`` and ``x.f(...)``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            out.add(node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", ""))
    return out


def test_driver_encode_and_the_job_are_one_encode_request_run_by_one_function():
    """Both commands parse their flags into an ``EncodeRequest`` and call ``run_encode``; neither
    declares a stage, records a request or merges on its own (``indexing/request.py`` does, once),
    and both leave the same operational flags out of the request they record."""
    names = module_names(PACKAGE)
    for command in ("indexing.encode_cli", "job"):
        called = calls_in(names[command])
        assert {"EncodeRequest", "run_encode"} <= called, command
        assert not called & {"Stage", "execute", "request_record", "merge_work_dir", "XqgIndexer"}, command
        assert "OPERATIONAL" in {n.id for n in ast.walk(ast.parse(names[command].read_text())) if isinstance(n, ast.Name)}
    assert {"Stage", "request_record", "merge_work_dir"} <= calls_in(names["indexing.request"])


def test_the_longest_first_order_of_make_test_names_test_files_that_exist():
    """conftest's LONGEST_FIRST puts the long files first for the two workers; a renamed file
    would silently drop out of it (and `make test` would end with one worker idle again)."""
    from conftest import LONGEST_FIRST

    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    assert [name for name in LONGEST_FIRST if not (ROOT / "tests" / f"{name}.py").is_file()] == []
