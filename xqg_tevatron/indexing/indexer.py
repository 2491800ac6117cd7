"""Chunked, sharded, resumable passage encoding with xQG augmentation -> Pyserini index.

Encoding runs on the one engine (:mod:`xqg_tevatron.engine`): units of ``chunk_size`` passages
in corpus order, unit ``c`` belonging to shard ``c % num_shards``, each committed once with a
verified record, on the local or the Ray executor.  A unit stores the passage vectors and, per
language, the sums and counts of its generated-query vectors (:mod:`components`), not fused
vectors: the merge fuses them (``fusion.combine``) while streaming them into the index, so
another alpha, aggregation, language subset or stored n per language is a re-fuse of the same
work dir (``driver.merge``), with no model loaded.  The result is independent of the number of
shards and of the executor.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
from tqdm.auto import tqdm

from xqg_tevatron.atomic_io import read_json
from xqg_tevatron.corpus import CorpusFormatError, Passage, corpus_files, iter_passages
from xqg_tevatron.engine import Executor, LocalExecutor, UnitPlan, corpus_digest, digest_of_units, run_units, shard_done
from xqg_tevatron.indexing.index import IndexConfig, write_index
from xqg_tevatron.indexing.manifest import MULTI_DELIMITER
from xqg_tevatron.units import DamagedUnitError, Unit
from xqg_tevatron.xqg.components import (FUSED_FILES, MULTI_FILES, STORE_DTYPES, Fusion, fuse_unit, layout_queries,
                                         npy_bytes, npy_load, query_sums, selection, vectors_load)
from xqg_tevatron.xqg.fusion import AGGREGATIONS
from xqg_tevatron.workdir import (WorkDirError, claim_work_dir, fingerprint_inputs, read_marker, release,
                                  remove_plugin_dir)
from xqg_tevatron.languages import check_language_codes
from xqg_tevatron.xqg.generated import load_generated_queries

logger = logging.getLogger(__name__)
VECTOR_MODES = ("fused", "multi")
GENERATED_QUERY_BRANCHES = ("query", "passage")
WORK_KIND = "encode-work"
COMPONENTS_FORMAT = 2  # units hold components (passage vectors, per-language query sums and counts)


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
    # what the store keeps vectors in: float16 halves it (re-fuses widen to float32 first)
    store_dtype: str = "float32"

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
        if self.store_dtype not in STORE_DTYPES:
            raise ValueError(f"store_dtype must be one of {', '.join(STORE_DTYPES)}, got {self.store_dtype!r}")
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

    def __post_init__(self):  # checked where the engine checks them, before any model loads
        UnitPlan(Path("."), (), self.chunk_size, self.shard_id, self.num_shards)


@dataclass
class EncodeWorker:
    """The engine's worker for encoding: one unit's passages -> its components (picklable, so
    Ray actors build one each)."""

    encoder_factory: object  # () -> DenseEncoder, or a DenseEncoder
    xqg: XqgConfig
    prefixes: tuple[int, ...]
    threads: int = 0  # torch threads of a Ray actor's process (0: leave as it is)

    def __post_init__(self):
        self._encoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            self._encoder = self.encoder_factory() if callable(self.encoder_factory) and not hasattr(
                self.encoder_factory, "encode") else self.encoder_factory
        return self._encoder

    def process(self, index: int, chunk: list[Passage]) -> tuple[dict[str, bytes], dict]:
        started = time.perf_counter()
        enc = self.encoder
        p_vecs = enc.encode([p.full_text(self.xqg.separator) for p in chunk], is_query=False, desc="passages")
        generated = [p.generated_queries for p in chunk]
        longest = 0 if 0 in self.prefixes else max(self.prefixes)
        # a plain index (alpha 0) encodes no generated query: its store cannot be re-fused to alpha > 0
        layout = layout_queries(generated if self.xqg.uses_queries else [None] * len(chunk),
                                self.xqg.languages, longest)
        q_vecs = enc.encode(layout.texts, is_query=self.xqg.generated_query_branch == "query",
                            desc="generated queries", max_len=enc.config.q_max_len) if layout.texts else \
            np.zeros((0, p_vecs.shape[1]), dtype=np.float32)
        qsum, qcount = query_sums(layout, q_vecs, len(chunk), self.prefixes, p_vecs.shape[1])
        multi = None
        if self.xqg.vector_mode == "multi":
            keep = np.ones(len(layout.texts), bool) if self.xqg.n_per_lang == 0 else \
                layout.position < self.xqg.n_per_lang
            multi = (q_vecs[keep], layout.owner[keep])
        files = unit_files([p.docid for p in chunk], p_vecs, qsum, qcount, self.xqg.store_dtype, multi)
        meta = {"rows": len(chunk), "passages": len(chunk), "languages": layout.languages,
                "prefixes": list(self.prefixes), "with_generated_queries": sum(1 for g in generated if g and any(g.values())),
                "encode_seconds": round(time.perf_counter() - started, 4)}
        return files, meta


def unit_files(docids: Sequence[str], p_vecs: np.ndarray, qsum: np.ndarray, qcount: np.ndarray, store_dtype: str,
               multi: Optional[tuple[np.ndarray, np.ndarray]] = None) -> dict[str, bytes]:
    """A unit's stored files (``xqg/components.py``): vector parts in ``store_dtype`` (rounded
    once, from float32), counts as int32; ``multi`` = (query vectors, owner rows) for multi rows."""
    stored = np.dtype(store_dtype)
    files = {".npy": npy_bytes(p_vecs.astype(stored, copy=False)), ".ids": "".join(f"{d}\n" for d in docids).encode("utf-8"),
             ".qsum.npy": npy_bytes(qsum.astype(stored, copy=False)), ".qcount.npy": npy_bytes(qcount)}
    if multi is not None:
        files[".queries.npy"] = npy_bytes(multi[0].astype(stored, copy=False))
        files[".qowner.npy"] = npy_bytes(multi[1].astype(np.int32))
    return files


class XqgIndexer:
    """Encode a corpus unit by unit (this shard's units, on the engine), then merge into a
    Pyserini index (fusing the stored components)."""

    def __init__(self, encoder, xqg: XqgConfig, run: RunConfig, work_dir: str | os.PathLike,
                 generated_queries: Optional[list[str]] = None, executor: Optional[Executor] = None,
                 component_n_per_lang: Optional[Sequence[int]] = None, encoder_factory=None,
                 made_by: Optional[dict] = None, locks: Optional[list] = None):
        """``encoder``: the loaded encoder (its settings go into the fingerprint); ``encoder_factory``
        (optional) builds one per Ray actor instead of shipping this one.  ``made_by``: the command
        and output the work dir is recorded for (``workdir.made_by_of``); ``locks``: the work dir's
        locks when the caller took them before loading anything (``workdir.lock_work_dir``)."""
        self.encoder = encoder
        self.xqg = xqg
        self.run = run
        self.work_dir = Path(work_dir)
        self.generated_paths = list(generated_queries or [])
        self.external, self.external_where = load_generated_queries(generated_queries) if generated_queries \
            else (None, {})
        self.executor = executor or LocalExecutor()
        self.prefixes = tuple(sorted(set(component_n_per_lang or [])) or (xqg.n_per_lang,))
        if xqg.n_per_lang not in self.prefixes:
            self.prefixes = tuple(sorted({*self.prefixes, xqg.n_per_lang}))
        if any(n < 0 for n in self.prefixes):
            raise ValueError(f"component_n_per_lang must be >= 0 (0 = all), got {list(self.prefixes)}")
        self.encoder_factory = encoder_factory
        self.made_by = made_by
        self.locks: list = list(locks or [])
        self.claimed = False

    @property
    def suffixes(self) -> tuple[str, ...]:
        return MULTI_FILES if self.xqg.vector_mode == "multi" else FUSED_FILES

    @property
    def plan(self) -> UnitPlan:
        return UnitPlan(self.work_dir, self.suffixes, self.run.chunk_size, self.run.shard_id, self.run.num_shards)

    # ---------------------------------------------------------------- settings
    def settings(self) -> dict:
        """What changes the bytes of a unit (the work dir's fingerprint).  Alpha and aggregation
        do not: they are applied at the merge, so changing them is a re-fuse, not a re-encode."""
        return {
            **self.encoder.manifest_settings(),
            "languages": self.xqg.languages,
            "component_n_per_lang": list(self.prefixes),
            "vector_mode": self.xqg.vector_mode,
            "multi_n_per_lang": self.xqg.n_per_lang if self.xqg.vector_mode == "multi" else None,
            "generated_query_branch": self.xqg.generated_query_branch,
            "separator": self.xqg.separator,
            "batch_size": self.encoder.config.batch_size,
            "device": str(self.encoder.config.device).split(":")[0],
            "chunk_size": self.run.chunk_size,
            "num_shards": self.run.num_shards,
            "components": COMPONENTS_FORMAT,
            "generated_queries_encoded": self.xqg.uses_queries,
            # float32 left out, so stores written before this option still match
            **({"store_dtype": self.xqg.store_dtype} if self.xqg.store_dtype != "float32" else {}),
        }

    def fusion(self) -> Fusion:
        return Fusion(self.xqg.alpha, self.xqg.aggregation, tuple(self.xqg.languages) if self.xqg.languages else None,
                      self.xqg.n_per_lang, self.xqg.vector_mode)

    def unit(self, c: int) -> Unit:
        return self.plan.unit(c)

    def chunk_done(self, c: int) -> bool:
        return self.unit(c).committed()

    def worker(self) -> EncodeWorker:
        threads = getattr(self.executor, "threads_per_actor", 0)
        return EncodeWorker(self.encoder_factory or self.encoder, self.xqg, self.prefixes, threads)

    def encode_shard(self, corpus: list[str], limit_chunks: Optional[int] = None, overwrite: bool = False) -> dict:
        """Encode this shard's unfinished units; returns counts.  The work dir is claimed and
        locked (kept until :meth:`release`); committed units are verified first and damaged
        ones done again.  ``limit_chunks`` stops early (used to simulate a crash in tests)."""
        settings = dict(self.settings(), inputs=fingerprint_inputs(corpus_files(corpus)),
                        generated_query_files=fingerprint_inputs(self.generated_paths))
        if not self.claimed:
            self.locks = claim_work_dir(self.work_dir, settings, WORK_KIND, "corpus or settings", overwrite,
                                        shard=self.shard_name, made_by=self.made_by, locks=self.locks)
            self.claimed = True
        try:
            return self._encode_shard(corpus, limit_chunks)
        except BaseException:
            self.release()  # a failed shard does not keep the work dir locked
            raise

    def _encode_shard(self, corpus: list[str], limit_chunks: Optional[int]) -> dict:
        plan = self.plan
        if self.external is not None:
            self._check_external_docids(corpus)
        stream = encode_stream(corpus, self.external)
        fusion = self.fusion()
        warned = []

        def first_unit_warnings(c: int, record: dict) -> None:  # said at the first unit, not after hours
            if warned:
                return
            warned.append(c)
            counts = fused_counts(self.unit(c), record, fusion)
            meta = {"queries_per_passage_min": int(counts.min()), "queries_per_passage_max": int(counts.max())}
            stats = {"generated_queries": int(counts.sum()), "passages": len(counts)}
            for w in varying_sum_warning(asdict(fusion), queries_per_passage([meta], stats)):
                logger.warning("%s (seen in chunk %d)", w, c)
            plain = int((counts == 0).sum())
            if self.xqg.uses_queries and plain:
                logger.warning("chunk %d: %d of %d passages have no generated queries in %s and stay plain", c, plain,
                               len(counts), self.xqg.languages or "any language")

        run = run_units(plan, stream, self.worker, self.executor, self.run.show_progress, limit_chunks,
                        after_commit=first_unit_warnings)
        stats = {"chunks": run.chunks, "encoded": run.done, "skipped": run.skipped, "complete": run.complete,
                 "input_changed": run.changed}
        if not run.complete:
            return stats
        if run.chunks == 0:
            raise CorpusFormatError(f"empty corpus: no passages in {corpus}")
        shard_done(plan, run, {"fusion": asdict(fusion)})
        return stats

    def _check_external_docids(self, corpus: list[str]) -> None:
        """Every docid of ``--generated_queries`` must be a corpus passage: checked by one pass
        over the corpus docids before anything is encoded, reported with the record's file:line."""
        known = {p.docid for p in iter_passages(corpus)}
        unknown = [d for d in self.external if d not in known]
        if unknown:
            raise CorpusFormatError(f"{self.external_where[unknown[0]]}: docid {unknown[0]!r} of the generated queries is "
                                    f"not in the corpus ({len(unknown)} such docid(s))")

    @property
    def shard_name(self) -> str:
        return f"shard-{self.run.shard_id}-of-{self.run.num_shards}"

    def release(self) -> None:
        release(self.locks)
        self.locks = []
        self.claimed = False

    def merge(self, out_dir: str | os.PathLike, index_config: IndexConfig, overwrite: bool = False,
              extra_manifest: Optional[dict] = None) -> Path:
        return merge_work_dir(self.work_dir, out_dir, index_config, overwrite, extra_manifest,
                              show_progress=self.run.show_progress, require_queries=self.xqg.require_queries)


def index_corpus(encoder, xqg: XqgConfig, corpus: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 index_config: Optional[IndexConfig] = None, run: Optional[RunConfig] = None,
                 work_dir: Optional[str | os.PathLike] = None, overwrite: bool = False, keep_work_dir: bool = False,
                 extra_manifest: Optional[Callable[[], dict]] = None) -> Path:
    """The indexing stage in one process: encode ``corpus`` in units under ``work_dir`` (default
    ``<out_dir>.work``), merge them into the Pyserini index at ``out_dir``, then remove the work
    dir unless ``keep_work_dir``.  ``extra_manifest`` is called after encoding (e.g. to record
    what the encoding cost).  ``driver.encode`` wraps the same steps with shards and torchrun."""
    work = Path(work_dir or f"{out_dir}.work")
    run = run or RunConfig(show_progress=False)
    indexer = XqgIndexer(encoder, xqg, run, work)
    try:
        indexer.encode_shard([str(c) for c in corpus], overwrite=overwrite)
        out = indexer.merge(out_dir, index_config or IndexConfig(), overwrite,
                            extra_manifest() if extra_manifest else None)
    finally:
        indexer.release()
    if not keep_work_dir:
        remove_plugin_dir(work, kinds=[WORK_KIND])
    return out


def encode_stream(corpus: Sequence[str], external: Optional[dict] = None) -> Iterator[Passage]:
    """The passages encoding reads: docids checked, and the generated queries of
    ``--generated_queries`` files (``external``) in place of the records' own field."""
    stream = checked_docids(iter_passages(corpus), lambda: iter_passages(corpus))
    if external is None:
        return stream
    return (Passage(p.docid, p.text, p.title, external.get(p.docid), p.where) for p in stream)


def index_up_to_date(out: str | os.PathLike, request: dict, corpus: Sequence[str], chunk_size: int,
                     generated_queries: Optional[Sequence[str]] = None) -> bool:
    """Whether ``out`` is this command's own index (same ``request``), made from exactly this
    corpus (its content, unit by unit, not its size or mtime) and still matching its digests.
    Asked before any model loads, so a rerun over a complete result costs one read of the
    corpus and changes nothing."""
    from xqg_tevatron.indexing.manifest import IndexIntegrityError, read_manifest, verify_index_dir

    out = Path(out)
    try:
        manifest = read_manifest(out) if out.is_dir() else {}
        if manifest.get("request") != request or not manifest.get("inputs_sha256"):
            return False
        external = load_generated_queries(list(generated_queries))[0] if generated_queries else None
        if corpus_digest(encode_stream(list(corpus), external), chunk_size) != manifest["inputs_sha256"]:
            return False
        verify_index_dir(out)
        return True
    except (IndexIntegrityError, OSError, ValueError):
        return False


def fused_counts(unit: Unit, record: dict, fusion: Fusion) -> np.ndarray:
    """How many generated queries each passage of a unit fuses under ``fusion``."""
    qcount = npy_load(unit.read_bytes(".qcount.npy"))
    p, chosen = selection(record, fusion, str(unit.record_path))
    return qcount[:, p, chosen].sum(axis=1) if chosen else np.zeros(len(qcount), dtype=np.int64)

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
                   require_queries: bool = False, fusion: Optional[Fusion] = None,
                   request: Optional[dict] = None) -> Path:
    """Stream every unit of a finished work dir (all shards), fused by ``fusion`` (default: the
    fusion the encode was run with), into one Pyserini index dir.  Another ``fusion`` is a
    re-fuse: no model is loaded.  ``require_queries``: refuse, rather than warn, when no passage
    had generated queries.  ``request``: what the calling command was asked (recorded in the
    manifest).  An index at ``out_dir`` built from exactly these units with these settings,
    whose files still match their digests, is left as it is (``up to date``)."""
    work = Path(work_dir)
    settings = encode_work_settings(work)
    num_shards = settings["num_shards"]
    done = [work / f"shard-{s}-of-{num_shards}.done" for s in range(num_shards)]
    missing = [p.name for p in done if not p.exists()]
    if missing:
        raise RuntimeError(f"cannot merge {work}: shards not finished: {missing}")
    records = [read_json(p, "shard record") for p in done]
    n_chunks = {r["chunks"] for r in records}
    if len(n_chunks) != 1:
        raise RuntimeError(f"shards disagree on the number of chunks: {n_chunks} (was the corpus changed?)")
    fusion = fusion or Fusion(**{**records[0]["fusion"], "languages": tuple(records[0]["fusion"]["languages"])
                                 if records[0]["fusion"]["languages"] else None})
    if (fusion.alpha > 0 or fusion.vector_mode == "multi") and not settings.get("generated_queries_encoded", True):
        raise ValueError(f"{work} was encoded for a plain index (alpha 0): its generated queries were not encoded, so "
                         "it cannot be fused; encode again with --alpha > 0")
    if fusion.vector_mode != settings["vector_mode"]:
        raise ValueError(f"{work} was encoded for vector_mode {settings['vector_mode']}, not {fusion.vector_mode}")
    suffixes = MULTI_FILES if settings["vector_mode"] == "multi" else FUSED_FILES
    units = [Unit(work, c, suffixes) for c in range(n_chunks.pop())]
    problems = [f"{u.stem}: not finished" if not u.committed() else u.problem(full=False) for u in units]
    problems = [p for p in problems if p]
    if problems:
        raise DamagedUnitError(f"cannot merge {work}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if
                               len(problems) > 1 else "") + "; rerun the encode command: damaged or missing chunks "
                               "are encoded again")
    metas = [u.record() for u in units]
    source = source_key(settings, metas, fusion, index_config)
    if index_matches_source(Path(out_dir), source, request):
        print(f"up to date: {out_dir} already holds this index (same units, fusion and index settings); nothing "
              "written", file=sys.stderr)
        return Path(out_dir)
    dim = settings["dim"]
    multi = fusion.vector_mode == "multi"
    per_unit = [fused_counts(u, m, fusion) if not multi else
                np.bincount(npy_load(u.read_bytes(".qowner.npy")), minlength=m["rows"]) for u, m in zip(units, metas)]
    n_rows = sum(m["rows"] + (int(c.sum()) if multi else 0) for m, c in zip(metas, per_unit))

    def load(c: int) -> tuple[np.ndarray, list[str]]:
        unit, meta = units[c], metas[c]
        files = {s: unit.read_bytes(s) for s in suffixes}
        ids = files[".ids"].decode("utf-8").splitlines()
        if len(ids) != meta["rows"]:
            raise DamagedUnitError(f"{unit.path('.ids')}: {len(ids)} docids, its record says {meta['rows']}")
        if multi:
            vectors, ids = multi_rows(files, ids, unit.stem)
        else:
            vectors, _ = fuse_unit(files, meta, fusion, str(unit.record_path))
        if vectors.ndim != 2 or vectors.shape[1] != dim:
            raise DamagedUnitError(f"{unit.path('.npy')} has shape {vectors.shape}, expected (*, {dim})")
        return vectors, ids

    def training_rows(k: int) -> np.ndarray:
        out, got = [], 0
        for c in range(len(units)):
            arr = load(c)[0]
            out.append(arr[: k - got])
            got += len(out[-1])
            if got >= k:
                break
        return np.concatenate(out)

    def chunks() -> Iterator[tuple[np.ndarray, list[str]]]:
        seen: set[str] = set()
        loaded = in_order_ahead(load, len(units), MERGE_READ_AHEAD)
        for c in tqdm(range(len(units)), desc="merging", unit="chunk", disable=not show_progress, delay=5):
            vectors, ids = next(loaded)
            for d in ids:
                base, _, row = d.rpartition(MULTI_DELIMITER) if multi else (d, "", "0")
                if row == "0":  # the first row of a passage
                    if base in seen:
                        raise CorpusFormatError(f"duplicated docid {base!r} in the corpus (chunk {c})")
                    seen.add(base)
            yield vectors, ids

    all_counts = np.concatenate(per_unit) if per_unit else np.zeros(0, dtype=np.int64)
    counts = {"passages": sum(m["passages"] for m in metas), "augmented": int((all_counts > 0).sum()),
              "generated_queries": int(all_counts.sum()), "rows": n_rows}
    counts["plain"] = counts["passages"] - counts["augmented"]
    counts["encode_seconds"] = round(sum(m.get("encode_seconds", 0.0) for m in metas), 3)
    warnings = []
    uses = fusion.alpha > 0 or multi
    if uses and counts["augmented"] == 0:
        with_any = sum(m.get("with_generated_queries", 0) for m in metas)
        if with_any or require_queries:
            raise CorpusFormatError(
                f"no passage has generated queries in {list(fusion.languages) if fusion.languages else 'any language'} "
                f"({with_any} of {counts['passages']} have some in other languages): the xQG index would be a plain "
                "one (check --languages and the corpus' 'generated_queries', or use --alpha 0 for a plain index)")
        warnings.append(f"the corpus has no generated queries: this is a plain index (alpha {fusion.alpha} "
                        "had nothing to fuse)")
    stats = [{"queries_per_passage_min": int(c.min()), "queries_per_passage_max": int(c.max())}
             for c in per_unit if len(c)]
    per_passage = queries_per_passage(stats, counts)
    fused_settings = dict(settings, alpha=fusion.alpha, aggregation=fusion.aggregation,
                          languages=list(fusion.languages) if fusion.languages else settings.get("languages"),
                          n_per_lang=fusion.n_per_lang)
    warnings += varying_sum_warning(fused_settings, per_passage)
    for w in warnings:
        logger.warning(w)
    if multi:
        extra_manifest = dict(extra_manifest or {}, max_passage_delimiter=MULTI_DELIMITER)
    manifest = dict(fused_settings, **counts, queries_per_passage=per_passage, warnings=warnings,
                    xqg_tevatron_version=_version(), source_key=source, request=request,
                    inputs_sha256=digest_of_units(m.get("input_sha256") for m in metas), **(extra_manifest or {}))
    return write_index(out_dir, index_config, dim, n_rows, chunks(), manifest, training_rows, overwrite=overwrite)


# units read, checked and fused ahead of the index writer, each in a thread (file reads, sha256 and
# numpy release the GIL): a re-fuse runs at the speed of the cores, not of one; memory holds at
# most this many units beside the one being written
MERGE_READ_AHEAD = min(os.cpu_count() or 1, 8)


def in_order_ahead(fn: Callable[[int], object], n: int, ahead: int) -> Iterator:
    """``fn(0), fn(1), ..., fn(n - 1)`` in order, with up to ``ahead`` of them computed in threads
    beforehand; an exception surfaces at its own position, and nothing past it is used."""
    if ahead <= 1 or n <= 1:
        yield from (fn(i) for i in range(n))
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="merge-read") as pool:
        pending = deque(pool.submit(fn, i) for i in range(min(ahead, n)))
        submitted = len(pending)
        try:
            while pending:
                result = pending.popleft().result()
                if submitted < n:
                    pending.append(pool.submit(fn, submitted))
                    submitted += 1
                yield result
        finally:
            for future in pending:
                future.cancel()


def source_key(settings: dict, records: list[dict], fusion: Fusion, index_config: IndexConfig) -> str:
    """A digest of everything an index's bytes follow from: the store's settings, each unit's
    file digests and input digest, the fusion and the index settings (timings left out)."""
    units = [[r["files"], r.get("input_sha256")] for r in records]
    stable = {k: v for k, v in settings.items() if k not in ("inputs", "generated_query_files")}
    return hashlib.sha256(json.dumps([stable, units, asdict(fusion), asdict(index_config)], sort_keys=True,
                                     default=str).encode()).hexdigest()


def index_matches_source(out: Path, source: str, request: Optional[dict]) -> bool:
    """Whether ``out`` is an index built from ``source`` for the same ``request`` (so its manifest
    already says the right things) whose files still match their digests."""
    from xqg_tevatron.indexing.manifest import IndexIntegrityError, read_manifest, verify_index_dir

    try:
        manifest = read_manifest(out) if out.is_dir() else {}
        if manifest.get("source_key") != source or manifest.get("request") != request:
            return False
        verify_index_dir(out)
        return True
    except (IndexIntegrityError, OSError, ValueError):
        return False


def multi_rows(files: dict[str, bytes], ids: list[str], where: str) -> tuple[np.ndarray, list[str]]:
    """Pyserini's multi-passage convention: rows ``docid#0`` (the passage), ``docid#1``.. (its
    queries), searched with max score per docid.  Laid out with index arithmetic."""
    for d in ids:
        if MULTI_DELIMITER in d:
            raise CorpusFormatError(f"{where}: docid {d!r} contains {MULTI_DELIMITER!r}, which --vector_mode multi uses "
                                    "to number a passage's rows")
    p_vecs, q_vecs = vectors_load(files[".npy"]), vectors_load(files[".queries.npy"])
    owner = npy_load(files[".qowner.npy"])
    sizes = np.bincount(owner, minlength=len(ids))
    rows_per = sizes + 1
    passage_rows = np.concatenate([[0], np.cumsum(rows_per)[:-1]]).astype(np.int64)
    vectors = np.empty((int(rows_per.sum()), p_vecs.shape[1]), dtype=np.float32)
    is_query_row = np.ones(len(vectors), dtype=bool)
    is_query_row[passage_rows] = False
    vectors[passage_rows] = p_vecs
    vectors[is_query_row] = q_vecs  # queries are in passage order
    return vectors, [f"{d}{MULTI_DELIMITER}{k}" for d, n in zip(ids, sizes) for k in range(n + 1)]


def encode_work_settings(work: Path) -> dict:
    """The settings an encode work dir was started with; a one-line error for any other folder."""
    if not work.is_dir():
        raise FileNotFoundError(f"work dir not found: {work}")
    marker = read_marker(work)
    if marker is None or marker.get("kind") != WORK_KIND or "settings" not in marker:
        raise WorkDirError(f"{work} is not an encode work dir of xqg_tevatron (written by driver.encode)")
    return marker["settings"]


def queries_per_passage(metas: list[dict], counts: dict) -> dict:
    """min / mean / max generated queries used per passage (0 = the passage stays plain)."""
    mins = [m["queries_per_passage_min"] for m in metas if "queries_per_passage_min" in m]
    maxs = [m["queries_per_passage_max"] for m in metas if "queries_per_passage_max" in m]
    return {"min": min(mins) if mins else None, "max": max(maxs) if maxs else None,
            "mean": round(counts["generated_queries"] / counts["passages"], 4) if counts["passages"] else None}


def varying_sum_warning(settings: dict, per_passage: dict) -> list[str]:
    """Why: with aggregation=sum the query part of e_p' grows with the number of queries, so on
    normalised encoders passages with more generated queries outrank the rest for every query
    (measured on the XQuAD dev half: plain MRR 0.84, sum recipes 0.07-0.43; docs/results.md).  The paper's constant 35 per passage avoids it."""
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
