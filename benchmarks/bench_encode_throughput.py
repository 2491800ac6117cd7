"""Encoding throughput for an xQG index, side by side on the demo encoder (multilingual-e5-small, CPU).

The xQG workload: N passages plus their generated queries (7 languages x 5 = 35 per passage),
passages at p_max_len 128 and queries at q_max_len 32 (the authors' settings).

  tevatron   Tevatron 0.1.0's own ``tevatron.driver.encode``, run twice as the authors do
             (passages, then the generated queries with --encode_is_qry; we even give it all
             queries in ONE run instead of 35), fixed-length padding, input pre-tokenised as it
             expects; only its transformers-5 break is patched (our EncodeDataset in place of
             the one calling ``encode_plus``);
  xqg        one ``python -m xqg_tevatron.driver.encode --alpha 0.01`` run: length-sorted
             batches, dynamic padding, inference_mode, fusion, Pyserini index written.

Whole commands are timed (model loading included), in ``--repeats`` interleaved rounds (the
order of the tools alternated; each of our runs writes a fresh output, since over its own
finished index the command is up to date and does nothing).  A ratio is the median of the
per-round ratios, with its spread.  Target: xqg/tevatron >= 1.5x.  The result is
``docs/results/bench_encode_throughput.json``.
    python -m benchmarks.bench_encode_throughput [--passages 200 --batch_size 64] [--quick]
"""
import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"passages": 10, "batch_size": 16, "repeats": 2}  # both tools' runs, each over a few texts

TEVATRON = """
import sys, tevatron.data
from xqg_tevatron.tevatron_compat.data import EncodeDataset
tevatron.data.EncodeDataset = EncodeDataset          # the transformers-5 fix, nothing else
import tevatron.driver.encode as drv
drv.EncodeDataset = EncodeDataset
sys.argv = ["encode"] + sys.argv[1:]
drv.main()
"""


def timed(cmd: list[str]) -> float:
    t0 = time.time()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.time() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=200)
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--p_max_len", type=int, default=128)
    ap.add_argument("--q_max_len", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds of every run")
    args = quick.parse_args(ap, argv, QUICK)
    record = BenchmarkRecord("bench_encode_throughput", argv, args.quick)
    from transformers import AutoTokenizer

    from xqg_tevatron.corpus import Passage, iter_passages
    from xqg_tevatron.data.xor_format import DEFAULT_DIR
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.generate.dictionary import DictionaryQueryGenerator
    from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES
    from xqg_tevatron.xqg.components import layout_queries

    model = build_demo_encoder()
    tok = AutoTokenizer.from_pretrained(model)
    base = list(iter_passages([DEFAULT_DIR / "psgs_w100.tsv"]))
    gen = DictionaryQueryGenerator()
    rng = random.Random(0)
    n_queries = 0
    with scratch_dir(ROOT / ".cache", "bench-encode-throughput") as tmp:
        xqg_corpus = tmp / "corpus.xqg.jsonl"
        tp, tq = tmp / "tev_p" / "corpus.json", tmp / "tev_q" / "queries.json"
        tp.parent.mkdir()
        tq.parent.mkdir()
        with open(xqg_corpus, "w", encoding="utf-8") as fx, open(tp, "w", encoding="utf-8") as fp, \
                open(tq, "w", encoding="utf-8") as fq:
            for i in range(args.passages):
                parts = rng.sample(base, 3)  # ~100 words, like XOR-TyDi's w100 passages
                p = Passage(str(i), " ".join(x.text for x in parts), parts[0].title)
                gq = {lang: gen.queries(p, lang) for lang in LANGUAGES}
                fx.write(json.dumps({"docid": p.docid, "title": p.title, "text": p.text, "generated_queries": gq},
                                    ensure_ascii=False) + "\n")
                ids = tok.encode(f"passage: {p.full_text()}", add_special_tokens=False)
                fp.write(json.dumps({"text_id": p.docid, "text": ids}) + "\n")
                for j, q in enumerate(layout_queries([gq], LANGUAGES, 5).texts):
                    fq.write(json.dumps({"text_id": f"{p.docid}-{j}",
                                         "text": tok.encode(f"query: {q}", add_special_tokens=False)}) + "\n")
                    n_queries += 1
        common = ["--model_name_or_path", str(model), "--per_device_eval_batch_size", str(args.batch_size),
                  "--p_max_len", str(args.p_max_len), "--q_max_len", str(args.q_max_len), "--output_dir",
                  str(tmp / "o"), "--disable_tqdm", "true"]
        runs = {
            "tevatron_passages": lambda r: [sys.executable, "-c", TEVATRON, *common, "--encode_in_path", str(tp),
                                            "--encoded_save_path", str(tmp / "p.pkl"), "--dataset_proc_num", "1"],
            "tevatron_queries": lambda r: [sys.executable, "-c", TEVATRON, *common, "--encode_in_path", str(tq),
                                           "--encoded_save_path", str(tmp / "q.pkl"), "--encode_is_qry",
                                           "--dataset_proc_num", "1"],
            "xqg_index": lambda r: [sys.executable, "-m", "xqg_tevatron.driver.encode", *common, "--encode_in_path",
                                    str(xqg_corpus), "--encoded_save_path", str(tmp / f"xqg_index-{r}"), "--alpha",
                                    "0.01", "--n_per_lang", "5"],
            "xqg_passages_only": lambda r: [sys.executable, "-m", "xqg_tevatron.driver.encode", *common,
                                            "--encode_in_path", str(xqg_corpus), "--encoded_save_path",
                                            str(tmp / f"plain_index-{r}"), "--alpha", "0"],
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(args.repeats):  # interleaved: every run each round, the order alternated
            for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                seconds[name].append(timed(runs[name](r)))
    texts = args.passages + n_queries
    ratios = [(p + q) / x for p, q, x in zip(seconds["tevatron_passages"], seconds["tevatron_queries"],
                                             seconds["xqg_index"])]
    passage_ratios = [p / x for p, x in zip(seconds["tevatron_passages"], seconds["xqg_passages_only"])]
    med = {name: float(np.median(v)) for name, v in seconds.items()}
    print(f"xQG encode: {args.passages} w100-like passages (p_max_len {args.p_max_len}) + {n_queries} generated "
          f"queries (q_max_len {args.q_max_len}), batch {args.batch_size}, CPU; median of {args.repeats} interleaved rounds")
    print(f"{'run':<44}{'seconds':>9}   per round")
    for name, values in seconds.items():
        print(f"{name:<44}{med[name]:>9.1f}   " + " ".join(f"{v:.1f}" for v in values))
    ratio = float(np.median(ratios))
    print(f"xQG workload throughput ratio xqg/tevatron = {ratio:.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] (target >= "
          f"1.5x: {'met' if ratio >= 1.5 else 'NOT met'}); passages-only ratio = {np.median(passage_ratios):.2f}x "
          f"[{min(passage_ratios):.2f}-{max(passage_ratios):.2f}]")
    record.write({"passages": args.passages, "generated_queries": n_queries, "texts": texts, "batch_size": args.batch_size,
                  "p_max_len": args.p_max_len, "q_max_len": args.q_max_len, "repeats": args.repeats,
                  "seconds_per_round": seconds, "seconds_median": med, "ratio_per_round": ratios,
                  "ratio_median": ratio, "passages_only_ratio_per_round": passage_ratios,
                  "passages_only_ratio_median": float(np.median(passage_ratios))})


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
