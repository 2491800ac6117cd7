"""The evaluate stage: a TREC run + the data set's qrels and questions in, a per-language
results table out.

MRR / R@k come from Pyserini's own ``trec_eval`` (per query, ``-q -c``); the official
XOR-Retrieve R@kt from ``xor_retrieve.py`` when the corpus is given.  The language of a query
is read from the data set's questions file (its ``lang`` field), the one rule for every data
set: XOR-TyDi ids carry no language, and no id pattern is parsed anywhere.  Languages are
macro-averaged into ``Avg``.

    python -m xqg_tevatron.evaluation.table --run run.trec --qrels qrels.dev.txt \\
        --questions xor_dev.jsonl [--corpus corpus.jsonl] [--output table.json]
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from xqg_tevatron.cli import FlagParser
from xqg_tevatron.runtime.atomic_io import atomic_write_text, dumps_json
from xqg_tevatron.corpus import CorpusFormatError, text_lines
from xqg_tevatron.data.xor_format import read_qrels, read_questions
from xqg_tevatron.evaluation.trec import by_language, trec_eval_per_query
from xqg_tevatron.pyserini.bootstrap import JavaSettings, add_java_arguments
from xqg_tevatron.evaluation.xor_retrieve import evaluate_run

# trec_eval metric arguments -> the column names they print
DEFAULT_METRICS = ("recall.1,5,10,20,100", "recip_rank")
LABELS = {"recip_rank": "MRR", "recall_1": "R@1", "recall_5": "R@5", "recall_10": "R@10", "recall_20": "R@20",
          "recall_100": "R@100", "R@2kt": "R@2kt", "R@5kt": "R@5kt"}


@dataclass
class ResultsTable:
    """``scores[lang][metric]`` as fractions in [0, 1] (``Avg`` = macro average over languages)."""

    scores: dict[str, dict[str, float]]
    languages: list[str]
    notes: list[str] = field(default_factory=list)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)  # qid -> metric -> value (tests)

    def avg(self, metric: str) -> float:
        return self.scores["Avg"][metric]

    def format(self, metrics: Optional[Sequence[str]] = None, name: str = "") -> str:
        from xqg_tevatron.tables import language_table

        metrics = list(metrics or [m for m in LABELS if m in self.scores.get("Avg", {})])
        return language_table({name or "run": self.scores}, {m: LABELS.get(m, m) for m in metrics}, self.languages)


def language_of_questions(questions_file: str | Path) -> dict[str, str]:
    lang_of = {q.qid: q.lang for q in read_questions(questions_file)}
    if not lang_of:
        raise CorpusFormatError(f"{questions_file}: no questions (an empty file)")
    return lang_of


def evaluate_run_table(run: str | Path, qrels: str | Path, questions: str | Path,
                       metrics: Sequence[str] = DEFAULT_METRICS, corpus: Optional[Sequence[str | Path]] = None,
                       kt: Sequence[int] = (2, 5), corpus_docids: Optional[set[str]] = None,
                       java: Optional[JavaSettings] = None) -> ResultsTable:
    """Score ``run`` per language.  With ``corpus``, also the official R@kt (in [0, 1] here).

    Every query of the qrels counts: one the run does not hold scores 0 on every metric
    (trec_eval's ``-c``), and the notes say how many.  With ``corpus_docids`` (or ``corpus``),
    qrels naming passages that are not in the corpus are reported too."""
    lang_of = language_of_questions(questions)
    judged = read_qrels(qrels)
    per_query = trec_eval_per_query(qrels, run, metrics, java)
    unknown = sorted(q for q in per_query if q != "all" and q not in lang_of)
    if unknown:
        raise CorpusFormatError(f"{run}: {len(unknown)} queries are not in {questions} (e.g. {unknown[0]!r}); "
                                "run, qrels and questions must come from the same data set")
    no_question = sorted(q for q in judged if q not in lang_of)
    if no_question:
        raise CorpusFormatError(f"{qrels}: {len(no_question)} judged queries are not in {questions} "
                                f"(e.g. {no_question[0]!r}); qrels and questions must come from the same data set")
    notes = []
    names = {m for q, vals in per_query.items() if q != "all" for m in vals} or set(per_query.get("all", {}))
    missing = [q for q in judged if q not in per_query]
    for q in missing:
        per_query[q] = {m: 0.0 for m in names}
    if missing:
        notes.append(f"{len(missing)} of {len(judged)} judged queries are missing from {Path(run).name} and count as 0 "
                     f"(e.g. {missing[0]})")
    per_query = {q: v for q, v in per_query.items() if q == "all" or q in judged}
    if corpus_docids is None and corpus:
        from xqg_tevatron.corpus import iter_passages

        corpus_docids = {p.docid for p in iter_passages(corpus)}
    if corpus_docids is not None:
        absent = sorted({d for docs in judged.values() for d in docs if d not in corpus_docids})
        if absent:
            notes.append(f"{len(absent)} docids of {Path(qrels).name} are not in the corpus (e.g. {absent[0]}): those "
                         "passages can never be retrieved")
    scores = by_language(per_query, lang_of.__getitem__)
    if corpus:
        xor = evaluate_run(questions, run, list(corpus), ks=tuple(kt))
        for k in kt:
            for lang, value in xor.scores[k].items():
                scores.setdefault(lang, {})[f"R@{k}kt"] = value / 100.0
        if xor.tokenizer_note:
            notes.append(xor.tokenizer_note)
    return ResultsTable(scores, sorted(l for l in scores if l != "Avg"), notes,
                        {q: v for q, v in per_query.items() if q != "all"})


def index_docids(index_dir: str | Path) -> set[str]:
    """The passages an index holds (multi-vector rows ``docid#k`` counted once)."""
    from xqg_tevatron.indexing.manifest import verify_index_dir

    manifest = verify_index_dir(index_dir)  # the docid files are the ones written with the vectors
    multi = manifest.get("vector_mode") == "multi"
    folders = [Path(index_dir) / s["dir"] for s in manifest.get("shards") or []] or [Path(index_dir)]
    return {line.rsplit("#", 1)[0] if multi else line for folder in folders
            for _, line in text_lines(folder / "docid")}


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--questions", required=True, help="questions jsonl with id / lang (the language rule)")
    parser.add_argument("--corpus", nargs="+", help="passage files: adds the official R@2kt / R@5kt")
    parser.add_argument("--index", help="the index searched: qrels docids it does not hold are reported")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), help="trec_eval -m arguments")
    parser.add_argument("--output", help="write the table as JSON here")
    add_java_arguments(parser)
    args = parser.parse_args(argv)
    for path in [args.run, args.qrels, args.questions, *(args.corpus or [])]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
    docids = index_docids(args.index) if args.index else None
    table = evaluate_run_table(args.run, args.qrels, args.questions, args.metrics, args.corpus, corpus_docids=docids,
                               java=JavaSettings.from_args(args))
    print(table.format(name=Path(args.run).stem))
    for note in table.notes:
        print(f"note: {note}")
    if args.output:
        atomic_write_text(Path(args.output), dumps_json({"scores": table.scores, "notes": table.notes}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
