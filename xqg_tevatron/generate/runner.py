"""Batched, sharded, resumable generation into the published xQG jsonl format.

Same scheme as the encoder: the corpus is cut into chunks in order, chunk ``c`` belongs to
shard ``c % num_shards``, each finished chunk is one atomically written jsonl in the work
directory, and the final file is the concatenation of all chunks in order (written under a
temporary name, then renamed).  A killed run resumes by skipping finished chunks.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from tqdm.auto import tqdm

from xqg_tevatron.chunking import atomic_write_text, iter_chunks
from xqg_tevatron.corpus import CorpusFormatError, Passage, iter_passages

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


def run_generation(job: GenerationJob, generate: GenerateFn, limit_chunks: Optional[int] = None) -> dict:
    """Generate this shard's chunks, then (single shard, or the last shard to finish) merge."""
    out = Path(job.output)
    if out.exists() and not job.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if job.overwrite and job.num_shards == 1 and job.work.exists():
        shutil.rmtree(job.work)
    job.work.mkdir(parents=True, exist_ok=True)
    n_chunks = done = skipped = 0
    bar = tqdm(desc=f"generate shard {job.shard_id}/{job.num_shards}", unit="chunk", disable=not job.show_progress)
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
    bar.close()
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
