"""XQuAD (Artetxe et al., 2020) read as a cross-lingual *retrieval* data set.

XQuAD is SQuAD v1.1 dev translated into 11 languages, parallel down to the question ids.  As
a retrieval task: questions in one of :data:`XQUAD_LANGUAGES`, the English paragraphs
(``xquad.en.json``) as the corpus, and the paragraph a question was asked about as its one
relevant passage.  This is the project's source of *real* human questions (XOR-TyDi cannot
be downloaded here).

Ids are derived from the files' structure, never from positions in a subset, so the official
48-article files and the 24-article development half give the same ids to the same things:

* docid ``{article title}_p{paragraph index within the article}`` (whitespace -> ``_``);
* qid ``xquad-{lang}-{SQuAD question id}``, so the language is ``qid.split("-")[1]`` as for
  the XOR-TyDi ids of the embedded default.

Every question carries the English answers and English question of the same id (XOR-Retrieve
style: answers are English spans of the English passage), its paragraph's docid, the article
and its position within the paragraph (used for the leave-out folds of the gold recipe).
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

from xqg_tevatron.corpus import CorpusFormatError, Passage
from xqg_tevatron.data.xor_format import (PreparedDataset, XorQuestion, write_corpus_jsonl, write_qrels,
                                          write_questions_jsonl, write_tevatron_train, write_topics_tsv)

from xqg_tevatron.languages import XQUAD_LANGUAGES
OFFICIAL_URL = "https://raw.githubusercontent.com/deepmind/xquad/master/xquad.{lang}.json"
# The official files, pinned by content: (bytes, sha256) as recorded by Hugging Face datasets'
# xquad builder.  A download (or a cached copy) that differs is refused.
OFFICIAL_FILES = {
    "ar": (1582988, "abdabd7afed5c635d99cca0f3f0d0c9d9ed0bc77451e963c2e4e0638c29e486d"),
    "de": (669810, "990b5d746746ed65ed4702ea5f35f99ffa4e2f1c390c07d003642acd937916f9"),
    "el": (1918889, "821cf0f88e73fa258fd2f548b19b6ec39f7025059e16f6f9fc8cd797c9c3663e"),
    "en": (609383, "e4c57d1c9143aaa1c5d265ba5987a65f4e69528d2a98f29d6e75019b10344f29"),
    "es": (684322, "dcbae93ec3a9f4b9e78fd834a171d6f96c1a875e10e15b7530b7e4ef4971e37e"),
    "hi": (1680538, "df2cce3532b37e9beb8979704b5c9a4bf874358f105395a298b89427b43b9d24"),
    "ro": (661158, "94f8d54e93ad2b7dd2e76dd921a666b5b8eff2d4379df9f179c42b445f09643f"),
    "ru": (1896368, "208d5b1aa154c52b1b5c5eda16281e455e8fd198cdb9af3f469f0d6037d973bf"),
    "th": (1809143, "5cdda11d0e1e075f7872abf4e6ae830388ce7f617964d542308e9ae4257e0f43"),
    "tr": (729506, "92179a564774b7696100d144c1e10870d0a966b6fccbdd254a65b9d2ab1971cc"),
    "vi": (911401, "f619a1eb11fb42d3ab0834259e488a65f585447ef6154437bfb7199d85161a04"),
    "zh": (808652, "691d0b3359bc6b8faa8de931dfdfe21d50a65861ae348e32a0d1a0190b0c8835"),
}


def check_official_file(path: Path, lang: str) -> None:
    """A downloaded official file must be byte for byte the pinned one."""
    from xqg_tevatron.runtime.atomic_io import sha256_file

    size, digest = OFFICIAL_FILES[lang]
    got_size = path.stat().st_size
    if got_size != size or sha256_file(path) != digest:
        raise CorpusFormatError(f"{path}: not the official XQuAD file ({got_size} bytes, sha256 differs from the pinned "
                                f"{digest[:12]}...); delete it to download it again")


@dataclass(frozen=True)
class XquadQuestion:
    qid: str
    squad_id: str
    question: str
    lang: str
    answers: tuple[str, ...]  # English answer spans (from xquad.en.json)
    question_en: str
    docid: str
    article: str
    position: int  # index of the question within its paragraph


def file_name(lang: str) -> str:
    return f"xquad.{lang}.json"


# the development half shipped in the package (24 of 48 articles, gzip-compressed, CC BY-SA 4.0:
# see NOTICE.md there)
PACKAGED_DEV_HALF = Path(__file__).resolve().parent.parent / "resources" / "xquad_dev"


def docid_of(title: str, paragraph_index: int) -> str:
    return "_".join(title.split()) + f"_p{paragraph_index}"


def load_squad(path: str | os.PathLike) -> list[dict]:
    """The ``data`` list of a SQuAD-format file, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"XQuAD file not found: {path}")
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        raw = json.loads(data.decode("utf-8-sig"))  # corpus.TEXT_RULE: a leading BOM is dropped
    except (gzip.BadGzipFile, EOFError):
        raise CorpusFormatError(f"{path}: damaged gzip file") from None
    except UnicodeDecodeError as exc:
        raise CorpusFormatError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CorpusFormatError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, list):
        raise CorpusFormatError(f"{path}: not a SQuAD-format file (no 'data' list)")
    for a, article in enumerate(data):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise CorpusFormatError(f"{path}: data[{a}] has no 'paragraphs' list")
        for p, para in enumerate(article["paragraphs"]):
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) or \
                    not isinstance(para.get("qas"), list):
                raise CorpusFormatError(f"{path}: data[{a}].paragraphs[{p}] needs 'context' and 'qas'")
            for q, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict) or not isinstance(qa.get("id"), str) or \
                        not isinstance(qa.get("question"), str):
                    raise CorpusFormatError(f"{path}: data[{a}].paragraphs[{p}].qas[{q}] needs 'id' and 'question'")
    return data


def iter_paragraphs(en_data: list[dict], en_path: str = "xquad.en.json") -> Iterator[Passage]:
    """The English paragraphs as passages (title = article title with ``_`` as spaces)."""
    seen: set[str] = set()
    for article in en_data:
        title = str(article.get("title", "")).strip()
        if not title:
            raise CorpusFormatError(f"{en_path}: an article has no 'title' (docids are built from it)")
        for i, para in enumerate(article["paragraphs"]):
            docid = docid_of(title, i)
            if docid in seen:
                raise CorpusFormatError(f"{en_path}: docid {docid!r} occurs twice (two articles share a title)")
            seen.add(docid)
            yield Passage(docid, para["context"], title.replace("_", " "), None, f"{en_path}:{docid}")


def iter_questions(lang_data: list[dict], en_data: list[dict], lang: str,
                   lang_path: str = "", en_path: str = "xquad.en.json") -> Iterator[XquadQuestion]:
    """Questions of one language, aligned with the English file by article, paragraph and id."""
    lang_path = lang_path or file_name(lang)
    if len(lang_data) != len(en_data):
        raise CorpusFormatError(f"{lang_path}: {len(lang_data)} articles, but {en_path} has {len(en_data)} "
                                "(use files of the same XQuAD release / subset)")
    for a, (art, art_en) in enumerate(zip(lang_data, en_data)):
        title = str(art_en["title"]).strip()
        if len(art["paragraphs"]) != len(art_en["paragraphs"]):
            raise CorpusFormatError(f"{lang_path}: article {a} ({title}) has {len(art['paragraphs'])} paragraphs, "
                                    f"{en_path} has {len(art_en['paragraphs'])}")
        for i, (para, para_en) in enumerate(zip(art["paragraphs"], art_en["paragraphs"])):
            english = {qa["id"]: qa for qa in para_en["qas"]}
            for qa in para["qas"]:
                if qa["id"] not in english:
                    raise CorpusFormatError(f"{lang_path}: question {qa['id']} (article {title}, paragraph {i}) "
                                            f"is not in the same paragraph of {en_path}")
            lacking = [qid for qid in english if qid not in {qa["id"] for qa in para["qas"]}]
            if lacking:  # XQuAD is parallel: a question missing in one language is a damaged file
                raise CorpusFormatError(f"{lang_path}: article {a} ({title}) paragraph {i} lacks {len(lacking)} of the "
                                        f"{len(english)} questions of {en_path} (e.g. {lacking[0]}); XQuAD files are "
                                        "parallel, so this file is incomplete or damaged")
            for pos, qa in enumerate(para["qas"]):
                en = english[qa["id"]]
                answers = tuple(dict.fromkeys(a["text"] for a in en.get("answers", []) if a.get("text")))
                yield XquadQuestion(f"xquad-{lang}-{qa['id']}", qa["id"], " ".join(qa["question"].split()), lang,
                                    answers, " ".join(en["question"].split()), docid_of(title, i), title, pos)


@dataclass
class XquadFiles:
    """A folder holding ``xquad.en.json`` and some ``xquad.{lang}.json`` (official or a subset;
    each file may be gzip-compressed as ``xquad.{lang}.json.gz``)."""

    root: Path

    def path(self, lang: str) -> Path:
        plain = self.root / file_name(lang)
        packed = plain.with_name(plain.name + ".gz")
        return packed if packed.is_file() and not plain.is_file() else plain

    def is_complete_folder(self) -> bool:
        return self.path("en").is_file()

    def languages(self) -> list[str]:
        return [l for l in XQUAD_LANGUAGES if self.path(l).is_file()]

    def passages(self) -> list[Passage]:
        passages = list(iter_paragraphs(load_squad(self.path("en")), str(self.path("en"))))
        if not passages:
            raise CorpusFormatError(f"{self.path('en')}: no paragraphs (an XQuAD file with articles is needed)")
        return passages

    def questions(self, languages: Iterable[str] | None = None) -> list[XquadQuestion]:
        """The questions of ``languages`` (default: every language file the folder holds, so a
        subset of XQuAD's languages works).  No question at all is an error, never an empty set."""
        languages = list(languages) if languages is not None else self.languages()
        if not languages:
            raise FileNotFoundError(f"{self.root}: no question files (xquad.LANG.json for a LANG of "
                                    f"{', '.join(XQUAD_LANGUAGES)})")
        en = load_squad(self.path("en"))
        out: list[XquadQuestion] = []
        for lang in languages:
            if lang not in XQUAD_LANGUAGES:
                raise ValueError(f"unknown XQuAD language {lang!r} (one of {', '.join(XQUAD_LANGUAGES)})")
            out += iter_questions(load_squad(self.path(lang)), en, lang, str(self.path(lang)), str(self.path("en")))
        if not out:
            raise CorpusFormatError(f"{self.root}: the XQuAD files hold no questions ({', '.join(languages)}); "
                                    "every paragraph's 'qas' list is empty")
        return out

    def articles(self) -> list[str]:
        return [str(a["title"]).strip() for a in load_squad(self.path("en"))]


def article_folds(articles: list[str], n_folds: int) -> dict[str, int]:
    """Articles -> fold, round robin in file order (folds of whole articles, never of questions)."""
    if n_folds < 2 or n_folds > len(articles):
        raise ValueError(f"need 2 <= folds <= {len(articles)} articles, got {n_folds}")
    return {a: i % n_folds for i, a in enumerate(articles)}


def as_xor_question(q: XquadQuestion) -> XorQuestion:
    """The XOR-Retrieve view of a question: native text, English answers (for R@kt)."""
    return XorQuestion(q.qid, q.question, list(q.answers), q.lang, q.question_en, source_question=f"squad-{q.squad_id}")


def gold_generated_queries(passages: Iterable[Passage], questions: Iterable[XquadQuestion], folds: int,
                           leave_out: int) -> Iterator[Passage]:
    """The *gold* upper bound of a query generator: each passage with the real questions asked
    about it as its "generated queries" (per language), leaving out every question whose
    position in its paragraph falls in fold ``leave_out`` (``position % folds``).

    Why folds: XQuAD is parallel, so the same question in another language is a translation
    of the test question.  Questions of fold ``k`` are only ever searched against an index
    built with ``leave_out=k``, which holds none of them in any language."""
    if folds < 2 or not 0 <= leave_out < folds:
        raise ValueError(f"need folds >= 2 and 0 <= leave_out < folds, got folds={folds}, leave_out={leave_out}")
    questions = list(questions)
    # SQuAD repeats some questions under two ids (same paragraph, same text): a kept copy of a
    # left-out question would leak it, so texts of the left-out fold (native or English) go too
    held = {(q.docid, key) for q in questions if q.position % folds == leave_out
            for key in (q.lang + ":" + q.question.casefold(), "en:" + q.question_en.casefold())}
    table: dict[str, dict[str, list[str]]] = {}
    for q in questions:
        if q.position % folds == leave_out or (q.docid, q.lang + ":" + q.question.casefold()) in held \
                or (q.docid, "en:" + q.question_en.casefold()) in held:
            continue
        table.setdefault(q.docid, {}).setdefault(q.lang, []).append(q.question)
    for p in passages:
        yield Passage(p.docid, p.text, p.title, table.get(p.docid, {}), p.where)


def in_fold(q: XquadQuestion, folds: int, fold: int) -> bool:
    return q.position % folds == fold


def prepare_xquad(out_dir: str | os.PathLike, files: XquadFiles, languages: Optional[Iterable[str]] = None,
                  test_articles: Optional[Iterable[str]] = None, train_articles: Iterable[str] = (),
                  n_negatives: int = 7) -> PreparedDataset:
    """XQuAD converted for Tevatron and Pyserini in ``out_dir``: the English paragraphs as the
    corpus, the questions of ``test_articles`` (default: all) in ``languages`` (default: every
    language file of the folder) as topics, qrels
    and R@kt questions, and (if ``train_articles``) Tevatron training groups of the *English*
    questions of those articles, one per question (split by article, never by question)."""
    out = Path(out_dir)
    passages = files.passages()
    questions = files.questions(languages)
    languages = tuple(dict.fromkeys(q.lang for q in questions))
    known = set(files.articles())
    test = set(test_articles) if test_articles is not None else known
    train = set(train_articles)
    for name, chosen in (("test", test), ("train", train)):
        if chosen - known:
            raise ValueError(f"{name} articles not in {files.path('en')}: {sorted(chosen - known)[:5]}")
    if test & train:
        raise ValueError(f"articles both in train and test: {sorted(test & train)[:5]}")
    tested = [q for q in questions if q.article in test]
    corpus_jsonl = write_corpus_jsonl(passages, out / "corpus.jsonl")
    train_jsonl = questions_train = None
    if train:
        english = [dataclasses.replace(as_xor_question(q), qid=f"xquad-en-{q.squad_id}", question=q.question_en,
                                       lang="en")
                   for q in questions if q.article in train and q.lang == languages[0]]
        questions_train = write_questions_jsonl(english, out / "questions.train.jsonl")
        qrels_train = {f"xquad-en-{q.squad_id}": {q.docid: 1} for q in questions if q.article in train}
        train_jsonl = write_tevatron_train(english, qrels_train, {p.docid: p for p in passages},
                                           out / "train" / "train.jsonl", n_negatives=n_negatives)
    return PreparedDataset(
        root=out, corpus_file=corpus_jsonl, corpus_jsonl=corpus_jsonl, train_jsonl=train_jsonl,
        topics_dev=write_topics_tsv([as_xor_question(q) for q in tested], out / "topics.test.tsv"),
        qrels_dev=write_qrels(((q.qid, q.docid, 1) for q in tested), out / "qrels.test.txt"),
        questions_dev=write_questions_jsonl([as_xor_question(q) for q in tested], out / "questions.test.jsonl"),
        questions_train=questions_train, name="xquad", languages=languages)
