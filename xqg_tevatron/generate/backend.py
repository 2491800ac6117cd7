"""The seq2seq generator's backend contract, below both backends: the prompt, the sampling
settings every backend honours, and the batching and per-batch seeding they share.

Why its own module: the backends (``hf_backend``, ``ct2_backend``), the one factory that builds
them (``factory``, the backend registry) and their callers (``seq2seq``'s CLI, ``job``) all import it,
and it imports none of them: no import circle.
"""
from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass

from xqg_tevatron.batching import DTYPES
from xqg_tevatron.corpus import Passage
from xqg_tevatron.languages import LANGUAGE_NAMES

PROMPT = "Generate a {language} question for this passage: {title} {passage}"


def make_prompt(lang: str, title: str, text: str) -> str:
    if lang not in LANGUAGE_NAMES:
        raise ValueError(f"unknown language code {lang!r}; expected one of {sorted(LANGUAGE_NAMES)}")
    return " ".join(PROMPT.format(language=LANGUAGE_NAMES[lang], title=title, passage=text).split())


@dataclass
class SamplingConfig:
    """What is generated, identical for every backend.  ``max_length`` counts the decoder start
    token as HF ``generate`` does for encoder-decoders (so at most ``max_length - 1`` new tokens);
    ``min_new_tokens`` > 0 forces a minimum (benchmarks force equal lengths); ``greedy`` turns
    sampling off (to check that two backends are the same model)."""

    n_per_lang: int = 5
    top_k: int = 10
    max_length: int = 32
    max_input_length: int = 256  # DSI-QG's input length for generation
    batch_size: int = 16
    seed: int = 42
    device: str = "cpu"
    temperature: float = 1.0
    min_new_tokens: int = 0
    greedy: bool = False
    dtype: str = "float32"  # HF backend: model weights (float16 / bfloat16 on GPUs); ct2 has compute_type

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.max_length < 2:
            raise ValueError(f"max_length must be >= 2 (the decoder start token + 1), got {self.max_length}")
        if self.top_k < 1 or self.temperature <= 0 or self.batch_size < 1 or self.n_per_lang < 1:
            raise ValueError("top_k, batch_size and n_per_lang must be >= 1 and temperature > 0")
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens {self.min_new_tokens} > max new tokens {self.max_new_tokens}")

    def recorded(self) -> dict:
        """The settings that change what is written (where it runs does not)."""
        values = dataclasses.asdict(self)
        values.pop("device")
        return values

    @property
    def max_new_tokens(self) -> int:
        return self.max_length - 1


class BatchedGenerator:
    """``(passages, lang) -> n questions each``, batch by batch; each batch is seeded by (its first
    docid, lang, seed), so a resumed or sharded run reproduces exactly what an uninterrupted run
    writes.  Backends implement ``_generate(prompts, seed) -> n texts per prompt``."""

    config: SamplingConfig

    def __call__(self, passages: list[Passage], lang: str) -> list[list[str]]:
        cfg = self.config
        out: list[list[str]] = []
        for start in range(0, len(passages), cfg.batch_size):
            batch = passages[start:start + cfg.batch_size]
            seed = zlib.crc32(f"{batch[0].docid}\t{lang}\t{cfg.seed}".encode())
            out += self._generate([make_prompt(lang, p.title, p.text) for p in batch], seed)
        return out

    def _generate(self, prompts: list[str], seed: int) -> list[list[str]]:
        raise NotImplementedError

    def _split(self, texts: list[str], n_prompts: int) -> list[list[str]]:
        n = self.config.n_per_lang
        return [[t.strip() for t in texts[i * n:(i + 1) * n]] for i in range(n_prompts)]
