"""``python -m xqg_tevatron.study --config configs/study_small.yaml``: run (or resume) a study,
write ``results.csv``, ``results.json`` (the cells and each level against p=0 over seeds) and
``results.png`` in its output folder and print the table; ``--record PATH`` also writes the
summary as an artifact with its provenance (``docs/results/study_xquad.json``)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from xqg_tevatron.cli import FlagParser
from xqg_tevatron.study.config import StudyConfig
from xqg_tevatron.study.plot import plot
from xqg_tevatron.study.levels import describe
from xqg_tevatron.study.runner import Study
from xqg_tevatron.runtime.workdir import remove_plugin_dir

SHOWN = ["model", "switched_share", "lexical_overlap", "mode", "alpha", "n_per_lang", "aggregation", "index_type",
         "MRR", "R@10", "R@5kt", "p50_ms", "p95_ms", "index_mb", "build_s"]


def format_cells(rows: list[dict]) -> str:
    from xqg_tevatron.tables import format_table

    return format_table(SHOWN, [[r.get(c) for c in SHOWN] for r in rows])


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    parser = FlagParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--max_cells", type=int, help="stop after this many cells (resume later)")
    parser.add_argument("--overwrite", action="store_true", help="start the output folder over (only if a study made it)")
    parser.add_argument("--record", help="also write the summary here with its provenance (commit, machine, load)")
    args = parser.parse_args(argv)
    provenance = None
    if args.record:
        from xqg_tevatron.provenance import Provenance

        provenance = Provenance(["python -m xqg_tevatron.study", *(sys.argv[1:] if argv is None else argv)])
    started = time.time()
    cfg = StudyConfig.from_yaml(args.config)
    if args.overwrite:
        remove_plugin_dir(cfg.output, kinds=["study"])
    study = Study(cfg)
    rows = study.run(max_cells=args.max_cells)
    out = Path(cfg.output)
    png = plot(rows, out / "results.png")
    print()
    print(format_cells(rows))
    notes = {r.get("tokenizer_note") for r in rows} - {None}
    for note in notes:
        print(f"note: {note}")
    summary = study.summary(rows, seconds=time.time() - started)
    for label, method in summary["levels"].items():
        for entry in method["levels"]:
            if "against_p0" in entry:
                print(f"{label}, p={entry['p']:g} against p=0, MRR@100: {describe(entry)}")
    if provenance is not None:
        print(f"artifact: {provenance.write(Path(args.record), summary)}")
    print(f"\n{out / 'results.csv'}\n{out / 'results.json'}\n{png}\n({time.time() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
