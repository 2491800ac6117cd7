"""The one template of a corpus-scale stage: lock, check the output, claim the work dir, run the
units on the engine, record the shard, merge, release, clean up.

Why one: generation (``generate/generate_units.py``), encoding (``indexing/indexer.py``,
``indexing/encode_cli.py``) and the one-command job (``job.py``) are the same job around different
workers.  Each declares itself as a :class:`Stage` (its work-dir kind, unit files and unit size)
and hands :meth:`Stage.execute` what differs: what its output is a function of (the request),
how to tell that output is up to date, what its units are once its models are loaded
(:class:`UnitWork`), and how to merge them.  So the guarantees (locks before anything loads, a
work dir refused rather than mixed, verified units, idempotent reruns, exactly-once commits on
any executor) live here, once.

The shard-done record (``shard-I-of-N.done``: how many units the corpus has, plus what the stage
records, e.g. the encode's fusion) and the merge of units' text files into one output are also
written here, once.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from xqg_tevatron.corpus import CorpusFormatError, Passage
from xqg_tevatron.runtime.atomic_io import atomic_open, atomic_write_text, read_json, sha256_file
from xqg_tevatron.runtime.engine import (Executor, RunStats, UnitPlan, WorkerFactory, check_units, corpus_digest,
                                         run_units)
from xqg_tevatron.runtime.units import DamagedUnitError, Unit
from xqg_tevatron.runtime.workdir import FolderLock, claim_work_dir, lock_output, lock_work_dir, made_by_of, release


# ------------------------------------------------------------------------------ shard records
def shard_done_path(work: Path, shard_id: int, num_shards: int) -> Path:
    return Path(work) / f"shard-{shard_id}-of-{num_shards}.done"


def write_shard_done(plan: UnitPlan, units: int, record: Optional[dict] = None) -> Path:
    """Mark this shard finished (how many units the corpus has): what a merge waits for."""
    path = shard_done_path(plan.work, plan.shard_id, plan.num_shards)
    atomic_write_text(path, json.dumps({"chunks": units, **(record or {})}))
    return path


def all_shards_done(work: Path, num_shards: int) -> bool:
    return all(shard_done_path(work, s, num_shards).exists() for s in range(num_shards))


def shard_records(work: Path, num_shards: int) -> list[dict]:
    """Every shard's record, once all are finished and agree on the number of units; a one-line
    error naming the shards still missing otherwise."""
    paths = [shard_done_path(work, s, num_shards) for s in range(num_shards)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise RuntimeError(f"cannot merge {work}: shards not finished: {missing}")
    records = [read_json(p, "shard record") for p in paths]
    counts = {r["chunks"] for r in records}
    if len(counts) != 1:
        raise RuntimeError(f"shards disagree on the number of units: {counts} (was the corpus changed?)")
    return records


def any_shard_record(work: Path) -> dict:
    """The record of a finished shard, whichever (what they share, e.g. the fusion asked for)."""
    done = sorted(Path(work).glob("shard-*-of-*.done"))
    if not done:
        raise RuntimeError(f"cannot merge {work}: no shard has finished")
    return read_json(done[0], "shard record")


# ------------------------------------------------------------------------------ unit merges
def concatenate_units(work: Path, n_units: int, suffix: str, output: Path, rows_field: str = "passages",
                      keep_identical: bool = False) -> list[Optional[str]]:
    """Write every unit's ``suffix`` file into ``output``, in corpus order, each one verified
    against its record (size, sha256, and its line count against ``rows_field``) as it is
    copied; atomically.  ``keep_identical``: an ``output`` that already holds exactly these
    bytes is left as it is.  Returns the units' input digests, in order."""
    units = [Unit(work, c, (suffix,)) for c in range(n_units)]
    for unit in units:
        if not unit.committed():
            raise DamagedUnitError(f"{unit.record_path}: missing; rerun the same command: missing units are done "
                                   "again")
    records = [unit.record() for unit in units]
    if keep_identical and output.is_file() and output.stat().st_size == sum(r["files"][suffix]["bytes"]
                                                                            for r in records):
        import hashlib

        h = hashlib.sha256()
        for unit in units:
            h.update(unit.read_bytes(suffix))
        if h.hexdigest() == sha256_file(output):
            return [r["input_sha256"] for r in records]
    with atomic_open(output, "wb") as fh:
        for unit, record in zip(units, records):
            data = unit.read_bytes(suffix)
            if data.count(b"\n") != record[rows_field]:
                raise DamagedUnitError(f"{unit.path(suffix)}: line count differs from its record")
            fh.write(data)
    return [r["input_sha256"] for r in records]


# ------------------------------------------------------------------------------ the template
@dataclass
class UnitWork:
    """What a stage's units are, known once its models are loaded (or their factories built)."""

    settings: dict  # the work dir's claim: everything that changes a unit's bytes
    passages: Iterable[Passage]
    worker: WorkerFactory
    executor: Executor
    after_commit: Optional[Callable[[int, dict], None]] = None  # e.g. warnings said at the first unit
    record: Optional[dict] = None  # what the shard-done record carries besides the unit count
    # checks over the records of every unit of the shard, before it is declared done (a raise
    # leaves it unfinished: the rerun checks again)
    check_complete: Optional[Callable[[list[dict]], None]] = None


@dataclass
class StageOutcome:
    """How a shard's run ended: ``run`` is None when the output was already up to date."""

    run: Optional[RunStats] = None
    merged: bool = False

    @property
    def up_to_date(self) -> bool:
        return self.run is None


@dataclass
class Stage:
    """A stage on the engine: shard ``shard_id`` of ``num_shards`` of a corpus cut into units of
    ``unit_size`` passages, committed into ``work`` (a work dir of ``kind``, recorded as made
    by ``command`` for ``output``) as ``suffixes`` files.  ``lock_output``: hold the output's lock
    from before anything loads to the last rename (False: the merge takes it itself, when the
    last shard finishes).  ``produces``: what the output holds, for the up-to-date line;
    ``what``: what a refused claim names as having changed."""

    kind: str
    command: Optional[str]
    work: Path
    output: Path
    suffixes: tuple[str, ...]
    unit_size: int
    shard_id: int = 0
    num_shards: int = 1
    overwrite: bool = False
    show_progress: bool = True
    lock_output: bool = True
    produces: str = "this output"
    what: str = "corpus or settings"

    def __post_init__(self):
        self.work, self.output = Path(self.work), Path(self.output)
        check_units(self.unit_size, self.shard_id, self.num_shards)  # before anything else

    @property
    def plan(self) -> UnitPlan:
        return UnitPlan(self.work, tuple(self.suffixes), self.unit_size, self.shard_id, self.num_shards)

    @property
    def shard_name(self) -> str:
        return f"shard-{self.shard_id}-of-{self.num_shards}"

    @property
    def made_by(self) -> Optional[dict]:
        """What the work dir records about its maker (None: a caller in process, no command)."""
        return made_by_of(self.command, self.output) if self.command else None

    def lock_work(self) -> list[FolderLock]:
        return lock_work_dir(self.work, self.kind, self.overwrite, self.shard_name, self.made_by)

    def claim(self, settings: dict, locks: Optional[list[FolderLock]] = None) -> list[FolderLock]:
        """The work dir claimed for ``settings`` (a rerun with other settings is refused with what
        differs; ``overwrite`` re-claims it) and locked; returns the locks."""
        return claim_work_dir(self.work, settings, self.kind, self.what, self.overwrite, shard=self.shard_name,
                              made_by=self.made_by, locks=locks)

    def run(self, work: UnitWork, corpus: Sequence) -> RunStats:
        """This shard's units that are not committed yet; the shard-done record once all are."""
        plan = self.plan
        run = run_units(plan, work.passages, work.worker, work.executor, self.show_progress,
                        work.after_commit)
        if run.complete:
            if run.units == 0:
                raise CorpusFormatError(f"empty corpus: no passages in {list(corpus)}")
            if work.check_complete is not None:
                work.check_complete([plan.unit(c).record() for c in range(run.units) if plan.mine(c)])
            write_shard_done(plan, run.units, work.record)
        return run

    def execute(self, corpus: Sequence, request: Callable[[], dict], up_to_date: Callable[[dict], bool],
                prepare: Callable[[dict], UnitWork], finish: Callable[[RunStats, dict], bool],
                clean_up: Optional[Callable[[], None]] = None) -> StageOutcome:
        """The whole stage for one shard.  In order: the output's lock (``lock_output``), the work
        dir's checks and locks, then ``request()`` (it may hash models: after the locks); an
        output that ``up_to_date(request)`` says is complete ends it there, nothing loaded.
        Else ``prepare(request)`` loads what the units need, the work dir is claimed for its
        settings, the units run, and once the shard is complete ``finish(stats, request)``
        merges (True when it did).  The work dir's locks are released, then ``clean_up()`` runs
        when the output is complete, still under the output's lock."""
        out_locks = [lock_output(self.output)] if self.lock_output else []
        try:
            work_locks = self.lock_work()
            try:
                asked = request()
                if up_to_date(asked):
                    print(f"up to date: {self.output} already holds {self.produces} (same command, same corpus "
                          "content); nothing loaded or written", file=sys.stderr)
                    outcome = StageOutcome()
                else:
                    work = prepare(asked)
                    work_locks = self.claim(work.settings, work_locks)
                    run = self.run(work, corpus)
                    outcome = StageOutcome(run)
                    if run.complete:
                        outcome.merged = finish(run, asked)
            finally:
                release(work_locks)
            if clean_up is not None and (outcome.up_to_date or outcome.merged):
                clean_up()
            return outcome
        finally:
            release(out_locks)


def output_up_to_date(record: Optional[dict], request: dict, passages: Callable[[], Iterable[Passage]],
                      unit_size: int, intact: Callable[[], bool]) -> bool:
    """The one rule every stage's rerun uses to leave its output alone: the output's ``record``
    (an index manifest, a generation output's record) holds this ``request`` and the digest of
    exactly these passages, cut into units of ``unit_size`` (content, not size or mtime), and its
    files are still ``intact``.  Asked before any model loads: one read of the corpus.  An
    unreadable corpus or output is simply not up to date (the run then says what is wrong)."""
    try:
        if not record or record.get("request") != request or not record.get("inputs_sha256"):
            return False
        return intact() and corpus_digest(passages(), unit_size) == record["inputs_sha256"]
    except (OSError, ValueError):
        return False
