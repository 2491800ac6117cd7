"""Helpers for chunked, resumable work: fixed-size chunks of a stream, atomic file writes."""
from __future__ import annotations

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
    """Write via a temporary sibling and rename, so readers never see a partial file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def shard_from_env(shard_id: int, num_shards: int) -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` when launched by torchrun, else the given values."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        return int(os.environ.get("RANK", "0")), world
    return shard_id, num_shards
