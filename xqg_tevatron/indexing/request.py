"""One encode request, one function that runs it: what ``driver.encode`` and the one-command job
both are.

An encode is a corpus, an encoder, a fusion, an index, a store (work dir), an executor and a
shard; the job is the same request with a generation step in front of each unit.  Both commands
only parse their flags into an :class:`EncodeRequest`; :func:`run_encode` declares the stage on
the template (locks, the request record, the up-to-date rule, the units, the merge, the clean-up)
once.  The generation step comes in as a :class:`Generation` the caller builds, because the
indexing stage imports no earlier stage: it wraps each unit's worker, and the units' published
queries are concatenated beside the index.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

from xqg_tevatron.corpus import corpus_files
from xqg_tevatron.indexing.encode_config import EncodeConfig
from xqg_tevatron.indexing.faiss_index import IndexConfig
from xqg_tevatron.indexing.indexer import (INDEX_CORPUS, RunConfig, XqgConfig, XqgIndexer, encode_stats,
                                           index_up_to_date)
from xqg_tevatron.indexing.manifest import read_manifest
from xqg_tevatron.indexing.merge_units import merge_work_dir
from xqg_tevatron.indexing.store import WORK_KIND
from xqg_tevatron.runtime.engine import Executor, LocalExecutor, RunStats, WorkerFactory
from xqg_tevatron.runtime.atomic_io import sha256_file
from xqg_tevatron.runtime.stage import Stage, StageOutcome, UnitWork, concatenate_units
from xqg_tevatron.runtime.workdir import (check_replaceable, check_separate, made_by_of, read_marker,
                                          remove_plugin_dir, request_record)
from xqg_tevatron.xqg.components import unit_suffixes


PUBLISHED = ".jsonl"  # a unit's generated queries, in the published xQG format (the job's units)


class Generation(Protocol):
    """The job's generation step, built once the output and the store are locked (it may read or
    fetch word lists and hash a generator)."""

    settings: dict  # what changes the generated queries (the store records it)
    coverage: object  # after_commit(index, record) and check_complete(records): did it give queries?

    def wrap(self, encode: WorkerFactory) -> WorkerFactory:
        """A worker factory that generates a unit's queries (its ``.jsonl``), then encodes the
        unit with ``encode``'s worker."""


@dataclass
class EncodeRequest:
    """What an encode is.  ``asked``: the values the command records as its request (as given,
    paths resolved; it may hash models, so it is called after the locks); ``generation``: the
    job's step, built after the locks (None: queries come from the corpus or
    ``generated_queries``)."""

    command: str
    corpus: list[str]
    encoder: str
    work_dir: Path
    output: Path
    asked: Callable[[], dict]
    xqg: XqgConfig
    index: IndexConfig = field(default_factory=IndexConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    settings_overrides: object = None  # pooling / normalisation / prefixes given on the command line
    tokenizer: Optional[str] = None
    generated_queries: Sequence[str] = ()
    component_n_per_lang: Sequence[int] = ()
    unit_size: int = 10_000
    shard_id: int = 0
    num_shards: int = 1
    world: int = 1  # torchrun's processes (each one shard)
    executor: Executor = field(default_factory=LocalExecutor)
    num_threads: int = 0  # torch threads (0: the cores, shared by torchrun's processes)
    merging: bool = True  # this process merges the finished store into the index
    overwrite: bool = False
    keep_work_dir: bool = False
    show_progress: bool = True
    generation: Optional[Callable[[], Generation]] = None
    generated_output: Optional[Path] = None  # with generation: the published queries, written here too
    loaded_encoder: object = None  # an encoder already built in this process (index_corpus): used, not loaded
    extra_manifest: Optional[Callable[[], dict]] = None  # called after encoding; its keys go into the manifest
    report: bool = True  # print the shard's stats and the index written (commands); in-process callers do not


def chain(*hooks: Optional[Callable[[int, dict], None]]) -> Callable[[int, dict], None]:
    """One after-commit hook that calls each of ``hooks`` (None: skipped) in order."""
    def after_commit(index: int, record: dict) -> None:
        for hook in hooks:
            if hook is not None:
                hook(index, record)
    return after_commit


def run_encode(req: EncodeRequest) -> StageOutcome:
    """Run ``req`` on the stage template: the output's and the store's locks, the request record,
    an up-to-date output left alone (nothing loaded), the units, the merge (one process), the
    store removed unless kept."""
    out, work = req.output, req.work_dir
    check_separate(work, out, *corpus_files(req.corpus))
    check_replaceable(out, req.overwrite, command=req.command)  # the request (it hashes models) after the locks
    suffixes = unit_suffixes(req.xqg.fusion.vector_mode) + ((PUBLISHED,) if req.generation else ())
    stage = Stage(WORK_KIND, req.command, work, out, suffixes, req.unit_size, req.shard_id, req.num_shards,
                  req.overwrite, req.show_progress, lock_output=req.merging, produces="this index")

    def request() -> dict:
        asked = request_record(req.command, req.asked())
        check_replaceable(out, req.overwrite, request=asked)
        return asked

    def up_to_date(asked: dict) -> bool:
        if not (req.merging and req.world == 1 and index_up_to_date(out, asked, req.corpus, req.unit_size,
                                                                      list(req.generated_queries) or None)):
            return False
        if req.generated_output is None:
            return True
        recorded = read_manifest(out).get("generated_output") or {}
        return req.generated_output.is_file() and recorded.get("sha256") == sha256_file(req.generated_output)

    def prepare(asked: dict) -> UnitWork:
        from xqg_tevatron.indexing.dense_encoder import DenseEncoder
        from xqg_tevatron.tevatron_compat.data import resolve_separator

        if req.loaded_encoder is not None:  # the caller's own encoder, threads and all
            encoder, factory = req.loaded_encoder, None
        else:
            import torch

            torch.set_num_threads(req.num_threads or max(1, (os.cpu_count() or 1) // max(req.world, 1)))
            encoder = DenseEncoder(req.encoder, settings_overrides=req.settings_overrides, tokenizer_name=req.tokenizer,
                                   config=req.encode)
            # an executor that ships workers builds one encoder in each, with the same settings
            factory = functools.partial(DenseEncoder, req.encoder, settings_overrides=encoder.settings,
                                        tokenizer_name=req.tokenizer, config=encoder.config)
        req.xqg.separator = resolve_separator(encoder.tokenizer, req.xqg.separator)
        req.index.check(encoder.dim)  # a factory string the encoder's dimension cannot take: before any unit
        run = RunConfig(unit_size=req.unit_size, shard_id=req.shard_id, num_shards=req.num_shards,
                        show_progress=req.show_progress)
        indexer = XqgIndexer(encoder, req.xqg, run, work, generated_queries=list(req.generated_queries) or None,
                             executor=req.executor, component_n_per_lang=list(req.component_n_per_lang),
                             encoder_factory=factory, made_by=stage.made_by)
        units = indexer.unit_work(req.corpus)
        if req.generation is not None:  # built now: after the locks, before any unit
            generation = req.generation()
            units.settings = dict(units.settings, **generation.settings)
            units.worker = generation.wrap(units.worker)
            units.after_commit = chain(units.after_commit, generation.coverage.after_commit)
            units.check_complete = generation.coverage.check_complete
        return units

    def finish(stats: RunStats, asked: dict) -> bool:
        if req.report:
            print("shard %d/%d: %s" % (req.shard_id, req.num_shards, encode_stats(stats)), file=sys.stderr)
        if req.world > 1:
            import torch.distributed as dist

            dist.barrier()
        if not req.merging:
            if req.world == 1:
                print(f"shard done; when every shard is: python -m xqg_tevatron.driver.merge --work-dir {work} "
                      f"--output {out}" + (" --keep-work-dir" if req.keep_work_dir else ""), file=sys.stderr)
            return False
        extra = dict(req.extra_manifest() if req.extra_manifest else {})
        if req.generated_output is not None:
            extra["generated_output"] = write_generated(work, stats.units, req.generated_output)
        merge_work_dir(work, out, req.index, overwrite=req.overwrite, extra_manifest=extra or None,
                       show_progress=req.show_progress, require_queries=req.xqg.require_queries,
                       fusion=req.xqg.fusion, request=asked)
        return True

    outcome = stage.execute(req.corpus, request, up_to_date, prepare, finish,
                            clean_up=None if req.keep_work_dir else lambda: remove_own_work_dir(work, out, req.command))
    if outcome.merged and req.report:
        kept = f" (the store {work} is kept: re-fuse with driver.merge)" if req.keep_work_dir else ""
        print(f"wrote Pyserini index {out}{kept}", file=sys.stderr)
    return outcome


def index_corpus(encoder, xqg: XqgConfig, corpus: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 index_config: Optional[IndexConfig] = None, run: Optional[RunConfig] = None,
                 work_dir: Optional[str | os.PathLike] = None, overwrite: bool = False, keep_work_dir: bool = False,
                 extra_manifest: Optional[Callable[[], dict]] = None) -> Path:
    """The encode request in one process, with the caller's encoder already loaded (the study and
    the benchmarks call it): the same :func:`run_encode` as ``driver.encode``, so the same locks,
    up-to-date rule, units, merge and clean-up (work dir default ``<out_dir>.work``), quiet.
    ``extra_manifest`` is called after encoding (e.g. to record what the encoding cost)."""
    from dataclasses import asdict

    out, corpus = Path(out_dir), [str(c) for c in corpus]
    run = run or RunConfig(show_progress=False)
    index_config = index_config or IndexConfig()

    def asked() -> dict:
        return {"corpus": [str(Path(c).resolve()) for c in corpus], "encoder": encoder.manifest_settings(),
                "fusion": xqg.fusion.record(), "index": asdict(index_config), "unit_size": run.unit_size}

    run_encode(EncodeRequest(INDEX_CORPUS, corpus, str(getattr(encoder, "model_dir", "")),
                             Path(work_dir or f"{out}.work"), out, asked, xqg, index=index_config,
                             unit_size=run.unit_size, shard_id=run.shard_id, num_shards=run.num_shards,
                             overwrite=overwrite, keep_work_dir=keep_work_dir, show_progress=run.show_progress,
                             loaded_encoder=encoder, extra_manifest=extra_manifest, report=False))
    return out


def remove_own_work_dir(work_dir: Path, out: Path, command: str) -> None:
    """Delete the work dir once the index is written, if ``command`` made it for this output
    (never a store another command, or this command for another output, made), or if it holds
    nothing but this run's lock files (a rerun after a killed clean-up re-creates it to lock it)."""
    if not work_dir.is_dir():
        return
    marker = read_marker(work_dir)
    if marker is None or marker.get("made_by") == made_by_of(command, out):
        remove_plugin_dir(work_dir, kinds=[WORK_KIND], command=command)  # refuses a folder holding others' files


def write_generated(work: Path, n_units: int, output: Path) -> dict:
    """The published generated-query file: every unit's ``.jsonl``, verified, in corpus order.
    A file that already holds exactly these bytes is left as it is (a rerun changes nothing).
    Returns its record for the index manifest (path, bytes, sha256)."""
    concatenate_units(work, n_units, PUBLISHED, output, keep_identical=True)
    return {"path": str(output.resolve()), "bytes": output.stat().st_size, "sha256": sha256_file(output)}
