"""XOR-TyDi XOR-Retrieve in ``ir_datasets`` (0.6.3 has none), plus the embedded default.

    import xqg_tevatron.data.irds  # registers on import
    ds = ir_datasets.load("xor-tydi/dev")
    for q in ds.queries_iter(): q.query_id, q.text, q.lang, q.answers

IDs registered (XOR-TyDi):
  ``xor-tydi``                English Wikipedia 2019-02-01 in 100-word passages (``id, text, title``)
  ``xor-tydi/train``, ``/dev`` XOR-Retrieve questions (``lang``, English ``answers``) over that corpus;
                              dev is ``xor_dev_retrieve_eng_span_v1_1.jsonl`` (v1.1)
  ``xor-tydi/test``           the test questions (``..._q_only_v1_1.jsonl``: no answers, for submissions)
  ``xor-tydi/default``, ``/default/train``, ``/default/dev``  the small embedded data set (+ qrels)

Offline use: files already under ``$IR_DATASETS_HOME/xor-tydi/`` (same names as the official
downloads) are used as they are (copy them there to work offline).  Online users get the
official files from the XOR QA site.

XQuAD as cross-lingual retrieval (see :mod:`xqg_tevatron.data.xquad`):
  ``xquad-dev``, ``xquad-dev/{lang}``, ``xquad-dev/all``  the development half shipped in the
                              package (24 of 48 articles): English paragraphs; questions in one
                              of ar de el es hi ro ru th tr vi zh, or all 11; + qrels
  ``xquad``, ``xquad/{lang}``, ``xquad/all``  the same over the official 48-article files,
                              downloaded from deepmind/xquad into ``$IR_DATASETS_HOME/xquad/``
                              and checked against their pinned sha256
The two never share files, so the half and the full set can never be mixed.
"""
from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import NamedTuple

import ir_datasets
from ir_datasets.datasets.base import Dataset
from ir_datasets.formats import BaseDocs, BaseQrels, BaseQueries, TrecQrel, TrecQrels, TsvDocs
from ir_datasets.util import Download, LocalDownload, RequestsDownload

from xqg_tevatron.data import xquad
from xqg_tevatron.data.xor_format import DEFAULT_DIR

NAME = "xor-tydi"
BASE_URL = "https://nlp.cs.washington.edu/xorqa/XORQA_site/data/"
FILES = {
    "corpus": ("enwiki_20190201_w100.tsv", BASE_URL + "models/enwiki_20190201_w100.tsv"),
    "train": ("xor_train_retrieve_eng_span.jsonl", BASE_URL + "xor_train_retrieve_eng_span.jsonl"),
    # the dev split is v1.1 (the version the XOR QA leaderboard and xQG report on)
    "dev": ("xor_dev_retrieve_eng_span_v1_1.jsonl", BASE_URL + "xor_dev_retrieve_eng_span_v1_1.jsonl"),
    # questions only (no answers): for submissions, not for local scoring
    "test": ("xor_test_retrieve_eng_span_q_only_v1_1.jsonl", BASE_URL + "xor_test_retrieve_eng_span_q_only_v1_1.jsonl"),
}


class XorTydiDoc(NamedTuple):
    doc_id: str
    text: str
    title: str

    def default_text(self):
        return f"{self.title} {self.text}"


class XorTydiQuery(NamedTuple):
    query_id: str
    text: str
    lang: str
    answers: tuple

    def default_text(self):
        return self.text


class XorTydiQueries(BaseQueries):
    """XOR-Retrieve jsonl questions ``{"id", "question", "answers", "lang"}``."""

    def __init__(self, dlc, lang_filter: str | None = None):
        super().__init__()
        self._dlc = dlc
        self._lang = lang_filter

    def queries_iter(self):
        with self._dlc.stream() as stream:
            for line in io.TextIOWrapper(stream, encoding="utf-8"):
                if not line.strip():
                    continue
                rec = json.loads(line)
                if self._lang and rec["lang"] != self._lang:
                    continue
                yield XorTydiQuery(str(rec["id"]), rec["question"], rec["lang"], tuple(rec.get("answers") or ()))

    def queries_cls(self):
        return XorTydiQuery

    def queries_namespace(self):
        return NAME

    def queries_lang(self):
        return self._lang


class OfficialFile(Download):
    """An official data file (XOR-TyDi, XQuAD): the copy under ``$IR_DATASETS_HOME/<folder>/`` if
    there, else downloaded there once.  Where neither works, one line says which file is
    missing, where to put it and where it comes from (never a raw connection error)."""

    def __init__(self, what: str, folder: str, fname: str, url: str):
        super().__init__([RequestsDownload(url)], cache_path=str(ir_datasets.util.home_path() / folder / fname))
        self.what, self.folder, self.fname, self.url = what, folder, fname, url

    def path(self, force=True):
        if not force or os.path.exists(self._cache_path):
            return super().path(force)
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # ir_datasets' own "download error: <repr>" lines
        try:
            return super().path(force)
        except Exception as exc:
            text = " ".join(str(exc).split())
            reason = "the host could not be reached" if "resolve" in text or "Connection" in text else text[:120]
            raise FileNotFoundError(
                f"{self.what} file {self.fname} is missing: put it at {self._cache_path} ($IR_DATASETS_HOME/"
                f"{self.folder}/, default ~/.ir_datasets/{self.folder}/); it is the official file from {self.url} "
                f"(downloading it failed: {reason})") from None
        finally:
            logging.disable(previous)


def _download(key: str) -> Download:
    return OfficialFile("XOR-TyDi", NAME, *FILES[key])


class DprTsvDocs(TsvDocs):
    """ir_datasets' TsvDocs (docstore included) reading the passage tsv as DPR does: csv's
    default quoting, so ``"..."`` fields with ``""`` escapes lose their quotes."""

    def _iter(self):
        from xqg_tevatron.corpus import iter_dpr_tsv

        name = getattr(self._dlc, "_cache_path", None) or "passages tsv"
        with self._dlc.stream() as stream:
            for _, row in iter_dpr_tsv(io.TextIOWrapper(stream, encoding="utf-8", newline=""), str(name)):
                yield self._cls(row[0], row[1], row[2] if len(row) > 2 else "")


def _docs(dlc) -> TsvDocs:
    return DprTsvDocs(dlc, doc_cls=XorTydiDoc, namespace=NAME, lang="en", skip_first_line=True)


def register() -> None:
    """Register the XOR-TyDi ids (idempotent)."""
    if NAME in ir_datasets.registry:
        return
    corpus = _docs(_download("corpus"))
    ir_datasets.registry.register(NAME, Dataset(corpus))
    for split in ("train", "dev", "test"):
        ir_datasets.registry.register(f"{NAME}/{split}", Dataset(corpus, XorTydiQueries(_download(split))))

    def local(name: str) -> Download:
        # copied into IR_DATASETS_HOME so the docstore is built there, never inside the package
        return Download([LocalDownload(DEFAULT_DIR / name, mkdir=False)],
                        cache_path=str(ir_datasets.util.home_path() / NAME / "default" / name))

    default_docs = _docs(local("psgs_w100.tsv"))
    ir_datasets.registry.register(f"{NAME}/default", Dataset(default_docs))
    for split in ("train", "dev"):
        ir_datasets.registry.register(f"{NAME}/default/{split}", Dataset(
            default_docs, XorTydiQueries(local(f"xor_{split}_retrieve_eng_span.jsonl")),
            TrecQrels(local(f"qrels.{split}.txt"), {1: "gold passage"})))


# ------------------------------------------------------------------------------- XQuAD
XQUAD = "xquad"


class XquadDoc(NamedTuple):
    doc_id: str
    text: str
    title: str

    def default_text(self):
        return f"{self.title} {self.text}"


class XquadQuery(NamedTuple):
    query_id: str
    text: str
    lang: str
    answers: tuple  # English answer spans
    question_en: str
    article: str
    position: int

    def default_text(self):
        return self.text


XQUAD_SOURCES = ("dev", "full")


def xquad_files(source: str | os.PathLike = "dev") -> xquad.XquadFiles:
    """The XQuAD json files: ``dev`` the development half shipped in the package, ``full`` the
    official 48-article files (downloaded once, pinned by sha256), or a folder path holding
    ``xquad.en.json`` and some ``xquad.{lang}.json`` (read in place)."""
    if str(source) == "dev":
        return xquad.XquadFiles(xquad.PACKAGED_DEV_HALF)
    if str(source) != "full":
        files = xquad.XquadFiles(Path(source))
        if not files.is_complete_folder():
            raise FileNotFoundError(f"{source}: no {xquad.file_name('en')} there (an XQuAD folder holds "
                                    f"xquad.en.json and xquad.LANG.json files)")
        return files
    root = ir_datasets.util.home_path() / XQUAD
    for lang in ("en", *xquad.XQUAD_LANGUAGES):
        path = Path(OfficialFile("XQuAD", XQUAD, xquad.file_name(lang), xquad.OFFICIAL_URL.format(lang=lang)).path())
        xquad.check_official_file(path, lang)  # downloaded now or earlier: the pinned content only
    return xquad.XquadFiles(root)


class XquadDocs(BaseDocs):
    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def docs_iter(self):
        for p in xquad_files(self.source).passages():
            yield XquadDoc(p.docid, p.text, p.title)

    def docs_count(self):
        return len(xquad_files(self.source).passages())

    def docs_cls(self):
        return XquadDoc

    def docs_namespace(self):
        return XQUAD

    def docs_lang(self):
        return "en"


class XquadQueries(BaseQueries):
    def __init__(self, languages: tuple[str, ...], source: str):
        super().__init__()
        self._languages = languages
        self.source = source

    def questions(self) -> list[xquad.XquadQuestion]:
        return xquad_files(self.source).questions(self._languages)

    def queries_iter(self):
        for q in self.questions():
            yield XquadQuery(q.qid, q.question, q.lang, q.answers, q.question_en, q.article, q.position)

    def queries_cls(self):
        return XquadQuery

    def queries_namespace(self):
        return XQUAD

    def queries_lang(self):
        return self._languages[0] if len(self._languages) == 1 else None


class XquadQrels(BaseQrels):
    def __init__(self, queries: XquadQueries):
        self._queries = queries

    def qrels_iter(self):
        for q in self._queries.questions():
            yield TrecQrel(q.qid, q.docid, 1, "0")

    def qrels_cls(self):
        return TrecQrel

    def qrels_defs(self):
        return {1: "the paragraph the question was asked about"}


def register_xquad() -> None:
    """Register the XQuAD ids (idempotent): ``xquad-dev/...`` (shipped half), ``xquad/...`` (official)."""
    for prefix, source in ((f"{XQUAD}-dev", "dev"), (XQUAD, "full")):
        if prefix in ir_datasets.registry:
            continue
        docs = XquadDocs(source)
        ir_datasets.registry.register(prefix, Dataset(docs))
        for name, langs in [(l, (l,)) for l in xquad.XQUAD_LANGUAGES] + [("all", xquad.XQUAD_LANGUAGES)]:
            queries = XquadQueries(langs, source)
            ir_datasets.registry.register(f"{prefix}/{name}", Dataset(docs, queries, XquadQrels(queries)))


register()
register_xquad()
