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

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from xqg_tevatron.chunking import atomic_write_text, dumps_json
from xqg_tevatron.corpus import CorpusFormatError
from xqg_tevatron.data.xor_format import read_questions
from xqg_tevatron.evaluation.trec import by_language, trec_eval_per_query
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

    def avg(self, metric: str) -> float:
        return self.scores["Avg"][metric]

    def format(self, metrics: Optional[Sequence[str]] = None, name: str = "") -> str:
        metrics = list(metrics or [m for m in LABELS if m in self.scores.get("Avg", {})])
        cols = self.languages + ["Avg"]
        lines = [f"{name:<24}{'metric':<8}" + "".join(f"{c.capitalize():>6}" for c in cols)]
        for m in metrics:
            lines.append(f"{'':<24}{LABELS.get(m, m):<8}" +
                         "".join(f"{100 * self.scores.get(c, {}).get(m, float('nan')):>6.1f}" for c in cols))
        return "\n".join(lines)


def language_of_questions(questions_file: str | Path) -> dict[str, str]:
    return {q.qid: q.lang for q in read_questions(questions_file)}


def evaluate_run_table(run: str | Path, qrels: str | Path, questions: str | Path,
                       metrics: Sequence[str] = DEFAULT_METRICS, corpus: Optional[Sequence[str | Path]] = None,
                       kt: Sequence[int] = (2, 5)) -> ResultsTable:
    """Score ``run`` per language.  With ``corpus``, also the official R@kt (in [0, 1] here)."""
    lang_of = language_of_questions(questions)
    per_query = trec_eval_per_query(qrels, run, metrics)
    unknown = sorted(q for q in per_query if q != "all" and q not in lang_of)
    if unknown:
        raise CorpusFormatError(f"{run}: {len(unknown)} queries are not in {questions} (e.g. {unknown[0]!r}); "
                                "run, qrels and questions must come from the same data set")
    scores = by_language(per_query, lang_of.__getitem__)
    notes = []
    if corpus:
        xor = evaluate_run(questions, run, list(corpus), ks=tuple(kt))
        for k in kt:
            for lang, value in xor.scores[k].items():
                scores.setdefault(lang, {})[f"R@{k}kt"] = value / 100.0
        if xor.tokenizer_note:
            notes.append(xor.tokenizer_note)
    return ResultsTable(scores, sorted(l for l in scores if l != "Avg"), notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--questions", required=True, help="questions jsonl with id / lang (the language rule)")
    parser.add_argument("--corpus", nargs="+", help="passage files: adds the official R@2kt / R@5kt")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), help="trec_eval -m arguments")
    parser.add_argument("--output", help="write the table as JSON here")
    args = parser.parse_args(argv)
    try:
        for path in [args.run, args.qrels, args.questions, *(args.corpus or [])]:
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: no such file")
        table = evaluate_run_table(args.run, args.qrels, args.questions, args.metrics, args.corpus)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(table.format(name=Path(args.run).stem))
    for note in table.notes:
        print(f"note: {note}")
    if args.output:
        atomic_write_text(Path(args.output), dumps_json({"scores": table.scores, "notes": table.notes}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
