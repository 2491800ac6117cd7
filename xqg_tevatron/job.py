"""The whole xQG job as one streaming command, at corpus scale: passages -> generated queries ->
passage and query vectors -> stored components -> fused vectors -> Pyserini index + manifest.

    python -m xqg_tevatron.job --corpus psgs_w100.tsv --encoder MODEL --work_dir /shared/xqg.store \\
        --output indexes/xqg --generator dictionary --languages ar bn fi ja ko ru te --n_per_lang 5 \\
        --alpha 0.2 --aggregation mean [--generated_output corpus.xqg.jsonl] \\
        [--executor ray --ray_actors 8 --ray_num_gpus 1 --ray_address auto] [--shard-id I --num-shards N]

Each unit (``--unit_size`` passages) is generated and encoded by one worker (a Ray actor holds
one generator and one encoder) and committed once into ``--work_dir``: the published generated
queries (``.jsonl``) and the components (passage vectors, per-language query sums and counts).
Nothing holds all generated queries or all query vectors.  A rerun resumes; another alpha,
aggregation, language subset or stored n per language is a re-fuse of the same work dir
(``python -m xqg_tevatron.driver.merge --work_dir ... --alpha ...``), with no model loaded.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from xqg_tevatron.batching import DTYPES
from xqg_tevatron.cli import FlagParser, add_dataclass_arguments, run_main
from xqg_tevatron.corpus import Passage, corpus_files
from xqg_tevatron.generate.factory import add_backend_arguments
from xqg_tevatron.generate.coverage import QueryCoverage, add_coverage_argument, check_bar, passages_without_queries
from xqg_tevatron.generate.generate_units import published_records
from xqg_tevatron.generate.sources import GENERATORS, generator_source
from xqg_tevatron.indexing.arguments import OPERATIONAL, FusionArguments, IndexArguments, StoreArguments
from xqg_tevatron.indexing.encode_config import EncodeConfig
from xqg_tevatron.indexing.faiss_index import IndexConfig
from xqg_tevatron.indexing.indexer import EncodeWorker, XqgConfig
from xqg_tevatron.indexing.request import EncodeRequest, run_encode
from xqg_tevatron.languages import XOR_TYDI_LANGUAGES, check_language_codes
from xqg_tevatron.models import resolve_model
from xqg_tevatron.runtime.executors import add_executor_arguments, executor_from_args
from xqg_tevatron.runtime.workdir import model_fingerprint
from xqg_tevatron.xqg.fusion import Fusion

logger = logging.getLogger(__name__)
COMMAND = "job"


@dataclass
class GenerateEncodeWorker:
    """One unit: generate its queries (published jsonl), then encode its components."""

    generator_factory: object  # () -> (passages, lang) -> n queries each
    languages: tuple[str, ...]
    encode: EncodeWorker

    def __post_init__(self):
        self._generate = None

    def process(self, index: int, passages: list[Passage]) -> tuple[dict[str, bytes], dict]:
        self._generate = self._generate or self.generator_factory()
        per_lang = {lang: self._generate(passages, lang) for lang in self.languages}
        with_queries = [Passage(p.docid, p.text, p.title, {lang: per_lang[lang][i] for lang in self.languages},
                                p.where) for i, p in enumerate(passages)]
        files, meta = self.encode.process(index, with_queries)
        files[".jsonl"] = published_records(passages, per_lang, self.languages)
        return files, dict(meta, without_queries=passages_without_queries(per_lang))


@dataclass
class GenerateEncodeFactory:
    """Builds a unit's worker in whichever process runs it (picklable for Ray actors)."""

    generator_factory: object
    languages: tuple[str, ...]
    encode_factory: object  # () -> EncodeWorker

    def __call__(self) -> GenerateEncodeWorker:
        return GenerateEncodeWorker(self.generator_factory, self.languages, self.encode_factory())


def build_parser() -> FlagParser:
    """The job's flags (those it shares with ``driver.encode`` declared once, in their dataclasses)."""
    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", required=True, help="passages (tsv/jsonl/jsonl.gz/HF dir)")
    parser.add_argument("--encoder", "--model_name_or_path", dest="encoder", required=True, help="encoder model dir")
    parser.add_argument("--work_dir", "--work-dir", dest="work_dir", required=True,
                        help="the store of units: generated queries and components (every node must reach it)")
    parser.add_argument("--output", required=True, help="Pyserini index directory to write")
    parser.add_argument("--generated_output", help="also write the published generated-query jsonl here")
    parser.add_argument("--generator", default="dictionary",
                        help=f"{' | '.join(GENERATORS)} | a trained seq2seq model directory")
    add_backend_arguments(parser)  # seq2seq generators: --backend and each backend's own flags
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="encoder and hf generator weights on the device (float16/bfloat16 on GPUs)")
    parser.add_argument("--word_lists", nargs="*", default=[], help="dictionary: LANG=PATH or freedict")
    parser.add_argument("--languages", nargs="+", default=list(XOR_TYDI_LANGUAGES))
    parser.add_argument("--n_per_lang", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    add_coverage_argument(parser)
    add_dataclass_arguments(parser, FusionArguments)
    add_dataclass_arguments(parser, IndexArguments)
    parser.add_argument("--batch_size", type=int, default=64, help="encoder batch (texts)")
    parser.add_argument("--gen_batch_size", type=int, default=16,
                        help="seq2seq: passages per generate call (each gives n_per_lang queries; larger on GPUs)")
    parser.add_argument("--min_new_tokens", type=int, default=0,
                        help="seq2seq: generate at least this many tokens per query (benchmarks with random-weight "
                             "models, so that each query costs what a trained model's does); 0 = the model decides")
    parser.add_argument("--p_max_len", type=int, default=256)
    parser.add_argument("--q_max_len", type=int, default=32)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_dataclass_arguments(parser, StoreArguments)  # declared once, with driver.encode
    add_executor_arguments(parser)
    return parser


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    # everything checkable is checked before a model loads
    executor = executor_from_args(args)
    check_language_codes(args.languages)
    fusion = fusion_of(args)  # alpha and the rest checked before anything loads
    index_config = IndexConfig.from_args(args)
    if args.n_per_lang < 1:
        raise ValueError(f"--n_per_lang must be >= 1, got {args.n_per_lang}")
    check_bar(args.max_share_without_queries)
    corpus_files(args.corpus)
    args.encoder = resolve_model(args.encoder, "encoder model")
    generator_source(args.generator).check(args)  # e.g. a backend not installed, a model missing
    work, out = Path(args.work_dir), Path(args.output)
    run_encode(EncodeRequest(
        COMMAND, args.corpus, args.encoder, work, out, asked=lambda: request_of(args),
        xqg=XqgConfig(fusion, require_queries=True, store_dtype=args.store_dtype, query_filter=args.query_filter),
        index=index_config,
        encode=EncodeConfig(batch_size=args.batch_size, q_max_len=args.q_max_len, p_max_len=args.p_max_len,
                            device=args.device, show_progress=False, dtype=args.dtype),
        component_n_per_lang=args.component_n_per_lang or (), unit_size=args.unit_size, shard_id=args.shard_id,
        num_shards=args.num_shards, executor=executor, num_threads=args.num_threads,
        merging=args.num_shards == 1, overwrite=args.overwrite, keep_work_dir=True,  # the store: re-fuse it later
        show_progress=not args.quiet, generation=lambda: JobGeneration(args),
        generated_output=Path(args.generated_output) if args.generated_output else None))
    return 0


def request_of(args) -> dict:
    """What this job's output is a function of, as given (paths resolved); recorded in the
    index manifest, so a rerun of the same command over its own output is recognised."""
    values = {k: v for k, v in vars(args).items() if k not in OPERATIONAL}
    values.update(corpus=[str(Path(c).resolve()) for c in args.corpus], encoder=str(Path(args.encoder).resolve()),
                  work_dir=str(Path(args.work_dir).resolve()), output=str(Path(args.output).resolve()),
                  encoder_sha256=model_fingerprint(args.encoder), **generator_source(args.generator).asked(args))
    return values


def fusion_of(args) -> Fusion:
    """The job's fusion: its generation languages and n per language, the fusion flags on top."""
    return FusionArguments(args.fusion_preset, args.alpha, args.aggregation).fusion(
        languages=tuple(args.languages), n_per_lang=args.n_per_lang)


class JobGeneration:
    """The job's step in front of each unit (``indexing.request.Generation``): the chosen generator,
    built in whichever process runs the unit, and the settings that change its queries."""

    def __init__(self, args):
        source = generator_source(args.generator)
        self.factory, generator = source.build(args)
        self.languages = tuple(args.languages)
        self.settings = {"generator": generator, "generation_languages": list(self.languages)}
        self.coverage = QueryCoverage(args.max_share_without_queries,
                                      {lang: source.made_by(args, lang) for lang in self.languages})

    def wrap(self, encode) -> "GenerateEncodeFactory":
        return GenerateEncodeFactory(self.factory, self.languages, encode)


def main(argv: Optional[list[str]] = None) -> int:
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
