"""Tevatron's argument dataclasses, extended with encoder settings (pooling, norm, prefixes)."""

import math
from dataclasses import dataclass, field
from typing import Optional

from tevatron.arguments import DataArguments, DenseTrainingArguments, ModelArguments


@dataclass
class EncoderArguments:
    """How text becomes a vector.  ``None`` means: read it from the model's ``xqg_encoder.json``
    (written by our trainer and by the demo-encoder builder), else Tevatron's default."""

    pooling: Optional[str] = field(default=None, metadata={"help": "cls | mean (default: model's xqg_encoder.json, else cls)"})
    normalize: Optional[bool] = field(default=None, metadata={"help": "L2-normalise embeddings"})
    query_prefix: Optional[str] = field(default=None, metadata={"help": 'text prepended to queries, e5: "query: "'})
    passage_prefix: Optional[str] = field(default=None, metadata={"help": 'text prepended to passages, e5: "passage: "'})


@dataclass
class XqgModelArguments(EncoderArguments, ModelArguments):
    temperature: float = field(default=1.0, metadata={"help": "softmax temperature of the contrastive loss (e5: 0.01)"})


@dataclass
class XqgDataArguments(DataArguments):
    """Tevatron's DataArguments; ``train_path`` may also be given as files instead of a directory."""

    train_files: Optional[list[str]] = field(default=None, metadata={"help": "training jsonl files (alternative to --train_dir)"})

    def __post_init__(self):
        super().__post_init__()
        if self.train_files:
            self.train_path = list(self.train_files)


@dataclass
class XqgTrainingArguments(DenseTrainingArguments):
    """Tevatron's training arguments with their warmup as on transformers 4.

    Tevatron defaults ``warmup_ratio`` to 0.1, but transformers 5 reads only ``warmup_steps``
    (a float < 1 there means a ratio), so the ratio was silently dropped and training ran with
    no warmup.  As on 4.x: ``warmup_steps`` when it is > 0, else ``ceil(ratio * total steps)``."""

    def get_warmup_steps(self, num_training_steps: int) -> int:
        if self.warmup_steps > 0:
            return super().get_warmup_steps(num_training_steps)
        return math.ceil(num_training_steps * self.warmup_ratio)


TRI_STATE_FLAGS = ("--normalize",)


def expand_tri_state_flags(argv: list[str]) -> list[str]:
    """Let ``--normalize`` be written bare, as a flag.

    ``normalize`` is tri-state (None = take the model's saved setting), and HfArgumentParser
    only accepts bare flags for plain bools, so a bare ``--normalize`` becomes ``--normalize true``.
    """
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if arg in TRI_STATE_FLAGS and (nxt is None or nxt.startswith("--")):
            out.append("true")
    return out
