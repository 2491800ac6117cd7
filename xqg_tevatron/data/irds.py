"""XOR-TyDi XOR-Retrieve in ``ir_datasets`` (0.6.3 has none), plus the embedded default.

    import xqg_tevatron.data.irds  # registers on import
    ds = ir_datasets.load("xor-tydi/dev")
    for q in ds.queries_iter(): q.query_id, q.text, q.lang, q.answers

IDs registered:
  ``xor-tydi``                English Wikipedia 2019-02-01 in 100-word passages (``id, text, title``)
  ``xor-tydi/train``, ``/dev`` XOR-Retrieve questions (``lang``, English ``answers``) over that corpus
  ``xor-tydi/default``, ``/default/train``, ``/default/dev``  the small embedded data set (+ qrels)

Offline use: files already under ``$IR_DATASETS_HOME/xor-tydi/`` (same names as the official
downloads) are used as they are; ``XQG_XOR_TYDI_DIR`` names a local folder that is tried before
the official URLs.  Online users get the official files from the XOR QA site.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import NamedTuple

import ir_datasets
from ir_datasets.datasets.base import Dataset
from ir_datasets.formats import BaseQueries, TrecQrels, TsvDocs
from ir_datasets.util import Download, LocalDownload, RequestsDownload

from xqg_tevatron.data.xor_format import DEFAULT_DIR

NAME = "xor-tydi"
BASE_URL = "https://nlp.cs.washington.edu/xorqa/XORQA_site/data/"
FILES = {
    "corpus": ("enwiki_20190201_w100.tsv", BASE_URL + "models/enwiki_20190201_w100.tsv"),
    "train": ("xor_train_retrieve_eng_span.jsonl", BASE_URL + "xor_train_retrieve_eng_span.jsonl"),
    "dev": ("xor_dev_retrieve_eng_span_v1_1.jsonl", BASE_URL + "xor_dev_retrieve_eng_span_v1_1.jsonl"),
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


def _download(key: str) -> Download:
    fname, url = FILES[key]
    mirrors = []
    local = os.environ.get("XQG_XOR_TYDI_DIR")
    if local:
        mirrors.append(LocalDownload(Path(local) / fname, mkdir=False))
    mirrors.append(RequestsDownload(url))
    return Download(mirrors, cache_path=str(ir_datasets.util.home_path() / NAME / fname))


def _docs(dlc) -> TsvDocs:
    return TsvDocs(dlc, doc_cls=XorTydiDoc, namespace=NAME, lang="en", skip_first_line=True)


def register() -> None:
    """Register the XOR-TyDi ids (idempotent)."""
    if NAME in ir_datasets.registry._registered:
        return
    corpus = _docs(_download("corpus"))
    ir_datasets.registry.register(NAME, Dataset(corpus))
    for split in ("train", "dev"):
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


register()
