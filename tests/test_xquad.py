"""XQuAD as a retrieval track: the development half shipped in the package, ir_datasets ids over
it, a superset of it, stable ids, clear errors for bad files, leave-fold-out gold queries,
converters."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import ir_datasets
import pytest

import xqg_tevatron.data.irds  # noqa: F401  (registers the ids)
from helpers import ROOT, run_cli
from xqg_tevatron.corpus import CorpusFormatError, iter_passages
from xqg_tevatron.data.irds import xquad_files
from xqg_tevatron.data.xquad import (PACKAGED_DEV_HALF, XQUAD_LANGUAGES, XquadFiles, article_folds,
                                     gold_generated_queries, prepare_xquad)

DEV_HALF = PACKAGED_DEV_HALF
SHARED_HALF = ROOT.parent / "shared" / "data" / "xquad-dev"


def unpacked(lang: str) -> bytes:
    return gzip.decompress((DEV_HALF / f"xquad.{lang}.json.gz").read_bytes())


def write_plain_copy(folder: Path, langs=("en", *XQUAD_LANGUAGES)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        (folder / f"xquad.{lang}.json").write_bytes(unpacked(lang))
    return folder


@pytest.mark.skipif(not (SHARED_HALF / "xquad.en.json").is_file(), reason="no ../shared copy to compare with")
def test_the_shipped_half_is_the_shared_development_half_byte_for_byte():
    for lang in ("en", *XQUAD_LANGUAGES):
        assert unpacked(lang) == (SHARED_HALF / f"xquad.{lang}.json").read_bytes(), lang
    assert (DEV_HALF / "LICENSE-CC-BY-SA-4.0.txt").read_bytes() == (SHARED_HALF / "LICENSE-CC-BY-SA-4.0.txt").read_bytes()
    assert "CC BY-SA 4.0" in (DEV_HALF / "NOTICE.md").read_text()


def test_ir_datasets_counts_on_the_development_half():
    docs = list(ir_datasets.load("xquad-dev").docs_iter())
    per_lang = {lang: sum(1 for _ in ir_datasets.load(f"xquad-dev/{lang}").queries_iter()) for lang in XQUAD_LANGUAGES}
    everything = ir_datasets.load("xquad-dev/all")
    print(f"xquad dev half: {len(docs)} English paragraphs, questions per language {per_lang}")
    assert len(docs) == 120 and len({d.doc_id for d in docs}) == 120
    assert set(per_lang.values()) == {612}
    assert sum(1 for _ in everything.queries_iter()) == sum(1 for _ in everything.qrels_iter()) == 612 * 11
    assert all(" " not in d.doc_id and "#" not in d.doc_id for d in docs)


def test_every_question_points_at_the_paragraph_holding_its_english_answer():
    ds = ir_datasets.load("xquad-dev/all")
    text = {d.doc_id: d.text for d in ds.docs_iter()}
    qrels = {r.query_id: r.doc_id for r in ds.qrels_iter()}
    by_squad_id: dict[str, set[str]] = {}
    for q in ds.queries_iter():
        assert q.query_id.split("-")[1] == q.lang  # the language rule the tables use
        assert q.answers and all(a in text[qrels[q.query_id]] for a in q.answers)
        by_squad_id.setdefault(q.query_id.split("-", 2)[2], set()).add(qrels[q.query_id])
    assert all(len(docs) == 1 for docs in by_squad_id.values())  # same paragraph in all 11 languages


def _extra_article(title: str, lang: str) -> dict:
    return {"title": title, "paragraphs": [{"context": f"{title} paragraph in {lang}.", "qas": [
        {"id": f"{title}-q0", "question": f"{lang}: what is {title}?",
         "answers": [{"answer_start": 0, "text": title}]}]}]}


def test_a_superset_of_the_development_half_keeps_every_id(tmp_path):
    """The same code reads the official 48-article files: ids never depend on the subset."""
    full = tmp_path / "full"
    full.mkdir()
    for lang in ("en", *XQUAD_LANGUAGES):
        data = json.loads(unpacked(lang))
        data["data"].insert(1, _extra_article("Extra_Article", lang))  # an odd-position article
        (full / f"xquad.{lang}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    half, bigger = XquadFiles(DEV_HALF), XquadFiles(full)
    assert len(bigger.passages()) == len(half.passages()) + 1
    assert {p.docid for p in half.passages()} < {p.docid for p in bigger.passages()}
    half_q = {q.qid: q.docid for q in half.questions(["ar"])}
    bigger_q = {q.qid: q.docid for q in bigger.questions(["ar"])}
    assert all(bigger_q[qid] == docid for qid, docid in half_q.items())
    assert bigger_q["xquad-ar-Extra_Article-q0"] == "Extra_Article_p0"
    assert len(xquad_files(full).questions(["ar"])) == 613


def test_bad_or_missing_files_name_the_file(tmp_path):
    folder = write_plain_copy(tmp_path / "x", ["en"])
    files = xquad_files(folder)
    with pytest.raises(FileNotFoundError, match=r"xquad\.ar\.json"):
        files.questions(["ar"])
    (folder / "xquad.de.json").write_text('{"data": [', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"xquad\.de\.json:1: malformed JSON"):
        files.questions(["de"])
    es = json.loads(unpacked("es"))
    es["data"][0]["paragraphs"][0]["qas"][0]["id"] = "not-in-english"
    (folder / "xquad.es.json").write_text(json.dumps(es), encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"xquad\.es\.json: question not-in-english"):
        files.questions(["es"])
    (folder / "xquad.el.json").write_bytes(b'{"data": "\xff"}')
    with pytest.raises(CorpusFormatError, match=r"xquad\.el\.json: not UTF-8"):
        files.questions(["el"])
    (folder / "xquad.ru.json.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")
    with pytest.raises(CorpusFormatError, match=r"xquad\.ru\.json\.gz: damaged gzip file"):
        files.questions(["ru"])
    with pytest.raises(FileNotFoundError, match="nowhere: no xquad.en.json there"):
        xquad_files(tmp_path / "nowhere")


def test_gold_queries_never_hold_a_question_of_the_left_out_fold():
    files = XquadFiles(DEV_HALF)
    questions = files.questions()
    for leave_out in (0, 1):
        passages = list(gold_generated_queries(files.passages(), questions, 2, leave_out))
        gold = {p.docid: p.generated_queries for p in passages}
        left_out = [q for q in questions if q.position % 2 == leave_out]
        kept = [q for q in questions if q.position % 2 != leave_out]
        assert left_out and kept
        for q in left_out:  # neither the question nor its translations
            assert all(q.question not in qs for qs in gold[q.docid].values())
        held_en = {(q.docid, q.question_en.casefold()) for q in left_out}
        held_native = {(q.docid, q.lang, q.question.casefold()) for q in left_out}
        for q in kept:  # all the others, but repeats of a left-out question's text (SQuAD has a few)
            repeat = (q.docid, q.question_en.casefold()) in held_en or (q.docid, q.lang, q.question.casefold()) in held_native
            assert (q.question in gold[q.docid].get(q.lang, [])) != repeat
        assert sum(len(qs) for g in gold.values() for qs in g.values()) > 0.9 * len(kept)
    with pytest.raises(ValueError, match="folds >= 2"):
        list(gold_generated_queries(files.passages(), questions, 1, 0))


def test_prepare_xquad_splits_by_article(tmp_path):
    files = XquadFiles(DEV_HALF)
    folds = article_folds(files.articles(), 2)
    test = [a for a, f in folds.items() if f == 1]
    train = [a for a, f in folds.items() if f == 0]
    data = prepare_xquad(tmp_path, files, test_articles=test, train_articles=train)
    topics = data.topics_dev.read_text(encoding="utf-8").splitlines()
    tested = {q.qid: q for q in files.questions() if q.article in test}
    assert sorted(line.split("\t")[0] for line in topics) == sorted(tested)
    groups = [json.loads(line) for line in data.train_jsonl.read_text(encoding="utf-8").splitlines()]
    train_questions = [q for q in files.questions(["ar"]) if q.article in train]
    assert len(groups) == len(train_questions) > 0  # one group per English question
    assert {g["query"] for g in groups} == {q.question_en for q in train_questions}
    trained_squad_ids = {g["query_id"].split("-", 2)[2] for g in groups}
    assert not trained_squad_ids & {q.squad_id for q in tested.values()}
    assert all(g["positive_passages"][0]["docid"].rsplit("_p", 1)[0] in train for g in groups)
    with pytest.raises(ValueError, match="both in train and test"):
        prepare_xquad(tmp_path / "bad", files, test_articles=test, train_articles=test[:1])


@pytest.mark.process
def test_converters_work_on_xquad(tmp_path):
    convert = lambda *a: run_cli("-m", "xqg_tevatron.data.convert", *a)  # noqa: E731
    convert("topics", "xquad-dev/de", str(tmp_path / "topics.tsv"))
    convert("qrels", "xquad-dev/de", str(tmp_path / "qrels.txt"))
    convert("tevatron-train", "xquad-dev/de", str(tmp_path / "train.jsonl"), "--negatives", "3")
    convert("gold-queries", "xquad-dev/all", str(tmp_path / "gold.jsonl"), "--folds", "2", "--leave-out", "1")
    local = write_plain_copy(tmp_path / "local")
    convert("gold-queries", "xquad/all", str(tmp_path / "gold_local.jsonl"), "--folds", "2", "--leave_out", "1",
            "--xquad-dir", str(local))
    assert (tmp_path / "gold_local.jsonl").read_bytes() == (tmp_path / "gold.jsonl").read_bytes()
    topics = (tmp_path / "topics.tsv").read_text(encoding="utf-8").splitlines()
    qrels = (tmp_path / "qrels.txt").read_text(encoding="utf-8").splitlines()
    assert len(topics) == len(qrels) == 612 and topics[0].startswith("xquad-de-")
    group = json.loads((tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert len(group["positive_passages"]) == 1 and len(group["negative_passages"]) == 3
    gold = list(iter_passages([tmp_path / "gold.jsonl"]))
    assert len(gold) == 120 and set().union(*(g.generated_queries for g in gold)) == set(XQUAD_LANGUAGES)
