"""Training data for the real XOR-TyDi, which has answers but no gold passages (no qrels).

XOR-Retrieve judges retrieval by English answer spans, and its train/dev files carry no
passage ids.  So, as DPR did for its open-domain training sets, positives come from
*distant supervision*: run a first-stage retriever (BM25 or the demo encoder through
Pyserini) over the training questions, call a ranked passage positive when it contains one
of the question's span answers, and take the highest-ranked passages without an answer as
hard negatives.  The same positives serve as the "gold passages" of the query generator.

Answer matching follows DPR's ``has_answer`` in spirit: both sides are Unicode-normalised
(NFC, so accented letters stay inside their word), lower-cased and split into word tokens,
and the answer's token sequence must occur contiguously in the passage.  Only the passages
a run mentions are read from the corpus, streaming, so the 18M-passage Wikipedia file never
has to fit in memory.

    python -m xqg_tevatron.data.convert tevatron-train xor-tydi/train train.jsonl --run bm25.train.trec
    python -m xqg_tevatron.data.convert generator-pairs xor-tydi/train pairs.jsonl --run bm25.train.trec
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from xqg_tevatron.runtime.atomic_io import atomic_open
from xqg_tevatron.corpus import Passage
from xqg_tevatron.data.xor_format import SKIPPED_ANSWERS, XorQuestion, generator_pair, training_group

_WORD = re.compile(r"\w+", re.UNICODE)


def answer_tokens(text: str) -> tuple[str, ...]:
    """NFC-normalised, lower-cased word tokens (the unit answers are matched in)."""
    return tuple(t.lower() for t in _WORD.findall(unicodedata.normalize("NFC", text)))


def has_answer(passage_text: str, answers: Sequence[str]) -> bool:
    """True when the token sequence of any answer occurs contiguously in the passage."""
    return _contains_any(answer_tokens(passage_text), _needles(answers))


def _needles(answers: Sequence[str]) -> list[tuple[str, ...]]:
    return [n for n in (answer_tokens(a) for a in answers) if n]


def _contains_any(tokens: tuple[str, ...], needles: Sequence[tuple[str, ...]]) -> bool:
    return any(tokens[i:i + len(n)] == n for n in needles for i in range(len(tokens) - len(n) + 1))


@dataclass
class MatchedQuestion:
    question: XorQuestion
    positives: list[str]
    negatives: list[str]


@dataclass
class MatchStats:
    questions: int = 0              # questions of the run that have span answers
    with_positive: int = 0          # ... of which at least one ranked passage holds an answer
    yes_no_only: int = 0            # skipped: only yes/no answers
    not_in_questions: int = 0       # run qids unknown to the question file
    positives: int = 0
    negatives: int = 0
    per_language: dict[str, list[int]] = field(default_factory=dict)  # lang -> [questions, with_positive]

    def summary(self) -> dict:
        return {"questions": self.questions, "with_positive": self.with_positive,
                "coverage": round(self.with_positive / self.questions, 4) if self.questions else 0.0,
                "yes_no_only": self.yes_no_only, "not_in_questions": self.not_in_questions,
                "positives": self.positives, "negatives": self.negatives,
                "per_language": {lang: {"questions": q, "with_positive": p} for lang, (q, p)
                                 in sorted(self.per_language.items())}}


def match_run(questions: Iterable[XorQuestion], ranking: Mapping[str, Sequence[str]],
              corpus: Mapping[str, Passage], depth: int = 100, max_positives: int = 1,
              n_negatives: int = 7) -> tuple[list[MatchedQuestion], MatchStats]:
    """Positives (answer-bearing) and hard negatives (answer-free) among each question's top ``depth``."""
    if depth < 1 or max_positives < 1 or n_negatives < 0:
        raise ValueError("depth and max_positives must be >= 1, n_negatives >= 0")
    by_id = {q.qid: q for q in questions}
    stats = MatchStats()
    matched: list[MatchedQuestion] = []
    for qid, docids in ranking.items():
        q = by_id.get(qid)
        if q is None:
            stats.not_in_questions += 1
            continue
        answers = [a for a in q.answers if a not in SKIPPED_ANSWERS]
        if not answers:
            stats.yes_no_only += 1
            continue
        stats.questions += 1
        lang = stats.per_language.setdefault(q.lang, [0, 0])
        lang[0] += 1
        needles = _needles(answers)  # tokenised once per question, not once per ranked passage
        pos, neg = [], []
        for d in docids[:depth]:
            if _contains_any(answer_tokens(corpus[d].text), needles):
                if len(pos) < max_positives:
                    pos.append(d)
            elif len(neg) < n_negatives:
                neg.append(d)
        if not pos:
            continue
        stats.with_positive += 1
        lang[1] += 1
        stats.positives += len(pos)
        stats.negatives += len(neg)
        matched.append(MatchedQuestion(q, pos, neg))
    return matched, stats


def write_matched_tevatron_train(matched: Sequence[MatchedQuestion], corpus: Mapping[str, Passage],
                                 path: str | os.PathLike) -> Path:
    """Tevatron training groups from answer-matched positives and hard negatives."""
    if not matched:
        raise ValueError("no question has an answer-bearing passage in the run; retrieve deeper (--depth) "
                         "or with a stronger first-stage retriever")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        for m in matched:
            group = training_group(m.question.qid, m.question.question, [corpus[d] for d in m.positives],
                                   [corpus[d] for d in m.negatives])
            fh.write(json.dumps(group, ensure_ascii=False) + "\n")
    return path


def write_matched_generator_pairs(matched: Sequence[MatchedQuestion], corpus: Mapping[str, Passage],
                                  path: str | os.PathLike) -> Path:
    """Generator pairs ``{lang, title, text, question}`` with the answer-matched passages as gold."""
    if not matched:
        raise ValueError("no question has an answer-bearing passage in the run")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        for m in matched:
            for d in m.positives:
                fh.write(json.dumps(generator_pair(m.question, corpus[d]), ensure_ascii=False) + "\n")
    return path
