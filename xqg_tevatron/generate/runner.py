"""Batched, sharded, resumable generation into the published xQG jsonl format.

Same scheme as the encoder: the corpus is cut into chunks in order, chunk ``c`` belongs to
shard ``c % num_shards``, each finished chunk is one atomically written jsonl in the work
directory, and the final file is the concatenation of all chunks in order (written under a
temporary name, then renamed).  A killed run resumes by skipping finished chunks.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from tqdm.auto import tqdm

from xqg_tevatron.chunking import atomic_write_text, iter_chunks, shard_from_env
from xqg_tevatron.corpus import CorpusFormatError, Passage, corpus_files, iter_passages
from xqg_tevatron.workdir import claim_work_dir, fingerprint_inputs, remove_plugin_dir

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


def run_generation(job: GenerationJob, generate: GenerateFn, limit_chunks: Optional[int] = None,
                   generator_settings: Optional[dict] = None) -> dict:
    """Generate this shard's chunks, then (single shard, or the last shard to finish) merge.
    The work dir records the inputs' fingerprints, languages, chunking and
    ``generator_settings``; a rerun with any of them changed is refused, never mixed."""
    out = Path(job.output)
    if out.is_dir():
        raise FileExistsError(f"{out} is a directory; --output names the jsonl file to write")
    if out.exists() and not job.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not job.languages:
        raise ValueError("no --languages given")
    settings = {"inputs": fingerprint_inputs(corpus_files(job.corpus)), "languages": list(job.languages),
                "chunk_size": job.chunk_size, "num_shards": job.num_shards, "generator": generator_settings or {}}
    if job.overwrite and job.num_shards == 1:
        remove_plugin_dir(job.work)
    claim_work_dir(job.work, settings, "corpus or generator settings")
    n_chunks = done = skipped = 0
    with tqdm(desc=f"generate shard {job.shard_id}/{job.num_shards}", unit="chunk",
              disable=not job.show_progress) as bar:
        for c, chunk in enumerate(iter_chunks(iter_passages(job.corpus), job.chunk_size)):
            n_chunks = c + 1
            if c % job.num_shards != job.shard_id:
                continue
            path = job.work / f"chunk-{c:06d}.jsonl"
            if path.exists():
                skipped += 1
                continue
            if limit_chunks is not None and done >= limit_chunks:
                return {"chunks": n_chunks, "generated": done, "skipped": skipped, "complete": False}
            per_lang = {lang: generate(chunk, lang) for lang in job.languages}
            lines = []
            for i, p in enumerate(chunk):
                rec = {"docid": p.docid, "title": p.title, "text": p.text,
                       "generated_queries": {lang: per_lang[lang][i] for lang in job.languages}}
                lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
            atomic_write_text(path, "".join(lines))
            done += 1
            bar.update(1)
    if n_chunks == 0:
        raise CorpusFormatError(f"empty corpus: no passages in {list(job.corpus)}")
    atomic_write_text(job.work / f"shard-{job.shard_id}-of-{job.num_shards}.done", json.dumps({"chunks": n_chunks}))
    merged = merge_generation(job)
    return {"chunks": n_chunks, "generated": done, "skipped": skipped, "complete": True, "merged": merged}


def merge_generation(job: GenerationJob) -> bool:
    """Concatenate the chunks into ``job.output`` once every shard is done; False if some are not."""
    markers = [job.work / f"shard-{s}-of-{job.num_shards}.done" for s in range(job.num_shards)]
    if not all(m.exists() for m in markers):
        return False
    n_chunks = json.loads(markers[0].read_text())["chunks"]
    out = Path(job.output)
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        for c in range(n_chunks):
            with open(job.work / f"chunk-{c:06d}.jsonl", encoding="utf-8") as part:
                shutil.copyfileobj(part, fh)
    os.replace(tmp, out)
    shutil.rmtree(job.work, ignore_errors=True)
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
    generator (after the arguments are checked).  Errors become one line, exit 1."""
    shard_id, num_shards = shard_from_env(args.shard_id, args.num_shards)
    job = GenerationJob(args.corpus, args.output, args.languages, args.chunk_size, shard_id, num_shards,
                        args.work_dir, args.overwrite)
    try:
        check_job_arguments(args)
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"--shard_id must be in [0, {num_shards}), got {shard_id}")
        stats = run_generation(job, generate(), generator_settings=generator_settings)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(stats, file=sys.stderr)
    return 0
