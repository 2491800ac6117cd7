"""Fixed-size chunks of a stream and torchrun shard detection (the chunked work of encode and
generation; atomic writes live in :mod:`xqg_tevatron.atomic_io`)."""
from __future__ import annotations

import itertools
import os
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def iter_chunks(stream: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(stream)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def shard_from_env(shard_id: int, num_shards: int) -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` when launched by torchrun, else the given values."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        return int(os.environ.get("RANK", "0")), world
    return shard_id, num_shards
