"""The merge of an encode work dir into a Pyserini index: every unit (all shards) read, checked
and fused (``fusion.combine`` through ``components.fuse_unit``) as it streams into the index
writer, a few units ahead in threads.  Another fusion is a re-fuse of the same store, with no
model loaded; an index already built from exactly these units and settings is left as it is.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
from tqdm.auto import tqdm

from xqg_tevatron.corpus import CorpusFormatError
from xqg_tevatron.indexing.faiss_index import IndexConfig, write_index
from xqg_tevatron.indexing.manifest import MULTI_DELIMITER
from xqg_tevatron.indexing.store import (encode_work_settings, fused_counts, queries_per_passage,
                                         varying_sum_warning)
from xqg_tevatron.runtime.engine import digest_of_units
from xqg_tevatron.runtime.stage import shard_records
from xqg_tevatron.runtime.units import DamagedUnitError, Unit
from xqg_tevatron.xqg.components import fuse_unit, npy_load, unit_suffixes, vectors_load
from xqg_tevatron.xqg.fusion import Fusion

logger = logging.getLogger(__name__)


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
    records = shard_records(work, settings["num_shards"])
    fusion = fusion or Fusion.from_record(records[0]["fusion"])
    store = StoreUnits.open(work, settings, records[0]["chunks"], fusion)
    index_config.check(store.dim)
    source = source_key(settings, store.metas, fusion, index_config)
    if index_matches_source(Path(out_dir), source, request):
        print(f"up to date: {out_dir} already holds this index (same units, fusion and index settings); nothing "
              "written", file=sys.stderr)
        return Path(out_dir)
    store.count()
    manifest = store.manifest(settings, require_queries)
    for w in manifest["warnings"]:
        logger.warning(w)
    if store.multi:
        extra_manifest = dict(extra_manifest or {}, max_passage_delimiter=MULTI_DELIMITER)
    manifest.update(xqg_tevatron_version=_version(), source_key=source, request=request,
                    inputs_sha256=digest_of_units(m["input_sha256"] for m in store.metas), **(extra_manifest or {}))
    return write_index(out_dir, index_config, store.dim, store.rows, store.stream(show_progress), manifest,
                       store.training_rows, overwrite=overwrite)


@dataclass
class StoreUnits:
    """The committed units of a finished store, read for one fusion: each checked, fused and
    given its docids, in corpus order, a few ahead in threads."""

    work: Path
    units: list[Unit]
    metas: list[dict]
    fusion: Fusion
    dim: int
    counts: list[np.ndarray] = field(default_factory=list)  # per unit: queries fused per passage

    @classmethod
    def open(cls, work: Path, settings: dict, n_units: int, fusion: Fusion) -> "StoreUnits":
        """The store's units, refused in one line if the fusion cannot be applied to them or any
        unit is missing or damaged (the encode command then redoes exactly those)."""
        if fusion.uses_queries and not settings.get("generated_queries_encoded", True):
            raise ValueError(f"{work} was encoded for a plain index (alpha 0): its generated queries were not encoded, "
                             "so it cannot be fused; encode again with --alpha > 0")
        if fusion.vector_mode != settings["vector_mode"]:
            raise ValueError(f"{work} was encoded for vector_mode {settings['vector_mode']}, not {fusion.vector_mode}")
        units = [Unit(work, c, unit_suffixes(fusion.vector_mode)) for c in range(n_units)]
        problems = [p for p in (f"{u.stem}: not finished" if not u.committed() else u.problem(full=False)
                                for u in units) if p]
        if problems:
            raise DamagedUnitError(f"cannot merge {work}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if
                                   len(problems) > 1 else "") + "; rerun the encode command: damaged or missing "
                                   "units are encoded again")
        return cls(work, units, [u.record() for u in units], fusion, settings["dim"])

    @property
    def multi(self) -> bool:
        return self.fusion.vector_mode == "multi"

    def count(self) -> None:
        """How many queries each passage fuses (multi: its query rows), read before any row is
        written: the index announces its row count first."""
        self.counts = [fused_counts(u, m, self.fusion) if not self.multi else
                       np.bincount(npy_load(u.read_bytes(".qowner.npy")), minlength=m["rows"])
                       for u, m in zip(self.units, self.metas)]

    @property
    def rows(self) -> int:
        return sum(m["rows"] + (int(c.sum()) if self.multi else 0) for m, c in zip(self.metas, self.counts))

    def load(self, c: int) -> tuple[np.ndarray, list[str]]:
        """Unit ``c``'s index rows and docids, checked against its record."""
        unit, meta = self.units[c], self.metas[c]
        # the counts were read (and their file verified) once, by count()
        files = {s: unit.read_bytes(s) for s in unit.suffixes if self.multi or s != ".qcount.npy"}
        ids = files[".ids"].decode("utf-8").splitlines()
        if len(ids) != meta["rows"]:
            raise DamagedUnitError(f"{unit.path('.ids')}: {len(ids)} docids, its record says {meta['rows']}")
        if self.multi:
            vectors, ids = multi_rows(files, ids, unit.stem)
        else:
            vectors, _ = fuse_unit(files, meta, self.fusion, str(unit.record_path), counts=self.counts[c])
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise DamagedUnitError(f"{unit.path('.npy')} has shape {vectors.shape}, expected (*, {self.dim})")
        return vectors, ids

    def training_rows(self, k: int) -> np.ndarray:
        """The first ``k`` rows (what trained index types learn from)."""
        out, got = [], 0
        for c in range(len(self.units)):
            arr = self.load(c)[0]
            out.append(arr[: k - got])
            got += len(out[-1])
            if got >= k:
                break
        return np.concatenate(out)

    def stream(self, show_progress: bool) -> Iterator[tuple[np.ndarray, list[str]]]:
        """Every unit's rows in order, read ahead in threads; a docid seen twice is refused."""
        seen: set[str] = set()
        loaded = in_order_ahead(self.load, len(self.units), MERGE_READ_AHEAD)
        for c in tqdm(range(len(self.units)), desc="merging", unit="unit", disable=not show_progress, delay=5):
            vectors, ids = next(loaded)
            for d in ids:
                base, _, row = d.rpartition(MULTI_DELIMITER) if self.multi else (d, "", "0")
                if row == "0":  # the first row of a passage
                    if base in seen:
                        raise CorpusFormatError(f"duplicated docid {base!r} in the corpus (unit {c})")
                    seen.add(base)
            yield vectors, ids

    def manifest(self, settings: dict, require_queries: bool) -> dict:
        """The fused settings, counts and warnings the index manifest records; a fusion that
        would find nothing to fuse where the user asked for queries is refused."""
        fusion, metas = self.fusion, self.metas
        all_counts = np.concatenate(self.counts) if self.counts else np.zeros(0, dtype=np.int64)
        counts = {"passages": sum(m["passages"] for m in metas), "augmented": int((all_counts > 0).sum()),
                  "generated_queries": int(all_counts.sum()), "rows": self.rows}
        counts["plain"] = counts["passages"] - counts["augmented"]
        counts["encode_seconds"] = round(sum(m.get("encode_seconds", 0.0) for m in metas), 3)
        warnings = []
        if fusion.uses_queries and counts["augmented"] == 0:
            with_any = sum(m.get("with_generated_queries", 0) for m in metas)
            if with_any or require_queries:
                raise CorpusFormatError(
                    f"no passage has generated queries in {list(fusion.languages) if fusion.languages else 'any language'}"
                    f" ({with_any} of {counts['passages']} have some in other languages): the xQG index would be a plain "
                    "one (check --languages and the corpus' 'generated_queries', or use --alpha 0 for a plain index)")
            warnings.append(f"the corpus has no generated queries: this is a plain index (alpha {fusion.alpha} "
                            "had nothing to fuse)")
        stats = [{"queries_per_passage_min": int(c.min()), "queries_per_passage_max": int(c.max())}
                 for c in self.counts if len(c)]
        per_passage = queries_per_passage(stats, counts)
        fused_settings = dict(settings, alpha=fusion.alpha, aggregation=fusion.aggregation,
                              languages=list(fusion.languages) if fusion.languages else settings.get("languages"),
                              n_per_lang=fusion.n_per_lang)
        warnings += varying_sum_warning(fused_settings, per_passage)
        return dict(fused_settings, **counts, queries_per_passage=per_passage, warnings=warnings)


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
    return hashlib.sha256(json.dumps([stable, units, fusion.record(), asdict(index_config)], sort_keys=True,
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


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("xqg_tevatron")
    except Exception:
        return "dev"
