"""Encode a corpus into a Pyserini FAISS index (optionally xQG-augmented).

Tevatron's argument names (Tevatron v2's ``--dataset_path``, ``--encode_output_path``,
``--query_max_len``, ``--passage_max_len`` are aliases; every flag also takes hyphens), plus xQG
options:

    python -m xqg_tevatron.driver.encode --model_name_or_path MODEL \\
        --encode_in_path /abs/corpus_with_generated_queries.jsonl \\
        --encoded_save_path indexes/xqg --languages ar bn fi ja ko ru te --index_type flat
        [--fusion_preset paper | --alpha 0.2 --aggregation mean --n_per_lang 5]

Passages: writes a Pyserini dense index directory (``index``, ``docid``, ``xqg_manifest.json``)
at ``--encoded_save_path``.  Work happens in chunks under ``--work_dir`` (default
``<encoded_save_path>.work``): rerunning after a crash skips finished chunks.  Shard with
``--num-shards N --shard-id I`` and merge with ``python -m xqg_tevatron.driver.merge``; under
``torchrun`` the ranks shard automatically and rank 0 merges.  Queries are encoded at search
time by the search stage, never here.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from transformers import HfArgumentParser

from xqg_tevatron.corpus import corpus_files
from xqg_tevatron.indexing.encoder import DenseEncoder, EncodeConfig
from xqg_tevatron.runtime.engine import resolve_shard, torchrun_rank
from xqg_tevatron.runtime.executors import ExecutorArguments, executor_from_args
from xqg_tevatron.indexing.arguments import OPERATIONAL, FusionArguments, IndexArguments
from xqg_tevatron.tevatron_compat.arguments import XqgTrainingArguments as TrainingArguments, expand_tri_state_flags
from xqg_tevatron.tevatron_compat import XqgDataArguments, XqgModelArguments
from xqg_tevatron.tevatron_compat.data import resolve_separator
from xqg_tevatron.cli import rename_flags, run_main
from xqg_tevatron.models import resolve_model
from xqg_tevatron.runtime.stage import Stage, UnitWork
from xqg_tevatron.runtime.workdir import (check_replaceable, check_separate, made_by_of, model_fingerprint, read_marker,
                                          remove_plugin_dir, request_record)
from xqg_tevatron.indexing.indexer import (RunConfig, XqgConfig, XqgIndexer, encode_stats,
                                           index_up_to_date)
from xqg_tevatron.indexing.merging import merge_work_dir
from xqg_tevatron.indexing.store import WORK_KIND
from xqg_tevatron.indexing.index import IndexConfig
from xqg_tevatron.xqg.components import unit_suffixes

logger = logging.getLogger(__name__)
COMMAND = "driver.encode"


@dataclass
class XqgEncodeArguments(FusionArguments, IndexArguments, ExecutorArguments):
    generated_queries: Optional[list[str]] = field(default=None, metadata={
        "help": "separate generated-query files (published xQG format); default: the corpus records' own "
                "'generated_queries' field"})
    # None = not given (then the fusion preset's value applies): whether augmentation was asked for
    # is read from the parsed values, never from the command line's text
    languages: Optional[list[str]] = field(default=None, metadata={"help": "generated-query languages to use (default: all)"})
    n_per_lang: Optional[int] = field(default=None, metadata={
        "help": "generated queries per language (0 = all; default: the preset's, 5)"})
    vector_mode: Optional[str] = field(default=None, metadata={
        "help": "fused (default) | multi (passage and queries as separate rows)"})
    generated_query_branch: str = field(default="query", metadata={
        "help": "encoder branch for generated queries: query (query prefix, as search-time questions) | passage "
                "(the authors' scripts); both at q_max_len"})
    store_dtype: str = field(default="float32", metadata={
        "help": "float32 | float16: what the work dir keeps vectors in (float16 halves it; re-fuses widen back)"})
    chunk_size: int = field(default=10000, metadata={"help": "passages per resumable chunk"})
    work_dir: Optional[str] = field(default=None, metadata={"help": "chunk directory (default <encoded_save_path>.work)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing index and work dir"})
    keep_work_dir: bool = field(default=False, metadata={"help": "keep chunk files after a successful merge"})
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = cores / processes)"})
    no_merge: bool = field(default=False, metadata={"help": "only encode this shard; merge later"})
    component_n_per_lang: Optional[list[int]] = field(default=None, metadata={
        "help": "also store the query sums of the first N per language for these N (0 = all), so driver.merge can "
                "re-fuse at any of them; --n_per_lang is always stored"})
    shard_id: int = field(default=0, metadata={"help": "this process's shard (units c with c %% N == I)"})
    num_shards: int = field(default=1, metadata={"help": "shards of the job (e.g. a SLURM array's size)"})


# Tevatron v2's names for the same things (src/tevatron/retriever/arguments.py)
TEVATRON_V2_NAMES = {"--dataset_path": "--encode_in_path", "--encode_output_path": "--encoded_save_path",
                     "--query_max_len": "--q_max_len", "--passage_max_len": "--p_max_len"}
# Tevatron 0.1's DataArguments fields this driver does not use: refused with the spelling to use
REFUSED = {"--encode_num_shard": "use --num-shards", "--encode_shard_index": "use --shard-id",
           "--encode_is_qry": "queries are encoded by the search stage (python -m xqg_tevatron.search)"}


def parse_args(argv: list[str] | None = None):
    parser = HfArgumentParser((XqgModelArguments, XqgDataArguments, TrainingArguments, XqgEncodeArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    for arg in argv:
        flag = arg.split("=")[0].replace("-", "_").replace("__", "--", 1)
        if flag in REFUSED:
            raise ValueError(f"{arg.split('=')[0]}: not an option of this driver; {REFUSED[flag]}")
    return parser.parse_args_into_dataclasses(args=expand_tri_state_flags(rename_flags(argv, TEVATRON_V2_NAMES)))


def request_of(model_args, data_args, training_args, xqg_args) -> dict:
    """What the index is a function of, as asked (paths resolved): recorded in its manifest, so
    a rerun of the same command over its own output is recognised (and left alone if up to date)."""
    values = {**dataclasses.asdict(model_args), **dataclasses.asdict(data_args),
              **{k: v for k, v in dataclasses.asdict(xqg_args).items() if k not in OPERATIONAL},
              "batch_size": training_args.per_device_eval_batch_size, "device": str(training_args.device),
              "model_sha256": model_fingerprint(model_args.model_name_or_path)}
    values["encode_in_path"] = [str(Path(p).resolve()) for p in data_args.encode_in_path]
    values["encoded_save_path"] = str(Path(data_args.encoded_save_path).resolve())
    if xqg_args.work_dir:
        values["work_dir"] = str(Path(xqg_args.work_dir).resolve())
    return request_record(COMMAND, values)


def remove_own_work_dir(work_dir: Path, out: Path) -> None:
    """Delete the work dir once the index is written, if this command made it for this output
    (never a store another command, or this command for another output, made), or if it holds
    nothing but this run's lock files (a rerun after a killed clean-up re-creates it to lock it)."""
    if not work_dir.is_dir():
        return
    marker = read_marker(work_dir)
    if marker is None or marker.get("made_by") == made_by_of(COMMAND, out):
        remove_plugin_dir(work_dir, kinds=[WORK_KIND], command=COMMAND)  # refuses a folder holding others' files


def _distributed() -> tuple[int, int]:
    """(rank, world_size) under torchrun (its process group started here), else (0, 1)."""
    rank, world = torchrun_rank()
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size()
    return rank, world


def main(argv: list[str] | None = None) -> int:
    """Bad input ends in one line ``error: ...`` and exit 1 (``--debug`` shows the traceback)."""
    return run_main(_main, argv)


def augmentation_asked(xqg_args: XqgEncodeArguments) -> bool:
    """Whether the user asked for augmentation (gave an alpha, languages, query files or a vector
    mode, in any spelling): then a corpus without usable generated queries is refused rather
    than indexed plain with a warning."""
    return any(getattr(xqg_args, k) is not None for k in ("alpha", "languages", "generated_queries", "vector_mode"))


def _main(argv: list[str]) -> int:
    return run(parse_args(argv))


def run(parsed) -> int:
    model_args, data_args, training_args, xqg_args = parsed
    require_queries = augmentation_asked(xqg_args)
    fusion = xqg_args.fusion(languages=xqg_args.languages, n_per_lang=xqg_args.n_per_lang,
                             vector_mode=xqg_args.vector_mode)
    if not data_args.encode_in_path or not data_args.encoded_save_path:
        raise ValueError("--encode_in_path and --encoded_save_path are required")
    rank, world = _distributed()
    shard_id, num_shards = resolve_shard(xqg_args.shard_id, xqg_args.num_shards)
    out = Path(data_args.encoded_save_path)
    work_dir = Path(xqg_args.work_dir or f"{out}.work")
    # everything that can be checked is checked before the model loads or a chunk is encoded
    model_args.model_name_or_path = resolve_model(model_args.model_name_or_path)
    inputs = corpus_files(data_args.encode_in_path)
    executor = executor_from_args(xqg_args)
    xqg = XqgConfig(fusion, generated_query_branch=xqg_args.generated_query_branch,
                    separator=data_args.passage_field_separator, store_dtype=xqg_args.store_dtype,
                    require_queries=require_queries and fusion.alpha > 0 or fusion.vector_mode == "multi")
    run_config = RunConfig(chunk_size=xqg_args.chunk_size, shard_id=shard_id, num_shards=num_shards,
                           show_progress=rank == 0 and not training_args.disable_tqdm)
    index_config = IndexConfig.from_args(xqg_args)
    if xqg_args.generated_queries:
        corpus_files(xqg_args.generated_queries)
    check_separate(work_dir, out)
    for path in inputs:
        check_separate(work_dir, path, "--work_dir")
    merging = not (xqg_args.no_merge or (world == 1 and num_shards > 1) or rank != 0)
    check_replaceable(out, xqg_args.overwrite, command=COMMAND)  # the request (it hashes the model) after the locks
    # the output's lock (held from before the model is hashed to the last rename) and the work
    # dir's owner and locks, before the model is hashed or loaded: the stage template
    stage = Stage(WORK_KIND, COMMAND, work_dir, out, unit_suffixes(fusion.vector_mode), xqg_args.chunk_size, shard_id,
                  num_shards, xqg_args.overwrite, run_config.show_progress, lock_output=merging, produces="this index")

    def request() -> dict:
        asked = request_of(model_args, data_args, training_args, xqg_args)
        check_replaceable(out, xqg_args.overwrite, request=asked)
        return asked

    def prepare(asked: dict) -> UnitWork:
        torch.set_num_threads(xqg_args.num_threads or max(1, (os.cpu_count() or 1) // max(world, 1)))
        encoder = DenseEncoder(
            model_args.model_name_or_path, settings_overrides=model_args, tokenizer_name=model_args.tokenizer_name,
            config=EncodeConfig(batch_size=training_args.per_device_eval_batch_size, q_max_len=data_args.q_max_len,
                                p_max_len=data_args.p_max_len, device=str(training_args.device),
                                show_progress=rank == 0 and not training_args.disable_tqdm,
                                # Tevatron's --fp16 / --bf16: the encoder runs in that precision
                                dtype="float16" if training_args.fp16 else "bfloat16" if training_args.bf16 else
                                "float32"))
        xqg.separator = resolve_separator(encoder.tokenizer, data_args.passage_field_separator)
        index_config.check(encoder.dim)  # a factory string the encoder's dimension cannot take: before any unit
        # an executor that ships workers builds one encoder in each, with the same settings
        factory = functools.partial(DenseEncoder, model_args.model_name_or_path, settings_overrides=encoder.settings,
                                    tokenizer_name=model_args.tokenizer_name, config=encoder.config)
        indexer = XqgIndexer(encoder, xqg, run_config, work_dir, generated_queries=xqg_args.generated_queries,
                             executor=executor, component_n_per_lang=xqg_args.component_n_per_lang,
                             encoder_factory=factory, made_by=stage.made_by)
        return indexer.unit_work(data_args.encode_in_path)

    def finish(run, asked: dict) -> bool:
        print("shard %d/%d: %s" % (shard_id, num_shards, encode_stats(run)), file=sys.stderr)
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
        if not merging:
            if rank == 0 and world == 1:
                print(f"shard done; merge with: python -m xqg_tevatron.driver.merge --work-dir {work_dir} "
                      f"--output {out}", file=sys.stderr)
            return False
        merge_work_dir(work_dir, out, index_config, overwrite=xqg_args.overwrite,
                       show_progress=run_config.show_progress, require_queries=xqg.require_queries, fusion=fusion,
                       request=asked)
        return True

    outcome = stage.execute(
        data_args.encode_in_path, request,
        lambda asked: merging and world == 1 and index_up_to_date(out, asked, inputs, xqg_args.chunk_size,
                                                                   xqg_args.generated_queries),
        prepare, finish, clean_up=None if xqg_args.keep_work_dir else lambda: remove_own_work_dir(work_dir, out))
    if outcome.merged:
        print(f"wrote Pyserini index {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
