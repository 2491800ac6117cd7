"""A benchmark's result as an artifact: ``docs/results/NAME.json``, written by the benchmark
itself with its provenance (commit, date, command, machine, load before and after), so the
results page renders the figure instead of a pasted copy.  A ``--quick`` run writes nothing:
its numbers only show that the code paths run."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent.parent


class BenchmarkRecord:
    """Started with the benchmark (the load before it), written once its results are in."""

    def __init__(self, name: str, argv: Optional[Sequence[str]], quick: bool, module: Optional[str] = None):
        """``name``: the artifact's file name; ``module``: the benchmark's module when it writes
        more than one artifact under other names (``bench_scale`` one per part)."""
        from xqg_tevatron.provenance import Provenance

        self.name, self.quick = name, quick
        self.provenance = Provenance(["python -m benchmarks." + (module or name),
                                      *(sys.argv[1:] if argv is None else list(argv))])

    def write(self, results: dict) -> Optional[Path]:
        if self.quick:
            return None
        path = self.provenance.write(ROOT / "docs" / "results" / f"{self.name}.json", results)
        print(f"artifact: {path.relative_to(ROOT)}")
        return path
