"""The main job on real questions, end to end through Pyserini, on a 2-article XQuAD subset
(the same unchanged file format as the official release and the development half)."""
from __future__ import annotations

import json

import pytest

from conftest import ROOT, run_cli
from xqg_tevatron.data.xquad import XQUAD_LANGUAGES
from xqg_tevatron.evaluation.trec import trec_eval_per_query

DEV_HALF = ROOT.parent / "shared" / "data" / "xquad-dev"


@pytest.mark.slow
@pytest.mark.skipif(not (DEV_HALF / "xquad.en.json").is_file(), reason="no XQuAD development half")
def test_demo_on_a_two_article_xquad_subset(tmp_path):
    sub = tmp_path / "xquad"
    sub.mkdir()
    for lang in ("en", *XQUAD_LANGUAGES):
        data = json.loads((DEV_HALF / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        data["data"] = data["data"][2:4]  # two articles
        (sub / f"xquad.{lang}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "run"
    proc = run_cli("-m", "xqg_tevatron.demo", "--dataset", "xquad", "--xquad_dir", str(sub), "--out", str(out),
                   timeout=1800)
    results = json.loads((out / "results.json").read_text())
    tables = results["tables"]
    assert list(tables) == ["plain", "xQG dictionary mean a=0.2 n=5", "xQG gold mean a=0.2", "xQG gold mean a=0.5"]
    for table in tables.values():
        assert set(table) == set(XQUAD_LANGUAGES) | {"Avg"}
        assert all(0.0 <= v <= 1.0 for row in table.values() for v in row.values())
        assert set(table["Avg"]) == {"recip_rank", "recall_1", "recall_5", "recall_20"}
    # every test question is searched exactly once, also in the gold runs (two folds joined)
    topics = {line.split("\t")[0] for line in (out / "data" / "topics.test.tsv").read_text(encoding="utf-8").splitlines()}
    for run in ("plain", "xqg", "gold_a0.2", "gold_a0.5"):
        rows = [line.split() for line in (out / "runs" / f"{run}.trec").read_text().splitlines()]
        assert {r[0] for r in rows} == topics
        assert all(sum(1 for r in rows if r[0] == q and r[3] == "1") == 1 for q in list(topics)[:50])
    # the printed numbers are trec_eval's own, per language
    direct = trec_eval_per_query(out / "data" / "qrels.test.txt", out / "runs" / "plain.trec", ["recip_rank"])
    ar = [v["recip_rank"] for q, v in direct.items() if q.startswith("xquad-ar-")]
    assert tables["plain"]["ar"]["recip_rank"] == pytest.approx(sum(ar) / len(ar))
    assert "MRR@100" in proc.stdout and "holds 2 of XQuAD's 48 articles" in proc.stdout
