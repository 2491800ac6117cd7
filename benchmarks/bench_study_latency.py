"""Query latency of the study's methods at index sizes where they can differ.

    python -m benchmarks.bench_study_latency [--passages 10000 100000 --queries 200 --threads 1 2] [--quick]

The study's own cells time queries against 120 paragraphs, where query encoding is all there is.
Here the 120 XQuAD paragraphs are hidden among distractors to ``--passages`` passages (drawn from
a Gaussian mixture fitted to real manual-page vectors of the demo encoder, as
``bench_index_scale`` does, whose cache of encoded text it shares), and each method is timed
one real question at a time through the search stage (``IndexSearcher``: the default ``onnx``
query encoder, the question encoded for real, then Pyserini's ``FaissSearcher``):

  plain        N passage rows (flat)
  xQG          N fused rows: the same shape as plain
  multi-vector N passages + ``--rows-per-passage`` generated-query rows each, searched deeper
  translation  the plain index, each question translated word by word (FreeDict + CLDR) first

at 1 and 2 threads, ``--rounds`` interleaved rounds (each times every method in turn, the order
rotated); p50 and p95 per round, the median, and the per-round ratio to plain.  Writes
``docs/results/bench_study_latency.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"passages": [1_000], "queries": 10, "rounds": 1, "threads": [1], "rows_per_passage": 3, "real": 300}
METHODS = ("plain", "xQG", "multi-vector", "translation")


def index_dirs(real: dict, n: int, rows_per_passage: int, manifest: dict, tmp: Path) -> dict[str, Path]:
    """The plain, fused and multi-vector index dirs of ``n`` passages (the real ones last), each
    with the manifest of a real plain index of the demo encoder (so the search stage encodes the
    questions as it would for that index)."""
    import faiss

    from benchmarks.bench_index_scale import gaussian_sampler, vector_set
    from xqg_tevatron.indexing.faiss_index import write_index_dir

    docids = [f"d{i}" for i in range(n)]
    out = {}
    plain = vector_set(real, "plain", n, seed=11)  # also the passage rows of the multi-vector index
    for name, x in (("plain", plain), ("xQG", vector_set(real, "fused", n, seed=11))):
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
        out[name] = write_index_dir(tmp / f"{name}-{n}", index, docids, {**manifest, "rows": n, "passages": n,
                                                                        "vector_mode": "fused"})
    # multi-vector: each passage row followed by its generated-query rows (drawn around real
    # generated-query means), the layout the plugin writes (docid#k)
    draw_q = gaussian_sampler(real["query_means"], 12)
    index = faiss.IndexFlatIP(plain.shape[1])
    for start in range(0, n, 10_000):
        block = plain[start:start + 10_000]
        q = draw_q(len(block) * rows_per_passage).reshape(len(block), rows_per_passage, -1)
        q /= np.linalg.norm(q, axis=2, keepdims=True)
        index.add(np.ascontiguousarray(np.concatenate([block[:, None, :], q], 1).reshape(-1, plain.shape[1])))
    multi_ids = [f"d{i}#{k}" for i in range(n) for k in range(rows_per_passage + 1)]
    out["multi-vector"] = write_index_dir(tmp / f"multi-{n}", index, multi_ids, {
        **manifest, "rows": index.ntotal, "passages": n, "vector_mode": "multi",
        "queries_per_passage": rows_per_passage})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--rows_per_passage", type=int, default=35, help="multi-vector: generated-query rows per passage")
    ap.add_argument("--queries", type=int, default=200, help="real questions timed one at a time")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--real", type=int, default=5_000, help="manual-page passages encoded to fit the distractors")
    ap.add_argument("--xquad_dir", default=str(ROOT.parent / "shared" / "data" / "xquad-dev"))
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "bench-index-scale"))
    args = quick.parse_args(ap, argv, QUICK)
    record = BenchmarkRecord("bench_study_latency", argv, args.quick)
    from xqg_tevatron.pyserini import bootstrap

    bootstrap()
    from benchmarks.bench_index_scale import real_vectors
    from xqg_tevatron.data.xquad import XquadFiles
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
    from xqg_tevatron.indexing.indexer import XqgConfig
    from xqg_tevatron.indexing.manifest import read_manifest
    from xqg_tevatron.indexing.request import index_corpus
    from xqg_tevatron.languages import XQUAD_LANGUAGES
    from xqg_tevatron.search.searcher import IndexSearcher, SearchConfig, set_process_threads, time_queries
    from xqg_tevatron.search.translate import DictionaryTranslator
    from xqg_tevatron.words.lexicon import resolve_word_lists
    from xqg_tevatron.xqg.fusion import PLAIN

    real_args = argparse.Namespace(xquad_dir=args.xquad_dir, questions=0, real=args.real)
    real = real_vectors(real_args, Path(args.cache))
    files = XquadFiles(Path(args.xquad_dir))
    questions = files.questions()
    step = max(1, len(questions) // args.queries)
    timed = [q.question for q in questions[::step][:args.queries]]
    encoder_dir = build_demo_encoder()
    languages = list(XQUAD_LANGUAGES)
    translator = DictionaryTranslator(languages, word_lists=resolve_word_lists(["freedict"], languages))
    results: dict = {"passages": args.passages, "rows_per_passage": args.rows_per_passage, "queries": len(timed),
                     "threads": args.threads, "rounds": args.rounds, "query_encoder": None, "sizes": {}}
    with scratch_dir(ROOT / ".cache", "bench-study-latency") as tmp:
        corpus = tmp / "paragraphs.jsonl"
        corpus.write_text("".join(json.dumps({"docid": p.docid, "title": p.title, "text": p.text}) + "\n"
                                  for p in files.passages()), encoding="utf-8")
        enc = DenseEncoder(str(encoder_dir), config=EncodeConfig(p_max_len=256, show_progress=False))
        manifest = {k: v for k, v in read_manifest(index_corpus(enc, XqgConfig(PLAIN), [corpus], tmp / "real")).items()
                    if k in ("model", "model_sha256", "pooling", "normalize", "query_prefix", "passage_prefix", "dim")}
        del enc
        for n in args.passages:
            dirs = index_dirs(real, n, args.rows_per_passage, manifest, tmp)
            dirs["translation"] = dirs["plain"]
            size = results["sizes"][str(n)] = {"rows": {m: read_manifest(d)["rows"] for m, d in dirs.items()},
                                               "threads": {}}
            for threads in args.threads:
                set_process_threads(threads)
                searchers = {m: IndexSearcher(d, encoder_dir, SearchConfig(k=100, threads=threads),
                                              translator if m == "translation" else None) for m, d in dirs.items()}
                results["query_encoder"] = searchers["plain"].config.query_encoder
                rounds: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
                for r in range(args.rounds):
                    order = list(METHODS[r % len(METHODS):] + METHODS[:r % len(METHODS)])
                    for method in order:
                        ms = time_queries(searchers[method], timed)  # translation happens inside its search
                        rounds[method].append((float(np.percentile(ms, 50)), float(np.percentile(ms, 95))))
                searchers.clear()
                size["threads"][str(threads)] = {
                    m: {"p50_ms": [x[0] for x in rounds[m]], "p95_ms": [x[1] for x in rounds[m]],
                        "p50_over_plain": [a[0] / b[0] for a, b in zip(rounds[m], rounds["plain"])]} for m in METHODS}
                print(f"{n:,} passages, {threads} thread(s):", flush=True)
                for m in METHODS:
                    t = size["threads"][str(threads)][m]
                    print(f"  {m:<14} rows {size['rows'][m]:>10,}  p50 {statistics.median(t['p50_ms']):8.2f} ms  "
                          f"p95 {statistics.median(t['p95_ms']):8.2f} ms  x plain {statistics.median(t['p50_over_plain']):.2f} "
                          f"[{min(t['p50_over_plain']):.2f}-{max(t['p50_over_plain']):.2f}]", flush=True)
            for d in {str(d) for d in dirs.values()}:
                shutil.rmtree(d, ignore_errors=True)  # the next size's indexes in their place
    record.write(results)


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
