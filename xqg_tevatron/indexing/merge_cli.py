"""Merge the units of an encode work dir into one Pyserini index directory, or re-fuse them.

    python -m xqg_tevatron.driver.merge --work_dir indexes/xqg.work --output indexes/xqg [--index_type hnsw]
    python -m xqg_tevatron.driver.merge --work_dir indexes/xqg.work --output indexes/xqg_a05 \
        --alpha 0.5 --aggregation mean --languages ar ja --keep_work_dir          # a re-fuse: no model loaded

A work dir holds passage vectors and per-language query sums and counts, so any alpha,
aggregation, subset of the stored languages or stored n per language is a streaming re-fuse.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from xqg_tevatron.cli import FlagParser, add_dataclass_arguments, run_main
from xqg_tevatron.indexing.arguments import FusionArguments, IndexArguments
from xqg_tevatron.indexing.faiss_index import IndexConfig
from xqg_tevatron.runtime.workdir import (check_replaceable, check_separate, lock_output, read_marker, release, remove_plugin_dir,
                                  request_record, work_dir_lock)
from xqg_tevatron.runtime.stage import any_shard_record
from xqg_tevatron.xqg.fusion import Fusion
from xqg_tevatron.indexing.merge_units import merge_work_dir
from xqg_tevatron.indexing.store import WORK_KIND, encode_work_settings


def _main(argv: list[str]) -> int:
    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work_dir", "--work-dir", required=True)
    parser.add_argument("--output", required=True)
    add_dataclass_arguments(parser, IndexArguments)
    add_dataclass_arguments(parser, FusionArguments)  # not given: the encode's
    parser.add_argument("--languages", nargs="+", help="re-fuse with these of the stored languages")
    parser.add_argument("--n_per_lang", type=int, help="re-fuse with this stored n per language (0 = all)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--keep_work_dir", action="store_true")
    args = parser.parse_args(argv)
    config = IndexConfig.from_args(args)  # the IndexArguments fields
    work = Path(args.work_dir)
    encode_work_settings(work)  # a folder that is not an encode work dir: one line, before anything
    fusion = refusion(work, args)
    check_separate(work, args.output)
    request = request_record("driver.merge", {**{k: v for k, v in vars(args).items() if k not in (
        "overwrite", "keep_work_dir", "verbose", "debug")}, "work_dir": str(work.resolve()),
        "output": str(Path(args.output).resolve())})
    check_replaceable(args.output, args.overwrite, request=request)
    locks = [lock_output(args.output)]
    try:
        shared = work_dir_lock(work)
        locks.append(shared)
        shared.require(exclusive=False)
        out = merge_work_dir(work, args.output, config, overwrite=args.overwrite, fusion=fusion, request=request)
    finally:
        release(locks)
    if not args.keep_work_dir:
        maker = (read_marker(work) or {}).get("made_by") or {}
        if maker.get("command", "driver.encode") == "driver.encode":
            remove_plugin_dir(work, kinds=[WORK_KIND], command="driver.encode")
        else:  # a job's store holds its generated queries: only its owner decides to delete it
            print(f"kept {work}: the store of python -m xqg_tevatron.{maker['command']}", file=sys.stderr)
    print(out)
    return 0


def refusion(work: Path, args) -> Optional[Fusion]:
    """The fusion asked for on the command line, on top of the one the encode recorded."""
    if all(getattr(args, k) is None for k in ("fusion_preset", "alpha", "aggregation", "languages", "n_per_lang")):
        return None
    recorded = Fusion.from_record(any_shard_record(work)["fusion"])
    return FusionArguments(args.fusion_preset, args.alpha, args.aggregation).fusion(
        recorded, languages=args.languages, n_per_lang=args.n_per_lang, vector_mode=recorded.vector_mode)


def main(argv: list[str] | None = None) -> int:
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
