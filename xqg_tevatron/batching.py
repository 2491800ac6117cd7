"""The one batching core of passage and query encoding: token ids in, vectors in input order out.

Why: encoding on CPU is dominated by padding.  Sorting texts by token length and padding each
batch only to its longest member gives the same vectors (attention masks hide padding) at a
fraction of the cost.  The index side (:class:`xqg_tevatron.indexing.dense_encoder.DenseEncoder`:
passages and generated queries) and the search side
(:class:`xqg_tevatron.search.query_encoder.XqgQueryEncoder`: torch or ONNX Runtime) differ only
in the function that turns one padded batch into vectors, so they share this loop.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

# what encoders and generators may run in (float16 / bfloat16 on GPUs; vectors return as float32)
DTYPES = ("float32", "float16", "bfloat16")

def tokenizer_limit(tokenizer) -> int:
    """The token limit search-time questions are cut at, as Pyserini cuts them: the tokenizer's
    ``model_max_length``, or 512 when it is unset (transformers' huge sentinel)."""
    limit = tokenizer.model_max_length
    return limit if limit and limit < 1_000_000 else 512


RunBatch = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (input_ids, attention_mask) int64 -> (b, dim) float32


def encode_token_ids(ids: Sequence[Sequence[int]], dim: int, batch_size: int, pad_id: int, run: RunBatch,
                     desc: str = "", show_progress: bool = False) -> np.ndarray:
    """Vectors of ``ids`` (one token-id list per text), ``(len(ids), dim)`` float32 in input order:
    longest first, ``batch_size`` at a time, each batch padded to its own longest member."""
    out = np.empty((len(ids), dim), dtype=np.float32)
    if len(ids) == 0:
        return out
    order = np.argsort([-len(x) for x in ids], kind="stable")
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", disable=not show_progress,
                      leave=False, delay=5):
        rows = order[start:start + batch_size]
        width = len(ids[rows[0]])
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            input_ids[r, :len(ids[i])] = ids[i]
            mask[r, :len(ids[i])] = 1
        out[rows] = run(input_ids, mask)
    return out
