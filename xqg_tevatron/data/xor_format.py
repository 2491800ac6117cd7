"""XOR-TyDi XOR-Retrieve files and converters to Tevatron / Pyserini formats.

XOR-Retrieve questions are jsonl ``{"id", "question", "answers", "lang"}``; the corpus is the
DPR-style tsv ``id<TAB>text<TAB>title``.  Tevatron trains on jsonl groups
(``query_id, query, positive_passages, negative_passages``), Pyserini searches with topics
tsv (``qid<TAB>text``) and evaluates with TREC qrels.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from xqg_tevatron.runtime.atomic_io import atomic_open, atomic_write_text
from xqg_tevatron.corpus import (CorpusFormatError, Passage, iter_fields, iter_passages, json_objects,
                                 number_field)
from xqg_tevatron.languages import XOR_TYDI_LANGUAGES

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEFAULT_DIR = RESOURCES / "xor_default"
# answers the official XOR-Retrieve script skips: yes/no questions have no span to find
SKIPPED_ANSWERS = ("yes", "no")


@dataclass
class XorQuestion:
    qid: str
    question: str
    answers: list[str]
    lang: str
    question_en: Optional[str] = None  # English version, only in the embedded default (for code-switch training)
    # the question this one translates (XQuAD: the SQuAD id): its translations share it, and
    # significance tests resample them together; None: the question is its own
    source_question: Optional[str] = None


def read_questions(path: str | os.PathLike) -> list[XorQuestion]:
    out = []
    for where, rec in json_objects(path):
        try:
            out.append(XorQuestion(str(rec["id"]), rec["question"], list(rec.get("answers") or []), rec["lang"],
                                   rec.get("question_en"), rec.get("source_question")))
        except KeyError as exc:
            raise CorpusFormatError(f"{where}: not an XOR-Retrieve question (missing {exc})") from None
    return out


def read_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for lineno, parts in iter_fields(path, 4, "qid 0 docid rel"):
        qrels.setdefault(parts[0], {})[parts[2]] = number_field(int, parts[3], path, lineno, "relevance")
    return qrels


def write_questions_jsonl(questions: Iterable[XorQuestion], path: str | os.PathLike) -> Path:
    """XOR-Retrieve question jsonl (what :func:`read_questions` and the R@kt evaluator read)."""
    lines = []
    for q in questions:
        rec = {"id": q.qid, "question": q.question, "answers": q.answers, "lang": q.lang}
        if q.question_en:
            rec["question_en"] = q.question_en
        if q.source_question:
            rec["source_question"] = q.source_question
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return _write_lines(path, lines)


def write_qrels(qrels: Iterable[tuple[str, str, int]], path: str | os.PathLike) -> Path:
    """TREC qrels ``qid 0 docid rel``."""
    return _write_lines(path, [f"{q} 0 {d} {r}\n" for q, d, r in qrels])


def _write_lines(path: str | os.PathLike, lines: Iterable[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(lines))
    return path


def write_topics_tsv(questions: Iterable[XorQuestion], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        for q in questions:
            fh.write(f"{q.qid}\t{' '.join(q.question.split())}\n")
    return path


def write_corpus_jsonl(passages: Iterable[Passage], path: str | os.PathLike) -> Path:
    """Tevatron/Pyserini corpus jsonl (``docid``, ``title``, ``text``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        for p in passages:
            rec = passage_record(p)
            if p.generated_queries is not None:
                rec["generated_queries"] = p.generated_queries
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def passage_record(p: Passage) -> dict:
    """A passage as Tevatron's training jsonl stores it."""
    return {"docid": p.docid, "title": p.title, "text": p.text}


def training_group(qid: str, query: str, positives: Iterable[Passage], negatives: Iterable[Passage]) -> dict:
    """One line of Tevatron's training jsonl."""
    return {"query_id": qid, "query": query, "positive_passages": [passage_record(p) for p in positives],
            "negative_passages": [passage_record(p) for p in negatives]}


def generator_pair(q: XorQuestion, p: Passage) -> dict:
    """One seq2seq generator training pair: a question with a passage that answers it."""
    return {"lang": q.lang, "title": p.title, "text": p.text, "question": q.question}


def write_tevatron_train(questions: Iterable[XorQuestion], qrels: dict[str, dict[str, int]],
                         corpus: dict[str, Passage], path: str | os.PathLike, n_negatives: int = 7,
                         seed: int = 42, english_queries: bool = False) -> Path:
    """Tevatron training groups: gold passages as positives, random other passages as negatives.
    ``english_queries`` trains on ``question_en`` (one group per distinct English question)."""
    rng = random.Random(seed)
    docids = sorted(corpus)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    seen: set[str] = set()
    with atomic_open(path) as fh:
        for q in questions:
            gold = [d for d, rel in qrels.get(q.qid, {}).items() if rel > 0 and d in corpus]
            if not gold:
                continue
            text = q.question
            if english_queries:
                if not q.question_en:
                    raise ValueError(f"question {q.qid} has no question_en")
                if q.question_en in seen:
                    continue
                seen.add(text := q.question_en)
            negs = []
            while len(negs) < min(n_negatives, len(docids) - len(gold)):
                d = rng.choice(docids)
                if d not in gold and d not in negs:
                    negs.append(d)
            group = training_group(q.qid, text, [corpus[d] for d in gold], [corpus[d] for d in negs])
            fh.write(json.dumps(group, ensure_ascii=False) + "\n")
            n += 1
        if n == 0:  # inside the block: no empty file is left behind
            raise ValueError("no training question has a gold passage in the corpus")
    return path


@dataclass
class PreparedDataset:
    """Paths of a data set converted for Tevatron and Pyserini."""

    root: Path
    corpus_file: Path  # passages as the generators and the R@kt evaluator read them (tsv or jsonl)
    corpus_jsonl: Path
    train_jsonl: Optional[Path]
    topics_dev: Path  # the evaluated questions (XOR-TyDi dev, or XQuAD's test articles)
    qrels_dev: Path
    questions_dev: Path
    questions_train: Optional[Path]
    name: str = "xor-tydi/default"
    languages: tuple[str, ...] = XOR_TYDI_LANGUAGES


def prepare_default(out_dir: str | os.PathLike, source: Optional[str | os.PathLike] = None,
                    n_negatives: int = 7) -> PreparedDataset:
    """Convert the embedded default (or another dir with the same files) into ``out_dir``."""
    src = Path(source or DEFAULT_DIR)
    out = Path(out_dir)
    corpus_file = src / "psgs_w100.tsv"
    corpus = {p.docid: p for p in iter_passages([corpus_file])}
    train_q = read_questions(src / "xor_train_retrieve_eng_span.jsonl")
    dev_q = read_questions(src / "xor_dev_retrieve_eng_span.jsonl")
    return PreparedDataset(
        root=out,
        corpus_file=corpus_file,
        corpus_jsonl=write_corpus_jsonl(corpus.values(), out / "corpus.jsonl"),
        train_jsonl=write_tevatron_train(train_q, read_qrels(src / "qrels.train.txt"), corpus,
                                         out / "train" / "train.jsonl", n_negatives=n_negatives),
        topics_dev=write_topics_tsv(dev_q, out / "topics.dev.tsv"),
        qrels_dev=src / "qrels.dev.txt",
        questions_dev=src / "xor_dev_retrieve_eng_span.jsonl",
        questions_train=src / "xor_train_retrieve_eng_span.jsonl",
    )


def write_generator_pairs(questions: Iterable[XorQuestion], qrels: dict[str, dict[str, int]],
                          corpus: dict[str, Passage], path: str | os.PathLike) -> Path:
    """Seq2seq generator training pairs ``{lang, title, text, question}``: each question with
    each of its gold passages (XOR-TyDi gold-paragraph data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_open(path) as fh:
        for q in questions:
            for d, rel in qrels.get(q.qid, {}).items():
                if rel > 0 and d in corpus:
                    fh.write(json.dumps(generator_pair(q, corpus[d]), ensure_ascii=False) + "\n")
                    n += 1
        if n == 0:  # inside the block: no empty file is left behind
            raise ValueError("no question has a gold passage in the corpus")
    return path

