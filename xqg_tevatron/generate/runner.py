"""Batched, sharded, resumable generation into the published xQG jsonl format.

Same scheme as the encoder: the corpus is cut into chunks in order, chunk ``c`` belongs to
shard ``c % num_shards``, each finished chunk is one atomically written jsonl in the work
directory, and the final file is the concatenation of all chunks in order (written under a
temporary name, then renamed).  A killed run resumes by skipping finished chunks.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence


from xqg_tevatron.atomic_io import atomic_open, read_json
from xqg_tevatron.engine import (Executor, LocalExecutor, UnitPlan, add_executor_arguments, executor_from_args,
                                 resolve_shard, run_units, shard_done)
from xqg_tevatron.corpus import CorpusFormatError, Passage, corpus_files, iter_passages
from xqg_tevatron.units import DamagedUnitError, Unit
from xqg_tevatron.workdir import (check_separate, claim_work_dir, fingerprint_inputs, lock_output, output_lock, release,
                                  remove_plugin_dir)

# (passages, language) -> n queries per passage
GenerateFn = Callable[[list[Passage], str], list[list[str]]]


@dataclass
class GenerationJob:
    corpus: Sequence[str]
    output: str
    languages: Sequence[str]
    chunk_size: int = 1000
    shard_id: int = 0
    num_shards: int = 1
    work_dir: Optional[str] = None
    overwrite: bool = False
    show_progress: bool = True

    @property
    def work(self) -> Path:
        return Path(self.work_dir or f"{self.output}.work")


WORK_KIND = "generate-work"
UNIT_FILES = (".jsonl",)


def published_records(chunk: list[Passage], per_lang: dict[str, list[list[str]]], languages: Sequence[str]) -> bytes:
    """A unit's passages with their generated queries, in the published xQG jsonl format."""
    lines = []
    for i, p in enumerate(chunk):
        rec = {"docid": p.docid, "title": p.title, "text": p.text,
               "generated_queries": {lang: per_lang[lang][i] for lang in languages}}
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


@dataclass
class GenerationWorker:
    """The engine's worker for generation: one unit's passages -> its published jsonl."""

    generate: GenerateFn
    languages: Sequence[str]

    def process(self, index: int, chunk: list[Passage]) -> tuple[dict[str, bytes], dict]:
        per_lang = {lang: self.generate(chunk, lang) for lang in self.languages}
        return {".jsonl": published_records(chunk, per_lang, self.languages)}, {"passages": len(chunk)}


def run_generation(job: GenerationJob, generate: GenerateFn | Callable[[], GenerateFn], limit_chunks: Optional[int] = None,
                   generator_settings: Optional[dict] = None, executor: Optional[Executor] = None,
                   build: bool = False) -> dict:
    """Generate this shard's units with the engine, then (single shard, or the last shard to
    finish) write the output.  ``generate`` is the generator, or (``build=True``) a function
    that builds it: then nothing is loaded when every unit is already done, and each Ray actor
    loads its own.  The work dir records the inputs' fingerprints, languages, chunking and
    ``generator_settings``; a rerun with any of them changed is refused, never mixed, and
    ``--overwrite`` re-claims it.  Committed units are verified first; damaged ones are
    generated again."""
    out = Path(job.output)
    if out.is_dir():
        raise FileExistsError(f"{out} is a directory; --output names the jsonl file to write")
    if out.exists() and not job.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not job.languages:
        raise ValueError("no --languages given")
    inputs = corpus_files(job.corpus)
    check_separate(job.work, out)
    for path in inputs:
        check_separate(job.work, path)
    plan = UnitPlan(job.work, UNIT_FILES, job.chunk_size, job.shard_id, job.num_shards)
    settings = {"inputs": fingerprint_inputs(inputs), "languages": list(job.languages),
                "chunk_size": job.chunk_size, "num_shards": job.num_shards, "generator": generator_settings or {}}
    locks = [lock_output(out)] if job.num_shards == 1 else []  # shards lock it only to merge
    languages = list(job.languages)
    factory = (lambda: GenerationWorker(generate(), languages)) if build else \
        (lambda: GenerationWorker(generate, languages))
    try:
        locks += claim_work_dir(job.work, settings, WORK_KIND, "corpus or generator settings", job.overwrite,
                                shard=f"shard-{job.shard_id}-of-{job.num_shards}")
        run = run_units(plan, iter_passages(job.corpus), factory, executor or LocalExecutor(), job.show_progress,
                        limit_chunks)
        stats = {"chunks": run.chunks, "generated": run.done, "skipped": run.skipped, "complete": run.complete}
        if not run.complete:
            return stats
        if run.chunks == 0:
            raise CorpusFormatError(f"empty corpus: no passages in {list(job.corpus)}")
        shard_done(plan, run)
        stats["merged"] = merge_generation(job, have_output_lock=job.num_shards == 1)
    finally:
        release(locks)
    if stats["merged"]:
        remove_plugin_dir(job.work, kinds=[WORK_KIND])
    return stats


def merge_generation(job: GenerationJob, have_output_lock: bool = False) -> bool:
    """Concatenate the chunks into ``job.output`` once every shard is done; False if some are
    not, or another shard is merging right now.  Every chunk is checked against its record
    (size, sha256, line count) as it is copied."""
    markers = [job.work / f"shard-{s}-of-{job.num_shards}.done" for s in range(job.num_shards)]
    if not all(m.exists() for m in markers):
        return False
    lock = None
    if not have_output_lock:
        lock = output_lock(job.output)
        if not lock.acquire(exclusive=True):
            return False  # the other shard is writing the same output
    try:
        n_chunks = read_json(markers[0], "shard record")["chunks"]
        with atomic_open(Path(job.output), "wb") as fh:
            for c in range(n_chunks):
                unit = Unit(job.work, c, UNIT_FILES)
                if not unit.committed():
                    raise DamagedUnitError(f"{unit.record_path}: missing; rerun the generation: missing chunks are "
                                           "generated again")
                data = unit.read_bytes(".jsonl")
                if data.count(b"\n") != unit.record()["passages"]:
                    raise DamagedUnitError(f"{unit.path('.jsonl')}: line count differs from its record")
                fh.write(data)
    finally:
        if lock is not None:
            lock.release()
    return True


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every generator CLI shares: input, output, languages, chunking, sharding."""
    from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES

    parser.add_argument("--corpus", nargs="+", required=True, help="passages (tsv/jsonl/jsonl.gz/HF dir)")
    parser.add_argument("--output", required=True, help="jsonl in the published xQG format")
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    parser.add_argument("--n_per_lang", type=int, default=5)
    parser.add_argument("--chunk_size", type=int, default=1000, help="passages per resumable chunk")
    parser.add_argument("--shard_id", "--shard-id", type=int, default=0)
    parser.add_argument("--num_shards", "--num-shards", type=int, default=1)
    parser.add_argument("--work_dir", help="chunk directory (default <output>.work)")
    parser.add_argument("--overwrite", action="store_true")
    add_executor_arguments(parser)


def check_job_arguments(args: argparse.Namespace) -> None:
    """Ranges and language codes, before any model loads."""
    from xqg_tevatron.languages import check_language_codes

    if args.n_per_lang < 1:
        raise ValueError(f"--n_per_lang must be >= 1, got {args.n_per_lang}")
    if args.chunk_size < 1:
        raise ValueError(f"--chunk_size must be >= 1, got {args.chunk_size}")
    check_language_codes(args.languages)
    corpus_files(args.corpus)


def run_job_cli(args: argparse.Namespace, generate: Callable[[], GenerateFn],
                generator_settings: Optional[dict] = None) -> int:
    """Run a generation job from parsed :func:`add_job_arguments`; ``generate`` builds the
    generator (after the arguments are checked).  The CLIs call this under ``cli.run_main``."""
    shard_id, num_shards = resolve_shard(args.shard_id, args.num_shards)
    job = GenerationJob(args.corpus, args.output, args.languages, args.chunk_size, shard_id, num_shards,
                        args.work_dir, args.overwrite)
    check_job_arguments(args)
    stats = run_generation(job, generate, generator_settings=generator_settings, executor=executor_from_args(args),
                           build=True)
    print(stats, file=sys.stderr)
    return 0
