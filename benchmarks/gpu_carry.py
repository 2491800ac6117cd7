"""Fill ``.gpu-carry/`` (ignored by git) with what ``benchmarks.bench_gpu`` needs on a GPU machine
that reaches no registry: wheels of the modules its image lacks (faiss-cpu, tevatron; Python 3.12,
manylinux), the e5 pack of 200k manual-page passages (``benchmarks.common.e5_pack``) and the
job's 20k-passage corpus.  Everything together stays under the 64 MiB a device call carries.

    .venv/bin/python -m benchmarks.gpu_carry [--carry .gpu-carry] [--passages 200000]
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.common.corpora import man_page_passages
from benchmarks.common.e5_pack import build_pack
from benchmarks.common.scratch import run_benchmark

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ("faiss-cpu==1.15.1", "tevatron==0.1.0")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any")
LIMIT = 64 * 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carry", default=str(ROOT / ".gpu-carry"))
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--held-out", type=int, default=10_000)
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "xqg-bench"),
                        help="where the pack is built once (outside the repo)")
    parser.add_argument("--xquad-dir", default=str(ROOT.parent / "shared" / "data" / "xquad-dev"))
    args = parser.parse_args(argv)
    carry = Path(args.carry)
    (carry / "wheels").mkdir(parents=True, exist_ok=True)
    for spec in WHEELS:
        name = spec.split("==")[0].replace("-", "_")
        if not list((carry / "wheels").glob(f"{name}-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.12", "--implementation", "cp",
                            *[x for p in PLATFORMS for x in ("--platform", p)], "-d", str(carry / "wheels"), spec],
                           check=True)
    pack = build_pack(Path(args.cache) / f"e5-pack-{args.passages}", args.passages, args.held_out, Path(args.xquad_dir))
    if (carry / "e5-pack").exists():
        shutil.rmtree(carry / "e5-pack")
    shutil.copytree(pack, carry / "e5-pack")
    corpus = carry / "corpus-20k.jsonl.gz"
    if not corpus.exists():
        with gzip.open(corpus, "wt", encoding="utf-8") as fh:
            for i, text in enumerate(man_page_passages(20_000)):
                fh.write(json.dumps({"docid": f"m{i}", "title": "", "text": text}) + "\n")
    size = sum(p.stat().st_size for p in carry.rglob("*") if p.is_file())
    print(f"{carry}: {size / 2**20:.1f} MiB" + (" (over the 64 MiB a device call carries!)" if size > LIMIT else ""))
    return 0 if size <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
