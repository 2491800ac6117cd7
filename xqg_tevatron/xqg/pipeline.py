"""Chunked, sharded, resumable passage encoding with xQG augmentation -> Pyserini index.

Work is split into chunks of ``chunk_size`` passages in corpus order; chunk ``c`` belongs to
shard ``c % num_shards``.  Each finished chunk is saved atomically in the work directory as
``chunk-XXXXXX.npy`` (vectors) + ``.ids`` (docids) + ``.json`` (counts), so a killed run
resumes by skipping finished chunks, and shards (separate processes, machines or torchrun
ranks) never touch each other's files.  The merge step streams the chunks in order into one
FAISS index, so the result is independent of the number of shards.  Memory while encoding
is bounded by the chunk size; the merge holds only what FAISS itself stores.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from tqdm.auto import tqdm

from xqg_tevatron.chunking import atomic_write_text, iter_chunks
from xqg_tevatron.corpus import CorpusFormatError, Passage, corpus_files, iter_passages
from xqg_tevatron.index import IndexConfig, build_index, write_index_dir
from xqg_tevatron.xqg.fusion import AGGREGATIONS, fuse_grouped
from xqg_tevatron.workdir import claim_work_dir, fingerprint_inputs
from xqg_tevatron.languages import check_language_codes
from xqg_tevatron.xqg.generated import load_generated_queries, select_queries

logger = logging.getLogger(__name__)
VECTOR_MODES = ("fused", "multi")
GENERATED_QUERY_BRANCHES = ("query", "passage")
MULTI_DELIMITER = "#"  # Pyserini's --max-passage-delimiter default


@dataclass
class XqgConfig:
    """What goes into each passage vector."""

    alpha: float = 0.0
    aggregation: str = "sum"
    languages: Optional[list[str]] = None
    n_per_lang: int = 0
    vector_mode: str = "fused"
    separator: str = " "
    # Which encoder branch embeds generated queries.  "query" (default): the query branch and
    # prefix, as the questions they stand in for are encoded at search time.  "passage": what
    # the authors' scripts do (Tevatron encode without --encode_is_qry, at q_max_len).
    generated_query_branch: str = "query"
    # True when the user asked for augmentation (gave --alpha / --languages / query files): then a
    # corpus with no usable generated queries is refused instead of silently indexed plain
    require_queries: bool = False

    def __post_init__(self):
        if self.generated_query_branch not in GENERATED_QUERY_BRANCHES:
            raise ValueError(f"generated_query_branch must be one of {GENERATED_QUERY_BRANCHES}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}")
        if self.vector_mode not in VECTOR_MODES:
            raise ValueError(f"vector_mode must be one of {VECTOR_MODES}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.n_per_lang < 0:
            raise ValueError(f"n_per_lang must be >= 0 (0 = all), got {self.n_per_lang}")
        check_language_codes(self.languages or [])

    @property
    def uses_queries(self) -> bool:
        return self.vector_mode == "multi" or self.alpha > 0


@dataclass
class RunConfig:
    chunk_size: int = 10_000
    shard_id: int = 0
    num_shards: int = 1
    show_progress: bool = True

    def __post_init__(self):
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if not 0 <= self.shard_id < self.num_shards:
            raise ValueError(f"shard_id must be in [0, {self.num_shards}), got {self.shard_id}")


@dataclass
class ChunkResult:
    vectors: np.ndarray
    docids: list[str]
    stats: dict = field(default_factory=dict)


class XqgIndexer:
    """Encode a corpus chunk by chunk (this shard's chunks), then merge into a Pyserini index."""

    def __init__(self, encoder, xqg: XqgConfig, run: RunConfig, work_dir: str | os.PathLike,
                 generated_queries: Optional[list[str]] = None):
        self.encoder = encoder
        self.xqg = xqg
        self.run = run
        self.work_dir = Path(work_dir)
        self.generated_paths = list(generated_queries or [])
        self.external = load_generated_queries(generated_queries) if generated_queries else None

    # ---------------------------------------------------------------- settings
    def settings(self) -> dict:
        return {
            **self.encoder.manifest_settings(),
            "alpha": self.xqg.alpha,
            "aggregation": self.xqg.aggregation,
            "languages": self.xqg.languages,
            "n_per_lang": self.xqg.n_per_lang,
            "vector_mode": self.xqg.vector_mode,
            "generated_query_branch": self.xqg.generated_query_branch,
            "chunk_size": self.run.chunk_size,
            "num_shards": self.run.num_shards,
        }

    # ---------------------------------------------------------------- encoding
    def _generated(self, p: Passage) -> Optional[dict[str, list[str]]]:
        """The passage's generated queries: from ``--generated_queries`` files, else its record."""
        return self.external.get(p.docid) if self.external is not None else p.generated_queries

    def _queries_for(self, p: Passage) -> list[str]:
        if not self.xqg.uses_queries:
            return []
        return select_queries(self._generated(p), self.xqg.languages, self.xqg.n_per_lang)

    def _has_generated(self, p: Passage) -> bool:
        gq = self._generated(p)
        return bool(gq) and any(gq.values())

    def encode_chunk(self, chunk: list[Passage]) -> ChunkResult:
        started = time.perf_counter()
        res = self._encode_chunk(chunk)
        res.stats["encode_seconds"] = round(time.perf_counter() - started, 4)
        return res

    def _encode_chunk(self, chunk: list[Passage]) -> ChunkResult:
        texts = [p.full_text(self.xqg.separator) for p in chunk]
        p_vecs = self.encoder.encode(texts, is_query=False, desc="passages")
        per_passage = [self._queries_for(p) for p in chunk]
        flat = [q for qs in per_passage for q in qs]
        q_vecs = self.encoder.encode(flat, is_query=self.xqg.generated_query_branch == "query",
                                     desc="generated queries", max_len=self.encoder.config.q_max_len) if flat else \
            np.zeros((0, p_vecs.shape[1]), dtype=np.float32)
        n_aug = int(sum(1 for qs in per_passage if qs))
        sizes = [len(qs) for qs in per_passage]
        with_any = sum(1 for p in chunk if self._has_generated(p))
        stats = {"passages": len(chunk), "augmented": n_aug, "plain": len(chunk) - n_aug, "generated_queries": len(flat),
                 "with_generated_queries": with_any,
                 "queries_per_passage_min": min(sizes), "queries_per_passage_max": max(sizes)}
        if self.xqg.vector_mode == "multi":
            return self._multi_rows(chunk, p_vecs, q_vecs, sizes, stats)
        vectors = fuse_grouped(p_vecs, q_vecs, sizes, self.xqg.alpha, self.xqg.aggregation)
        stats["rows"] = len(chunk)
        return ChunkResult(vectors, [p.docid for p in chunk], stats)

    @staticmethod
    def _multi_rows(chunk: list[Passage], p_vecs: np.ndarray, q_vecs: np.ndarray, sizes: list[int],
                    stats: dict) -> ChunkResult:
        """Pyserini's multi-passage convention: rows ``docid#0`` (the passage), ``docid#1``.. (its
        queries), searched with max score per docid.  Laid out with index arithmetic, not a scan
        of every query per passage."""
        for p in chunk:
            if MULTI_DELIMITER in p.docid:
                raise CorpusFormatError(f"{p.where}: docid {p.docid!r} contains {MULTI_DELIMITER!r}, which "
                                        "--vector_mode multi uses to number a passage's rows")
        rows_per = np.asarray(sizes, dtype=np.int64) + 1
        passage_rows = np.concatenate([[0], np.cumsum(rows_per)[:-1]]).astype(np.int64)
        vectors = np.empty((int(rows_per.sum()), p_vecs.shape[1]), dtype=np.float32)
        is_query_row = np.ones(len(vectors), dtype=bool)
        is_query_row[passage_rows] = False
        vectors[passage_rows] = p_vecs
        vectors[is_query_row] = q_vecs  # queries are already in passage order
        ids = [f"{p.docid}{MULTI_DELIMITER}{k}" for p, n in zip(chunk, sizes) for k in range(n + 1)]
        stats["rows"] = len(ids)
        return ChunkResult(vectors, ids, stats)

    def _chunk_paths(self, c: int) -> tuple[Path, Path, Path]:
        stem = self.work_dir / f"chunk-{c:06d}"
        return stem.with_suffix(".npy"), stem.with_suffix(".ids"), stem.with_suffix(".json")

    def chunk_done(self, c: int) -> bool:
        return self._chunk_paths(c)[2].exists()

    def _save_chunk(self, c: int, res: ChunkResult) -> None:
        npy, ids, meta = self._chunk_paths(c)
        tmp = npy.with_suffix(".npy.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, res.vectors, allow_pickle=False)
        os.replace(tmp, npy)
        atomic_write_text(ids, "".join(f"{d}\n" for d in res.docids))
        atomic_write_text(meta, json.dumps(res.stats))  # written last: marks the chunk complete

    def encode_shard(self, corpus: list[str], limit_chunks: Optional[int] = None) -> dict:
        """Encode this shard's unfinished chunks; returns counts. ``limit_chunks`` stops early
        (used to simulate a crash in tests)."""
        settings = dict(self.settings(), inputs=fingerprint_inputs(corpus_files(corpus)),
                        generated_query_files=fingerprint_inputs(self.generated_paths))
        claim_work_dir(self.work_dir, settings, "corpus or settings")
        stream = checked_docids(iter_passages(corpus), lambda: iter_passages(corpus))
        seen_external: set[str] = set()
        n_chunks, done_now, skipped, warned = 0, 0, 0, False
        with tqdm(desc=f"shard {self.run.shard_id}/{self.run.num_shards} chunks", unit="chunk",
                  disable=not self.run.show_progress) as bar:
            for c, chunk in enumerate(iter_chunks(stream, self.run.chunk_size)):
                n_chunks = c + 1
                if self.external is not None:
                    seen_external.update(p.docid for p in chunk)
                if c % self.run.num_shards != self.run.shard_id:
                    continue
                if self.chunk_done(c):
                    skipped += 1
                    continue
                if limit_chunks is not None and done_now >= limit_chunks:
                    return {"chunks": n_chunks, "encoded": done_now, "skipped": skipped, "complete": False}
                res = self.encode_chunk(chunk)
                self._save_chunk(c, res)
                if not warned:  # say it at the first chunk, not only after hours of encoding
                    for w in varying_sum_warning(settings, queries_per_passage([res.stats], res.stats)):
                        logger.warning("%s (seen in chunk %d)", w, c)
                        warned = True
                    if self.xqg.uses_queries and res.stats["augmented"] < res.stats["passages"]:
                        logger.warning("chunk %d: %d of %d passages have no generated queries in %s and stay plain", c,
                                       res.stats["plain"], res.stats["passages"], self.xqg.languages or "any language")
                        warned = True
                done_now += 1
                bar.update(1)
        if n_chunks == 0:
            raise CorpusFormatError(f"empty corpus: no passages in {corpus}")
        if self.external is not None:
            unknown = set(self.external) - seen_external
            if unknown:
                raise CorpusFormatError(f"{len(unknown)} docid(s) in the generated queries are missing from the corpus, "
                                        f"e.g. {sorted(unknown)[:5]}")
        atomic_write_text(self.work_dir / f"shard-{self.run.shard_id}-of-{self.run.num_shards}.done",
                           json.dumps({"chunks": n_chunks}))
        return {"chunks": n_chunks, "encoded": done_now, "skipped": skipped, "complete": True}

    # ---------------------------------------------------------------- merge
    def merge(self, out_dir: str | os.PathLike, index_config: IndexConfig, overwrite: bool = False,
              extra_manifest: Optional[dict] = None) -> Path:
        return merge_work_dir(self.work_dir, out_dir, index_config, overwrite, extra_manifest,
                              show_progress=self.run.show_progress, require_queries=self.xqg.require_queries)


def checked_docids(passages: Iterator[Passage], restart) -> Iterator[Passage]:
    """Passages with docids a Pyserini index and a TREC run can hold: no whitespace, each once.
    A duplicate is reported with both records' ``file:line`` (the first one found by reading the
    stream again, ``restart()``, on this rare error path rather than keeping every location)."""
    seen: set[str] = set()
    for p in passages:
        if p.docid != p.docid.strip() or any(ch.isspace() for ch in p.docid):
            raise CorpusFormatError(f"{p.where}: docid {p.docid!r} contains whitespace (TREC runs and Pyserini's "
                                    "docid file are whitespace-separated)")
        if p.docid in seen:
            first = next(q.where for q in restart() if q.docid == p.docid)
            raise CorpusFormatError(f"{p.where}: duplicated docid {p.docid!r} (first at {first})")
        seen.add(p.docid)
        yield p


def merge_work_dir(work_dir: str | os.PathLike, out_dir: str | os.PathLike, index_config: IndexConfig,
                   overwrite: bool = False, extra_manifest: Optional[dict] = None, show_progress: bool = True,
                   require_queries: bool = False) -> Path:
    """Stream every chunk of a finished work dir (all shards) into one Pyserini index dir.
    ``require_queries``: refuse, rather than warn, when no passage had generated queries."""
    work = Path(work_dir)
    settings = json.loads((work / "settings.json").read_text())
    num_shards = settings["num_shards"]
    done = [work / f"shard-{s}-of-{num_shards}.done" for s in range(num_shards)]
    missing = [p.name for p in done if not p.exists()]
    if missing:
        raise RuntimeError(f"cannot merge {work}: shards not finished: {missing}")
    n_chunks = {json.loads(p.read_text())["chunks"] for p in done}
    if len(n_chunks) != 1:
        raise RuntimeError(f"shards disagree on the number of chunks: {n_chunks} (was the corpus changed?)")
    n_chunks = n_chunks.pop()
    metas = []
    for c in range(n_chunks):
        meta = work / f"chunk-{c:06d}.json"
        if not meta.exists():
            raise RuntimeError(f"cannot merge {work}: chunk {c} missing")
        metas.append(json.loads(meta.read_text()))
    n_rows = sum(m["rows"] for m in metas)
    dim = settings["dim"]

    def load(c: int) -> np.ndarray:
        arr = np.load(work / f"chunk-{c:06d}.npy", allow_pickle=False)
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise ValueError(f"chunk {c} has shape {arr.shape}, expected (*, {dim})")
        return arr

    def chunks() -> Iterator[np.ndarray]:
        for c in tqdm(range(n_chunks), desc="merging", unit="chunk", disable=not show_progress):
            yield load(c)

    def training_rows(k: int) -> np.ndarray:
        out, got = [], 0
        for c in range(n_chunks):
            arr = load(c)
            out.append(arr[: k - got])
            got += len(out[-1])
            if got >= k:
                break
        return np.concatenate(out)

    def docids() -> Iterator[str]:
        seen: set[str] = set()
        multi = settings["vector_mode"] == "multi"
        for c in range(n_chunks):
            with open(work / f"chunk-{c:06d}.ids", encoding="utf-8") as fh:
                for line in fh:
                    d = line.rstrip("\n")
                    base, _, row = d.rpartition(MULTI_DELIMITER) if multi else (d, "", "0")
                    if row == "0":  # the first row of a passage
                        if base in seen:
                            raise CorpusFormatError(f"duplicated docid {base!r} in the corpus (chunk {c})")
                        seen.add(base)
                    yield d

    started = time.time()
    index = build_index(index_config, dim, n_rows, chunks(), training_rows)
    counts = {k: sum(m[k] for m in metas) for k in ("passages", "augmented", "plain", "generated_queries", "rows")}
    counts["encode_seconds"] = round(sum(m.get("encode_seconds", 0.0) for m in metas), 3)
    warnings = []
    if (settings.get("alpha") or settings["vector_mode"] == "multi") and counts["augmented"] == 0:
        with_any = sum(m.get("with_generated_queries", 0) for m in metas)
        if with_any or require_queries:
            raise CorpusFormatError(
                f"no passage has generated queries in {settings.get('languages') or 'any language'} "
                f"({with_any} of {counts['passages']} have some in other languages): the xQG index would be a plain "
                "one (check --languages and the corpus' 'generated_queries', or use --alpha 0 for a plain index)")
        warnings.append(f"the corpus has no generated queries: this is a plain index (alpha {settings['alpha']} "
                        "had nothing to fuse)")
    per_passage = queries_per_passage(metas, counts)
    warnings += varying_sum_warning(settings, per_passage)
    for w in warnings:
        logger.warning(w)
    if settings["vector_mode"] == "multi":
        extra_manifest = dict(extra_manifest or {}, max_passage_delimiter=MULTI_DELIMITER)
    manifest = dict(settings, **counts, queries_per_passage=per_passage, warnings=warnings, index_type=index_config.index_type, index_config=asdict(index_config),
                    build_seconds=round(time.time() - started, 3), xqg_tevatron_version=_version(),
                    **(extra_manifest or {}))
    return write_index_dir(out_dir, index, docids(), manifest, overwrite=overwrite)


def queries_per_passage(metas: list[dict], counts: dict) -> dict:
    """min / mean / max generated queries used per passage (0 = the passage stays plain)."""
    mins = [m["queries_per_passage_min"] for m in metas if "queries_per_passage_min" in m]
    maxs = [m["queries_per_passage_max"] for m in metas if "queries_per_passage_max" in m]
    return {"min": min(mins) if mins else None, "max": max(maxs) if maxs else None,
            "mean": round(counts["generated_queries"] / counts["passages"], 4) if counts["passages"] else None}


def varying_sum_warning(settings: dict, per_passage: dict) -> list[str]:
    """Why: with aggregation=sum the query part of e_p' grows with the number of queries, so on
    normalised encoders passages with more generated queries outrank the rest for every query
    (measured on XQuAD: MRR 0.80 -> 0.07).  The paper's constant 35 per passage avoids it."""
    if settings.get("vector_mode") != "fused" or settings.get("aggregation") != "sum" or not settings.get("alpha"):
        return []
    if per_passage["min"] is None or per_passage["min"] == per_passage["max"]:
        return []
    return [f"aggregation=sum with a varying number of generated queries per passage (min {per_passage['min']}, "
            f"mean {per_passage['mean']}, max {per_passage['max']}): passages with more queries get longer vectors "
            "and outrank the others for every query; use --aggregation mean, or the same number of queries for "
            "every passage (--n_per_lang with complete generations)"]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("xqg_tevatron")
    except Exception:
        return "dev"
