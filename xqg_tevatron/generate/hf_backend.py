"""The Hugging Face backend of the seq2seq query generator: transformers ``generate`` with
top-k sampling (the reference backend; ``ct2_backend`` is the fast one).  torch and transformers
are imported when a generator is made, not with this module (the registry imports it for its
flags)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from xqg_tevatron.generate.backend import BatchedGenerator, SamplingConfig


@dataclass
class HfArguments:
    """transformers generate (the reference backend; --dtype sets its weights)"""

    def check(self, sampling: SamplingConfig) -> None:
        """Nothing beyond the sampling settings, which check themselves."""

    def recorded(self) -> dict:
        return {}

    def build(self, model_dir: str, sampling: SamplingConfig) -> "Seq2SeqQueryGenerator":
        return Seq2SeqQueryGenerator(model_dir, sampling)


class Seq2SeqQueryGenerator(BatchedGenerator):
    """Hugging Face ``generate`` (the reference backend)."""

    def __init__(self, model_dir: str, config: Optional[SamplingConfig] = None):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.config = config or SamplingConfig()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=getattr(torch, self.config.dtype)).to(
            self.config.device).eval()

    def _generate(self, prompts: list[str], seed: int) -> list[list[str]]:
        import torch

        cfg = self.config
        with torch.inference_mode():
            torch.manual_seed(seed)
            enc = self.tokenizer(prompts, max_length=cfg.max_input_length, truncation=True, padding=True,
                                 return_tensors="pt").to(cfg.device)
            sampling = {} if cfg.greedy else {"top_k": cfg.top_k, "temperature": cfg.temperature}
            generated = self.model.generate(**enc, **sampling, do_sample=not cfg.greedy, num_beams=1,
                                            max_new_tokens=cfg.max_new_tokens,
                                            min_new_tokens=cfg.min_new_tokens or None,
                                            num_return_sequences=cfg.n_per_lang)
        return self._split(self.tokenizer.batch_decode(generated, skip_special_tokens=True), len(prompts))
