"""The generated-query format published with xQG (HF dataset ielab/xor-tydi-xqg-augmented):
one JSON object per passage, ``{"docid", "text", "generated_queries": {lang: [q1, ..., qn]}}``."""
from __future__ import annotations

import os
from typing import Iterable

from xqg_tevatron.corpus import CorpusFormatError, iter_passages


def load_generated_queries(paths: Iterable[str | os.PathLike]
                           ) -> tuple[dict[str, dict[str, list[str]]], dict[str, str]]:
    """``docid -> generated_queries`` from separate generated-query files, and ``docid -> file:line``
    of each record (kept in memory: only the query strings; for corpora of millions of passages
    feed the combined file as the corpus)."""
    paths = list(paths)
    table: dict[str, dict[str, list[str]]] = {}
    where: dict[str, str] = {}
    for p in iter_passages(paths):
        if p.docid in table:
            raise CorpusFormatError(f"{p.where}: duplicated docid {p.docid!r} in generated queries (first at "
                                    f"{where[p.docid]})")
        if p.generated_queries is None:
            raise CorpusFormatError(f"{p.where}: record {p.docid!r} has no 'generated_queries'")
        table[p.docid] = p.generated_queries
        where[p.docid] = p.where
    if not table:
        raise CorpusFormatError(f"no generated-query records in {[str(path) for path in paths]} (empty files)")
    return table, where
