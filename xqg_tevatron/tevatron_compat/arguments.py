"""Tevatron's argument dataclasses, extended with encoder settings (pooling, norm, prefixes)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from tevatron.arguments import DataArguments, ModelArguments


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
