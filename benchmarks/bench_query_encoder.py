"""Query-time path: Pyserini's ``AutoQueryEncoder`` vs the plugin's query encoder (torch, ONNX,
ONNX int8), side by side on one index and one set of questions.

Per backend: per-query p50 / p95 milliseconds one query at a time (encode + FAISS search,
``FaissSearcher.search``) with 1 thread (one core of a live service) and with 2 (this machine's
cores), batch throughput (``batch_search`` of every question, last thread count),
and MRR@100 / R@20 of that batch run through Pyserini's ``trec_eval`` (macro average over
languages), so any accuracy cost of int8 shows.  Data: the XQuAD track (real questions, 11
languages, the development half shipped in the package), or ``--data xor`` the embedded
synthetic set; encoder: the demo multilingual-e5-small.

    python -m benchmarks.bench_query_encoder [--latency_queries 200 --threads 1 2] [--quick]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"data": "xor", "latency_queries": 10, "threads": [1]}  # every backend, on the small embedded set


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=["xquad", "xor"], default="xquad",
                    help="xquad: the XQuAD dev half shipped in the package; xor: the embedded synthetic set")
    ap.add_argument("--latency_queries", type=int, default=200)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--backends", nargs="+", default=["pyserini", "torch", "onnx", "onnx-int8"])
    args = quick.parse_args(ap, argv, QUICK)

    from xqg_tevatron.corpus import read_topics
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
    from xqg_tevatron.evaluation.table import evaluate_run_table
    from xqg_tevatron.search.searcher import IndexSearcher, SearchConfig, run_topics, set_process_threads, time_queries
    from xqg_tevatron.indexing.indexer import XqgConfig, index_corpus
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
        rows = []
        for backend in args.backends:
            latency = []
            for threads in args.threads:
                set_process_threads(threads)
                searcher = IndexSearcher(index, encoder_dir, SearchConfig(k=100, query_encoder=backend,
                                                                         threads=threads))
                ms = time_queries(searcher, timed)
                latency.append((float(np.percentile(ms, 50)), float(np.percentile(ms, 95))))
            started = time.perf_counter()
            run = run_topics(searcher, topics, tmp / f"{backend}.trec", tag=backend)
            batch_s = time.perf_counter() - started
            table = evaluate_run_table(run.run_file, data.qrels_dev, data.questions_dev, ("recall.20", "recip_rank"))
            rows.append((backend, latency, len(topics) / batch_s, table.avg("recip_rank"), table.avg("recall_20")))
            del searcher
    ref = rows[0]
    print(f"query encoding + search, {name}: {len(topics)} questions ({len(timed)} timed one at a time), "
          f"multilingual-e5-small, flat index; batch at {args.threads[-1]} threads")
    head = "".join(f"{f'p50 ms {t}t':>11}{f'p95 ms {t}t':>11}{'x pyserini':>11}" for t in args.threads)
    print(f"{'query encoder':<14}{head}{'batch q/s':>11}{'x pyserini':>11}{'MRR@100':>9}{'R@20':>7}{'dMRR':>8}")
    for backend, latency, qps, mrr, r20 in rows:
        cells = "".join(f"{p50:>11.2f}{p95:>11.2f}{p50 / ref[1][i][0]:>11.2f}" for i, (p50, p95) in enumerate(latency))
        print(f"{backend:<14}{cells}{qps:>11.1f}{qps / ref[2]:>11.2f}{mrr:>9.4f}{r20:>7.4f}{mrr - ref[3]:>+8.4f}")


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
