"""Pyserini dense index directories: ``index`` (written by faiss), ``docid``, and a manifest.

Pyserini's ``FaissSearcher`` reads exactly ``<dir>/index`` and ``<dir>/docid`` (one id per
line, row order), so anything written here is searchable with
``python -m xqg_tevatron.pyserini search.faiss --index <dir> ...`` unchanged.  The manifest
(``xqg_manifest.json``) records how the vectors were made so a run can be reproduced.
Directories are written under a temporary name and renamed into place, so a crash never
leaves a half-written index that looks complete.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

from xqg_tevatron.chunking import dumps_json

MANIFEST = "xqg_manifest.json"
INDEX_TYPES = ("flat", "hnsw", "ivfpq")


@dataclass
class IndexConfig:
    """FAISS index family; inner product throughout (what Pyserini's dense search assumes)."""

    index_type: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0  # 0: about 4*sqrt(N), capped by the training sample
    pq_m: int = 0  # 0: dim/8 sub-quantisers (must divide dim)
    pq_nbits: int = 8
    ivf_nprobe: int = 16
    train_sample: int = 100_000

    def __post_init__(self):
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {self.index_type!r}")


def make_index(config: IndexConfig, dim: int, n_total: int) -> faiss.Index:
    if config.index_type == "flat":
        return faiss.IndexFlatIP(dim)
    if config.index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
        return index
    pq_m = config.pq_m or max(1, dim // 8)
    if dim % pq_m:
        raise ValueError(f"pq_m={pq_m} must divide the vector dimension {dim}")
    sample = min(n_total, config.train_sample)
    nlist = config.ivf_nlist or max(1, min(int(4 * np.sqrt(max(n_total, 1))), sample // 39))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, config.pq_nbits, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = min(config.ivf_nprobe, nlist)
    return index


def build_index(config: IndexConfig, dim: int, n_total: int, chunks: Iterable[np.ndarray],
                training_rows: "callable | None" = None) -> faiss.Index:
    """Build an index from vector chunks, adding chunk by chunk (bounded extra memory).

    ``training_rows(k)`` must return up to ``k`` representative rows when the index needs
    training (IVF-PQ); flat and HNSW ignore it.
    """
    index = make_index(config, dim, n_total)
    if not index.is_trained:
        if training_rows is None:
            raise ValueError("this index type needs training rows")
        sample = np.ascontiguousarray(training_rows(config.train_sample), dtype=np.float32)
        needed = max(index.nlist, 2 ** config.pq_nbits)
        if len(sample) < needed:
            raise ValueError(f"IVF-PQ needs at least {needed} training vectors, corpus gives {len(sample)}; "
                             "use --index_type flat/hnsw or lower --ivf_nlist/--pq_nbits")
        index.train(sample)
    for chunk in chunks:
        if len(chunk):
            index.add(np.ascontiguousarray(chunk, dtype=np.float32))
    return index


def write_index_dir(out_dir: str | os.PathLike, index: faiss.Index, docids: Iterable[str], manifest: dict,
                    overwrite: bool = False) -> Path:
    """Atomically write ``index``, ``docid`` and the manifest to ``out_dir``."""
    from xqg_tevatron.workdir import check_replaceable

    out = Path(out_dir)
    check_replaceable(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        faiss.write_index(index, str(tmp / "index"))
        n = 0
        with open(tmp / "docid", "w", encoding="utf-8") as fh:
            for d in docids:
                fh.write(f"{d}\n")
                n += 1
        if n != index.ntotal:
            raise RuntimeError(f"{n} docids for {index.ntotal} vectors")
        (tmp / MANIFEST).write_text(dumps_json(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():  # swap: the old index stays whole until the new one is complete
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_manifest(index_dir: str | os.PathLike) -> dict:
    path = Path(index_dir) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def require_manifest(index_dir: str | os.PathLike) -> dict:
    """The manifest of an index this plugin wrote; a one-line error for anything else."""
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{index_dir}: no {MANIFEST} (not an index written by xqg_tevatron)")
    return json.loads(path.read_text(encoding="utf-8"))
