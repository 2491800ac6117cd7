"""What an encoder needs beyond its weights to reproduce an embedding, saved beside them.

Kept apart from :mod:`modeling` so that reading or checking settings imports no torch: the
search stage, the indexer's dimension checks and the fast tests read them without a model.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

SETTINGS_FILE = "xqg_encoder.json"
POOLINGS = ("cls", "mean")


@dataclass
class EncoderSettings:
    """Everything beyond the weights needed to reproduce an embedding (saved as ``xqg_encoder.json``)."""

    pooling: str = "cls"
    normalize: bool = False
    query_prefix: str = ""
    passage_prefix: str = ""

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")

    @classmethod
    def load(cls, model_dir: str, overrides: object | None = None) -> "EncoderSettings":
        """Settings from ``model_dir/xqg_encoder.json`` with non-None attributes of ``overrides`` on top."""
        values: dict = {}
        path = os.path.join(model_dir, SETTINGS_FILE) if model_dir and os.path.isdir(model_dir) else None
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                stored = json.load(fh)
            values.update({k: stored[k] for k in ("pooling", "normalize", "query_prefix", "passage_prefix") if k in stored})
        if overrides is not None:
            for key in ("pooling", "normalize", "query_prefix", "passage_prefix"):
                value = getattr(overrides, key, None)
                if value is not None:
                    values[key] = value
        return cls(**values)

    def save(self, model_dir: str) -> None:
        with open(os.path.join(model_dir, SETTINGS_FILE), "w", encoding="utf-8") as fh:
            json.dump(asdict(self), fh, indent=2)
            fh.write("\n")

    def prefix(self, is_query: bool) -> str:
        return self.query_prefix if is_query else self.passage_prefix
