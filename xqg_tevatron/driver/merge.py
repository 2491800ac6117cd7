"""Merge the chunks of a sharded encode run into one Pyserini index directory.

    python -m xqg_tevatron.driver.merge --work_dir indexes/xqg.work --output indexes/xqg [--index_type hnsw]
"""
from __future__ import annotations

import argparse
import shutil
import sys

from xqg_tevatron.index import INDEX_TYPES, IndexConfig
from xqg_tevatron.xqg.pipeline import merge_work_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work_dir", "--work-dir", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--index_type", "--index-type", default="flat", choices=INDEX_TYPES)
    parser.add_argument("--hnsw_m", type=int, default=32)
    parser.add_argument("--ivf_nlist", type=int, default=0)
    parser.add_argument("--pq_m", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--keep_work_dir", action="store_true")
    args = parser.parse_args(argv)
    config = IndexConfig(index_type=args.index_type, hnsw_m=args.hnsw_m, ivf_nlist=args.ivf_nlist, pq_m=args.pq_m)
    try:
        out = merge_work_dir(args.work_dir, args.output, config, overwrite=args.overwrite)
    except (RuntimeError, ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.keep_work_dir:
        shutil.rmtree(args.work_dir, ignore_errors=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
