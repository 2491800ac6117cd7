"""Fuse precomputed embeddings on disk, chunk by chunk (the authors' ``fuse_embeds.py`` step,
with memory bounded by the chunk size instead of the corpus size).

Inputs are ``.npy`` matrices in the same row order: the passage vectors and one file per
(language, query index) of generated-query vectors, e.g. the authors' released query
embeddings converted to ``.npy``.  Output: the fused ``.npy`` (written through a memory map,
then renamed into place).

    python -m xqg_tevatron.xqg.fuse_files --passages p.npy --queries q_ar_0.npy q_ar_1.npy ... \\
        --alpha 0.01 --output fused.npy [--aggregation sum|mean --chunk_rows 65536]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from xqg_tevatron.xqg.fusion import AGGREGATIONS


def fuse_files(passages: str | Path, queries: Sequence[str | Path], output: str | Path, alpha: float,
               aggregation: str = "sum", chunk_rows: int = 65536, show_progress: bool = True) -> Path:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}")
    p = np.load(passages, mmap_mode="r", allow_pickle=False)
    qs = [np.load(q, mmap_mode="r", allow_pickle=False) for q in queries]
    for path, q in zip(queries, qs):
        if q.shape != p.shape:
            raise ValueError(f"{path}: shape {q.shape} differs from the passages' {p.shape} (rows must align)")
    output = Path(output)
    tmp = output.with_name(output.name + ".tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=p.shape)
    scale = alpha / len(qs) if aggregation == "mean" and qs else alpha
    for start in tqdm(range(0, len(p), chunk_rows), desc="fusing", unit="chunk", disable=not show_progress):
        stop = min(start + chunk_rows, len(p))
        total = np.zeros((stop - start, p.shape[1]), dtype=np.float32)
        for q in qs:
            total += q[start:stop]
        out[start:stop] = (1.0 - alpha) * p[start:stop] + scale * total if qs and alpha else p[start:stop]
    out.flush()
    del out
    os.replace(tmp, output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", required=True)
    parser.add_argument("--queries", nargs="+", required=True)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--aggregation", default="sum", choices=AGGREGATIONS)
    parser.add_argument("--chunk_rows", type=int, default=65536)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    try:
        print(fuse_files(args.passages, args.queries, args.output, args.alpha, args.aggregation, args.chunk_rows))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
