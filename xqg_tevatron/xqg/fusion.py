"""The xQG fusion rule, as in the authors' ``fuse_embeds.py``, implemented once:

    e_p' = (1 - alpha) * e_p + alpha * AGG_{languages, queries} e_q

``AGG`` is ``sum`` (the paper) or ``mean``: the mean over *this passage's own* generated
queries, whatever their number.  A passage without generated queries keeps ``e_p`` unchanged,
and ``alpha == 0`` returns the passage vectors untouched (bit-for-bit the plain index).

Every fusing path goes through ``combine``: the in-process indexer (``fuse`` / ``fuse_grouped``,
query vectors grouped per passage) and the file-streaming path (``fuse_files.py``, one aligned
query file per (language, query index), so every passage has one query per file).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

AGGREGATIONS = ("sum", "mean")


def check_aggregation(aggregation: str) -> None:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")


def combine(passages: np.ndarray, query_sum: np.ndarray, counts: np.ndarray, alpha: float,
            aggregation: str = "sum") -> np.ndarray:
    """The formula, given each passage's summed query vectors and how many were summed.
    ``query_sum`` is consumed (scaled in place): when every passage has queries, as in the
    streaming path, no chunk-sized temporary is made beyond the output."""
    check_aggregation(aggregation)
    fused = passages.astype(np.float32, copy=True)
    if alpha == 0:
        return fused
    has = counts > 0
    if aggregation == "mean":
        np.divide(query_sum, np.maximum(counts, 1)[:, None], out=query_sum, casting="unsafe")
    np.multiply(query_sum, alpha, out=query_sum, casting="unsafe")
    if has.all():
        fused *= 1.0 - alpha
        fused += query_sum
    else:
        fused[has] = (1.0 - alpha) * fused[has] + query_sum[has]
    return fused


def fuse(passages: np.ndarray, queries: np.ndarray, owner: np.ndarray, alpha: float,
         aggregation: str = "sum") -> np.ndarray:
    """Fused vectors for ``passages`` (N, d) given query vectors (M, d) and ``owner[m]``, the
    row in ``passages`` that query ``m`` was generated for."""
    check_aggregation(aggregation)
    if passages.ndim != 2 or queries.ndim != 2:
        raise ValueError("passages and queries must be 2-D arrays")
    if len(queries) and queries.shape[1] != passages.shape[1]:
        raise ValueError(f"dimension mismatch: passages have {passages.shape[1]} dims, queries {queries.shape[1]}")
    if len(owner) != len(queries):
        raise ValueError("owner must give one passage row per query vector")
    total = np.zeros(passages.shape, dtype=np.float32)
    np.add.at(total, owner, queries.astype(np.float32, copy=False))
    return combine(passages, total, np.bincount(owner, minlength=len(passages)), alpha, aggregation)


def owners(sizes: Sequence[int]) -> np.ndarray:
    """``owner`` for query vectors laid out passage by passage, ``sizes[i]`` of them for passage i."""
    return np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)


def fuse_grouped(passages: np.ndarray, queries: np.ndarray, sizes: Sequence[int], alpha: float,
                 aggregation: str = "sum") -> np.ndarray:
    """``fuse`` for query vectors laid out passage by passage (the indexer's layout)."""
    return fuse(passages, queries, owners(sizes), alpha, aggregation)
