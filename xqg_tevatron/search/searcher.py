"""The search stage: a Pyserini FAISS index (+ its ``xqg_manifest.json``) and topics in, a TREC
run out.

One place for everything query-time: it opens the index with Pyserini's ``FaissSearcher``,
encodes queries with the encoder the manifest names (its own pooling / prefix, see
``query_encoder.py``), searches dense, multi-vector (rows ``docid#k``, max score per passage,
as ``search.faiss --max-passage``) or query-translation (dictionary-translate the query to
English first), returns typed hits, writes TREC runs and times queries.  The demo, the study,
the latency report and the benchmarks all call this module; none keeps its own loop.

    python -m xqg_tevatron.search --index indexes/xqg --topics topics.dev.tsv --output run.trec \\
        [--hits 100 --query_encoder torch|onnx|onnx-int8|pyserini --translate --threads 1]

Any index this plugin writes is also a plain Pyserini index: ``python -m xqg_tevatron.pyserini
search.faiss --index ... --encoder-class auto`` reads it unchanged.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol, Sequence

import numpy as np

from xqg_tevatron.cli import FlagParser
from xqg_tevatron.indexing.manifest import MULTI_DELIMITER, require_manifest, verify_index_dir
from xqg_tevatron.models import resolve_model
from xqg_tevatron.pyserini.bootstrap import JavaSettings, add_java_arguments
from xqg_tevatron.trec_run import write_trec_run

QUERY_ENCODERS = ("torch", "onnx", "onnx-int8", "pyserini")
# The fastest backend whose vectors match Pyserini's (min cosine >= 0.9999 over the 6,732 XQuAD
# dev-half questions) and whose MRR@100 equals torch's in every language:
# benchmarks/query_encoder_parity.py -> docs/results/query_encoder_parity.json (its figures: the
# parity table of docs/results.md; onnx-int8 is faster still but loses MRR, so it is opt-in).
DEFAULT_QUERY_ENCODER = "onnx"


class Translator(Protocol):
    def translate(self, text: str) -> str: ...


@dataclass(frozen=True)
class Hit:
    docid: str
    score: float


@dataclass
class SearchConfig:
    """How an index is searched.  ``query_encoder``: the plugin's encoder (``torch``, ``onnx``,
    ``onnx-int8``; see query_encoder.py) or Pyserini's own ``AutoQueryEncoder`` (``pyserini``)."""

    k: int = 100
    query_encoder: str = DEFAULT_QUERY_ENCODER
    batch_size: int = 64
    threads: int = 1
    max_query_length: Optional[int] = None
    # the manifest's encoder (weights fingerprint, pooling, prefixes) is the source of truth; a
    # different model is refused unless this is set explicitly
    allow_encoder_mismatch: bool = False
    # opening an index checks its docid files and the ends of its vector files against the
    # manifest; ``verify`` hashes every vector file whole as well (seconds per GB)
    verify: bool = False
    # the JVM Pyserini runs on, started when the first index is opened (a running JVM keeps its own)
    java: JavaSettings = field(default_factory=JavaSettings)

    def __post_init__(self):
        if self.query_encoder not in QUERY_ENCODERS:
            raise ValueError(f"query_encoder must be one of {QUERY_ENCODERS}, got {self.query_encoder!r}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


def set_process_threads(threads: int) -> None:
    """The process's intra-op threads for query encoding (torch) and search (FAISS's OpenMP).
    Both are process-wide settings, so only entry points (CLIs, the study, benchmarks) call
    this, never a constructor; the ONNX backends take their own per-session count."""
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def multi_depth(manifest: dict) -> int:
    """How much deeper a multi-vector index is searched: rows per passage, rounded up, so the
    top-k rows still cover k distinct passages in the common case."""
    return max(1, math.ceil(manifest.get("rows", 1) / max(manifest.get("passages", 1), 1)))


def collapse_rows(hits: Sequence[Hit], k: int) -> list[Hit]:
    """Multi-vector rows ``docid#i`` ranked by score -> the first (= max) row of each passage."""
    seen: dict[str, float] = {}
    for h in hits:
        docid = h.docid.rsplit(MULTI_DELIMITER, 1)[0]
        if docid not in seen:
            seen[docid] = h.score
            if len(seen) == k:
                break
    return [Hit(d, s) for d, s in seen.items()]


def manifest_encoder_settings(manifest: dict):
    """How the index's vectors were made (pooling, normalisation, prefixes), from its manifest:
    the query side must match them, whatever the model folder's own settings file says."""
    from xqg_tevatron.tevatron_compat.settings import EncoderSettings

    keys = ("pooling", "normalize", "query_prefix", "passage_prefix")
    missing = [k for k in keys if k not in manifest]
    if missing:
        raise ValueError(f"the index manifest records no {', '.join(missing)}; rebuild the index with driver.encode")
    return EncoderSettings(**{k: manifest[k] for k in keys})


def check_encoder_matches(index_dir: Path, manifest: dict, encoder_dir: str, allow_mismatch: bool) -> None:
    """The encoder searched with must be the one the index was encoded with (weights fingerprint)."""
    from xqg_tevatron.runtime.workdir import model_fingerprint

    recorded = manifest.get("model_sha256")
    if recorded is None or allow_mismatch:
        return
    if model_fingerprint(encoder_dir) != recorded:
        raise ValueError(f"{encoder_dir} is not the encoder {index_dir} was encoded with (model_sha256 differs from "
                         f"its manifest, which names {manifest.get('model')}); pass the right --encoder, or "
                         "--allow_encoder_mismatch to search with this one anyway")


def merge_shard_hits(per_shard: Sequence[Sequence], k: int) -> list[Hit]:
    """Hits of the shards of one index, merged by score: ties keep shard order, then rank,
    which is the row order an unsharded index holds them in."""
    ranked = sorted(((-float(h.score), s, r, h.docid) for s, hits in enumerate(per_shard) for r, h in enumerate(hits)))
    return [Hit(docid, -neg) for neg, _, _, docid in ranked[:k]]


def build_query_encoder(model_dir: str, config: SearchConfig, settings=None):
    if config.query_encoder == "pyserini":
        from xqg_tevatron.search.query_encoder import pyserini_query_encoder

        return pyserini_query_encoder(model_dir, settings)
    from xqg_tevatron.search.query_encoder import QueryEncoderConfig, XqgQueryEncoder

    return XqgQueryEncoder(model_dir, QueryEncoderConfig(backend=config.query_encoder, batch_size=config.batch_size,
                                                         max_length=config.max_query_length,
                                                         threads=config.threads), settings=settings)


class IndexSearcher:
    """Search one index.  The vector layout (fused or multi-vector) comes from the manifest;
    ``translator`` turns this into the query-translation baseline."""

    def __init__(self, index_dir: str | Path, encoder_dir: str | Path | None = None, config: SearchConfig | None = None,
                 translator: Optional[Translator] = None, query_encoder=None, vectors_only: bool = False):
        """``vectors_only``: no query encoder is loaded; queries are given as vectors (benchmarks
        that isolate the index cost)."""
        self.config = config or SearchConfig()
        self.config.java.start()
        from pyserini.search.faiss import FaissSearcher

        self.index_dir = Path(index_dir)
        self.manifest = verify_index_dir(self.index_dir, full=self.config.verify)
        self.shard_dirs = [self.index_dir / s["dir"] for s in self.manifest.get("shards") or []] or [self.index_dir]
        self.encoder_dir = str(encoder_dir or self.manifest.get("model") or "")
        if not vectors_only and query_encoder is None:
            if not self.encoder_dir or not Path(self.encoder_dir).is_dir():
                raise FileNotFoundError(f"{self.index_dir}: no encoder directory (the manifest names "
                                        f"{self.manifest.get('model')!r}); pass one explicitly")
            check_encoder_matches(self.index_dir, self.manifest, self.encoder_dir, self.config.allow_encoder_mismatch)
        self.multi = self.manifest.get("vector_mode") == "multi"
        self.depth = multi_depth(self.manifest) if self.multi else 1
        self.translator = translator
        self.query_encoder = None if vectors_only else (query_encoder or build_query_encoder(
            self.encoder_dir, self.config, manifest_encoder_settings(self.manifest)))
        self.searchers = [FaissSearcher(str(folder), self.query_encoder) for folder in self.shard_dirs]
        if self.manifest.get("index_params"):  # the build's search settings, as recorded (the file holds them too)
            from xqg_tevatron.indexing.faiss_index import apply_params

            for searcher in self.searchers:
                apply_params(searcher.index, self.manifest["index_params"])

    @property
    def kind(self) -> str:
        return "translate" if self.translator is not None else ("multi" if self.multi else "dense")

    def _query_text(self, text: str) -> str:
        return self.translator.translate(text) if self.translator is not None else text

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, batched where the encoder can (Pyserini's encodes one at a time)."""
        texts = [self._query_text(t) for t in texts]
        if hasattr(self.query_encoder, "encode_batch"):
            return np.asarray(self.query_encoder.encode_batch(texts), dtype=np.float32)
        return np.stack([self.query_encoder.encode(t) for t in texts]).astype(np.float32)

    def search(self, query: str | np.ndarray, k: Optional[int] = None) -> list[Hit]:
        """One query, as a live service sees it: encode + search (+ translation first); a
        ``(1, dim)`` vector is searched as is."""
        k = k or self.config.k
        if isinstance(query, str):
            if self.query_encoder is None:
                raise ValueError("this searcher was opened for vectors only")
            query = self.encode([query])
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        found = [s.batch_search(query, ["q"], k=k * self.depth, threads=self.config.threads)["q"]
                 for s in self.searchers] if len(self.searchers) > 1 else \
            [self.searchers[0].search(query, k=k * self.depth, threads=self.config.threads)]
        return self._finish(merge_shard_hits(found, k * self.depth), k)

    def search_many(self, qids: Sequence[str], texts: Sequence[str], k: Optional[int] = None) -> dict[str, list[Hit]]:
        """Many queries: batch-encoded, then one FAISS batch search."""
        if len(qids) != len(texts):
            raise ValueError("qids and texts differ in length")
        k = k or self.config.k
        if not qids:
            return {}
        return self.search_vectors(qids, self.encode(texts), k)

    def search_vectors(self, qids: Sequence[str], vectors: np.ndarray, k: Optional[int] = None) -> dict[str, list[Hit]]:
        """Precomputed query vectors ``(n, dim)``: one FAISS batch search per shard, merged by score."""
        k = k or self.config.k
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        per_shard = [s.batch_search(vectors, list(qids), k=k * self.depth, threads=self.config.threads)
                     for s in self.searchers]
        return {q: self._finish(merge_shard_hits([found[q] for found in per_shard], k * self.depth), k) for q in qids}

    def _finish(self, hits: list[Hit], k: int) -> list[Hit]:
        return collapse_rows(hits, k) if self.multi else hits[:k]


def time_queries(searcher: IndexSearcher, texts: Sequence[str | np.ndarray], k: Optional[int] = None,
                 warmup: int = 3) -> list[float]:
    """Milliseconds per query, one query at a time (encoding + search), after ``warmup`` calls;
    vectors instead of texts time the index alone."""
    for t in texts[:warmup]:
        searcher.search(t, k)
    out = []
    for t in texts:
        started = time.perf_counter()
        searcher.search(t, k)
        out.append((time.perf_counter() - started) * 1000.0)
    return out


@dataclass
class SearchRun:
    run_file: Path
    queries: int
    seconds: float

    @property
    def ms_per_query(self) -> float:
        return 1000.0 * self.seconds / max(self.queries, 1)


def run_topics(searcher: IndexSearcher, topics: Sequence[tuple[str, str]], run_file: str | Path, tag: str,
               k: Optional[int] = None) -> SearchRun:
    """Search every topic (batched) and write the TREC run; the time covers encoding + search."""
    started = time.perf_counter()
    ranking = searcher.search_many([q for q, _ in topics], [t for _, t in topics], k)
    seconds = time.perf_counter() - started
    path = write_trec_run({q: [(h.docid, h.score) for h in hits] for q, hits in ranking.items()}, run_file, tag)
    return SearchRun(path, len(topics), seconds)


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    from xqg_tevatron.corpus import CorpusFormatError, read_topics

    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="index directory written by driver.encode (with manifest)")
    parser.add_argument("--topics", required=True, help="topics tsv: qid<TAB>text")
    parser.add_argument("--output", required=True, help="TREC run to write")
    parser.add_argument("--encoder", help="query encoder model directory (default: the one the manifest names)")
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--query_encoder", choices=QUERY_ENCODERS, default=DEFAULT_QUERY_ENCODER,
                        help=f"default {DEFAULT_QUERY_ENCODER}: the fastest whose vectors and MRR match torch's "
                             "(docs/results/query_encoder_parity.json)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--translate", action="store_true",
                        help="query-translation baseline: dictionary-translate each query to English first")
    parser.add_argument("--languages", nargs="+", help="with --translate: source languages (default: XOR-TyDi's)")
    parser.add_argument("--word_lists", nargs="+", default=[], help="with --translate: LANG=PATH or 'freedict'")
    parser.add_argument("--tag", help="run tag (default: the index folder name)")
    parser.add_argument("--allow_encoder_mismatch", action="store_true",
                        help="search with an encoder whose weights differ from the one the manifest records")
    parser.add_argument("--verify", action="store_true",
                        help="hash every vector file whole against the manifest before searching (the docid files "
                             "and the ends of the vector files are always checked)")
    add_java_arguments(parser)
    args = parser.parse_args(argv)
    require_manifest(args.index)  # IndexSearcher checks the files against it, before the query encoder loads
    if args.encoder:
        args.encoder = resolve_model(args.encoder, "encoder model")
    if Path(args.output).is_dir():
        raise IsADirectoryError(f"--output {args.output} is a directory; it names the TREC run file to write")
    topics = read_topics(args.topics)
    if not topics:
        raise CorpusFormatError(f"{args.topics}: no topics")
    config = SearchConfig(k=args.hits, query_encoder=args.query_encoder, batch_size=args.batch_size,
                          threads=args.threads, allow_encoder_mismatch=args.allow_encoder_mismatch,
                          verify=args.verify, java=JavaSettings.from_args(args))
    translator = None
    if args.translate:
        from xqg_tevatron.languages import XOR_TYDI_LANGUAGES
        from xqg_tevatron.words.lexicon import resolve_word_lists
        from xqg_tevatron.search.translate import DictionaryTranslator

        langs = args.languages or list(XOR_TYDI_LANGUAGES)
        translator = DictionaryTranslator(langs, word_lists=resolve_word_lists(args.word_lists, langs))
    set_process_threads(args.threads)
    searcher = IndexSearcher(args.index, args.encoder, config, translator)
    done = run_topics(searcher, topics, args.output, args.tag or Path(args.index).name.replace(" ", "_"))
    print(f"{done.run_file}: {done.queries} queries, {done.ms_per_query:.1f} ms/query "
          f"({searcher.kind}, query encoder {config.query_encoder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
