"""Run every benchmark in turn (each prints its own side-by-side ratios).

    python -m benchmarks.run_all [--quick] [--only NAME ...]

The benchmarks are found, not listed: every ``benchmarks/bench_*.py`` in name order, each run as
``python -m benchmarks.NAME``, except a module that says ``IN_RUN_ALL = False`` at its top level
(``bench_gpu``: it needs a CUDA device, ``make bench-gpu``).  The flag is read from the source, so
nothing is imported here.  ``--quick`` is passed to each: the smallest sizes that still run every
code path (``make bench-quick``), writing no result file.  A stopped run stops the running
benchmark with SIGTERM, so it removes its temporaries first.
"""
from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

from benchmarks.common.quick import HELP
from benchmarks.common.scratch import run_benchmark, run_child

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def in_run_all(path: Path) -> bool:
    """False when the module assigns ``IN_RUN_ALL = False`` at its top level."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "IN_RUN_ALL" for t in node.targets):
            return bool(ast.literal_eval(node.value))
    return True


def benchmarks() -> list[str]:
    """The module names run, in name order."""
    return [p.stem for p in sorted(HERE.glob("bench_*.py")) if in_run_all(p)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=HELP)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these (e.g. bench_refuse)")
    args = parser.parse_args(argv)
    names = benchmarks()
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"not a benchmark run here: {', '.join(unknown)} (these are: {', '.join(names)})")
    seconds: dict[str, float] = {}
    for name in names:
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name}", flush=True)
        start = time.perf_counter()
        code = run_child([sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if args.quick else [])], cwd=ROOT)
        seconds[name] = time.perf_counter() - start
        if code != 0:
            print(f"run_all: {name} exited {code} after {seconds[name]:.0f} s", file=sys.stderr)
            return code
    # where a run's time goes, so that a slow benchmark is seen (the total is what
    # scripts/time_test_suite.py records for the README)
    print("\nrun_all: wall seconds per benchmark: " + ", ".join(f"{n} {s:.0f}" for n, s in seconds.items())
          + f"; total {sum(seconds.values()):.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
