"""Batch text encoder over a Tevatron bi-encoder: length-sorted batches, dynamic padding.

Why not Tevatron's own encode loop: it pads every text to ``max_len`` and runs under
``no_grad``; on CPU most of that compute is spent on padding.  Sorting texts by token length
and padding each batch only to its longest member gives identical vectors (attention masks
hide padding) at a fraction of the cost, and ``torch.inference_mode`` skips autograd
bookkeeping entirely.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from xqg_tevatron.tevatron_compat.data import encode_one, special_tokens_wrap
from xqg_tevatron.tevatron_compat.modeling import DenseModelForInference, EncoderSettings


@dataclass
class EncodeConfig:
    batch_size: int = 64
    q_max_len: int = 32
    p_max_len: int = 128
    device: str = "cpu"
    show_progress: bool = True


class DenseEncoder:
    """Encode queries (query branch) and passages (passage branch) of one model."""

    def __init__(self, model_dir: str, settings_overrides: object | None = None, config: EncodeConfig | None = None,
                 tokenizer_name: str | None = None):
        self.config = config or EncodeConfig()
        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_name or model_dir)
        self.model = DenseModelForInference.load(model_dir, overrides=settings_overrides).to(self.config.device)
        self.settings: EncoderSettings = self.model.settings
        self.special = special_tokens_wrap(self.tokenizer)

    @property
    def dim(self) -> int:
        return int(self.model.lm_p.config.hidden_size) if self.model.pooler is None else int(
            self.model.pooler._config["output_dim"])

    def manifest_settings(self) -> dict:
        """What an index manifest records about the encoder, so the index can be searched with
        the same model, pooling, prefixes and lengths (and a changed model is detected)."""
        from xqg_tevatron.workdir import model_fingerprint

        return {"model": os.path.abspath(self.model_dir), "model_sha256": model_fingerprint(self.model_dir),
                "pooling": self.settings.pooling, "normalize": self.settings.normalize,
                "query_prefix": self.settings.query_prefix, "passage_prefix": self.settings.passage_prefix,
                "q_max_len": self.config.q_max_len, "p_max_len": self.config.p_max_len, "dim": self.dim}

    def tokenize(self, texts: Sequence[str], is_query: bool, max_len: int | None = None) -> list[list[int]]:
        max_len = max_len or (self.config.q_max_len if is_query else self.config.p_max_len)
        prefix = self.settings.prefix(is_query)
        ids = self.tokenizer([prefix + t for t in texts], add_special_tokens=False, truncation=False)["input_ids"]
        return [encode_one(self.tokenizer, x, max_len, special=self.special)["input_ids"] for x in ids]

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], is_query: bool, desc: str | None = None,
               max_len: int | None = None) -> np.ndarray:
        """Vectors of ``texts`` in input order, float32 ``(len(texts), dim)``; ``is_query`` picks
        the branch (encoder, prefix), ``max_len`` overrides that branch's token limit."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = self.tokenize(texts, is_query, max_len)
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bs = self.config.batch_size
        pad_id = self.tokenizer.pad_token_id or 0
        batches = range(0, len(order), bs)
        for start in tqdm(batches, desc=desc or ("queries" if is_query else "passages"), unit="batch",
                          disable=not self.config.show_progress, leave=False):
            idx = order[start:start + bs]
            width = len(ids[idx[0]])
            input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                seq = ids[i]
                input_ids[row, :len(seq)] = torch.tensor(seq)
                mask[row, :len(seq)] = 1
            batch = {"input_ids": input_ids.to(self.config.device), "attention_mask": mask.to(self.config.device)}
            _, reps = (self.model.encode_query if is_query else self.model.encode_passage)(batch)
            out[idx] = reps.float().cpu().numpy()
        return out
