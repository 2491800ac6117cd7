"""Train a dense retriever with Tevatron on transformers 5 (Tevatron's argument names).

    python -m xqg_tevatron.driver.train --model_name_or_path MODEL --output_dir OUT \\
        --train_dir /abs/train --per_device_train_batch_size 8 --train_n_passages 2 \\
        --pooling mean --normalize --query_prefix "query: " --passage_prefix "passage: " \\
        --temperature 0.01 --learning_rate 1e-5 --num_train_epochs 1

Accepts every argument of Tevatron 0.1.0's ``tevatron.driver.train`` plus the encoder
settings of :class:`EncoderArguments`; those settings are written beside the weights
(``xqg_encoder.json``) so encoding and search reuse them.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from transformers import AutoConfig, AutoTokenizer, HfArgumentParser, TrainerCallback, set_seed

from xqg_tevatron.runtime.atomic_io import MARKER, atomic_write_text, sha256_file
from xqg_tevatron.models import resolve_model
from xqg_tevatron.runtime.workdir import lock_output, model_fingerprint, read_marker, request_record, write_marker
from xqg_tevatron.cli import rename_flags
from xqg_tevatron.tevatron_compat.arguments import XqgTrainingArguments as TrainingArguments, expand_tri_state_flags
from xqg_tevatron.tevatron_compat import DenseModel, DenseTrainer, QPCollator, TrainDataset, XqgDataArguments, XqgModelArguments
from xqg_tevatron.tevatron_compat.data import load_train_groups
from xqg_tevatron.tevatron_compat.sources import check_train_source

logger = logging.getLogger(__name__)


@dataclass
class OutputArguments:
    overwrite_output_dir: bool = field(default=False, metadata={
        "help": "train into a non-empty --output_dir (Tevatron's flag; transformers 5 dropped it)"})


@dataclass
class CodeSwitchArguments:
    code_switch_p: float = field(default=0.0, metadata={"help": "per-token probability of switching a translatable "
                                                               "English token of a training query (0 = off)"})
    code_switch_languages: Optional[list[str]] = field(default=None, metadata={"help": "target languages (default: all 7)"})
    code_switch_passages: bool = field(default=False, metadata={"help": "also code-switch passages"})
    code_switch_word_lists: Optional[list[str]] = field(default=None, metadata={
        "help": "extra word lists LANG=PATH (MUSE text or dictd .index), or 'freedict' for the installed FreeDict "
                "dictionaries; CLDR names are always used"})
    code_switch_seed: int = field(default=13)

    def config(self):
        from xqg_tevatron.training.codeswitch import CodeSwitchConfig
        from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES

        from xqg_tevatron.words.lexicon import resolve_word_lists

        languages = tuple(self.code_switch_languages or LANGUAGES)
        try:
            lists = resolve_word_lists(self.code_switch_word_lists or [], languages)
        except ValueError as exc:
            raise ValueError(f"--code_switch_word_lists: {exc}") from None
        return CodeSwitchConfig(p=self.code_switch_p, languages=languages,
                                switch_passages=self.code_switch_passages, word_lists=lists, seed=self.code_switch_seed)


class CodeSwitchStatsCallback(TrainerCallback):
    """Writes the achieved switch/overlap ratios to ``<output_dir>/code_switch_stats.json``."""

    def __init__(self, groups, config):
        self.groups, self.config = groups, config

    def on_train_end(self, args, state, control, **kwargs):
        from xqg_tevatron.training.codeswitch import write_stats

        summary = write_stats(self.groups.stats, self.config, Path(args.output_dir) / "code_switch_stats.json")
        logger.info("code-switching: %s", summary)


# Tevatron v2's names for the same things (src/tevatron/retriever/arguments.py)
TEVATRON_V2_NAMES = {"--dataset_path": "--train_files", "--query_max_len": "--q_max_len",
                     "--passage_max_len": "--p_max_len", "--train_group_size": "--train_n_passages"}


def parse_args(argv: list[str] | None = None):
    parser = HfArgumentParser((XqgModelArguments, XqgDataArguments, TrainingArguments, CodeSwitchArguments,
                               OutputArguments))
    argv = sys.argv[1:] if argv is None else argv
    # TrainingArguments turns its progress bar off by default when transformers logs at less than
    # warnings, which the quiet default does: parsed at warning level, the bar (with its time
    # estimate) is on unless --disable_tqdm is given.  Quiet hides library noise, never progress.
    import transformers.utils.logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    try:
        if len(argv) == 1 and argv[0].endswith(".json"):
            parsed = parser.parse_json_file(json_file=os.path.abspath(argv[0]))
        else:
            parsed = parser.parse_args_into_dataclasses(args=expand_tri_state_flags(rename_flags(argv, TEVATRON_V2_NAMES)))
    finally:
        hf_logging.set_verbosity(level)
    model_args = parsed[0]
    model_args.model_name_or_path = resolve_model(model_args.model_name_or_path)
    return parsed


def build_trainer(model_args, data_args, training_args, cs_args: CodeSwitchArguments | None = None):
    """Everything Tevatron's driver builds, with the compat classes and the code-switching hook."""
    check_train_source(data_args)  # a bad data source is refused before the model is loaded
    config = AutoConfig.from_pretrained(model_args.config_name or model_args.model_name_or_path, num_labels=1,
                                        cache_dir=model_args.cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name or model_args.model_name_or_path,
                                              cache_dir=model_args.cache_dir)
    model = DenseModel.build(model_args, data_args, training_args, config=config, cache_dir=model_args.cache_dir)
    groups = load_train_groups(data_args, cache_dir=data_args.data_cache_dir or model_args.cache_dir, tokenizer=tokenizer)
    callbacks = []
    if cs_args is not None and cs_args.code_switch_p > 0:
        from xqg_tevatron.training.codeswitch import CodeSwitchedGroups, CodeSwitcher

        cs_config = cs_args.config()
        groups = CodeSwitchedGroups(groups, CodeSwitcher(cs_config))
        callbacks.append(CodeSwitchStatsCallback(groups, cs_config))
        if training_args.dataloader_num_workers > 0:
            logger.warning("code-switch statistics are counted in the main process only; "
                           "with --dataloader_num_workers > 0 they cover none of the worker reads")
    train_dataset = TrainDataset(data_args, groups, tokenizer, settings=model.settings)
    collator = QPCollator(tokenizer, max_p_len=data_args.p_max_len, max_q_len=data_args.q_max_len)
    trainer = DenseTrainer(model=model, args=training_args, train_dataset=train_dataset,
                           data_collator=collator, processing_class=tokenizer, callbacks=callbacks)
    train_dataset.trainer = trainer
    return trainer, tokenizer


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


# training arguments that change how training runs or reports, never the model it writes
OPERATIONAL = {"logging_dir", "overwrite_output_dir", "disable_tqdm", "report_to", "logging_steps",
               "logging_strategy", "dataloader_num_workers", "local_rank", "run_name", "save_strategy", "save_steps",
               "save_total_limit", "resume_from_checkpoint"}
MODEL_KIND = "model"


def request_of(model_args, data_args, training_args, cs_args) -> dict:
    """What the trained model is a function of, as asked: the arguments (operational ones left
    out), the base model's and the training files' content."""
    train_files = sorted(str(Path(p).resolve()) for p in (data_args.train_path or []))
    values = {"model": dataclasses.asdict(model_args), "data": dataclasses.asdict(data_args),
              "code_switch": dataclasses.asdict(cs_args),
              "training": {k: v for k, v in training_args.to_dict().items() if k not in OPERATIONAL},
              "model_sha256": model_fingerprint(model_args.model_name_or_path),
              "train_files": {p: sha256_file(p) for p in train_files}}
    return request_record("driver.train", values)


def _main(argv: list[str] | None = None) -> int:
    model_args, data_args, training_args, cs_args, out_args = parse_args(argv)
    out = Path(training_args.output_dir)
    if training_args.grad_cache:
        raise ValueError("--grad_cache needs the GradCache package, which has no transformers-5 release; drop the flag")
    request = request_of(model_args, data_args, training_args, cs_args)
    lock = lock_output(out) if training_args.process_index == 0 else None  # one trainer per output folder
    try:
        if out.is_dir() and os.listdir(out) and not out_args.overwrite_output_dir:
            marker = read_marker(out) or {}
            if marker.get("kind") == MODEL_KIND and (marker.get("settings") or {}).get("request") == request:
                print(f"up to date: {out} already holds the model this command trains; nothing loaded or written",
                      file=sys.stderr)
                return 0
            raise ValueError(f"output directory {out} is not empty; pass --overwrite_output_dir")
        if lock is not None:  # whatever was there no longer describes the folder until training ends
            (out / MARKER).unlink(missing_ok=True)
        set_seed(training_args.seed)
        trainer, tokenizer = build_trainer(model_args, data_args, training_args, cs_args)
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(training_args.output_dir)
            # the loss curve (every --logging_steps): whether the run trained long enough
            atomic_write_text(out / "train_log.json", json.dumps(trainer.state.log_history, indent=1))
            write_marker(out, MODEL_KIND, {"request": request})  # last: the model is complete
    finally:
        if lock is not None:
            lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
