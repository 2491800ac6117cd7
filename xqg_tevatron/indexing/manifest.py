"""The index manifest: the one definition of its file name, of the docid delimiter that
``--vector_mode multi`` uses, and of how a manifest is read and checked.

Why a module of its own: the indexer writes these things and the searcher, the evaluator and
the work-dir guard read them; none of those should import the indexer to learn a file name.
"""
from __future__ import annotations

import os
from pathlib import Path

from xqg_tevatron.atomic_io import read_json, recover_swap

INDEX_MANIFEST = "xqg_manifest.json"
MANIFEST = INDEX_MANIFEST
MULTI_DELIMITER = "#"  # Pyserini's --max-passage-delimiter default: docid#k rows of one passage


def read_manifest(index_dir: str | os.PathLike) -> dict:
    path = Path(index_dir) / MANIFEST
    return read_json(path, "index manifest") if path.exists() else {}


def require_manifest(index_dir: str | os.PathLike) -> dict:
    """The manifest of an index this plugin wrote; a one-line error for anything else."""
    path = Path(index_dir) / MANIFEST
    if not Path(index_dir).exists():
        recover_swap(Path(index_dir))  # a writer killed mid-swap (journalled fallback): finish it
    if not Path(index_dir).is_dir():
        raise FileNotFoundError(f"index directory not found: {index_dir}")
    if not path.is_file():
        raise FileNotFoundError(f"{index_dir}: no {MANIFEST} (not an index written by xqg_tevatron)")
    return read_json(path, "index manifest")


def check_docids(index_dir: str | os.PathLike, manifest: dict) -> None:
    """The ``docid`` file must hold one id per index row (Pyserini pairs them by position)."""
    path = Path(index_dir) / "docid"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (a Pyserini index needs one docid per row)")
    with open(path, "rb") as fh:
        n = sum(1 for _ in fh)
    rows = manifest.get("rows")
    if rows is not None and n != rows:
        raise ValueError(f"{path}: {n} docids, but the index holds {rows} rows ({Path(index_dir) / MANIFEST}); the "
                         "index folder was changed after it was written")
