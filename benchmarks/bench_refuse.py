"""Re-fuse speed and size of the component store, float32 vs float16, side by side.

    .venv/bin/python -m benchmarks.bench_refuse [--passages 1000000] [--dim 384] [--languages 7] [--quick]

A work dir of ``--passages`` passages is written through the plugin's own indexer and unit
format (``XqgIndexer`` -> engine -> ``unit_files``), with synthetic components in place of a
model's (random unit passage vectors, sums of 5 random unit query vectors per language: no
model runs, so only storage and fusion are timed).  Then ``driver.merge`` re-fuses it (another
alpha and aggregation, flat index) as a user would, once per store dtype; the page cache is
dropped first when this machine allows it (else the line says "page cache warm"), in
``--repeats`` interleaved rounds (the dtypes' order rotated): a time is the median of its rounds,
with its spread.  The projection to 18.2M passages scales the measured seconds per passage
(labelled as such).  The result is ``docs/results/bench_refuse.json``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, scratch_dir
from xqg_tevatron.indexing.encode_config import EncodeConfig
from xqg_tevatron.indexing.indexer import RunConfig, XqgConfig, XqgIndexer
from xqg_tevatron.indexing.merge_units import MERGE_READ_AHEAD
from xqg_tevatron.indexing.store import unit_files
from xqg_tevatron.languages import XOR_TYDI_LANGUAGES
from xqg_tevatron.xqg.fusion import Fusion

ROOT = Path(__file__).resolve().parent.parent
BIG = 18_200_000
# speed: 4 units per store dtype; mrr: both dtypes encoded, searched and scored, on a sample of the questions
QUICK = {"passages": 2_000, "unit_size": 500, "questions": 220, "n_per_lang": 1, "repeats": 2}


@dataclass
class SyntheticComponents:
    """Stands in for the encoder in the work dir's fingerprint only: its worker below makes the
    components without any model."""

    dim: int
    config: EncodeConfig = field(default_factory=lambda: EncodeConfig(show_progress=False))

    def manifest_settings(self) -> dict:
        return {"model": "synthetic components (benchmarks/bench_refuse.py)", "dim": self.dim, "pooling": "none",
                "normalize": True, "q_max_len": 32, "p_max_len": 256}


@dataclass
class SyntheticWorker:
    dim: int
    languages: list
    store_dtype: str

    def process(self, index: int, chunk: list) -> tuple[dict[str, bytes], dict]:
        rng = np.random.default_rng(index)
        n, langs = len(chunk), len(self.languages)
        p = rng.standard_normal((n, self.dim), dtype=np.float32)
        p /= np.linalg.norm(p, axis=1, keepdims=True)
        q = rng.standard_normal((n, 1, langs, self.dim), dtype=np.float32)
        qsum = 5 * q / np.linalg.norm(q, axis=-1, keepdims=True)  # the size of a sum of 5 similar unit vectors
        qcount = np.full((n, 1, langs), 5, dtype=np.int32)
        files = unit_files([f"d{index}-{i}" for i in range(n)], p, qsum, qcount, self.store_dtype)
        return files, {"rows": n, "passages": n, "languages": list(self.languages), "prefixes": [5],
                       "with_generated_queries": n, "encode_seconds": 0.0}


class SyntheticIndexer(XqgIndexer):
    def worker(self) -> SyntheticWorker:
        return SyntheticWorker(self.encoder.dim, list(self.xqg.fusion.languages), self.xqg.store_dtype)


def write_corpus(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(f'{{"docid": "p{i}", "title": "", "text": "x"}}\n')
    return path


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def xquad_mrr(tmp: Path, questions: int = 0, n_per_lang: int = 5) -> dict:
    """MRR@100 on the XQuAD dev half's real questions, per language, of the recommended recipe
    (dictionary queries with FreeDict + CLDR, mean, alpha 0.2, n 5) encoded with each store dtype
    (two full encodes with the demo encoder, passages at 256 tokens: ``make demo``'s xQG system,
    searched and scored as it does).  ``questions`` > 0: only that many, evenly spaced, are
    searched (the others count 0); ``n_per_lang``: generated queries per language."""
    from xqg_tevatron.corpus import read_topics
    from xqg_tevatron.data.irds import xquad_files
    from xqg_tevatron.data.xquad import prepare_xquad
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.evaluation.table import evaluate_run_table

    data = prepare_xquad(tmp / "data", xquad_files("dev"))
    topics = data.topics_dev
    if questions:
        rows = read_topics(topics)
        topics = tmp / "topics.sample.tsv"
        topics.write_text("".join(f"{q}\t{t}\n" for q, t in rows[::max(1, len(rows) // questions)]),
                          encoding="utf-8")
    encoder = build_demo_encoder()
    gen = tmp / "data" / "corpus.xqg.jsonl"

    def py(*a: str) -> None:
        subprocess.run([sys.executable, "-m", *a], cwd=ROOT, check=True, capture_output=True)

    py("xqg_tevatron.generate.dictionary", "--corpus", str(data.corpus_file), "--output", str(gen), "--languages",
       *data.languages, "--n-per-lang", str(n_per_lang), "--word-lists", "freedict")
    tables, vectors, per_query = {}, {}, {}
    for dtype in ("float32", "float16"):
        index = tmp / f"xquad-{dtype}"
        started = time.perf_counter()
        py("xqg_tevatron.driver.encode", "--model-name-or-path", str(encoder), "--encode-in-path", str(gen),
           "--encoded-save-path", str(index), "--alpha", "0.2", "--aggregation", "mean", "--n-per-lang", str(n_per_lang),
           "--store-dtype", dtype, "--p-max-len", "256", "--per-device-eval-batch-size", "64", "--disable-tqdm", "true")
        run = tmp / f"{dtype}.trec"
        py("xqg_tevatron.search", "--index", str(index), "--topics", str(topics), "--output", str(run),
           "--hits", "100", "--threads", "2")
        table = evaluate_run_table(run, data.qrels_dev, data.questions_dev, ("recip_rank",))
        tables[dtype], per_query[dtype] = table.scores, table.per_query
        import faiss

        idx = faiss.read_index(str(index / "index"))
        vectors[dtype] = idx.reconstruct_n(0, idx.ntotal)
        print(f"  {dtype}: encoded, searched and scored in {time.perf_counter() - started:.0f} s", flush=True)
    langs = [l for l in tables["float32"] if l != "Avg"] + ["Avg"]
    print(f"\nXQuAD dev half, {len(langs) - 1} languages, MRR@100 (recommended recipe), store float32 vs float16")
    print("".join(f"{l:>8}" for l in ["", *langs]))
    for dtype in ("float32", "float16"):
        print(f"{dtype:>8}" + "".join(f"{tables[dtype][l]['recip_rank']:>8.4f}" for l in langs))
    diff = [tables["float16"][l]["recip_rank"] - tables["float32"][l]["recip_rank"] for l in langs]
    print(f"{'diff':>8}" + "".join(f"{d:>+8.4f}" for d in diff))
    from xqg_tevatron.data.xor_format import read_questions
    from xqg_tevatron.evaluation.significance import compare_systems, verdict_line

    asked = [q for q in read_questions(data.questions_dev) if q.qid in per_query["float32"]]
    test = compare_systems(per_query, "float32", "recip_rank", {q.qid: q.source_question or q.qid for q in asked},
                           {q.qid: q.lang for q in asked})["float16"]["Avg"]
    print(f"float16 against float32: {verdict_line(test)}")
    deviation = float(np.abs(vectors['float16'] - vectors['float32']).max())
    print(f"max |MRR diff| {max(abs(d) for d in diff):.4f} (must be <= 0.001: "
          f"{'met' if max(abs(d) for d in diff) <= 0.001 else 'MISSED'}); max |fused16 - fused32| "
          f"{deviation:.2e} over {len(vectors['float32']):,} passages")
    return {"tables": tables, "significance": test, "max_fused_deviation": deviation, "p_max_len": 256,
            "n_per_lang": n_per_lang, "questions_searched": questions or "all",
            "passages": len(vectors["float32"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--languages", type=int, default=7)
    parser.add_argument("--unit-size", "--chunk-size", type=int, default=50_000)
    parser.add_argument("--tmp", default=str(ROOT / ".cache"), help="where the stores are written (a fast disk)")
    parser.add_argument("--parts", nargs="+", choices=["speed", "mrr"], default=["speed", "mrr"],
                        help="speed: synthetic store at --passages; mrr: XQuAD dev half, both store dtypes")
    parser.add_argument("--questions", type=int, default=0,
                        help="mrr: search only this many questions, evenly spaced (0: all 6,732)")
    parser.add_argument("--n-per-lang", type=int, default=5, help="mrr: generated queries per language")
    parser.add_argument("--repeats", type=int, default=3, help="speed: interleaved re-fuse rounds per dtype")
    args = quick.parse_args(parser, argv, QUICK)
    record = BenchmarkRecord("bench_refuse", argv, args.quick)
    results: dict = {}
    if "mrr" in args.parts:
        with scratch_dir(Path(args.tmp), "bench-refuse-mrr") as tmp:
            results["mrr"] = xquad_mrr(tmp, args.questions, args.n_per_lang)
    if "speed" not in args.parts:
        record.write(results)
        return 0
    langs = list(XOR_TYDI_LANGUAGES)[:args.languages]
    rows = []
    with scratch_dir(Path(args.tmp), "bench-refuse-speed") as tmp:
        corpus = write_corpus(tmp / "corpus.jsonl", args.passages)
        dtypes = ("float32", "float16")
        for dtype in dtypes:
            work = tmp / f"{dtype}.work"
            xqg = XqgConfig(Fusion(0.2, "mean", tuple(langs) if langs else None, 5), store_dtype=dtype)
            started = time.perf_counter()
            SyntheticIndexer(SyntheticComponents(args.dim), xqg, RunConfig(unit_size=args.unit_size, show_progress=False),
                             work).encode_shard([str(corpus)])
            write_s = time.perf_counter() - started
            stored = sum(p.stat().st_size for p in work.glob("*.npy"))
            rows.append({"dtype": dtype, "bytes_per_passage": stored / args.passages, "write_s": write_s,
                         "refuse_s_per_round": [], "cold": True})
            print(f"  {dtype}: stored {stored / 2**30:.2f} GiB in {write_s:.0f} s", flush=True)
        for r in range(args.repeats):  # interleaved: both dtypes each round, the order rotated
            for row in (rows if r % 2 == 0 else rows[::-1]):
                dtype = row["dtype"]
                # a fresh output each round: over its own finished index, driver.merge says "up to date"
                # and does nothing, which is not a re-fuse
                shutil.rmtree(tmp / f"{dtype}-index", ignore_errors=True)
                row["cold"] = drop_caches() and row["cold"]
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "xqg_tevatron.driver.merge", "--work-dir", str(tmp / f"{dtype}.work"),
                                "--output", str(tmp / f"{dtype}-index"), "--alpha", "0.5", "--aggregation", "mean",
                                "--keep-work-dir"], cwd=ROOT, check=True, capture_output=True)
                row["refuse_s_per_round"].append(time.perf_counter() - started)
                print(f"  round {r + 1}: {dtype} re-fuse {row['refuse_s_per_round'][-1]:.1f} s", flush=True)
        for row in rows:
            row["refuse_s"] = float(np.median(row["refuse_s_per_round"]))
        import faiss

        a = faiss.read_index(str(tmp / "float32-index" / "index"))
        b = faiss.read_index(str(tmp / "float16-index" / "index"))
        sample = np.arange(0, args.passages, max(1, args.passages // 100_000))
        deviation = float(np.abs(np.stack([a.reconstruct(int(i)) for i in sample]) -
                                 np.stack([b.reconstruct(int(i)) for i in sample])).max())
    print(f"\nre-fuse (alpha 0.5, mean, flat index) of {args.passages:,} passages x {args.dim} dims x {len(langs)} "
          f"languages x 1 prefix, synthetic components, driver.merge reading ahead in {MERGE_READ_AHEAD} threads on {os.cpu_count()} cores")
    print(f"{'store':<9}{'bytes/passage':>14}{'re-fuse s':>11}{'passages/s':>12}{'18.2M min':>11}{'18.2M store GB':>16}  cache")
    for r in rows:
        per_s = args.passages / r["refuse_s"]
        print(f"{r['dtype']:<9}{r['bytes_per_passage']:>14,.0f}{r['refuse_s']:>11.1f}{per_s:>12,.0f}"
              f"{BIG / per_s / 60:>11.1f}{r['bytes_per_passage'] * BIG / 1e9:>16,.0f}  "
              f"{'dropped before' if r['cold'] else 'page cache warm'}")
    ratios = [b / a for a, b in zip(rows[0]["refuse_s_per_round"], rows[1]["refuse_s_per_round"])]
    print(f"float16 / float32: bytes {rows[1]['bytes_per_passage'] / rows[0]['bytes_per_passage']:.3f}, re-fuse time "
          f"{np.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}] (median of {args.repeats} interleaved rounds); "
          f"max |fused16 - fused32| over {len(sample):,} sampled rows: {deviation:.2e}")
    best = min(r["refuse_s"] for r in rows) / args.passages * BIG / 60
    print(f"PROJECTION (measured seconds per passage x 18.2M, this machine): {best:.1f} min "
          f"(goal <= 10 min: {'met' if best <= 10 else 'MISSED'})")
    results["speed"] = {"passages": args.passages, "dim": args.dim, "languages": len(langs), "repeats": args.repeats,
                        "read_ahead_threads": MERGE_READ_AHEAD, "rows": rows, "time_ratio_per_round": ratios,
                        "time_ratio_median": float(np.median(ratios)), "max_fused_deviation": deviation,
                        "projection_passages": BIG, "projection_minutes": best}
    record.write(results)
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
