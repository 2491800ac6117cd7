"""The encode stage declared on the stage template: passages (and their generated queries) ->
stored components, unit by unit; ``merge_units.merge_work_dir`` then fuses them into the index.

Encoding runs on the one engine (:mod:`xqg_tevatron.runtime.stage`): units of ``unit_size``
passages in corpus order, unit ``c`` belonging to shard ``c % num_shards``, each committed once
with a verified record, on the local or the Ray executor.  A unit stores the passage vectors and, per
language, the sums and counts of its generated-query vectors (:mod:`components`), not fused
vectors: the merge fuses them (``fusion.combine``) while streaming them into the index, so
another alpha, aggregation, language subset or stored n per language is a re-fuse of the same
work dir (``driver.merge``), with no model loaded.  The result is independent of the number of
shards and of the executor.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from xqg_tevatron.corpus import CorpusFormatError, Passage, corpus_files, iter_passages
from xqg_tevatron.indexing.faiss_index import IndexConfig
from xqg_tevatron.indexing.merge_units import merge_work_dir
from xqg_tevatron.indexing.store import (COMPONENTS_FORMAT, WORK_KIND, fused_counts, queries_per_passage, unit_files,
                                         varying_sum_warning)
from xqg_tevatron.runtime.engine import Executor, LocalExecutor, RunStats, UnitPlan, check_units
from xqg_tevatron.runtime.stage import Stage, UnitWork, output_up_to_date
from xqg_tevatron.runtime.units import Unit
from xqg_tevatron.runtime.workdir import fingerprint_inputs, release
from xqg_tevatron.xqg.components import (QUERY_FILTERS, STORE_DTYPES, layout_queries, query_sums,
                                         rank_by_similarity, unit_suffixes)
from xqg_tevatron.xqg.fusion import Fusion
from xqg_tevatron.xqg.generated import load_generated_queries

logger = logging.getLogger(__name__)
GENERATED_QUERY_BRANCHES = ("query", "passage")


@dataclass
class XqgConfig:
    """What goes into each passage vector: the fusion (one value, ``xqg.fusion.Fusion``; its
    defaults are the recommended recipe) and how the encode feeds it."""

    fusion: Fusion = field(default_factory=Fusion)
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
    # which generated queries a prefix of N keeps: "none", the first N generated; "similarity",
    # the N most similar to their passage under the encoder (doc2query--); every query is encoded
    query_filter: str = "none"

    def __post_init__(self):
        if self.generated_query_branch not in GENERATED_QUERY_BRANCHES:
            raise ValueError(f"generated_query_branch must be one of {GENERATED_QUERY_BRANCHES}")
        if self.store_dtype not in STORE_DTYPES:
            raise ValueError(f"store_dtype must be one of {', '.join(STORE_DTYPES)}, got {self.store_dtype!r}")
        if self.query_filter not in QUERY_FILTERS:
            raise ValueError(f"query_filter must be one of {', '.join(QUERY_FILTERS)}, got {self.query_filter!r}")

    @property
    def uses_queries(self) -> bool:
        return self.fusion.uses_queries


@dataclass
class RunConfig:
    unit_size: int = 10_000
    shard_id: int = 0
    num_shards: int = 1
    show_progress: bool = True

    def __post_init__(self):  # checked as the engine checks them, before any model loads
        check_units(self.unit_size, self.shard_id, self.num_shards)


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

    def process(self, index: int, passages: list[Passage]) -> tuple[dict[str, bytes], dict]:
        started = time.perf_counter()
        enc = self.encoder
        p_vecs = enc.encode([p.full_text(self.xqg.separator) for p in passages], is_query=False, desc="passages")
        generated = [p.generated_queries for p in passages]
        filtered = self.xqg.query_filter == "similarity"
        longest = 0 if 0 in self.prefixes or filtered else max(self.prefixes)  # a filter ranks them all
        # a plain index (alpha 0) encodes no generated query: its store cannot be re-fused to alpha > 0
        layout = layout_queries(generated if self.xqg.uses_queries else [None] * len(passages),
                                self.xqg.fusion.languages, longest)
        q_vecs = enc.encode(layout.texts, is_query=self.xqg.generated_query_branch == "query",
                            desc="generated queries", max_len=enc.config.q_max_len) if layout.texts else \
            np.zeros((0, p_vecs.shape[1]), dtype=np.float32)
        if filtered:
            layout = rank_by_similarity(layout, q_vecs, p_vecs)
        qsum, qcount = query_sums(layout, q_vecs, len(passages), self.prefixes, p_vecs.shape[1])
        multi = None
        if self.xqg.fusion.vector_mode == "multi":
            keep = np.ones(len(layout.texts), bool) if self.xqg.fusion.n_per_lang == 0 else \
                layout.position < self.xqg.fusion.n_per_lang
            multi = (q_vecs[keep], layout.owner[keep])
        files = unit_files([p.docid for p in passages], p_vecs, qsum, qcount, self.xqg.store_dtype, multi)
        meta = {"rows": len(passages), "passages": len(passages), "languages": layout.languages,
                "prefixes": list(self.prefixes), "with_generated_queries": sum(1 for g in generated if g and any(g.values())),
                "encode_seconds": round(time.perf_counter() - started, 4)}
        return files, meta


class XqgIndexer:
    """Encode a corpus unit by unit (this shard's units, on the engine), then merge into a
    Pyserini index (fusing the stored components)."""

    def __init__(self, encoder, xqg: XqgConfig, run: RunConfig, work_dir: str | os.PathLike,
                 generated_queries: Optional[list[str]] = None, executor: Optional[Executor] = None,
                 component_n_per_lang: Optional[Sequence[int]] = None, encoder_factory=None,
                 made_by: Optional[dict] = None, locks: Optional[list] = None):
        """``encoder``: the loaded encoder (its settings go into the fingerprint); ``encoder_factory``
        (optional) builds one in each worker of an executor that ships workers (``ships_workers``).  ``made_by``: the command
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
        self.prefixes = tuple(sorted(set(component_n_per_lang or [])) or (xqg.fusion.n_per_lang,))
        if xqg.fusion.n_per_lang not in self.prefixes:
            self.prefixes = tuple(sorted({*self.prefixes, xqg.fusion.n_per_lang}))
        if any(n < 0 for n in self.prefixes):
            raise ValueError(f"component_n_per_lang must be >= 0 (0 = all), got {list(self.prefixes)}")
        self.encoder_factory = encoder_factory
        self.made_by = made_by
        self.locks: list = list(locks or [])
        self.claimed = False

    @property
    def suffixes(self) -> tuple[str, ...]:
        return unit_suffixes(self.xqg.fusion.vector_mode)

    @property
    def plan(self) -> UnitPlan:
        return UnitPlan(self.work_dir, self.suffixes, self.run.unit_size, self.run.shard_id, self.run.num_shards)

    # ---------------------------------------------------------------- settings
    def settings(self) -> dict:
        """What changes the bytes of a unit (the work dir's fingerprint).  Alpha and aggregation
        do not: they are applied at the merge, so changing them is a re-fuse, not a re-encode."""
        return {
            **self.encoder.manifest_settings(),
            "languages": list(self.xqg.fusion.languages) if self.xqg.fusion.languages else None,
            "component_n_per_lang": list(self.prefixes),
            "vector_mode": self.xqg.fusion.vector_mode,
            "multi_n_per_lang": self.xqg.fusion.n_per_lang if self.xqg.fusion.vector_mode == "multi" else None,
            "generated_query_branch": self.xqg.generated_query_branch,
            "separator": self.xqg.separator,
            "batch_size": self.encoder.config.batch_size,
            "device": str(self.encoder.config.device).split(":")[0],
            "chunk_size": self.run.unit_size,
            "num_shards": self.run.num_shards,
            "components": COMPONENTS_FORMAT,
            "generated_queries_encoded": self.xqg.uses_queries,
            "store_dtype": self.xqg.store_dtype,
            # recorded only when asked for: stores written before the filter existed stay valid
            **({"query_filter": self.xqg.query_filter} if self.xqg.query_filter != "none" else {}),
        }

    def unit(self, c: int) -> Unit:
        return self.plan.unit(c)

    def unit_done(self, c: int) -> bool:
        return self.unit(c).committed()

    def worker(self) -> EncodeWorker:
        # an executor that builds workers elsewhere gets the factory (each worker loads its own encoder)
        shipped = self.executor.ships_workers and self.encoder_factory is not None
        return EncodeWorker(self.encoder_factory if shipped else self.encoder, self.xqg, self.prefixes,
                            self.executor.threads_per_worker)

    def stage(self, overwrite: bool = False) -> Stage:
        """This shard of the encode, declared on the one stage template."""
        made_by = self.made_by or {}
        return Stage(WORK_KIND, made_by.get("command"), self.work_dir, made_by.get("output", self.work_dir),
                     self.suffixes, self.run.unit_size, self.run.shard_id, self.run.num_shards, overwrite,
                     self.run.show_progress, produces="this index")

    def unit_work(self, corpus: list[str]) -> UnitWork:
        """The encode's units: the work dir's claim, the checked passage stream, the worker, the
        warnings said at the first unit, and the fusion the shard record carries."""
        if self.external is not None:
            self._check_external_docids(corpus)
        settings = dict(self.settings(), inputs=fingerprint_inputs(corpus_files(corpus)),
                        generated_query_files=fingerprint_inputs(self.generated_paths))
        fusion = self.xqg.fusion
        warned = []

        def first_unit_warnings(c: int, record: dict) -> None:  # said at the first unit, not after hours
            if warned:
                return
            warned.append(c)
            counts = fused_counts(self.unit(c), record, fusion)
            meta = {"queries_per_passage_min": int(counts.min()), "queries_per_passage_max": int(counts.max())}
            stats = {"generated_queries": int(counts.sum()), "passages": len(counts)}
            for w in varying_sum_warning(fusion.record(), queries_per_passage([meta], stats)):
                logger.warning("%s (seen in unit %d)", w, c)
            plain = int((counts == 0).sum())
            if self.xqg.uses_queries and plain:
                logger.warning("unit %d: %d of %d passages have no generated queries in %s and stay plain", c, plain,
                               len(counts), list(self.xqg.fusion.languages or []) or "any language")

        return UnitWork(settings, encode_stream(corpus, self.external), self.worker, self.executor,
                        first_unit_warnings, {"fusion": fusion.record()})

    def encode_shard(self, corpus: list[str], overwrite: bool = False) -> dict:
        """Encode this shard's unfinished units; returns counts.  The work dir is claimed and
        locked (kept until :meth:`release`); committed units are verified first and damaged
        ones done again."""
        stage = self.stage(overwrite)
        try:
            work = self.unit_work(corpus)
            if not self.claimed:
                self.locks = stage.claim(work.settings, self.locks)
                self.claimed = True
            return encode_stats(stage.run(work, corpus))
        except BaseException:
            self.release()  # a failed shard does not keep the work dir locked
            raise

    def _check_external_docids(self, corpus: list[str]) -> None:
        """Every docid of ``--generated_queries`` must be a corpus passage: checked by one pass
        over the corpus docids before anything is encoded, reported with the record's file:line."""
        known = {p.docid for p in iter_passages(corpus)}
        unknown = [d for d in self.external if d not in known]
        if unknown:
            raise CorpusFormatError(f"{self.external_where[unknown[0]]}: docid {unknown[0]!r} of the generated queries is "
                                    f"not in the corpus ({len(unknown)} such docid(s))")

    def release(self) -> None:
        release(self.locks)
        self.locks = []
        self.claimed = False

    def merge(self, out_dir: str | os.PathLike, index_config: IndexConfig, overwrite: bool = False,
              extra_manifest: Optional[dict] = None) -> Path:
        return merge_work_dir(self.work_dir, out_dir, index_config, overwrite, extra_manifest,
                              show_progress=self.run.show_progress, require_queries=self.xqg.require_queries,
                              fusion=self.xqg.fusion)


INDEX_CORPUS = "indexing.index_corpus"  # what a work dir and an index made in process record as their maker


def encode_stream(corpus: Sequence[str], external: Optional[dict] = None) -> Iterator[Passage]:
    """The passages encoding reads: docids checked, and the generated queries of
    ``--generated_queries`` files (``external``) in place of the records' own field."""
    stream = checked_docids(iter_passages(corpus), lambda: iter_passages(corpus))
    if external is None:
        return stream
    return (Passage(p.docid, p.text, p.title, external.get(p.docid), p.where) for p in stream)


def index_up_to_date(out: str | os.PathLike, request: dict, corpus: Sequence[str], unit_size: int,
                     generated_queries: Optional[Sequence[str]] = None) -> bool:
    """Whether ``out`` is this command's own index (same ``request``), made from exactly this
    corpus (its content, unit by unit, not its size or mtime) and still matching its digests:
    the stage template's one rule (``stage.output_up_to_date``)."""
    from xqg_tevatron.indexing.manifest import read_manifest, verify_index_dir

    out = Path(out)
    try:
        manifest = read_manifest(out) if out.is_dir() else {}
    except (OSError, ValueError):
        return False

    def passages():
        external = load_generated_queries(list(generated_queries))[0] if generated_queries else None
        return encode_stream(list(corpus), external)

    def intact() -> bool:
        verify_index_dir(out)  # raises IndexIntegrityError (a ValueError) when a file changed
        return True

    return output_up_to_date(manifest, request, passages, unit_size, intact)


def encode_stats(run: RunStats) -> dict:
    """What an encode shard reports (``shard I/N: {...}``)."""
    return {"units": run.units, "chunks": run.units, "encoded": run.done, "skipped": run.skipped, "complete": run.complete,
            "input_changed": run.changed}


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
