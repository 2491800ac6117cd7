"""The xQG fusion rule, as in the authors' ``fuse_embeds.py``:

    e_p' = (1 - alpha) * e_p + alpha * SUM_{languages, queries} e_q

``aggregation="mean"`` replaces the sum by the mean of the passage's query vectors.
A passage without generated queries keeps ``e_p`` unchanged, and ``alpha == 0`` returns the
passage vectors untouched (bit-for-bit the plain index).
"""
from __future__ import annotations

import numpy as np

AGGREGATIONS = ("sum", "mean")


def fuse(passages: np.ndarray, queries: np.ndarray, owner: np.ndarray, alpha: float,
         aggregation: str = "sum") -> np.ndarray:
    """Fused vectors for ``passages`` (N, d) given query vectors (M, d) and ``owner[m]``, the
    row in ``passages`` that query ``m`` was generated for."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if passages.ndim != 2 or queries.ndim != 2:
        raise ValueError("passages and queries must be 2-D arrays")
    if len(queries) and queries.shape[1] != passages.shape[1]:
        raise ValueError(f"dimension mismatch: passages have {passages.shape[1]} dims, queries {queries.shape[1]}")
    if len(owner) != len(queries):
        raise ValueError("owner must give one passage row per query vector")
    if alpha == 0 or len(queries) == 0:
        return passages.copy()
    total = np.zeros_like(passages, dtype=np.float32)
    np.add.at(total, owner, queries.astype(np.float32, copy=False))
    counts = np.bincount(owner, minlength=len(passages))
    if aggregation == "mean":
        total[counts > 0] /= counts[counts > 0, None]
    fused = passages.astype(np.float32, copy=True)
    has = counts > 0
    fused[has] = (1.0 - alpha) * passages[has] + alpha * total[has]
    return fused
