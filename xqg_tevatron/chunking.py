"""Helpers for chunked, resumable work: fixed-size chunks of a stream, atomic file writes."""
from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def iter_chunks(stream: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(stream)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary sibling and rename, so readers never see a partial file.  The
    temporary name carries the process id: torchrun ranks writing the same file never share it."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: Path, newline: str | None = None):
    """A text file handle whose content appears at ``path`` only if the block completes: a
    crash or an error leaves the old file (or none), never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_save_npy(path: Path, array) -> None:
    """``np.save`` (never pickled) via a temporary sibling and rename."""
    import numpy as np

    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def json_safe(obj):
    """``obj`` with every NaN/inf float replaced by None (JSON has no NaN; a reader would choke)."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps_json(obj, **kwargs) -> str:
    """Strict JSON: NaN becomes null (never the non-standard ``NaN`` token)."""
    import json

    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def shard_from_env(shard_id: int, num_shards: int) -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` when launched by torchrun, else the given values."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        return int(os.environ.get("RANK", "0")), world
    return shard_id, num_shards
