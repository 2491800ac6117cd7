"""Per-query latency of dense retrieval through Pyserini: query encoding + FAISS search.

Systems compared (same queries, same encoder, one query at a time, like a live service):
  * ``plain``  plain index;
  * ``xqg``    xQG-fused index: augmentation was paid at index time, so this should cost
               what ``plain`` costs;
  * ``multi``  multi-vector index (passage + each generated query as rows): a bigger index,
               searched deeper and max-aggregated per docid;
  * ``translate``  query-time baseline: dictionary-translate the query to English, then
               search the plain index (pays at query time).
Reports p50/p95/mean per-query milliseconds, queries/s, index size and build time.

    python -m xqg_tevatron.latency --encoder MODEL --topics topics.tsv \\
        --system plain=indexes/plain --system xqg=indexes/xqg --system multi:multi=indexes/multi \\
        --system translate:translate=indexes/plain [--queries 200 --k 100 --threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from xqg_tevatron.chunking import atomic_write_text, dumps_json
from xqg_tevatron.index import read_manifest
from xqg_tevatron.xqg.pipeline import MULTI_DELIMITER

KINDS = ("dense", "multi", "translate")


@dataclass
class LatencyResult:
    system: str
    kind: str
    queries: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    qps: float
    index_mb: float
    rows: int
    build_s: Optional[float]


def load_searcher(index_dir: str, encoder_dir: str, threads: int = 1):
    """Pyserini's FaissSearcher with its AutoQueryEncoder configured from our model settings."""
    from xqg_tevatron.pyserini import bootstrap

    bootstrap()
    import faiss
    from pyserini.encode import AutoQueryEncoder
    from pyserini.search.faiss import FaissSearcher

    from xqg_tevatron.tevatron_compat.modeling import EncoderSettings

    faiss.omp_set_num_threads(threads)
    s = EncoderSettings.load(encoder_dir)
    prefix = s.query_prefix.strip() or None  # pyserini adds the space itself
    encoder = AutoQueryEncoder(encoder_dir, pooling=s.pooling, l2_norm=s.normalize, prefix=prefix)
    return FaissSearcher(index_dir, encoder)


class DenseSystem:
    """Encode + search; ``kind`` adds multi-vector max-aggregation or query translation."""

    def __init__(self, searcher, kind: str = "dense", translator=None, multi_depth: int = 1):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.searcher, self.kind, self.translator = searcher, kind, translator
        self.multi_depth = multi_depth

    def search(self, query: str, k: int):
        if self.kind == "translate":
            query = self.translator.translate(query)
        return self._collapse(self.searcher.search(query, k=k * self.multi_depth if self.kind == "multi" else k), k)

    def search_many(self, qids: Sequence[str], texts: Sequence[str], k: int,
                    encode: Optional[Callable[[list[str]], np.ndarray]] = None, threads: int = 1) -> dict:
        """``qid -> [(docid, score)]`` for many queries at once.  ``encode`` (texts -> vectors, a
        batch encoder of the same model) replaces Pyserini's one-query-at-a-time encoding."""
        if self.kind == "translate":
            texts = [self.translator.translate(t) for t in texts]
        queries = encode(list(texts)) if encode is not None else list(texts)
        depth = k * self.multi_depth if self.kind == "multi" else k
        found = self.searcher.batch_search(queries, list(qids), k=depth, threads=threads)
        return {q: self._collapse(found[q], k) for q in qids}

    def _collapse(self, hits, k: int) -> list[tuple[str, float]]:
        if self.kind != "multi":
            return [(h.docid, float(h.score)) for h in hits]
        seen: dict[str, float] = {}
        for h in hits:  # ranked by score: the first row of a docid ("docid#k") is its max
            docid = h.docid.rsplit(MULTI_DELIMITER, 1)[0]
            if docid not in seen:
                seen[docid] = float(h.score)
                if len(seen) == k:
                    break
        return list(seen.items())


def multi_depth(index_dir: str) -> int:
    """How much deeper to search a multi-vector index: rows per passage, rounded up."""
    m = read_manifest(index_dir)
    return max(1, int(np.ceil(m.get("rows", 1) / max(m.get("passages", 1), 1))))


def time_queries(search: Callable[[str], object], queries: Sequence[str], warmup: int = 3) -> list[float]:
    for q in queries[:warmup]:
        search(q)
    out = []
    for q in queries:
        t0 = time.perf_counter()
        search(q)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def summarise(system: str, kind: str, index_dir: str, ms: list[float]) -> LatencyResult:
    m = read_manifest(index_dir)
    size = sum(p.stat().st_size for p in Path(index_dir).iterdir() if p.is_file())
    build = m.get("build_seconds")
    if build is not None and m.get("encode_seconds") is not None:
        build = m["encode_seconds"] + build
    return LatencyResult(system, kind, len(ms), round(float(np.percentile(ms, 50)), 3),
                         round(float(np.percentile(ms, 95)), 3), round(statistics.fmean(ms), 3),
                         round(1000.0 / statistics.fmean(ms), 1), round(size / 2 ** 20, 3), int(m.get("rows", 0)),
                         None if build is None else round(build, 2))


def format_results(results: Sequence[LatencyResult]) -> str:
    head = f"{'system':<22}{'kind':<10}{'p50 ms':>9}{'p95 ms':>9}{'q/s':>8}{'index MB':>10}{'rows':>8}{'build s':>9}"
    lines = [head, "-" * len(head)]
    for r in results:
        build = "-" if r.build_s is None else f"{r.build_s:.1f}"
        lines.append(f"{r.system:<22}{r.kind:<10}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}{r.qps:>8.1f}{r.index_mb:>10.2f}"
                     f"{r.rows:>8d}{build:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.corpus import read_topics

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--topics", required=True)
    parser.add_argument("--system", action="append", required=True,
                        help="NAME=INDEX_DIR or NAME:KIND=INDEX_DIR with KIND in dense|multi|translate")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    queries = [t for _, t in read_topics(args.topics)][: args.queries]
    results = []
    translator = None
    for spec in args.system:
        name, sep, index_dir = spec.partition("=")
        if not sep:
            parser.error(f"--system takes NAME[:KIND]=INDEX_DIR, got {spec!r}")
        name, _, kind = name.partition(":")
        kind = kind or "dense"
        if kind == "translate" and translator is None:
            from xqg_tevatron.translate import DictionaryTranslator

            translator = DictionaryTranslator()
        system = DenseSystem(load_searcher(index_dir, args.encoder, args.threads), kind, translator,
                             multi_depth(index_dir) if kind == "multi" else 1)
        results.append(summarise(name, kind, index_dir, time_queries(lambda q: system.search(q, args.k), queries)))
    print(format_results(results))
    if args.output:
        atomic_write_text(Path(args.output), dumps_json([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
