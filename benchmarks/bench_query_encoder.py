"""Query-time path: Pyserini's ``AutoQueryEncoder`` vs the plugin's query encoder (torch, ONNX,
ONNX int8), side by side on one index and one set of questions.

Per backend: per-query p50 / p95 milliseconds one query at a time (encode + FAISS search,
``FaissSearcher.search``) with 1 thread (one core of a live service) and with 2 (this machine's
cores), batch throughput (``batch_search`` of ``--batch_queries`` questions, last thread count),
each the median of ``--rounds`` interleaved rounds with the per-round ratio's spread; and MRR@100
/ R@20 of one batch run over every question through Pyserini's ``trec_eval`` (macro average over
languages), so any accuracy cost of int8 shows.  Data: the XQuAD track (real questions, 11
languages, the development half shipped in the package), or ``--data xor`` the embedded
synthetic set; encoder: the demo encoder (multilingual-e5-small dequantised from a 4-bit image).
Writes ``docs/results/bench_query_encoder.json``.

    python -m benchmarks.bench_query_encoder [--latency_queries 200 --threads 1 2 --rounds 3] [--quick]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from statistics import median

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"data": "xor", "latency_queries": 10, "threads": [1], "batch_queries": 20, "rounds": 1}  # every backend, on the small embedded set


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=["xquad", "xor"], default="xquad",
                    help="xquad: the XQuAD dev half shipped in the package; xor: the embedded synthetic set")
    ap.add_argument("--latency_queries", type=int, default=200)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--backends", nargs="+", default=["pyserini", "torch", "onnx", "onnx-int8"])
    ap.add_argument("--batch_queries", type=int, default=1000, help="questions in each timed batch run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median and spread)")
    args = quick.parse_args(ap, argv, QUICK)
    record = BenchmarkRecord("bench_query_encoder", argv, args.quick)

    from xqg_tevatron.corpus import read_topics
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
    from xqg_tevatron.evaluation.table import evaluate_run_table
    from xqg_tevatron.search.searcher import IndexSearcher, SearchConfig, run_topics, set_process_threads, time_queries
    from xqg_tevatron.indexing.indexer import XqgConfig
    from xqg_tevatron.indexing.request import index_corpus
    from xqg_tevatron.xqg.fusion import PLAIN

    encoder_dir = build_demo_encoder()
    with scratch_dir(ROOT / ".cache", "bench-query-encoder") as tmp:
        if args.data == "xquad":
            from xqg_tevatron.data.irds import xquad_files
            from xqg_tevatron.data.xquad import prepare_xquad

            data, name, p_max_len = prepare_xquad(tmp / "data", xquad_files("dev")), "XQuAD dev half", 256
        else:
            from xqg_tevatron.data.xor_format import prepare_default

            data, name, p_max_len = prepare_default(tmp / "data"), "embedded default", 128
        enc = DenseEncoder(str(encoder_dir), config=EncodeConfig(p_max_len=p_max_len, show_progress=False))
        index = index_corpus(enc, XqgConfig(PLAIN), [data.corpus_jsonl], tmp / "index")
        del enc
        topics = read_topics(data.topics_dev)
        timed = [t for _, t in topics[: args.latency_queries]]
        batch_topics = topics[: args.batch_queries]
        # effectiveness: one full batch run per backend (deterministic); speed: --rounds interleaved
        # rounds, each timing every backend at every thread count in turn (median and spread)
        effect = {}
        for backend in args.backends:
            set_process_threads(args.threads[-1])
            searcher = IndexSearcher(index, encoder_dir, SearchConfig(k=100, query_encoder=backend,
                                                                     threads=args.threads[-1]))
            run = run_topics(searcher, topics, tmp / f"{backend}.trec", tag=backend)
            table = evaluate_run_table(run.run_file, data.qrels_dev, data.questions_dev, ("recall.20", "recip_rank"))
            effect[backend] = {"mrr@100": table.avg("recip_rank"), "recall@20": table.avg("recall_20")}
            del searcher
        p50 = {(b, t): [] for b in args.backends for t in args.threads}
        p95 = {(b, t): [] for b in args.backends for t in args.threads}
        qps: dict = {b: [] for b in args.backends}
        for rnd in range(args.rounds):
            for threads in args.threads:
                set_process_threads(threads)
                for backend in args.backends:
                    searcher = IndexSearcher(index, encoder_dir, SearchConfig(k=100, query_encoder=backend,
                                                                             threads=threads))
                    ms = time_queries(searcher, timed)
                    p50[backend, threads].append(float(np.percentile(ms, 50)))
                    p95[backend, threads].append(float(np.percentile(ms, 95)))
                    if threads == args.threads[-1]:
                        started = time.perf_counter()
                        run_topics(searcher, batch_topics, tmp / f"{backend}-timed.trec", tag=backend)
                        qps[backend].append(len(batch_topics) / (time.perf_counter() - started))
                    del searcher
            print(f"  round {rnd + 1}/{args.rounds} done", flush=True)
    ref = args.backends[0]

    def ratio(values: list[float], base: list[float]) -> dict:
        per_round = [v / b for v, b in zip(values, base)]
        return {"median": median(per_round), "min": min(per_round), "max": max(per_round)}

    rows = []
    for backend in args.backends:
        rows.append({"backend": backend, **effect[backend],
                     "latency": {str(t): {"p50_ms": p50[backend, t], "p95_ms": p95[backend, t],
                                          "p50_x_ref": ratio(p50[backend, t], p50[ref, t])} for t in args.threads},
                     "batch_queries_per_s": qps[backend], "batch_x_ref": ratio(qps[backend], qps[ref])})
    print(f"query encoding + search, {name}: {len(topics)} questions for MRR@100 and R@20, {len(timed)} timed one at a "
          f"time, {len(batch_topics)} in the timed batch at {args.threads[-1]} threads; the demo encoder, flat index; "
          f"median of {args.rounds} interleaved rounds, [min-max] of the per-round ratio to {ref}")
    for row in rows:
        cells = "  ".join(f"{t}t p50 {median(v['p50_ms']):.2f} ms p95 {median(v['p95_ms']):.2f} ms x{ref} "
                          f"{v['p50_x_ref']['median']:.2f} [{v['p50_x_ref']['min']:.2f}-{v['p50_x_ref']['max']:.2f}]"
                          for t, v in row["latency"].items())
        print(f"{row['backend']:<10} {cells}  batch {median(row['batch_queries_per_s']):.1f} q/s "
              f"x{ref} {row['batch_x_ref']['median']:.2f}  MRR@100 {row['mrr@100']:.4f} R@20 {row['recall@20']:.4f} "
              f"dMRR {row['mrr@100'] - effect[ref]['mrr@100']:+.4f}")
    record.write({"data": name, "questions": len(topics), "latency_queries": len(timed),
                  "batch_queries": len(batch_topics), "threads": args.threads, "rounds": args.rounds,
                  "encoder": "multilingual-e5-small dequantised from a 4-bit (Q4_0) image (the demo encoder)",
                  "index": "flat, plain", "reference": ref, "rows": rows})

if __name__ == "__main__":
    sys.exit(run_benchmark(main))
