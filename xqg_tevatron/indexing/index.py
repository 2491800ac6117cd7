"""Pyserini dense index directories: ``index`` (written by faiss), ``docid``, and a manifest.

Pyserini's ``FaissSearcher`` reads exactly ``<dir>/index`` and ``<dir>/docid`` (one id per
line, row order), so anything written here is searchable with
``python -m xqg_tevatron.pyserini search.faiss --index <dir> ...`` unchanged.  The manifest
(``xqg_manifest.json``) records how the vectors were made so a run can be reproduced.
Directories are written under a temporary name and renamed into place, so a crash never
leaves a half-written index that looks complete.
"""
from __future__ import annotations

import os
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

from xqg_tevatron.runtime.atomic_io import dumps_json, new_tmp_dir, remove_tree, swap_dir
from xqg_tevatron.indexing.manifest import INDEX_MANIFEST, build_id_of, index_file_digests

INDEX_TYPES = ("flat", "hnsw", "hnsw-sq8", "ivf-pq", "ivf-sq8", "ivfpq")
ALIASES = {"ivfpq": "ivf-pq"}
SHARD_DIR = "shard-{:03d}"


@dataclass
class IndexConfig:
    """FAISS index family; inner product throughout (what Pyserini's dense search assumes).

    * ``flat``: exact; written to disk as it streams in (memory: one chunk).
    * ``hnsw`` / ``hnsw-sq8``: graph search over full / 8-bit scalar-quantised vectors.
    * ``ivf-pq`` / ``ivf-sq8``: an inverted file of ``ivf_nlist`` lists (trained on a sample of
      ``train_sample`` rows), holding product-quantised (``pq_m`` bytes) or 8-bit vectors; the
      vectors are added chunk by chunk.
    Search-time settings (``hnsw_ef_search``, ``ivf_nprobe``) are stored in the index file, so
    Pyserini's ``FaissSearcher`` searches with them.  ``shards`` > 1 writes that many Pyserini
    index folders of consecutive rows (``shard-000``, ...), each searchable on its own; the
    plugin's search stage searches them all and merges by score."""

    index_type: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0  # 0: about 4*sqrt(N), capped by the training sample
    pq_m: int = 0  # 0: dim/4 sub-quantisers of 8 bits (must divide dim)
    pq_nbits: int = 8
    ivf_nprobe: int = 32
    train_sample: int = 100_000
    shards: int = 1

    def __post_init__(self):
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {self.index_type!r}")
        self.index_type = ALIASES.get(self.index_type, self.index_type)
        if self.shards < 1:
            raise ValueError(f"shards must be >= 1, got {self.shards}")
        for name in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe", "train_sample"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def from_args(cls, args) -> "IndexConfig":
        """The index settings of the encode / merge command lines (same flag names)."""
        return cls(index_type=args.index_type, hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction,
                   hnsw_ef_search=args.hnsw_ef_search, ivf_nlist=args.ivf_nlist, ivf_nprobe=args.ivf_nprobe,
                   pq_m=args.pq_m, shards=args.index_shards)

    @property
    def trained(self) -> bool:
        """Whether the index needs a training sample (IVF lists, scalar-quantiser ranges)."""
        return self.index_type in ("hnsw-sq8", "ivf-pq", "ivf-sq8")


def factory_string(config: IndexConfig, dim: int, n_total: int) -> str:
    """faiss' own ``index_factory`` description of the index ``config`` asks for; IVF's list count
    follows the corpus (about 4 sqrt(rows), at least 39 training rows per list)."""
    if config.index_type == "flat":
        return "Flat"
    if config.index_type in ("hnsw", "hnsw-sq8"):
        return f"HNSW{config.hnsw_m},{'Flat' if config.index_type == 'hnsw' else 'SQ8'}"
    sample = min(n_total, config.train_sample)
    nlist = config.ivf_nlist or max(1, min(int(4 * np.sqrt(max(n_total, 1))), sample // 39))
    if config.index_type == "ivf-sq8":
        return f"IVF{nlist},SQ8"
    pq_m = config.pq_m or max(1, dim // 4)
    if dim % pq_m:
        raise ValueError(f"pq_m={pq_m} must divide the vector dimension {dim}")
    return f"IVF{nlist},PQ{pq_m}x{config.pq_nbits}"


def make_index(config: IndexConfig, dim: int, n_total: int) -> faiss.Index:
    """The empty index, made by ``faiss.index_factory`` (inner product), with its search-time
    settings stored in it, so Pyserini searches with them."""
    index = faiss.index_factory(dim, factory_string(config, dim, n_total), faiss.METRIC_INNER_PRODUCT)
    if config.index_type in ("hnsw", "hnsw-sq8"):
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
    elif config.index_type in ("ivf-sq8", "ivf-pq"):
        if config.index_type == "ivf-pq":
            index.do_polysemous_training = False  # the factory turns it on; plain IVF-PQ, as before
        index.nprobe = min(config.ivf_nprobe, index.nlist)
    return index


def train(index: faiss.Index, config: IndexConfig, training_rows) -> None:
    if index.is_trained:
        return
    if training_rows is None:
        raise ValueError("this index type needs training rows")
    sample = np.ascontiguousarray(training_rows(config.train_sample), dtype=np.float32)
    needed = max(getattr(index, "nlist", 1), 2 ** config.pq_nbits if config.index_type == "ivf-pq" else 1)
    if len(sample) < needed:
        raise ValueError(f"{config.index_type} needs at least {needed} training vectors, corpus gives {len(sample)}; "
                         "use --index_type flat/hnsw or lower --ivf_nlist/--pq_nbits")
    index.train(sample)


class FlatFileWriter:
    """Write an ``IndexFlatIP`` file as its rows stream in, never holding them: the layout
    ``faiss.write_index`` gives (fourcc ``IxFI``, header, then the float32 rows), so faiss and
    Pyserini read it as one of their own.  Why: a flat index of 18.2M x 768 is 56 GB, and
    building it in memory is what kills ``pyserini.encode --to-faiss`` at that size."""

    def __init__(self, path: Path, dim: int, n_total: int):
        self.path, self.dim, self.n_total, self.written = path, dim, n_total, 0
        self.fh = open(path, "wb")
        self.fh.write(b"IxFI" + struct.pack("<iqqq?i", dim, n_total, 1 << 20, 1 << 20, True,
                                              faiss.METRIC_INNER_PRODUCT))
        self.fh.write(struct.pack("<Q", n_total * dim))

    def add(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype="<f4")
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"rows of shape {rows.shape} for a {self.dim}-dimensional flat index")
        self.fh.write(rows.tobytes())
        self.written += len(rows)

    def close(self) -> None:
        self.fh.close()
        if self.written != self.n_total:
            raise ValueError(f"{self.path}: {self.written} rows written, {self.n_total} announced")


def shard_bounds(n_total: int, shards: int) -> list[int]:
    """Row where each shard starts (consecutive, as equal as possible), plus ``n_total``."""
    return [n_total * s // shards for s in range(shards)] + [n_total]


def write_index(out_dir: str | os.PathLike, config: IndexConfig, dim: int, n_total: int,
                chunks: Iterable[tuple[np.ndarray, list[str]]], manifest: dict,
                training_rows: "callable | None" = None, overwrite: bool = False) -> Path:
    """Stream ``(vectors, docids)`` chunks into a Pyserini index folder (or ``config.shards``
    shard folders), in a hidden sibling swapped in atomically.  Memory: one chunk for flat;
    what the index itself holds for the others.  The caller holds the output's lock."""
    from xqg_tevatron.runtime.workdir import check_replaceable

    out = Path(out_dir)
    check_replaceable(out, overwrite, request=manifest.get("request"))
    started = time.perf_counter()
    tmp = new_tmp_dir(out)
    try:
        bounds = shard_bounds(n_total, config.shards)
        dirs = [tmp] if config.shards == 1 else [tmp / SHARD_DIR.format(s) for s in range(config.shards)]
        for d in dirs:
            d.mkdir(exist_ok=True)
        template = None
        if config.trained:
            template = make_index(config, dim, n_total)
            train(template, config, training_rows)

        def new_part(s: int):
            rows = bounds[s + 1] - bounds[s]
            if config.index_type == "flat":
                return FlatFileWriter(dirs[s] / "index", dim, rows)
            return faiss.clone_index(template) if template is not None else make_index(config, dim, rows)

        shard, row = 0, 0
        part, ids = new_part(0), open(dirs[0] / "docid", "w", encoding="utf-8")
        try:
            for vectors, docids in chunks:
                if len(vectors) != len(docids):
                    raise ValueError(f"{out}: a chunk of {len(vectors)} vectors came with {len(docids)} docids")
                start = 0
                while start < len(vectors):
                    while row == bounds[shard + 1]:
                        _finish_part(part, dirs[shard])
                        ids.close()
                        shard += 1
                        part, ids = new_part(shard), open(dirs[shard] / "docid", "w", encoding="utf-8")
                    take = min(len(vectors) - start, bounds[shard + 1] - row)
                    part.add(np.ascontiguousarray(vectors[start:start + take], dtype=np.float32))
                    ids.write("".join(f"{d}\n" for d in docids[start:start + take]))
                    start, row = start + take, row + take
            if row != n_total:
                raise ValueError(f"{out}: {row} vectors for {n_total} announced rows; the index was not written")
            _finish_part(part, dirs[shard])
        finally:
            ids.close()
        for s in range(shard + 1, config.shards):  # more shards than rows: the rest are empty
            _finish_part(new_part(s), dirs[s])
            (dirs[s] / "docid").write_text("", encoding="utf-8")
        full = dict(manifest, index_type=config.index_type, index_config=asdict(config), rows=n_total,
                    build_seconds=round(time.perf_counter() - started, 3))
        if config.shards > 1:
            full["shards"] = [{"dir": d.name, "rows": bounds[s + 1] - bounds[s], "first_row": bounds[s]}
                              for s, d in enumerate(dirs)]
        publish(tmp, out, full)
    except BaseException:
        remove_tree(tmp)
        raise
    return out


def publish(tmp: Path, out: Path, manifest: dict) -> None:
    """The last steps of every index write: the digests of every written file and the build id
    (one for all shards) into the manifest(s), the ownership marker, the atomic swap into place.
    The search stage checks those digests when it opens the index."""
    from xqg_tevatron.runtime.workdir import write_marker

    manifest = dict(manifest)
    shards = manifest.get("shards") or []
    parts = [index_file_digests(tmp / s["dir"]) for s in shards] or [index_file_digests(tmp)]
    manifest["build_id"] = build_id_of(parts)
    if shards:
        manifest["shards"] = [dict(s, files=files) for s, files in zip(shards, parts)]
        for s, (shard, files) in enumerate(zip(shards, parts)):
            _write_manifest(tmp / shard["dir"], dict(manifest, rows=shard["rows"], shard=s, shards=None, files=files))
    else:
        manifest["files"] = parts[0]
    _write_manifest(tmp, manifest)
    write_marker(tmp, "index")
    swap_dir(tmp, out)


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / INDEX_MANIFEST).write_text(dumps_json(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _finish_part(part, folder: Path) -> None:
    if isinstance(part, FlatFileWriter):
        part.close()
    else:
        faiss.write_index(part, str(folder / "index"))


def write_index_dir(out_dir: str | os.PathLike, index: faiss.Index, docids: Iterable[str], manifest: dict,
                    overwrite: bool = False) -> Path:
    """Write ``index``, ``docid``, the manifest and the ownership marker to ``out_dir``: built in a
    hidden sibling folder, then swapped in atomically (the old index stays whole until then).
    The caller holds the output's lock (``workdir.lock_output``)."""
    from xqg_tevatron.runtime.workdir import check_replaceable

    out = Path(out_dir)
    check_replaceable(out, overwrite)
    tmp = new_tmp_dir(out)
    try:
        faiss.write_index(index, str(tmp / "index"))
        n = 0
        with open(tmp / "docid", "w", encoding="utf-8") as fh:
            for d in docids:
                fh.write(f"{d}\n")
                n += 1
        if n != index.ntotal:
            raise ValueError(f"{out}: {n} docids for {index.ntotal} vectors; the index was not written")
        publish(tmp, out, manifest)
    except BaseException:
        remove_tree(tmp)
        raise
    return out
