"""The one way to build a seq2seq query generator, shared by the generation CLI
(``generate.seq2seq generate``) and the one-command job: the backend is imported only when
chosen (CTranslate2 and transformers are heavy)."""
from __future__ import annotations

from typing import Optional

from xqg_tevatron.generate.backend import BACKENDS, BatchedGenerator, SamplingConfig


def make_generator(model_dir: str, sampling: SamplingConfig, backend: str = "hf", compute_type: str = "default",
                   ct2_dir: Optional[str] = None, threads: int = 0) -> BatchedGenerator:
    """The generator of ``backend``: ``hf`` (transformers ``generate``, the reference) or ``ct2``
    (CTranslate2, converted once and cached beside the model)."""
    if backend == "ct2":
        from xqg_tevatron.generate.ct2_backend import Ct2QueryGenerator

        return Ct2QueryGenerator(model_dir, sampling, compute_type, ct2_dir, threads)
    if backend == "hf":
        from xqg_tevatron.generate.hf_backend import Seq2SeqQueryGenerator

        return Seq2SeqQueryGenerator(model_dir, sampling)
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
