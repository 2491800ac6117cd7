"""Passage and generated-query encoder over a Tevatron bi-encoder, on the shared batching core
(:mod:`xqg_tevatron.batching`).

Why not Tevatron's own encode loop: it pads every text to ``max_len`` and runs under
``no_grad``; the batching core pads per length-sorted batch and this runs under
``torch.inference_mode``.  Generated queries are cut at ``q_max_len`` tokens (recorded in the
index manifest as ``generated_query_max_len``); questions at search time are cut at the
tokenizer's limit by the search stage, as Pyserini does.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from transformers import AutoTokenizer

from xqg_tevatron.batching import encode_token_ids, tokenizer_limit
from xqg_tevatron.tevatron_compat.tokens import encode_one, special_tokens_wrap
from xqg_tevatron.indexing.encode_config import EncodeConfig, check_dtype
from xqg_tevatron.tevatron_compat.modeling import DenseModelForInference
from xqg_tevatron.tevatron_compat.settings import EncoderSettings


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of ``name``; a one-line error for anything else."""
    return getattr(torch, check_dtype(name))


class DenseEncoder:
    """Encode queries (query branch) and passages (passage branch) of one model."""

    def __init__(self, model_dir: str, settings_overrides: object | None = None, config: EncodeConfig | None = None,
                 tokenizer_name: str | None = None):
        self.config = config or EncodeConfig()
        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_name or model_dir)
        self.model = DenseModelForInference.load(model_dir, overrides=settings_overrides).to(
            self.config.device, dtype=torch_dtype(self.config.dtype))
        self.settings: EncoderSettings = self.model.settings
        self.special = special_tokens_wrap(self.tokenizer)

    @property
    def dim(self) -> int:
        return self.model.output_dim

    def manifest_settings(self) -> dict:
        """What an index manifest records about the encoder, so the index can be searched with
        the same model, pooling, prefixes and lengths (and a changed model is detected)."""
        from xqg_tevatron.runtime.workdir import model_fingerprint

        return {"model": os.path.abspath(self.model_dir), "model_sha256": model_fingerprint(self.model_dir),
                "pooling": self.settings.pooling, "normalize": self.settings.normalize,
                "query_prefix": self.settings.query_prefix, "passage_prefix": self.settings.passage_prefix,
                "q_max_len": self.config.q_max_len, "p_max_len": self.config.p_max_len, "dim": self.dim,
                **({"dtype": self.config.dtype} if self.config.dtype != "float32" else {}),
                "generated_query_max_len": self.config.q_max_len,
                "search_query_max_len": f"the tokenizer's limit ({tokenizer_limit(self.tokenizer)})"}

    def tokenize(self, texts: Sequence[str], is_query: bool, max_len: int | None = None) -> list[list[int]]:
        max_len = max_len or (self.config.q_max_len if is_query else self.config.p_max_len)
        prefix = self.settings.prefix(is_query)
        ids = self.tokenizer([prefix + t for t in texts], add_special_tokens=False, truncation=False)["input_ids"]
        return [encode_one(self.tokenizer, x, max_len, special=self.special)["input_ids"] for x in ids]

    def encode(self, texts: Sequence[str], is_query: bool, desc: str | None = None,
               max_len: int | None = None) -> np.ndarray:
        """Vectors of ``texts`` in input order, float32 ``(len(texts), dim)``; ``is_query`` picks
        the branch (encoder, prefix), ``max_len`` overrides that branch's token limit."""
        branch = self.model.encode_query if is_query else self.model.encode_passage
        device = self.config.device

        @torch.inference_mode()
        def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            batch = {"input_ids": torch.from_numpy(input_ids).to(device), "attention_mask": torch.from_numpy(mask).to(device)}
            return branch(batch)[1].float().cpu().numpy()

        return encode_token_ids(self.tokenize(texts, is_query, max_len) if len(texts) else [], self.dim,
                                self.config.batch_size, self.tokenizer.pad_token_id or 0, run,
                                desc or ("queries" if is_query else "passages"), self.config.show_progress)
