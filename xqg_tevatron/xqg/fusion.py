"""The xQG fusion rule, as in the authors' ``fuse_embeds.py``, implemented once:

    e_p' = (1 - alpha) * e_p + alpha * AGG_{languages, queries} e_q

``AGG`` is ``sum`` (the paper) or ``mean``: the mean over *this passage's own* generated
queries, whatever their number.  A passage without generated queries keeps ``e_p`` unchanged,
and ``alpha == 0`` returns the passage vectors untouched (bit-for-bit the plain index).

Every fusing path goes through ``combine``: the merge of an encode store (``components.fuse_unit``
over stored per-language sums and counts), the in-memory recipe scorer of ``study/select_recipe``
(``fuse`` / ``fuse_grouped``, query vectors grouped per passage) and the file-streaming path
(``fuse_files.py``, one aligned query file per (language, query index)).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from xqg_tevatron.languages import check_language_codes

AGGREGATIONS = ("sum", "mean")
VECTOR_MODES = ("fused", "multi")


def check_aggregation(aggregation: str) -> None:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")


@dataclass(frozen=True)
class Fusion:
    """The fusion settings, as one validated value from the command line to :func:`combine`.

    Its defaults are the recommended recipe for normalised encoders, chosen by cross-validation
    on the XQuAD dev half (mean, alpha 0.2, 5 queries per language; docs/results.md) and used by
    every entry point; :data:`PAPER` is the paper's setting (sum, alpha 0.01, 5 per language:
    tuned for un-normalised mDPR).  ``languages`` None: every stored language; ``n_per_lang`` 0:
    every stored query.  Serialised once per work dir (the shard record) and in the manifest;
    passed in process otherwise."""

    alpha: float = 0.2
    aggregation: str = "mean"
    languages: Optional[tuple[str, ...]] = None
    n_per_lang: int = 5
    vector_mode: str = "fused"

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"--alpha must be in [0, 1], got {self.alpha}")
        check_aggregation(self.aggregation)
        if self.n_per_lang < 0:
            raise ValueError(f"--n_per_lang must be >= 0 (0 = all), got {self.n_per_lang}")
        if self.vector_mode not in VECTOR_MODES:
            raise ValueError(f"vector_mode must be one of {VECTOR_MODES}, got {self.vector_mode!r}")
        if self.languages is not None:
            object.__setattr__(self, "languages", tuple(self.languages) or None)
            check_language_codes(self.languages or [])

    @property
    def uses_queries(self) -> bool:
        return self.vector_mode == "multi" or self.alpha > 0

    def given(self, **values) -> "Fusion":
        """This fusion with the values that were given (None: not given, keep this one's)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def record(self) -> dict:
        """The JSON form, as a shard record and a manifest keep it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> "Fusion":
        return cls(**{k: record[k] for k in ("alpha", "aggregation", "languages", "n_per_lang", "vector_mode")})


PAPER = Fusion(alpha=0.01, aggregation="sum", n_per_lang=5)  # Zhuang et al. 2023, 5 x 7 languages summed
PLAIN = Fusion(alpha=0.0, aggregation="mean", n_per_lang=0)  # no generated query encoded: the plain index


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
    """``fuse`` for query vectors laid out passage by passage (as ``select_recipe`` holds them)."""
    return fuse(passages, queries, owners(sizes), alpha, aggregation)
