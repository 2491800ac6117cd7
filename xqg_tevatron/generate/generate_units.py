"""Batched, sharded, resumable generation into the published xQG jsonl format.

Same scheme as the encoder: the corpus is cut into units in order, unit ``c`` belongs to
shard ``c % num_shards``, each finished unit is one atomically written jsonl in the work
directory, and the final file is the concatenation of all units in order (written under a
temporary name, then renamed).  A killed run resumes by skipping finished units.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence


from xqg_tevatron.generate.coverage import (DEFAULT_BAR, QueryCoverage, add_coverage_argument, check_bar,
                                           passages_without_queries)
from xqg_tevatron.corpus import Passage, corpus_files, iter_passages
from xqg_tevatron.runtime.atomic_io import atomic_write_text, read_json, sha256_file
from xqg_tevatron.runtime.engine import (Executor, LocalExecutor, check_unit_size, corpus_digest, digest_of_units,
                                         resolve_shard)
from xqg_tevatron.runtime.executors import add_executor_arguments, executor_from_args
from xqg_tevatron.runtime.stage import (Stage, UnitWork, all_shards_done, concatenate_units, output_up_to_date,
                                        shard_records)
from xqg_tevatron.runtime.workdir import (check_separate, fingerprint_inputs, output_lock, remove_plugin_dir,
                                          request_record)

# (passages, language) -> n queries per passage
GenerateFn = Callable[[list[Passage], str], list[list[str]]]


@dataclass
class GenerationJob:
    corpus: Sequence[str]
    output: str
    languages: Sequence[str]
    unit_size: int = 1000
    shard_id: int = 0
    num_shards: int = 1
    work_dir: Optional[str] = None
    overwrite: bool = False
    show_progress: bool = True
    max_share_without_queries: float = DEFAULT_BAR  # see generate.coverage

    @property
    def work(self) -> Path:
        return Path(self.work_dir or f"{self.output}.work")


WORK_KIND = "generate-work"
UNIT_FILES = (".jsonl",)


def published_records(passages: list[Passage], per_lang: dict[str, list[list[str]]], languages: Sequence[str]) -> bytes:
    """A unit's passages with their generated queries, in the published xQG jsonl format."""
    lines = []
    for i, p in enumerate(passages):
        rec = {"docid": p.docid, "title": p.title, "text": p.text,
               "generated_queries": {lang: per_lang[lang][i] for lang in languages}}
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


@dataclass
class GenerationWorker:
    """The engine's worker for generation: one unit's passages -> its published jsonl."""

    generate: GenerateFn
    languages: Sequence[str]

    def process(self, index: int, passages: list[Passage]) -> tuple[dict[str, bytes], dict]:
        per_lang = {lang: self.generate(passages, lang) for lang in self.languages}
        return {".jsonl": published_records(passages, per_lang, self.languages)}, \
            {"passages": len(passages), "without_queries": passages_without_queries(per_lang)}


def run_generation(job: GenerationJob, generate: GenerateFn | Callable[[], GenerateFn],
                   generator_settings: dict | Callable[[], dict] | None = None, executor: Optional[Executor] = None,
                   build: bool = False, command: str = "generate", request: Optional[dict] = None,
                   made_by: Optional[Callable[[str], str]] = None) -> dict:
    """Generate this shard's units on the :class:`~xqg_tevatron.runtime.stage.Stage` template,
    then (single shard, or the last shard to finish) write the output.  ``generate`` is the
    generator, or (``build=True``) a function that builds it: then nothing is loaded when every
    unit is already done, and each Ray actor loads its own.  ``generator_settings`` (or a
    function giving them, called once the output and the work dir are locked, e.g. to fetch
    word lists) go into the work dir's claim with the inputs' fingerprints, languages and
    unit size; a rerun with any of them changed is refused, never mixed, and ``--overwrite``
    re-claims it.  ``request``: what the command was asked (see :func:`generated_up_to_date`): the
    same command over its own complete output changes nothing.  ``made_by``: language -> what
    makes its queries (called after the settings), named when too many passages get none
    (:mod:`~xqg_tevatron.generate.coverage`)."""
    out = Path(job.output)
    if out.is_dir():
        raise FileExistsError(f"{out} is a directory; --output names the jsonl file to write")
    request = request or request_record(command, {"corpus": [str(Path(c).resolve()) for c in job.corpus],
                                                  "output": str(out.resolve()), "languages": list(job.languages),
                                                  "chunk_size": job.unit_size})
    if out.exists() and not job.overwrite and (read_output_record(out) or {}).get("request") != request:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not job.languages:
        raise ValueError("no --languages given")
    inputs = corpus_files(job.corpus)
    check_separate(job.work, out, *inputs)
    # shards lock the output only to merge, the last one to finish
    stage = Stage(WORK_KIND, command, job.work, out, UNIT_FILES, job.unit_size, job.shard_id, job.num_shards,
                  job.overwrite, job.show_progress, lock_output=job.num_shards == 1, produces="this generation",
                  what="corpus or generator settings")
    languages = list(job.languages)

    def prepare(asked: dict) -> UnitWork:
        settings = {"inputs": fingerprint_inputs(inputs), "languages": languages, "chunk_size": job.unit_size,
                    "num_shards": job.num_shards,
                    "generator": (generator_settings() if callable(generator_settings) else generator_settings) or {}}
        factory = (lambda: GenerationWorker(generate(), languages)) if build else \
            (lambda: GenerationWorker(generate, languages))
        coverage = QueryCoverage(job.max_share_without_queries,
                                 {lang: made_by(lang) if made_by else "the generator" for lang in languages})
        return UnitWork(settings, iter_passages(job.corpus), factory, executor or LocalExecutor(),
                        after_commit=coverage.after_commit, check_complete=coverage.check_complete)

    outcome = stage.execute(
        job.corpus, lambda: request,
        lambda asked: job.num_shards == 1 and generated_up_to_date(out, asked, job.corpus, job.unit_size),
        prepare, lambda run, asked: merge_generation(job, have_output_lock=job.num_shards == 1, request=asked),
        clean_up=lambda: remove_plugin_dir(job.work, kinds=[WORK_KIND], command=command))
    run = outcome.run
    if run is None:
        return {"units": 0, "chunks": 0, "generated": 0, "skipped": 0, "complete": True, "merged": True, "up_to_date": True}
    stats = {"units": run.units, "chunks": run.units, "generated": run.done, "skipped": run.skipped, "complete": run.complete,
             "input_changed": run.changed}
    if run.complete:
        stats["merged"] = outcome.merged
    return stats


def output_record_path(output: Path) -> Path:
    """The record the plugin keeps beside a jsonl it published (hidden; its request, its
    digest, and the digest of the corpus it was made from)."""
    return output.with_name(f".{output.name}.xqg_tevatron.json")


def read_output_record(output: Path) -> Optional[dict]:
    path = output_record_path(output)
    try:
        return read_json(path, "output record") if path.is_file() else None
    except ValueError:
        return None


def generated_up_to_date(out: Path, request: dict, corpus: Sequence[str], unit_size: int) -> bool:
    """``out`` is this command's own output, still the bytes it wrote (its size and sha256 in the
    sidecar record), made from exactly this corpus: the stage template's one rule."""
    record = read_output_record(out)

    def intact() -> bool:
        return out.is_file() and out.stat().st_size == record["bytes"] and sha256_file(out) == record["sha256"]

    return output_up_to_date(record, request, lambda: iter_passages(corpus), unit_size, intact)


def merge_generation(job: GenerationJob, have_output_lock: bool = False, request: Optional[dict] = None) -> bool:
    """Concatenate the units into ``job.output`` once every shard is done; False if some are
    not, or another shard is merging right now.  Every unit is checked against its record
    (size, sha256, line count) as it is copied; the output's record is written beside it."""
    if not all_shards_done(job.work, job.num_shards):
        return False
    lock = None
    if not have_output_lock:
        lock = output_lock(job.output)
        if not lock.acquire(exclusive=True):
            return False  # the other shard is writing the same output
    try:
        n_units = shard_records(job.work, job.num_shards)[0]["chunks"]
        out = Path(job.output)
        digests = concatenate_units(job.work, n_units, ".jsonl", out)
        atomic_write_text(output_record_path(out), json.dumps({
            "request": request, "inputs_sha256": digest_of_units(digests), "bytes": out.stat().st_size,
            "sha256": sha256_file(out)}, sort_keys=True))
    finally:
        if lock is not None:
            lock.release()
    return True


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every generator CLI shares: input, output, languages, units, sharding."""
    from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES

    parser.add_argument("--corpus", nargs="+", required=True, help="passages (tsv/jsonl/jsonl.gz/HF dir)")
    parser.add_argument("--output", required=True, help="jsonl in the published xQG format")
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    parser.add_argument("--n_per_lang", type=int, default=5)
    parser.add_argument("--unit_size", "--chunk_size", type=int, default=1000, help="passages per resumable unit")
    parser.add_argument("--shard_id", "--shard-id", type=int, default=0)
    parser.add_argument("--num_shards", "--num-shards", type=int, default=1)
    parser.add_argument("--work_dir", help="unit directory (default <output>.work)")
    parser.add_argument("--overwrite", action="store_true")
    add_coverage_argument(parser)
    add_executor_arguments(parser)


def check_job_arguments(args: argparse.Namespace) -> None:
    """Ranges and language codes, before any model loads."""
    from xqg_tevatron.languages import check_language_codes

    if args.n_per_lang < 1:
        raise ValueError(f"--n_per_lang must be >= 1, got {args.n_per_lang}")
    check_unit_size(args.unit_size)
    check_bar(args.max_share_without_queries)
    check_language_codes(args.languages)
    corpus_files(args.corpus)


def run_job_cli(args: argparse.Namespace, generate: Callable[[], GenerateFn],
                generator_settings: dict | Callable[[], dict] | None, command: str, asked: dict,
                made_by: Optional[Callable[[str], str]] = None) -> int:
    """Run a generation job from parsed :func:`add_job_arguments`; ``generate`` builds the
    generator (after the arguments are checked and the output locked).  ``command``: the CLI's
    module after ``xqg_tevatron.``; ``asked``: the generator's settings as given (input files by
    content), the rest of what the output is a function of.  The CLIs call this under
    ``cli.run_main``."""
    shard_id, num_shards = resolve_shard(args.shard_id, args.num_shards)
    job = GenerationJob(args.corpus, args.output, args.languages, args.unit_size, shard_id, num_shards,
                        args.work_dir, args.overwrite, max_share_without_queries=args.max_share_without_queries)
    check_job_arguments(args)
    request = request_record(command, {"corpus": [str(Path(c).resolve()) for c in job.corpus],
                                       "output": str(Path(job.output).resolve()), "languages": list(job.languages),
                                       "chunk_size": job.unit_size, "generator": asked})
    stats = run_generation(job, generate, generator_settings=generator_settings, executor=executor_from_args(args),
                           build=True, command=command, request=request, made_by=made_by)
    print(stats, file=sys.stderr)
    return 0
