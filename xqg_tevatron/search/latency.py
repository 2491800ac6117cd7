"""Per-query latency report: one query at a time through the search stage, like a live service.

Systems compared (same queries, same encoder):
  * a plain index;
  * an xQG-fused index: augmentation was paid at index time, so it should cost what plain costs;
  * a multi-vector index (passage + each generated query as rows): a bigger index, searched
    deeper and max-aggregated per docid (read from its manifest);
  * ``translate``: dictionary-translate the query to English, then search the plain index
    (the query-time baseline, which pays at query time).
Reports p50/p95/mean per-query milliseconds, queries/s, index size and build time.

    python -m xqg_tevatron.search.latency --topics topics.tsv \\
        --system plain=indexes/plain --system xqg=indexes/xqg --system multi=indexes/multi \\
        --system translate:translate=indexes/plain [--queries 200 --hits 100 --threads 1 --query-encoder onnx]
"""
from __future__ import annotations

import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from xqg_tevatron.cli import FlagParser
from xqg_tevatron.runtime.atomic_io import atomic_write_text, dumps_json
from xqg_tevatron.indexing.manifest import read_manifest, verify_index_dir
from xqg_tevatron.models import resolve_model
from xqg_tevatron.pyserini.bootstrap import JavaSettings, add_java_arguments
from xqg_tevatron.search.searcher import (DEFAULT_QUERY_ENCODER, QUERY_ENCODERS, IndexSearcher, SearchConfig, set_process_threads,
                                          time_queries)


@dataclass
class LatencyResult:
    system: str
    kind: str
    queries: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    qps: float
    index_mb: float
    rows: int
    build_s: Optional[float]


def summarise(system: str, kind: str, index_dir: str | Path, ms: Sequence[float]) -> LatencyResult:
    if not ms:
        raise ValueError("no timed queries")
    m = read_manifest(index_dir)
    size = sum(p.stat().st_size for p in Path(index_dir).iterdir() if p.is_file())
    build = m.get("build_seconds")
    if build is not None and m.get("encode_seconds") is not None:
        build = m["encode_seconds"] + build
    mean = statistics.fmean(ms)
    return LatencyResult(system, kind, len(ms), round(float(np.percentile(ms, 50)), 3),
                         round(float(np.percentile(ms, 95)), 3), round(mean, 3), round(1000.0 / mean, 1),
                         round(size / 2 ** 20, 3), int(m.get("rows", 0)), None if build is None else round(build, 2))


def format_results(results: Sequence[LatencyResult]) -> str:
    from xqg_tevatron.tables import format_table

    return format_table(["system", "kind", "p50 ms", "p95 ms", "q/s", "index MB", "rows", "build s"],
                        [[r.system, r.kind, r.p50_ms, r.p95_ms, r.qps, r.index_mb, r.rows, r.build_s]
                         for r in results], digits=2)


def parse_system(spec: str) -> tuple[str, bool, str]:
    """``NAME=INDEX_DIR`` or ``NAME:translate=INDEX_DIR`` -> (name, translate, index dir)."""
    name, sep, index_dir = spec.partition("=")
    name, _, kind = name.partition(":")
    if not sep or not name or kind not in ("", "translate"):
        raise ValueError(f"--system takes NAME=INDEX_DIR or NAME:translate=INDEX_DIR, got {spec!r}")
    return name, kind == "translate", index_dir


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.corpus import read_topics

    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", required=True)
    parser.add_argument("--system", action="append", required=True,
                        help="NAME=INDEX_DIR, or NAME:translate=INDEX_DIR for the query-translation baseline")
    parser.add_argument("--encoder", help="query encoder model (default: the one each manifest names)")
    parser.add_argument("--query_encoder", choices=QUERY_ENCODERS, default=DEFAULT_QUERY_ENCODER)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output")
    add_java_arguments(parser)
    args = parser.parse_args(argv)
    systems = [parse_system(s) for s in args.system]
    for _, _, index_dir in systems:
        verify_index_dir(index_dir)  # every index is checked before any is timed
    if args.encoder:
        args.encoder = resolve_model(args.encoder, "encoder model")
    queries = [t for _, t in read_topics(args.topics)][: args.queries]
    if not queries:
        raise ValueError(f"{args.topics}: no topics")
    config = SearchConfig(k=args.hits, query_encoder=args.query_encoder, threads=args.threads,
                          java=JavaSettings.from_args(args))
    set_process_threads(args.threads)
    translator = None
    results = []
    for name, translate, index_dir in systems:
        if translate and translator is None:
            from xqg_tevatron.search.translate import DictionaryTranslator

            translator = DictionaryTranslator()
        searcher = IndexSearcher(index_dir, args.encoder, config, translator if translate else None)
        results.append(summarise(name, searcher.kind, index_dir, time_queries(searcher, queries)))
    print(format_results(results))
    if args.output:
        atomic_write_text(Path(args.output), dumps_json([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
