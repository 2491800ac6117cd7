"""Retrieval measures over id matrices (one row of retrieved corpus rows per query): recall
against exact search (the ANN-benchmarks measure) and MRR@100 of a gold row."""
from __future__ import annotations

from typing import Optional

import numpy as np


def recall(ids: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean share of exact search's top ``k`` that ``ids``' top ``k`` holds."""
    hits = [len(np.intersect1d(a[:k], b[:k], assume_unique=False)) for a, b in zip(ids, exact)]
    return float(np.mean(hits) / k)


def mrr_at_100(ids: np.ndarray, gold: np.ndarray, langs: Optional[np.ndarray]) -> float:
    """Reciprocal rank of each query's ``gold`` row in its ``ids`` (0 when absent), averaged per
    language and then over languages when ``langs`` is given."""
    hit = ids == gold[:, None]
    rank = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    rr = np.where(rank > 0, 1.0 / np.maximum(rank, 1), 0.0)
    if langs is None:
        return float(rr.mean())
    return float(np.mean([rr[langs == lang].mean() for lang in np.unique(langs)]))
