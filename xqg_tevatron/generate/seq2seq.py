"""The xQG query generator: an mT5-style seq2seq model (any HF seq2seq checkpoint).

Train on XOR-TyDi gold passages with HF ``Seq2SeqTrainer``; input
``Generate a {Language} question for this passage: {title} {passage}`` (training truncates
at 128 tokens; generation reads up to 256, DSI-QG's setting, ``--max_input_length``), target
the native question.  Generate ``n`` questions per passage and language with top-k
sampling, batched, sharded and resumable, into the published xQG jsonl format.

    python -m xqg_tevatron.generate.seq2seq train --model_name_or_path google/mt5-base \\
        --train_file pairs.jsonl --output_dir gen --per_device_train_batch_size 8 --num_train_epochs 3
    python -m xqg_tevatron.generate.seq2seq generate --model gen --corpus psgs_w100.tsv \\
        --output corpus.xqg.jsonl --languages ar bn fi ja ko ru te --n_per_lang 5 --top_k 10

Training pairs are jsonl ``{"lang", "title", "text", "question"}``; build them from
XOR-Retrieve files with :func:`xqg_tevatron.data.xor_format.write_generator_pairs`.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from xqg_tevatron.models import resolve_model
from xqg_tevatron.cli import FlagParser, run_main
from xqg_tevatron.corpus import iter_jsonl
from xqg_tevatron.generate.backend import SamplingConfig, make_prompt
from xqg_tevatron.generate.factory import add_backend_arguments, backend_of, generator_settings, make_generator
from xqg_tevatron.generate.generate_units import add_job_arguments, run_job_cli
from xqg_tevatron.runtime.workdir import model_fingerprint


# ------------------------------------------------------------------------------------------ train
@dataclass
class GeneratorTrainArguments:
    model_name_or_path: str = field(metadata={"help": "seq2seq checkpoint (mT5 family or any HF seq2seq)"})
    train_file: str = field(metadata={"help": "jsonl pairs {lang, title, text, question}"})
    max_input_length: int = field(default=128)
    max_target_length: int = field(default=32)


def load_pairs(path: str) -> list[dict]:
    pairs = []
    for where, rec in iter_jsonl(path):
        try:
            pairs.append({"source": make_prompt(rec["lang"], rec.get("title", ""), rec["text"]),
                          "target": rec["question"]})
        except KeyError as exc:
            raise ValueError(f"{where}: not a generator training pair (missing {exc})") from None
    if not pairs:
        raise ValueError(f"{path}: no training pairs")
    return pairs


def train(argv: list[str]) -> int:
    import datasets
    from transformers import (AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq, HfArgumentParser,
                              Seq2SeqTrainer, Seq2SeqTrainingArguments, set_seed)

    parser = HfArgumentParser((GeneratorTrainArguments, Seq2SeqTrainingArguments))
    gen_args, train_args = parser.parse_args_into_dataclasses(args=argv)
    gen_args.model_name_or_path = resolve_model(gen_args.model_name_or_path, "generator model")
    set_seed(train_args.seed)
    tokenizer = AutoTokenizer.from_pretrained(gen_args.model_name_or_path)
    model = AutoModelForSeq2SeqLM.from_pretrained(gen_args.model_name_or_path)
    ds = datasets.Dataset.from_list(load_pairs(gen_args.train_file))

    def tokenize(batch):
        enc = tokenizer(batch["source"], max_length=gen_args.max_input_length, truncation=True)
        enc["labels"] = tokenizer(text_target=batch["target"], max_length=gen_args.max_target_length,
                                  truncation=True)["input_ids"]
        return enc

    ds = ds.map(tokenize, batched=True, remove_columns=ds.column_names, desc="Tokenising generator pairs")
    trainer = Seq2SeqTrainer(model=model, args=train_args, train_dataset=ds, processing_class=tokenizer,
                             data_collator=DataCollatorForSeq2Seq(tokenizer, model=model))
    trainer.train(resume_from_checkpoint=train_args.resume_from_checkpoint)
    trainer.save_model()
    tokenizer.save_pretrained(train_args.output_dir)
    return 0


# --------------------------------------------------------------------------------------- generate
def generate(argv: list[str]) -> int:
    parser = FlagParser(prog="xqg_tevatron.generate.seq2seq generate")
    parser.add_argument("--model", required=True, help="trained seq2seq generator directory (HF format)")
    add_job_arguments(parser)
    add_backend_arguments(parser)
    parser.add_argument("--top_k", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max_length", type=int, default=32, help="decoder length incl. the start token (HF's)")
    parser.add_argument("--max_input_length", type=int, default=256, help="prompt tokens read (DSI-QG: 256)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    sampling = SamplingConfig(args.n_per_lang, args.top_k, args.max_length, args.max_input_length,
                              args.batch_size, args.seed, args.device, args.temperature)
    backend = backend_of(args, sampling)
    args.model = resolve_model(args.model, "generator model")
    settings = generator_settings(args.model, sampling, backend)
    build = functools.partial(make_generator, args.model, sampling, backend)
    return run_job_cli(args, build, settings, "generate.seq2seq", settings,
                       made_by=lambda lang: f"the seq2seq generator {args.model}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in {"train", "generate"}:
        print("usage: python -m xqg_tevatron.generate.seq2seq {train,generate} [ARGS]   (--help after the verb)")
        return 2
    return run_main(train if argv[0] == "train" else generate, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
