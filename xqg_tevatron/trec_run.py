"""TREC run files, the one format that passes from search to evaluation
(``qid Q0 docid rank score tag``, as Pyserini's ``search.faiss`` writes them)."""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Sequence

from xqg_tevatron.runtime.atomic_io import atomic_write_text
from xqg_tevatron.corpus import iter_fields, number_field

Ranking = Mapping[str, Sequence[tuple[str, float]]]  # qid -> [(docid, score)] best first


def format_trec_run(ranking: Ranking, tag: str) -> str:
    return "".join(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n"
                   for qid, hits in ranking.items() for rank, (docid, score) in enumerate(hits, start=1))


def write_trec_run(ranking: Ranking, path: str | os.PathLike, tag: str) -> Path:
    """Write ``ranking`` atomically (a killed run never leaves half a run file behind)."""
    if any(c.isspace() for c in tag) or not tag:
        raise ValueError(f"a TREC run tag is one non-empty word, got {tag!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, format_trec_run(ranking, tag))
    return path


def read_trec_run(path: str | os.PathLike) -> "OrderedDict[str, list[str]]":
    """``qid -> docids`` by rank (ties broken by score, then docid)."""
    ranked: dict[str, list[tuple[int, float, str]]] = OrderedDict()
    for lineno, parts in iter_fields(path, 6, "qid Q0 docid rank score tag"):
        ranked.setdefault(parts[0], []).append((number_field(int, parts[3], path, lineno, "rank"),
                                                -number_field(float, parts[4], path, lineno, "score"), parts[2]))
    return OrderedDict((q, [d for *_, d in sorted(v)]) for q, v in ranked.items())
