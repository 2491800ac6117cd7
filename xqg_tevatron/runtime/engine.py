"""The one engine for corpus work in units (generation, encoding), with interchangeable executors.

Why one: generation and encoding are the same shape of job at corpus scale.  The corpus is cut
in corpus order into **units** of ``unit_size`` passages; unit ``c`` has the deterministic id
``c`` and belongs to shard ``c % num_shards`` (Tevatron-style ``--shard-id/--num-shards``
processes, e.g. a SLURM array).  A unit's worker is a pure function of the unit's passages
and the job's settings, so a unit done twice writes the same bytes; its files are committed
atomically with a record written last (:mod:`xqg_tevatron.runtime.units`).  A rerun skips committed,
verified units.  So exactly-once output comes from deterministic units plus an atomic commit,
whatever the executor retries:

* :class:`LocalExecutor` (the default): units one after another in this process; no Ray import.
* :class:`~xqg_tevatron.runtime.ray_executor.RayExecutor`: Ray Core actors, one model load per actor
  (``num_gpus`` per actor where GPUs exist, fractional CPUs on small machines).  With no address
  an embedded Ray starts and stops with the job; ``address`` joins an existing cluster
  (``ray start --head`` / ``ray start --address``).  Actors commit units themselves into the work
  dir, which must be a folder every node can read and write (a shared file system).  Actors are
  disposable: a lost one's units go back on the queue (run at least once; the commit makes that
  harmless), and a stretch with no live actor is bounded.

Memory in the driver is bounded by the units in flight (two per Ray actor, one locally), never
the corpus.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Protocol

from tqdm.auto import tqdm

from xqg_tevatron.corpus import Passage
from xqg_tevatron.runtime.units import Unit, drop_damaged, existing_units

logger = logging.getLogger(__name__)


class UnitWorker(Protocol):
    """Turns one unit's passages into its files (``suffix -> bytes``) and record fields."""

    def process(self, index: int, passages: list[Passage]) -> tuple[dict[str, bytes], dict]: ...


WorkerFactory = Callable[[], UnitWorker]  # must pickle for Ray: a module-level class instance


def iter_units(stream: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last may be shorter): the units, in corpus order."""
    it = iter(stream)
    while True:
        batch = list(itertools.islice(it, size))
        if not batch:
            return
        yield batch


def torchrun_rank() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` that torchrun gives its processes, else ``(0, 1)``: under torchrun
    each rank is one shard, whatever ``--shard-id/--num-shards`` say."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else (0, 1)


def resolve_shard(shard_id: int, num_shards: int) -> tuple[int, int]:
    """The shard this process does: torchrun's rank when launched by it, else the flags',
    checked (one spelling everywhere: ``--shard-id I --num-shards N``)."""
    rank, world = torchrun_rank()
    if world > 1:
        return rank, world
    check_shard(shard_id, num_shards)
    return shard_id, num_shards


# The one check of each value every stage is cut by (flags, plans, stages), before any model loads.
def check_unit_size(unit_size: int) -> None:
    if unit_size < 1:
        raise ValueError(f"--unit_size must be >= 1, got {unit_size}")


def check_shard(shard_id: int, num_shards: int) -> None:
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"--shard-id must be in [0, --num-shards={num_shards}), got {shard_id}")


def check_units(unit_size: int, shard_id: int, num_shards: int) -> None:
    """The unit size and shard every stage is cut by."""
    check_unit_size(unit_size)
    check_shard(shard_id, num_shards)


@dataclass(frozen=True)
class UnitPlan:
    """Which units of a work dir this process does: shard ``shard_id`` of ``num_shards``."""

    work: Path
    suffixes: tuple[str, ...]
    unit_size: int
    shard_id: int = 0
    num_shards: int = 1

    def __post_init__(self):
        check_units(self.unit_size, self.shard_id, self.num_shards)

    def unit(self, index: int) -> Unit:
        return Unit(self.work, index, self.suffixes)

    def mine(self, index: int) -> bool:
        return index % self.num_shards == self.shard_id


@dataclass
class RunStats:
    units: int = 0
    done: int = 0
    skipped: int = 0
    complete: bool = False
    changed: int = 0  # committed units whose input passages changed since: done again


@dataclass(frozen=True)
class Task:
    """One unit to do: its index, its passages and the digest of those passages (recorded at
    commit, so a later run can tell that the unit's input is still the same)."""

    index: int
    passages: list[Passage]
    input_sha256: str


def unit_input_digest(passages: Iterable[Passage]) -> str:
    """sha256 of everything a unit's output depends on in its passages (docid, title, text,
    generated queries).  Computed as the corpus streams by, so every byte of the corpus is
    covered at no extra read: an edit that keeps a file's size and mtime still changes it."""
    h = hashlib.sha256()
    for p in passages:
        h.update(json.dumps([p.docid, p.title, p.text, p.generated_queries], ensure_ascii=False,
                            sort_keys=True).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def digest_of_units(digests: Iterable[str]) -> str:
    """One digest of a corpus as the engine cuts it: over its units' input digests, in order."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


def corpus_digest(passages: Iterable[Passage], unit_size: int) -> str:
    """:func:`digest_of_units` of a passage stream, read once: what an output records, so that a
    rerun can tell, before loading any model, that its output was made from exactly this corpus."""
    return digest_of_units(unit_input_digest(batch) for batch in iter_units(passages, unit_size))


def commit(plan: UnitPlan, task: Task, files: dict[str, bytes], meta: dict) -> None:
    plan.unit(task.index).commit({s: (lambda fh, data=files[s]: fh.write(data)) for s in plan.suffixes},
                                 dict(meta, input_sha256=task.input_sha256))


def run_units(plan: UnitPlan, passages: Iterable[Passage], factory: WorkerFactory, executor: "Executor",
              show_progress: bool = True, after_commit: Optional[Callable[[int, dict], None]] = None) -> RunStats:
    """Do this shard's units that are not committed yet, streaming the corpus once.  Committed
    units are verified first; damaged ones are named and done again.  A committed unit is
    skipped only if its input passages are still the ones it was made from (their digest, taken
    as the corpus streams by); otherwise it is named and done again.  ``complete`` is set only
    when the executor has taken every unit (one that stops early, or dies, leaves it False)."""
    drop_damaged([u for u in existing_units(plan.work, plan.suffixes) if plan.mine(u.index)])
    stats = RunStats()

    def todo() -> Iterator[Task]:
        for c, batch in enumerate(iter_units(passages, plan.unit_size)):
            stats.units = c + 1
            if not plan.mine(c):
                continue
            digest = unit_input_digest(batch)
            unit = plan.unit(c)
            if unit.committed():
                if unit.record().get("input_sha256") == digest:
                    stats.skipped += 1
                    continue
                logger.warning("%s: its input passages changed since it was committed (%s); done again",
                               unit.record_path, batch[0].where)
                stats.changed += 1
                unit.drop()
            yield Task(c, batch, digest)
        stats.complete = True

    with tqdm(desc=f"shard {plan.shard_id}/{plan.num_shards} units", unit="unit", disable=not show_progress, delay=5) as bar:
        def done(c: int) -> None:
            stats.done += 1
            bar.update(1)
            if after_commit is not None:
                after_commit(c, plan.unit(c).record())

        executor.run(plan, todo(), factory, done)
    return stats


class Executor(Protocol):
    """Runs a plan's units.  ``ships_workers``: workers are built in other processes from the
    pickled factory (so it must hold a model factory, not a loaded model); ``threads_per_worker``:
    compute threads a worker sets in its process (0: leave them)."""

    ships_workers: bool
    threads_per_worker: int

    def run(self, plan: UnitPlan, tasks: Iterator[Task], factory: WorkerFactory,
            done: Callable[[int], None]) -> None: ...


class LocalExecutor:
    """Units one after another in this process; the worker (and its model) is built at the
    first unit that needs doing, so a fully resumed job loads nothing."""

    ships_workers = False
    threads_per_worker = 0

    def run(self, plan, tasks, factory, done) -> None:
        worker = None
        for task in tasks:
            worker = worker or factory()
            files, meta = worker.process(task.index, task.passages)
            commit(plan, task, files, meta)
            done(task.index)


@dataclass
class LocalArguments:
    """in this process, one unit after another (the default)"""

    def build(self, threads: int = 0) -> LocalExecutor:
        return LocalExecutor()
