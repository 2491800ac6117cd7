"""Per-unit costs through the plugin's own classes (``DenseEncoder``, ``Seq2SeqQueryGenerator``,
``Ct2QueryGenerator``): seconds per passage (256 tokens), per query (32 tokens) and per generated
query (32 new tokens forced, 5 per prompt, prompts cut at 256 tokens as DSI-QG does).

Shared by ``benchmarks.bench_scale`` (CPU, the projection) and ``benchmarks.bench_gpu`` (CUDA
sweeps), so the two tables measure the same thing.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

from benchmarks.common.shaped_models import long_texts

P_LEN, Q_LEN, NEW_TOKENS, PROMPT_LEN, N_PER_PROMPT = 256, 32, 32, 256, 5


@dataclass
class Rate:
    what: str  # "passage" | "query" | "generated query"
    model: str
    device: str
    precision: str  # float32 / float16 / bfloat16 / ct2 compute type
    backend: str  # "hf" | "ct2"
    batch: int
    units: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.units / self.seconds

    def row(self) -> dict:
        return {**asdict(self), "per_s": self.per_s, "s_per_unit": self.seconds / self.units}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def encoder_rates(model_dir: str, name: str, device: str, dtype: str, words: Sequence[str],
                  passage_batches: Sequence[int], query_batches: Sequence[int], batches_timed: int = 3) -> list[Rate]:
    """Passages at ``P_LEN`` tokens and queries at ``Q_LEN``, each batch size timed over
    ``batches_timed`` full batches after one warm-up batch."""
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

    enc = DenseEncoder(model_dir, config=EncodeConfig(device=device, dtype=dtype, show_progress=False,
                                                      p_max_len=P_LEN, q_max_len=Q_LEN))
    out = []
    for what, batches, length, is_query in (("passage", passage_batches, P_LEN + 20, False),
                                            ("query", query_batches, Q_LEN + 8, True)):
        for batch in batches:
            enc.config.batch_size = batch
            texts = long_texts(words, batch * (batches_timed + 1), length, seed=batch)
            enc.encode(texts[:batch], is_query=is_query)  # warm-up (kernels, allocator)
            _sync(device)
            started = time.perf_counter()
            enc.encode(texts[batch:], is_query=is_query)
            _sync(device)
            out.append(Rate(what, name, device, dtype, "hf", batch, len(texts) - batch, time.perf_counter() - started))
    del enc
    _free(device)
    return out


def generator_rates(model_dir: str, name: str, device: str, words: Sequence[str], prompt_batches: Sequence[int],
                    backend: str = "hf", precision: str = "float32", batches_timed: int = 2,
                    threads: int = 0) -> list[Rate]:
    """Generated queries per second: ``N_PER_PROMPT`` samples of exactly ``NEW_TOKENS`` tokens per
    prompt (``min_new_tokens`` forces the length, so random weights cost what trained ones do)."""
    from xqg_tevatron.corpus import Passage
    from xqg_tevatron.generate.backend import SamplingConfig
    from xqg_tevatron.generate.hf_backend import Seq2SeqQueryGenerator

    config = SamplingConfig(n_per_lang=N_PER_PROMPT, max_length=NEW_TOKENS + 1, min_new_tokens=NEW_TOKENS,
                            max_input_length=PROMPT_LEN, device=device, batch_size=max(prompt_batches),
                            dtype=precision if backend == "hf" else "float32")
    if backend == "ct2":
        from xqg_tevatron.generate.ct2_backend import Ct2QueryGenerator

        gen = Ct2QueryGenerator(model_dir, config, precision, None, threads)
    else:
        gen = Seq2SeqQueryGenerator(model_dir, config)
    out = []
    for batch in prompt_batches:
        gen.config.batch_size = batch
        texts = long_texts(words, batch * (batches_timed + 1), PROMPT_LEN + 20, seed=batch)
        passages = [Passage(f"p{i}", t) for i, t in enumerate(texts)]
        gen(passages[:batch], "ja")
        _sync(device)
        started = time.perf_counter()
        got = gen(passages[batch:], "ja")
        _sync(device)
        seconds = time.perf_counter() - started
        n = sum(len(qs) for qs in got)
        out.append(Rate("generated query", name, device, precision, backend, batch, n, seconds))
    del gen
    _free(device)
    return out


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def print_rates(rates: Sequence[Rate], file=None) -> None:
    import sys

    file = file or sys.stdout
    head = f"{'unit':<16}{'model':<12}{'device':<7}{'precision':<10}{'backend':<8}{'batch':>6}{'units':>7}{'per s':>10}{'s / unit':>11}"
    print(head + "\n" + "-" * len(head), file=file)
    for r in rates:
        print(f"{r.what:<16}{r.model:<12}{r.device:<7}{r.precision:<10}{r.backend:<8}{r.batch:>6}{r.units:>7}"
              f"{r.per_s:>10.1f}{r.seconds / r.units:>11.5f}", file=file, flush=True)
