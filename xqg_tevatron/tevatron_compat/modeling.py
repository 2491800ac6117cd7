"""Tevatron DenseModel with configurable pooling / normalisation and settings saved beside weights."""
from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from tevatron import modeling as tv_modeling

from xqg_tevatron.tevatron_compat.settings import EncoderSettings

def pool(hidden: torch.Tensor, attention_mask: Optional[torch.Tensor], settings: EncoderSettings) -> torch.Tensor:
    """Pool token states into one vector per text (masked mean or first token), optionally L2-normalised."""
    if settings.pooling == "mean":
        if attention_mask is None:
            reps = hidden.mean(dim=1)
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            reps = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    else:
        reps = hidden[:, 0]
    if settings.normalize:
        reps = F.normalize(reps, p=2, dim=-1)
    return reps


class _PoolingMixin:
    @property
    def output_dim(self) -> int:
        """Width of the vectors: the pooler head's output, else the encoder's hidden size (Tevatron
        keeps the head's width only in its private config, so it is read here, once)."""
        if self.pooler is None:
            return int(self.lm_q.config.hidden_size)
        return int(self.pooler._config["output_dim"])

    settings: EncoderSettings

    def _encode(self, lm, batch, is_query: bool):
        if batch is None:
            return None, None
        out = lm(**batch, return_dict=True)
        hidden = out.last_hidden_state
        if self.pooler is not None:
            reps = self.pooler(q=hidden) if is_query else self.pooler(p=hidden)
            if self.settings.normalize:
                reps = F.normalize(reps, p=2, dim=-1)
        else:
            reps = pool(hidden, batch.get("attention_mask"), self.settings)
        return hidden, reps


class TemperatureCrossEntropy(nn.CrossEntropyLoss):
    """Cross entropy over ``scores / temperature``: Tevatron's forward calls
    ``self.cross_entropy(scores, target)`` on raw dot products, so swapping this module in is the
    one place a temperature (e5 uses 0.01) needs to enter."""

    def __init__(self, temperature: float = 1.0):
        super().__init__(reduction="mean")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(scores / self.temperature, target)


class DenseModel(_PoolingMixin, tv_modeling.DenseModel):
    """Trainable bi-encoder; adds pooling/normalisation, temperature, and safe re-saving."""

    def __init__(self, *args, settings: EncoderSettings | None = None, temperature: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings or EncoderSettings()
        self.cross_entropy = TemperatureCrossEntropy(temperature)
        if not self.train_args.negatives_x_device:
            self.world_size = 1

    def encode_passage(self, psg):
        return self._encode(self.lm_p, psg, is_query=False)

    def encode_query(self, qry):
        return self._encode(self.lm_q, qry, is_query=True)

    @classmethod
    def build(cls, model_args, data_args, train_args, **hf_kwargs):
        model = super().build(model_args, data_args, train_args, **hf_kwargs)
        model.settings = EncoderSettings.load(model_args.model_name_or_path, overrides=model_args)
        model.cross_entropy = TemperatureCrossEntropy(getattr(model_args, "temperature", 1.0))
        return model

    def save(self, output_dir: str):
        # Tevatron's save uses os.makedirs without exist_ok, so a second checkpoint in the same
        # directory (or a resumed run) crashed; create the folders idempotently first.
        if self.model_args.untie_encoder:
            os.makedirs(os.path.join(output_dir, "query_model"), exist_ok=True)
            os.makedirs(os.path.join(output_dir, "passage_model"), exist_ok=True)
            self.lm_q.save_pretrained(os.path.join(output_dir, "query_model"))
            self.lm_p.save_pretrained(os.path.join(output_dir, "passage_model"))
        else:
            self.lm_q.save_pretrained(output_dir)
        if self.model_args.add_pooler:
            self.pooler.save_pooler(output_dir)
        self.settings.save(output_dir)


class DenseModelForInference(_PoolingMixin, tv_modeling.DenseModelForInference):
    """Inference model: Tevatron's loading logic (tied/untied, pooler) plus our pooling settings."""

    def __init__(self, *args, settings: EncoderSettings | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings or EncoderSettings()

    @torch.inference_mode()
    def encode_passage(self, psg):
        return self._encode(self.lm_p, psg, is_query=False)

    @torch.inference_mode()
    def encode_query(self, qry):
        return self._encode(self.lm_q, qry, is_query=True)

    @classmethod
    def load(cls, model_dir: str, overrides: object | None = None, **hf_kwargs) -> "DenseModelForInference":
        model = cls.build(model_name_or_path=model_dir, **hf_kwargs)
        model.settings = EncoderSettings.load(model_dir, overrides=overrides)
        return model.eval()
