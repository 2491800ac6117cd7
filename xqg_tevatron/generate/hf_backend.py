"""The Hugging Face backend of the seq2seq query generator: transformers ``generate`` with
top-k sampling (the reference backend; ``ct2_backend`` is the fast one)."""
from __future__ import annotations

from typing import Optional

import torch

from xqg_tevatron.generate.backend import BatchedGenerator, SamplingConfig


class Seq2SeqQueryGenerator(BatchedGenerator):
    """Hugging Face ``generate`` (the reference backend)."""

    def __init__(self, model_dir: str, config: Optional[SamplingConfig] = None):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.config = config or SamplingConfig()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=getattr(torch, self.config.dtype)).to(
            self.config.device).eval()

    @torch.inference_mode()
    def _generate(self, prompts: list[str], seed: int) -> list[list[str]]:
        cfg = self.config
        torch.manual_seed(seed)
        enc = self.tokenizer(prompts, max_length=cfg.max_input_length, truncation=True, padding=True,
                             return_tensors="pt").to(cfg.device)
        sampling = {} if cfg.greedy else {"top_k": cfg.top_k, "temperature": cfg.temperature}
        generated = self.model.generate(**enc, **sampling, do_sample=not cfg.greedy, num_beams=1,
                                        max_new_tokens=cfg.max_new_tokens, min_new_tokens=cfg.min_new_tokens or None,
                                        num_return_sequences=cfg.n_per_lang)
        return self._split(self.tokenizer.batch_decode(generated, skip_special_tokens=True), len(prompts))
