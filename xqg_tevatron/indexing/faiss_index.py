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

SHARD_DIR = "shard-{:03d}"


def ivf_list_count(rows: int, train_sample: int = 100_000) -> int:
    """The one IVF list-count rule (the named IVF types, ``{nlist}`` in a factory string, the
    benchmarks' sweeps): about 4 sqrt(rows), and at least 39 training rows a list (faiss' k-means
    minimum) from a sample of ``min(rows, train_sample)``."""
    sample = min(rows, train_sample)
    return max(1, min(int(4 * np.sqrt(max(rows, 1))), sample // 39))


# The named index types: each expands to a faiss factory string and a ParameterSpace string of its
# construction and search settings.  Adding one is one function and one line in NAMED_INDEXES.
def _flat(c: "IndexConfig", dim: int, rows: int) -> tuple[str, str]:
    return "Flat", ""


def _hnsw(c: "IndexConfig", dim: int, rows: int, storage: str = "Flat") -> tuple[str, str]:
    return f"HNSW{c.hnsw_m},{storage}", f"efConstruction={c.hnsw_ef_construction},efSearch={c.hnsw_ef_search}"


def _hnsw_sq8(c: "IndexConfig", dim: int, rows: int) -> tuple[str, str]:
    return _hnsw(c, dim, rows, "SQ8")


def _ivf(c: "IndexConfig", rows: int, codes: str) -> tuple[str, str]:
    nlist = c.ivf_nlist or ivf_list_count(rows, c.train_sample)
    return f"IVF{nlist},{codes}", f"nprobe={min(c.ivf_nprobe, nlist)}"


def _ivf_sq8(c: "IndexConfig", dim: int, rows: int) -> tuple[str, str]:
    return _ivf(c, rows, "SQ8")


def _ivf_pq(c: "IndexConfig", dim: int, rows: int) -> tuple[str, str]:
    pq_m = c.pq_m or max(1, dim // 4)
    if dim % pq_m:
        raise ValueError(f"pq_m={pq_m} must divide the vector dimension {dim}")
    return _ivf(c, rows, f"PQ{pq_m}x{c.pq_nbits}np")  # np: no polysemous training, a plain IVF-PQ


NAMED_INDEXES = {"flat": _flat, "hnsw": _hnsw, "hnsw-sq8": _hnsw_sq8, "ivf-pq": _ivf_pq, "ivf-sq8": _ivf_sq8}
INDEX_TYPES = (*NAMED_INDEXES, "ivfpq")
ALIASES = {"ivfpq": "ivf-pq"}


def parse_params(text: str) -> dict[str, str]:
    """``"efSearch=512,nprobe=64"`` -> ``{"efSearch": "512", "nprobe": "64"}`` (faiss'
    ParameterSpace syntax); a one-line error for anything else."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = part.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise ValueError(f"index parameters must be NAME=VALUE separated by commas (faiss ParameterSpace), "
                             f"got {part!r} in {text!r}")
        out[name.strip()] = value.strip()
    return out


@dataclass
class IndexConfig:
    """FAISS index; inner product throughout (what Pyserini's dense search assumes).

    Either a named type, expanded to a faiss ``index_factory`` string by :data:`NAMED_INDEXES`:
    * ``flat``: exact; written to disk as it streams in (memory: one batch).
    * ``hnsw`` / ``hnsw-sq8``: graph search over full / 8-bit scalar-quantised vectors.
    * ``ivf-pq`` / ``ivf-sq8``: an inverted file of ``ivf_nlist`` lists (trained on a sample of
      ``train_sample`` rows), holding product-quantised (``pq_m`` bytes) or 8-bit vectors; the
      vectors are added batch by batch.
    or ``factory``, any faiss factory string (``{nlist}`` in it is the list-count rule's value),
    e.g. ``IVF{nlist}_HNSW32,SQ8``.  ``params``: faiss ParameterSpace settings on top, for
    construction (``efConstruction=200``) and search (``efSearch=512``, ``nprobe=64``,
    ``quantizer_efSearch=64``).  Search settings are stored in the index file, so Pyserini's
    ``FaissSearcher`` searches with them; the manifest records the factory string and the
    parameters.  ``shards`` > 1 writes that many Pyserini index folders of consecutive rows
    (``shard-000``, ...), each searchable on its own; the plugin's search stage searches them all
    and merges by score."""

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
    factory: str = ""  # any faiss index_factory string; replaces index_type
    params: str = ""  # faiss ParameterSpace string, applied after the named type's own

    def __post_init__(self):
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {self.index_type!r}")
        self.index_type = ALIASES.get(self.index_type, self.index_type)
        if self.shards < 1:
            raise ValueError(f"shards must be >= 1, got {self.shards}")
        for name in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe", "train_sample"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        parse_params(self.params)
        if self.factory:
            self.factory = self.factory.strip()
            check_factory(self.factory)

    @classmethod
    def from_args(cls, args) -> "IndexConfig":
        """The index settings of the encode / merge command lines (same flag names)."""
        return cls(index_type=args.index_type, hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction,
                   hnsw_ef_search=args.hnsw_ef_search, ivf_nlist=args.ivf_nlist, ivf_nprobe=args.ivf_nprobe,
                   pq_m=args.pq_m, shards=args.index_shards, factory=getattr(args, "index_factory", None) or "",
                   params=getattr(args, "index_params", None) or "")

    def resolved(self, dim: int, rows: int) -> tuple[str, str]:
        """The faiss factory string and ParameterSpace string this config builds for ``rows``
        vectors of ``dim`` dimensions (what the manifest records)."""
        if self.factory:
            factory = self.factory
            if "{nlist}" in factory:
                factory = factory.replace("{nlist}", str(self.ivf_nlist or ivf_list_count(rows, self.train_sample)))
            params = self._flag_settings(factory, dim)
        else:
            factory, params = NAMED_INDEXES[self.index_type](self, dim, rows)
        merged = {**parse_params(params), **parse_params(self.params)}
        return factory, ",".join(f"{k}={v}" for k, v in merged.items())

    def _flag_settings(self, factory: str, dim: int) -> str:
        """The ``--ivf_nprobe`` / ``--hnsw_ef_*`` settings where a factory string's index has
        them (an IVF's probes, an HNSW graph's ef), as the named types apply them: a factory string
        does not fall back to faiss' own defaults (nprobe 1) unless ``params`` say so."""
        try:
            index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError:
            return ""  # refused by check() with faiss' reason
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            return f"nprobe={min(self.ivf_nprobe, ivf.nlist)}"
        if hasattr(faiss.downcast_index(index), "hnsw"):
            return f"efConstruction={self.hnsw_ef_construction},efSearch={self.hnsw_ef_search}"
        return ""

    def check(self, dim: int) -> None:
        """Everything about this index that only the vector dimension decides (a factory string's
        PQ split, a parameter the index lacks), checked before a vector is encoded."""
        if self.factory:
            check_factory(self.factory, dim)
        make_index(self, dim, self.train_sample)

    @property
    def name(self) -> str:
        """What the index is called in a manifest and a message: the named type or the factory string."""
        return self.factory or self.index_type


def faiss_message(exc: Exception) -> str:
    """faiss' own reason, without the C++ location it starts with."""
    text = str(exc).strip().splitlines()[-1]
    return text.split(": ", 1)[1] if text.startswith("Error in ") and ": " in text else text


def check_factory(factory: str, dim: int | None = None) -> None:
    """A one-line error, before any work, for a factory string faiss cannot build.  Without
    ``dim`` (a command line read before the model is loaded) only what faiss cannot parse is
    refused; with it, anything faiss refuses for vectors of ``dim`` dimensions."""
    try:
        faiss.index_factory(dim or 7680, factory.replace("{nlist}", "1"), faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        if dim is None and "could not parse" not in str(exc):
            return  # a dimension it does not fit: checked again once the dimension is known
        raise ValueError(f"--index_factory {factory!r}{f' at {dim} dimensions' if dim else ''}: "
                         f"{faiss_message(exc)}") from None


def factory_string(config: IndexConfig, dim: int, n_total: int) -> str:
    """faiss' own ``index_factory`` description of the index ``config`` asks for."""
    return config.resolved(dim, n_total)[0]


def make_index(config: IndexConfig, dim: int, n_total: int) -> faiss.Index:
    """The empty index, made by ``faiss.index_factory`` (inner product), with its construction and
    search settings applied through faiss' ParameterSpace (search settings are stored in the index
    file, so Pyserini searches with them)."""
    factory, params = config.resolved(dim, n_total)
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    apply_params(index, params)
    return index


def apply_params(index: faiss.Index, params: str) -> None:
    space = faiss.ParameterSpace()
    for name, value in parse_params(params).items():
        try:
            space.set_index_parameter(index, name, float(value))
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"index parameter {name}={value} does not apply to this index: "
                             f"{faiss_message(exc)}") from None


def train(index: faiss.Index, config: IndexConfig, training_rows) -> None:
    if index.is_trained:
        return
    if training_rows is None:
        raise ValueError("this index type needs training rows")
    sample = np.ascontiguousarray(training_rows(config.train_sample), dtype=np.float32)
    ivf = faiss.try_extract_index_ivf(index)
    pq = getattr(faiss.downcast_index(ivf) if ivf is not None else index, "pq", None)
    needed = max(ivf.nlist if ivf is not None else 1, 2 ** pq.nbits if pq is not None else 1)
    if len(sample) < needed:
        raise ValueError(f"{config.name} needs at least {needed} training vectors, corpus gives {len(sample)}; "
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
                batches: Iterable[tuple[np.ndarray, list[str]]], manifest: dict,
                training_rows: "callable | None" = None, overwrite: bool = False) -> Path:
    """Stream ``(vectors, docids)`` batches into a Pyserini index folder (or ``config.shards``
    shard folders), in a hidden sibling swapped in atomically.  Memory: one batch for flat;
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
        factory, params = config.resolved(dim, n_total)
        streamed = factory == "Flat"  # written as the rows stream in, never held
        template = None if streamed else make_index(config, dim, n_total)
        if template is not None and not template.is_trained:  # trained once, cloned for every shard
            train(template, config, training_rows)
        elif template is not None:
            template = None  # nothing to train: each shard is made for its own rows

        def new_part(s: int):
            rows = bounds[s + 1] - bounds[s]
            if streamed:
                return FlatFileWriter(dirs[s] / "index", dim, rows)
            return faiss.clone_index(template) if template is not None else make_index(config, dim, rows)

        shard, row = 0, 0
        part, ids = new_part(0), open(dirs[0] / "docid", "w", encoding="utf-8")
        try:
            for vectors, docids in batches:
                if len(vectors) != len(docids):
                    raise ValueError(f"{out}: a batch of {len(vectors)} vectors came with {len(docids)} docids")
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
        full = dict(manifest, index_type=config.name, index_config=asdict(config), index_factory=factory,
                    index_params=params, rows=n_total,
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
