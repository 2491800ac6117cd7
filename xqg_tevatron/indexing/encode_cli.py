"""Encode a corpus into a Pyserini FAISS index (optionally xQG-augmented).

Tevatron's argument names (Tevatron v2's ``--dataset_path``, ``--encode_output_path``,
``--query_max_len``, ``--passage_max_len`` are aliases; every flag also takes hyphens), plus xQG
options:

    python -m xqg_tevatron.driver.encode --model_name_or_path MODEL \\
        --encode_in_path /abs/corpus_with_generated_queries.jsonl \\
        --encoded_save_path indexes/xqg --languages ar bn fi ja ko ru te --index_type flat
        [--fusion_preset paper | --alpha 0.2 --aggregation mean --n_per_lang 5]

Passages: writes a Pyserini dense index directory (``index``, ``docid``, ``xqg_manifest.json``)
at ``--encoded_save_path``.  Work happens in units under ``--work_dir`` (default
``<encoded_save_path>.work``): rerunning after a crash skips finished units.  Shard with
``--num-shards N --shard-id I`` and merge with ``python -m xqg_tevatron.driver.merge``; under
``torchrun`` the ranks shard automatically and rank 0 merges.  Queries are encoded at search
time by the search stage, never here.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from transformers import HfArgumentParser

from xqg_tevatron.cli import rename_flags, run_main
from xqg_tevatron.corpus import corpus_files
from xqg_tevatron.indexing.arguments import OPERATIONAL, FusionArguments, IndexArguments, StoreArguments
from xqg_tevatron.indexing.encode_config import EncodeConfig
from xqg_tevatron.indexing.faiss_index import IndexConfig
from xqg_tevatron.indexing.indexer import XqgConfig
from xqg_tevatron.indexing.request import EncodeRequest, run_encode
from xqg_tevatron.models import resolve_model
from xqg_tevatron.runtime.engine import resolve_shard, torchrun_rank
from xqg_tevatron.runtime.executors import ExecutorArguments, executor_from_args
from xqg_tevatron.runtime.workdir import model_fingerprint
from xqg_tevatron.tevatron_compat import XqgDataArguments, XqgModelArguments
from xqg_tevatron.tevatron_compat.arguments import XqgTrainingArguments as TrainingArguments, expand_tri_state_flags

logger = logging.getLogger(__name__)
COMMAND = "driver.encode"


@dataclass
class XqgEncodeArguments(FusionArguments, IndexArguments, StoreArguments, ExecutorArguments):
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
    work_dir: Optional[str] = field(default=None, metadata={"help": "unit directory (default <encoded_save_path>.work)"})
    keep_work_dir: bool = field(default=False, metadata={"help": "keep unit files after a successful merge"})
    no_merge: bool = field(default=False, metadata={"help": "only encode this shard; merge later"})


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
    return values


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
    """The parsed flags as one :class:`~xqg_tevatron.indexing.request.EncodeRequest`, checked
    before the model loads or a unit is encoded, then run."""
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
    model_args.model_name_or_path = resolve_model(model_args.model_name_or_path)
    corpus_files(data_args.encode_in_path)
    if xqg_args.generated_queries:
        corpus_files(xqg_args.generated_queries)
    show_progress = rank == 0 and not training_args.disable_tqdm
    request = EncodeRequest(
        COMMAND, data_args.encode_in_path, model_args.model_name_or_path, work_dir, out,
        asked=lambda: request_of(model_args, data_args, training_args, xqg_args),
        xqg=XqgConfig(fusion, generated_query_branch=xqg_args.generated_query_branch,
                      separator=data_args.passage_field_separator, store_dtype=xqg_args.store_dtype,
                      query_filter=xqg_args.query_filter,
                      require_queries=require_queries and fusion.alpha > 0 or fusion.vector_mode == "multi"),
        index=IndexConfig.from_args(xqg_args),
        encode=EncodeConfig(batch_size=training_args.per_device_eval_batch_size, q_max_len=data_args.q_max_len,
                            p_max_len=data_args.p_max_len, device=str(training_args.device), show_progress=show_progress,
                            # Tevatron's --fp16 / --bf16: the encoder runs in that precision
                            dtype="float16" if training_args.fp16 else "bfloat16" if training_args.bf16 else "float32"),
        settings_overrides=model_args, tokenizer=model_args.tokenizer_name,
        generated_queries=xqg_args.generated_queries or (), component_n_per_lang=xqg_args.component_n_per_lang or (),
        unit_size=xqg_args.unit_size, shard_id=shard_id, num_shards=num_shards, world=world,
        executor=executor_from_args(xqg_args), num_threads=xqg_args.num_threads,
        merging=not (xqg_args.no_merge or (world == 1 and num_shards > 1) or rank != 0),
        overwrite=xqg_args.overwrite, keep_work_dir=xqg_args.keep_work_dir, show_progress=show_progress)
    run_encode(request)
    return 0


if __name__ == "__main__":
    sys.exit(main())
