"""Fuse precomputed embeddings on disk, chunk by chunk (the authors' ``fuse_embeds.py`` step,
with memory bounded by the chunk size instead of the corpus size).

Inputs are ``.npy`` matrices in the same row order: the passage vectors and one file per
(language, query index) of generated-query vectors, e.g. the authors' released query
embeddings converted to ``.npy``.  Output: the fused ``.npy``, written sequentially under a temporary
name, then renamed into place.

    python -m xqg_tevatron.xqg.fuse_files --passages p.npy --queries q_ar_0.npy q_ar_1.npy ... \\
        --alpha 0.01 --output fused.npy [--aggregation sum|mean --chunk_rows 65536]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from xqg_tevatron.runtime.atomic_io import atomic_open
from xqg_tevatron.cli import FlagParser
from xqg_tevatron.xqg.fusion import AGGREGATIONS, check_aggregation, combine


class _NpyRows:
    """Row-chunk reader of a 2-D float32 ``.npy`` using plain file reads, so only the chunk
    being read is resident (a memory map would keep every touched page in the RSS)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.fh = open(self.path, "rb")
        major, _ = np.lib.format.read_magic(self.fh)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        self.shape, fortran, dtype = read_header(self.fh)
        if len(self.shape) != 2 or fortran or dtype != np.float32:
            raise ValueError(f"{self.path}: expected a C-order 2-D float32 array, got {dtype} {self.shape}")
        self.offset = self.fh.tell()

    def read(self, start: int, stop: int) -> np.ndarray:
        row_bytes = self.shape[1] * 4
        self.fh.seek(self.offset + start * row_bytes)
        return np.fromfile(self.fh, dtype=np.float32, count=(stop - start) * self.shape[1]).reshape(-1, self.shape[1])

    def close(self) -> None:
        self.fh.close()


def fuse_files(passages: str | Path, queries: Sequence[str | Path], output: str | Path, alpha: float,
               aggregation: str = "sum", chunk_rows: int = 65536, show_progress: bool = True) -> Path:
    """Stream the fusion rule (``fusion.combine``) row chunk by row chunk into ``output``; each
    passage has one generated query per file, so ``mean`` divides by the number of files."""
    check_aggregation(aggregation)
    p = _NpyRows(passages)
    qs = [_NpyRows(q) for q in queries]
    for q in qs:
        if q.shape != p.shape:
            raise ValueError(f"{q.path}: shape {q.shape} differs from the passages' {p.shape} (rows must align)")
    output = Path(output)
    try:
        with atomic_open(output, "wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": p.shape})
            for start in tqdm(range(0, p.shape[0], chunk_rows), desc="fusing", unit="chunk", disable=not show_progress, delay=5):
                stop = min(start + chunk_rows, p.shape[0])
                fused = p.read(start, stop)
                if qs and alpha:
                    total = qs[0].read(start, stop)
                    for q in qs[1:]:
                        total += q.read(start, stop)
                    fused = combine(fused, total, np.full(stop - start, len(qs)), alpha, aggregation)
                out.write(np.ascontiguousarray(fused, dtype=np.float32).tobytes())
    finally:
        for r in [p, *qs]:
            r.close()
    return output


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    parser = FlagParser(description=__doc__.split("\n\n")[0])
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
