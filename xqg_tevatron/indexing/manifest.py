"""The index manifest: the docid delimiter that ``--vector_mode multi`` uses, and how a
manifest is read and checked (its file name is the runtime's, ``runtime.workdir.INDEX_MANIFEST``).

Why a module of its own: the indexer writes these things and the searcher and the evaluator
read them; none of those should import the indexer to learn them.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from xqg_tevatron.runtime.atomic_io import head_tail_sha256, read_json, recover_swap, sha256_file
from xqg_tevatron.runtime.workdir import INDEX_MANIFEST  # named where the runtime reads an output's request

MULTI_DELIMITER = "#"  # Pyserini's --max-passage-delimiter default: docid#k rows of one passage


def read_manifest(index_dir: str | os.PathLike) -> dict:
    path = Path(index_dir) / INDEX_MANIFEST
    return read_json(path, "index manifest") if path.exists() else {}


def require_manifest(index_dir: str | os.PathLike) -> dict:
    """The manifest of an index this plugin wrote; a one-line error for anything else."""
    path = Path(index_dir) / INDEX_MANIFEST
    if not Path(index_dir).exists():
        recover_swap(Path(index_dir))  # a writer killed mid-swap (journalled fallback): finish it
    if not Path(index_dir).is_dir():
        raise FileNotFoundError(f"index directory not found: {index_dir}")
    if not path.is_file():
        raise FileNotFoundError(f"{index_dir}: no {INDEX_MANIFEST} (not an index written by xqg_tevatron)")
    return read_json(path, "index manifest")


def index_file_digests(folder: str | os.PathLike) -> dict:
    """What one Pyserini index folder's files hold, recorded at commit: the ``docid`` file's
    bytes, rows and sha256, the ``index`` file's bytes, sha256 and a hash of its first and last
    MiB (what the cheap check at load compares)."""
    folder = Path(folder)
    docid, index = folder / "docid", folder / "index"
    with open(docid, "rb") as fh:
        rows = sum(1 for _ in fh)
    return {"docid": {"bytes": docid.stat().st_size, "rows": rows, "sha256": sha256_file(docid)},
            "index": {"bytes": index.stat().st_size, "sha256": sha256_file(index),
                      "sample_sha256": head_tail_sha256(index)}}


def build_id_of(parts: list[dict]) -> str:
    """The id every folder of one build carries: a digest of all of its files' digests."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class IndexIntegrityError(ValueError):
    """An index folder whose files are not the ones its manifest recorded."""


def verify_index_dir(index_dir: str | os.PathLike, full: bool = False) -> dict:
    """Check an index (every shard) against what was recorded when it was written, and return
    its manifest.  Cheap by default (what a search pays at load): each ``docid`` file's rows and
    sha256, each ``index`` file's size and the hash of its ends, and one build id across the
    shards.  ``full`` also hashes every vector file whole.  A mismatch is one line naming the
    file; the index is never searched with ids that do not belong to its vectors."""
    top = Path(index_dir)
    manifest = require_manifest(top)
    build = manifest.get("build_id")
    if build is None:
        raise IndexIntegrityError(f"{top / INDEX_MANIFEST}: records no digests of the index files (written by an "
                                  "older xqg_tevatron); rebuild it (driver.merge re-fuses a kept work dir in seconds)")
    shards = manifest.get("shards") or []
    parts = [(top / s["dir"], s.get("files")) for s in shards] if shards else [(top, manifest.get("files"))]
    for folder, listed in parts:
        own = require_manifest(folder) if shards else manifest
        if own.get("build_id") != build:
            raise IndexIntegrityError(
                f"{folder}: from another build (build id {own.get('build_id')}, {top / INDEX_MANIFEST} says {build}); "
                "the shards of one index must come from one build: restore the shard or rebuild the index")
        _check_files(folder, listed or own.get("files") or {}, full)
    return manifest


def _check_files(folder: Path, recorded: dict, full: bool) -> None:
    for name in ("docid", "index"):
        if name not in recorded:
            raise IndexIntegrityError(f"{folder / INDEX_MANIFEST}: records no digest of its {name} file")
    docid = folder / "docid"
    if not docid.is_file():
        raise FileNotFoundError(f"{docid}: missing (a Pyserini index needs one docid per row)")
    want = recorded["docid"]
    with open(docid, "rb") as fh:
        rows = sum(1 for _ in fh)
    if rows != want["rows"]:
        raise IndexIntegrityError(f"{docid}: {rows} docids, but the index holds {want['rows']} rows; the index folder "
                                  "was changed after it was written")
    if sha256_file(docid) != want["sha256"]:
        raise IndexIntegrityError(f"{docid}: not the docid file written with these vectors (sha256 differs from "
                                  f"{folder / INDEX_MANIFEST}); the index folder was changed after it was written")
    index, want = folder / "index", recorded["index"]
    if not index.is_file():
        raise FileNotFoundError(f"{index}: missing")
    size = index.stat().st_size
    if size != want["bytes"] or head_tail_sha256(index) != want["sample_sha256"] or (
            full and sha256_file(index) != want["sha256"]):
        raise IndexIntegrityError(f"{index}: not the vector file written with this manifest ({size} bytes, recorded "
                                  f"{want['bytes']}; content differs); the index folder was changed after it was "
                                  "written")
