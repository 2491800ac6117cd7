"""Search latency through Pyserini's FaissSearcher, side by side on one synthetic corpus:

  plain   N passage vectors (flat IP)
  xqg     N fused vectors: same shape, so the same cost (target ratio ~1.0)
  multi   N passages + R query rows each, searched R+1 times deeper and max-aggregated

Vectors are synthetic unit vectors of the demo encoder's dimension (384); queries are
vectors too, so the numbers isolate the index cost (query encoding is identical for all).
A timed ratio is the median of ``--repeats`` interleaved rounds (each round times every index,
in a rotated order), printed with its spread; the result is ``docs/results/bench_search_latency.json``.
    python -m benchmarks.bench_search_latency [--passages 200000 --rows_per_passage 5 --queries 200] [--quick]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"passages": 2_000, "queries": 20, "repeats": 2}  # the three index layouts, each searched


def unit(rng, n, d):
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=200_000)
    ap.add_argument("--rows_per_passage", type=int, default=5)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds (a ratio is their median)")
    args = quick.parse_args(ap, argv, QUICK)
    record = BenchmarkRecord("bench_search_latency", argv, args.quick)
    from xqg_tevatron.pyserini import bootstrap

    bootstrap()
    import faiss

    from xqg_tevatron.indexing.faiss_index import write_index_dir
    from xqg_tevatron.search.searcher import IndexSearcher, SearchConfig, set_process_threads, time_queries
    from xqg_tevatron.xqg.fusion import combine

    rng = np.random.default_rng(0)
    p = unit(rng, args.passages, args.dim)
    q_rows = unit(rng, args.passages * args.rows_per_passage, args.dim)
    q_sum = q_rows.reshape(args.passages, args.rows_per_passage, args.dim).sum(1)
    fused = combine(p, q_sum, np.full(args.passages, args.rows_per_passage), 0.5, "mean")  # the one fusion rule
    ids = [f"d{i}" for i in range(args.passages)]
    queries = unit(rng, args.queries, args.dim)
    layouts, searchers = {}, {}
    with scratch_dir(ROOT / ".cache", "bench-search-latency") as tmp:
        for name, vecs, docids, depth in [
            ("plain", p, ids, 1),
            ("xqg", fused, ids, 1),
            ("multi", np.concatenate([p[:, None, :], q_rows.reshape(args.passages, args.rows_per_passage, -1)], 1)
             .reshape(-1, args.dim), [f"{d}#{k}" for d in ids for k in range(args.rows_per_passage + 1)],
             args.rows_per_passage + 1),
        ]:
            index = faiss.IndexFlatIP(args.dim)
            index.add(np.ascontiguousarray(vecs, dtype=np.float32))
            out = write_index_dir(tmp / name, index, docids, {
                "rows": len(docids), "passages": args.passages, "vector_mode": "multi" if depth > 1 else "fused"})
            layouts[name] = {"rows": index.ntotal, "mb": (out / "index").stat().st_size / 2 ** 20}
            del index
        set_process_threads(1)
        for name in layouts:
            searcher = IndexSearcher(tmp / name, config=SearchConfig(k=args.k, threads=1), vectors_only=True)
            searchers[name] = searcher
        names = list(layouts)
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for r in range(args.repeats):  # interleaved: every index in each round, the order rotated
            for name in names[r % len(names):] + names[:r % len(names)]:
                ms = time_queries(searchers[name], [v[None, :] for v in queries])
                rounds[name].append((float(np.percentile(ms, 50)), float(np.percentile(ms, 95))))
        searchers.clear()
    results = {"passages": args.passages, "rows_per_passage": args.rows_per_passage, "queries": args.queries,
               "dim": args.dim, "k": args.k, "threads": 1, "repeats": args.repeats, "indexes": {}}
    for name in names:
        p50s = [r[0] for r in rounds[name]]
        ratios = [a[0] / b[0] for a, b in zip(rounds[name], rounds["plain"])]  # per round, the same round's plain
        results["indexes"][name] = {**layouts[name], "p50_ms_per_round": p50s,
                                    "p95_ms_per_round": [r[1] for r in rounds[name]],
                                    "p50_ms_median": float(np.median(p50s)),
                                    "p50_over_plain_per_round": ratios,
                                    "p50_over_plain_median": float(np.median(ratios)),
                                    "p50_over_plain_min": min(ratios), "p50_over_plain_max": max(ratios)}
    print(f"search {args.queries} queries one at a time, k={args.k}, 1 thread, {args.passages:,} passages x {args.dim}; "
          f"median of {args.repeats} interleaved rounds [min-max]")
    print(f"{'index':<8}{'rows':>10}{'MB':>9}{'p50 ms':>9}   {'p50 / plain':<22}")
    for name, r in results["indexes"].items():
        print(f"{name:<8}{r['rows']:>10,}{r['mb']:>9.0f}{r['p50_ms_median']:>9.2f}   {r['p50_over_plain_median']:.2f} "
              f"[{r['p50_over_plain_min']:.2f}-{r['p50_over_plain_max']:.2f}]")
    record.write(results)

if __name__ == "__main__":
    sys.exit(run_benchmark(main))
