"""What a unit of encoding stores, so that any fusion is a re-fuse, with no model loaded.

Per passage, a unit stores (float32, one unit = ``--unit_size`` passages in corpus order):

* ``e_p``: the passage vector (``.npy``, ``(n, d)``);
* for each stored prefix length ``n_i`` (``component_n_per_lang``; 0 = all queries) and each
  language ``l`` of the unit: the **sum** of the vectors of the passage's first ``n_i`` generated
  queries in ``l`` (``.qsum.npy``, ``(n, P, L, d)``) and **how many** were summed
  (``.qcount.npy``, ``(n, P, L)``, int32);
* ``--vector_mode multi`` only: every selected query vector and its passage row
  (``.queries.npy``, ``.qowner.npy``), which multi-vector rows need.

Cost per passage: ``4 d (1 + P L) + 4 P L`` bytes; at d = 384, 7 languages and one prefix that
is 12.3 KB (224 GB for XOR-TyDi's 18.2M passages), at d = 768 24.6 KB.  ``--store_dtype float16``
halves the vector part (``2 d (1 + P L) + 4 P L``: 6.2 KB, 112 GB): sums are taken in float32 and
rounded once when stored, and every read widens them back to float32 before fusing.  A new alpha,
aggregation, language subset (of the stored ones) or stored prefix length is then
:func:`fuse_unit` over the stored files: the fusion rule itself is ``fusion.combine``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from xqg_tevatron.xqg.fusion import Fusion, combine

FUSED_FILES = (".npy", ".ids", ".qsum.npy", ".qcount.npy")
STORE_DTYPES = ("float32", "float16")  # what the vector components are kept in
MULTI_FILES = FUSED_FILES + (".queries.npy", ".qowner.npy")


def unit_suffixes(vector_mode: str) -> tuple[str, ...]:
    """The files a unit of an encode store holds for ``vector_mode``."""
    return MULTI_FILES if vector_mode == "multi" else FUSED_FILES


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_load(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def vectors_load(data: bytes) -> np.ndarray:
    """A stored vector component as float32, whatever it was stored in (``STORE_DTYPES``)."""
    return npy_load(data).astype(np.float32, copy=False)


@dataclass
class QueryLayout:
    """The generated queries of a unit, flattened: text, owning passage row, language index and
    position within that language (blanks dropped), so sums can be built per prefix."""

    texts: list[str]
    owner: np.ndarray
    lang: np.ndarray
    position: np.ndarray
    languages: list[str]


def layout_queries(generated: Sequence[Optional[dict[str, list[str]]]], languages: Optional[Sequence[str]],
                   longest: int) -> QueryLayout:
    """Queries of each passage in ``languages`` (default: every language the unit has, sorted),
    the first ``longest`` of each (0 = all)."""
    langs = list(languages) if languages else sorted({l for g in generated if g for l in g})
    texts, owner, lang, position = [], [], [], []
    for row, g in enumerate(generated):
        for j, l in enumerate(langs):
            qs = [q for q in (g or {}).get(l, []) if q and q.strip()]
            for k, q in enumerate(qs[:longest] if longest > 0 else qs):
                texts.append(q)
                owner.append(row)
                lang.append(j)
                position.append(k)
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return QueryLayout(texts, as_int(owner), as_int(lang), as_int(position), langs)


QUERY_FILTERS = ("none", "similarity")


def rank_by_similarity(layout: QueryLayout, q_vecs: np.ndarray, p_vecs: np.ndarray) -> QueryLayout:
    """The same queries with each (passage, language)'s positions renumbered by similarity to
    their passage, most similar first (ties keep generation order), so a prefix of N keeps the
    N most similar.  This is doc2query--'s filter (Gospodinov et al., ECIR 2023: drop the
    generated queries least relevant to their passage) under the encoder itself."""
    if not len(layout.texts):
        return layout
    sim = np.einsum("ij,ij->i", q_vecs.astype(np.float32, copy=False), p_vecs[layout.owner].astype(np.float32, copy=False))
    order = np.lexsort((layout.position, -sim, layout.lang, layout.owner))
    group = layout.owner[order] * max(len(layout.languages), 1) + layout.lang[order]
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    position = np.empty_like(layout.position)
    position[order] = rank
    return QueryLayout(layout.texts, layout.owner, layout.lang, position, layout.languages)


def query_sums(layout: QueryLayout, vectors: np.ndarray, n_passages: int, prefixes: Sequence[int],
               dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(qsum (n, P, L, d), qcount (n, P, L))``: per prefix length, the sums of each passage's
    first queries per language, added in query order (deterministic)."""
    qsum = np.zeros((n_passages, len(prefixes), len(layout.languages), dim), dtype=np.float32)
    qcount = np.zeros((n_passages, len(prefixes), len(layout.languages)), dtype=np.int32)
    for p, prefix in enumerate(prefixes):
        keep = np.ones(len(layout.texts), dtype=bool) if prefix == 0 else layout.position < prefix
        np.add.at(qsum[:, p], (layout.owner[keep], layout.lang[keep]), vectors[keep].astype(np.float32, copy=False))
        np.add.at(qcount[:, p], (layout.owner[keep], layout.lang[keep]), 1)
    return qsum, qcount


def selection(record: dict, fusion: Fusion, where: str) -> tuple[int, list[int]]:
    """Which stored prefix and which stored languages of a unit ``fusion`` uses."""
    prefixes, langs = list(record["prefixes"]), list(record["languages"])
    if fusion.n_per_lang not in prefixes:
        raise ValueError(f"{where}: queries per language {fusion.n_per_lang} were not stored (stored: {prefixes}, 0 = "
                         "all); encode again with --component_n_per_lang including it")
    return prefixes.index(fusion.n_per_lang), [langs.index(l) for l in (fusion.languages or langs) if l in langs]


def fused_query_counts(qcount: np.ndarray, record: dict, fusion: Fusion, where: str) -> np.ndarray:
    """How many generated queries each passage of a unit fuses under ``fusion``."""
    p, chosen = selection(record, fusion, where)
    return qcount[:, p, chosen].sum(axis=1) if chosen else np.zeros(len(qcount), dtype=np.int32)


def fuse_unit(files: dict[str, bytes], record: dict, fusion: Fusion, where: str,
              counts: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Fused vectors of a unit and each passage's number of fused queries.  ``counts``: those
    numbers when the caller has them already (the merge counts before it writes), so the unit's
    ``.qcount.npy`` is not read and verified a second time."""
    passages = vectors_load(files[".npy"])
    qsum = vectors_load(files[".qsum.npy"])
    p, chosen = selection(record, fusion, where)
    total = qsum[:, p, chosen].sum(axis=1, dtype=np.float32) if chosen else np.zeros_like(passages)
    if counts is None:
        counts = fused_query_counts(npy_load(files[".qcount.npy"]), record, fusion, where)
    return combine(passages, total, counts, fusion.alpha, fusion.aggregation), counts
