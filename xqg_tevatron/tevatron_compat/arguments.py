"""Tevatron's argument dataclasses, extended with encoder settings (pooling, norm, prefixes)."""

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
