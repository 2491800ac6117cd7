"""Convert an ir_datasets XOR-TyDi id into the files Tevatron, Pyserini and the evaluators read.

    python -m xqg_tevatron.data.convert topics xor-tydi/dev topics.dev.tsv [--lang ja]
    python -m xqg_tevatron.data.convert questions xor-tydi/dev dev.jsonl       # for R@kt evaluation
    python -m xqg_tevatron.data.convert corpus xor-tydi corpus.jsonl            # Tevatron/encoder corpus
    python -m xqg_tevatron.data.convert qrels xor-tydi/default/dev qrels.txt
    python -m xqg_tevatron.data.convert tevatron-train xor-tydi/default/train train.jsonl --negatives 7
    python -m xqg_tevatron.data.convert generator-pairs xor-tydi/default/train pairs.jsonl
    python -m xqg_tevatron.data.convert topics xquad-dev/all topics.tsv           # XQuAD, shipped half
    python -m xqg_tevatron.data.convert gold-queries xquad-dev/all gold.f0.jsonl --folds 2 --leave-out 0
    python -m xqg_tevatron.data.convert gold-queries xquad/all gold.f0.jsonl --xquad-dir DIR   # a local folder

The official XOR-TyDi splits have answers but no gold passages: for them pass ``--run`` (a
TREC run of a first-stage retriever over the same questions) and ``tevatron-train`` /
``generator-pairs`` take answer-bearing passages of the run as positives (DPR-style
distant supervision, see :mod:`xqg_tevatron.data.answer_match`):

    python -m xqg_tevatron.data.convert tevatron-train xor-tydi/train train.jsonl --run bm25.trec --depth 100
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import ir_datasets

from xqg_tevatron.cli import FlagParser
import xqg_tevatron.data.irds  # noqa: F401  (registers xor-tydi ids)
from xqg_tevatron.data import answer_match
from xqg_tevatron.corpus import Passage, select_passages
from xqg_tevatron.data.xor_format import (XorQuestion, write_corpus_jsonl, write_generator_pairs, write_qrels,
                                          write_questions_jsonl, write_topics_tsv, write_tevatron_train)


def questions_of(ds, lang: str | None = None) -> list[XorQuestion]:
    return [XorQuestion(q.query_id, q.text, list(q.answers), q.lang, getattr(q, "question_en", None))
            for q in ds.queries_iter() if lang is None or q.lang == lang]


def passages_of(ds):
    for d in ds.docs_iter():
        yield Passage(d.doc_id, d.text, d.title)


def qrels_of(ds) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in ds.qrels_iter():
        out.setdefault(r.query_id, {})[r.doc_id] = r.relevance
    return out


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["topics", "questions", "corpus", "qrels", "tevatron-train", "generator-pairs",
                                         "gold-queries"])
    parser.add_argument("dataset", help="ir_datasets id, e.g. xor-tydi/dev")
    parser.add_argument("output")
    parser.add_argument("--lang", help="only questions in this language")
    parser.add_argument("--negatives", type=int, default=7, help="negatives per training group")
    parser.add_argument("--run", help="TREC run over the questions: positives = ranked passages holding an answer "
                                      "(for splits without qrels, e.g. xor-tydi/train)")
    parser.add_argument("--depth", type=int, default=100, help="with --run: ranks searched for positives/negatives")
    parser.add_argument("--max_positives", type=int, default=1, help="with --run: positives kept per question")
    parser.add_argument("--folds", type=int, default=2, help="gold-queries: question folds (position %% folds)")
    parser.add_argument("--leave_out", type=int, default=0, help="gold-queries: the fold whose questions are left "
                                                                 "out (search only that fold against the file)")
    parser.add_argument("--xquad_dir", help="gold-queries: read XQuAD from this folder of xquad.LANG.json files "
                                            "instead of the id's own files")
    args = parser.parse_args(argv)
    if args.xquad_dir:
        if args.what != "gold-queries" or not args.dataset.startswith("xquad"):
            raise ValueError("--xquad-dir applies to gold-queries of an xquad id")
        return _gold_queries(None, args, out=Path(args.output))
    try:
        ds = ir_datasets.load(args.dataset)
    except KeyError:
        print(f"error: unknown data set {args.dataset!r}", file=sys.stderr)
        return 1
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.run:
        if args.what not in {"tevatron-train", "generator-pairs"}:
            print("error: --run only applies to tevatron-train and generator-pairs", file=sys.stderr)
            return 1
        return _from_run(ds, args, out)
    if args.what in {"tevatron-train", "generator-pairs", "qrels"} and not ds.has_qrels():
        print(f"error: {args.dataset} has no qrels (XOR-Retrieve is judged by answers); pass --run RUN.trec "
              "to take answer-bearing passages of a first-stage run as positives", file=sys.stderr)
        return 1
    if args.what == "gold-queries":
        return _gold_queries(ds, args, out)
    if args.what == "topics":
        write_topics_tsv(questions_of(ds, args.lang), out)
    elif args.what == "questions":
        write_questions_jsonl(questions_of(ds, args.lang), out)
    elif args.what == "corpus":
        write_corpus_jsonl(passages_of(ds), out)
    elif args.what == "qrels":
        write_qrels(((r.query_id, r.doc_id, r.relevance) for r in ds.qrels_iter()), out)
    else:
        corpus = {p.docid: p for p in passages_of(ds)}
        qs, qrels = questions_of(ds, args.lang), qrels_of(ds)
        if args.what == "tevatron-train":
            write_tevatron_train(qs, qrels, corpus, out, n_negatives=args.negatives)
        else:
            write_generator_pairs(qs, qrels, corpus, out)
    print(out)
    return 0


def _gold_queries(ds, args, out: Path) -> int:
    """Real questions of each passage as its generated queries (XQuAD), leaving one fold out."""
    from xqg_tevatron.data.irds import xquad_files
    from xqg_tevatron.data.xquad import gold_generated_queries

    if args.xquad_dir:
        files = xquad_files(args.xquad_dir)
        passages, questions = files.passages(), files.questions()
    else:
        handler = ds.queries_handler()
        if not hasattr(handler, "questions"):
            raise ValueError(f"gold-queries needs questions with paragraph positions (xquad/...), not {args.dataset}")
        passages, questions = passages_of(ds), handler.questions()
    questions = [q for q in questions if args.lang is None or q.lang == args.lang]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_corpus_jsonl(gold_generated_queries(passages, questions, args.folds, args.leave_out), out)
    print(out)
    return 0


def _from_run(ds, args, out: Path) -> int:
    """Answer-matched (distant-supervision) training data from a first-stage run."""
    from xqg_tevatron.trec_run import read_trec_run

    ranking = {q: d[:args.depth] for q, d in read_trec_run(args.run).items()}
    try:
        corpus = select_passages(passages_of(ds), (d for docids in ranking.values() for d in docids))
        matched, stats = answer_match.match_run(questions_of(ds, args.lang), ranking, corpus, depth=args.depth,
                                                max_positives=args.max_positives, n_negatives=args.negatives)
        write = (answer_match.write_matched_tevatron_train if args.what == "tevatron-train"
                 else answer_match.write_matched_generator_pairs)
        write(matched, corpus, out)
    except ValueError as exc:  # CorpusFormatError included
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = stats.summary()
    print(json.dumps(summary, ensure_ascii=False))
    print(f"{out}: {summary['with_positive']} of {summary['questions']} questions have an answer-bearing passage "
          f"in the top {args.depth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
