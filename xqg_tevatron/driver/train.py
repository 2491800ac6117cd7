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

import logging
import os
import sys

from tevatron.arguments import DenseTrainingArguments as TrainingArguments
from transformers import AutoConfig, AutoTokenizer, HfArgumentParser, set_seed

from xqg_tevatron.tevatron_compat.arguments import expand_tri_state_flags
from xqg_tevatron.tevatron_compat import DenseModel, DenseTrainer, QPCollator, TrainDataset, XqgDataArguments, XqgModelArguments
from xqg_tevatron.tevatron_compat.data import load_train_groups

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None):
    parser = HfArgumentParser((XqgModelArguments, XqgDataArguments, TrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=expand_tri_state_flags(argv))


def build_trainer(model_args, data_args, training_args, collator_factory=None):
    """Everything Tevatron's driver builds, with the compat classes; ``collator_factory`` lets
    hooks (e.g. code-switching) wrap the collator."""
    config = AutoConfig.from_pretrained(model_args.config_name or model_args.model_name_or_path, num_labels=1,
                                        cache_dir=model_args.cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name or model_args.model_name_or_path,
                                              cache_dir=model_args.cache_dir)
    model = DenseModel.build(model_args, data_args, training_args, config=config, cache_dir=model_args.cache_dir)
    groups = load_train_groups(data_args, cache_dir=data_args.data_cache_dir or model_args.cache_dir)
    train_dataset = TrainDataset(data_args, groups, tokenizer, settings=model.settings)
    collator = QPCollator(tokenizer, max_p_len=data_args.p_max_len, max_q_len=data_args.q_max_len)
    if collator_factory is not None:
        collator = collator_factory(collator, tokenizer, model.settings)
    trainer = DenseTrainer(model=model, args=training_args, train_dataset=train_dataset,
                           data_collator=collator, processing_class=tokenizer)
    train_dataset.trainer = trainer
    return trainer, tokenizer


def main(argv: list[str] | None = None, collator_factory=None) -> int:
    model_args, data_args, training_args = parse_args(argv)
    if (os.path.exists(training_args.output_dir) and os.listdir(training_args.output_dir)
            and training_args.do_train and not training_args.overwrite_output_dir):
        raise SystemExit(f"error: output directory {training_args.output_dir} is not empty; pass --overwrite_output_dir")
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        level=logging.INFO if training_args.local_rank in (-1, 0) else logging.WARN)
    set_seed(training_args.seed)
    if training_args.grad_cache:
        raise SystemExit("error: --grad_cache needs the GradCache package, which has no transformers-5 release; drop the flag")
    trainer, tokenizer = build_trainer(model_args, data_args, training_args, collator_factory)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(training_args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
