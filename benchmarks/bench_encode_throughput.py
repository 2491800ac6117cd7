#!/usr/bin/env python
"""Passage-encoding throughput, side by side on the demo encoder (multilingual-e5-small, CPU):

  tevatron   Tevatron 0.1.0's own ``tevatron.driver.encode`` (fixed-length padding, no_grad,
             DataLoader), with only its transformers-5 break patched (our EncodeDataset in place
             of the one calling ``encode_plus``); input pre-tokenised as Tevatron expects;
  xqg        ``python -m xqg_tevatron.driver.encode`` (length-sorted batches, dynamic padding,
             inference_mode), writing a Pyserini index.

Same passages (w100-like: 4 embedded passages joined), same batch size and max length.
Both timed as whole commands (model loading included). Target: xqg/tevatron >= 1.5x.
    python benchmarks/bench_encode_throughput.py [--passages 1000 --batch_size 64 --p_max_len 192]
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEVATRON = """
import sys, tevatron.data
from xqg_tevatron.tevatron_compat.data import EncodeDataset
tevatron.data.EncodeDataset = EncodeDataset          # the transformers-5 fix, nothing else
import tevatron.driver.encode as drv
drv.EncodeDataset = EncodeDataset
sys.argv = ["encode"] + sys.argv[1:]
drv.main()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=1000)
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--p_max_len", type=int, default=192)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from xqg_tevatron.corpus import iter_passages
    from xqg_tevatron.data.xor_format import DEFAULT_DIR
    from xqg_tevatron.demo_encoder import build_demo_encoder

    model = build_demo_encoder()
    tok = AutoTokenizer.from_pretrained(model)
    base = list(iter_passages([DEFAULT_DIR / "psgs_w100.tsv"]))
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as tmp:
        tmp = Path(tmp)
        raw, pre = tmp / "corpus.jsonl", tmp / "tevatron" / "corpus.json"
        pre.parent.mkdir()
        with open(raw, "w", encoding="utf-8") as fr, open(pre, "w", encoding="utf-8") as fp:
            for i in range(args.passages):
                parts = rng.sample(base, 4)
                text = " ".join(p.text for p in parts)
                fr.write(json.dumps({"docid": str(i), "title": parts[0].title, "text": text}) + "\n")
                ids = tok.encode(f"passage: {parts[0].title} {text}", add_special_tokens=False)
                fp.write(json.dumps({"text_id": str(i), "text": ids}) + "\n")
        common = ["--model_name_or_path", str(model), "--per_device_eval_batch_size", str(args.batch_size),
                  "--p_max_len", str(args.p_max_len), "--output_dir", str(tmp / "o"), "--disable_tqdm", "true"]
        t0 = time.time()
        subprocess.run([sys.executable, "-c", TEVATRON, *common, "--encode_in_path", str(pre),
                        "--encoded_save_path", str(tmp / "tevatron.pkl"), "--dataset_proc_num", "1"],
                       check=True, capture_output=True, cwd=ROOT)
        tev_s = time.time() - t0
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "xqg_tevatron.driver.encode", *common, "--encode_in_path", str(raw),
                        "--encoded_save_path", str(tmp / "xqg_index"), "--alpha", "0"],
                       check=True, capture_output=True, cwd=ROOT)
        xqg_s = time.time() - t0
    print(f"encode {args.passages} passages (w100-like), batch {args.batch_size}, p_max_len {args.p_max_len}, CPU")
    print(f"{'driver':<26}{'seconds':>9}{'passages/s':>12}")
    print(f"{'tevatron.driver.encode':<26}{tev_s:>9.1f}{args.passages / tev_s:>12.1f}")
    print(f"{'xqg_tevatron.driver.encode':<26}{xqg_s:>9.1f}{args.passages / xqg_s:>12.1f}")
    print(f"throughput ratio xqg/tevatron = {tev_s / xqg_s:.2f}x (target >= 1.5x: {'met' if tev_s / xqg_s >= 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
