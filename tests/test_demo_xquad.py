"""The main job (``make demo``) on real questions, end to end through Pyserini, on a 2-article
subset of the shipped XQuAD development half (the same file format as the official release).

The numbers are checked against a scorer written here from the TREC run files and the qrels
(reciprocal rank of the one relevant paragraph), not against the evaluation code the demo uses,
and the printed table against results.json."""
from __future__ import annotations

import gzip
import json
from collections import defaultdict

import pytest

from helpers import run_cli
from xqg_tevatron.data.xquad import PACKAGED_DEV_HALF, XQUAD_LANGUAGES


def mrr_by_language(run_file, qrels_file, depth: int = 100) -> dict[str, float]:
    relevant = {}
    for line in qrels_file.read_text().splitlines():
        qid, _, docid, rel = line.split()
        if int(rel) > 0:
            relevant[qid] = docid
    ranked = defaultdict(list)
    for line in run_file.read_text().splitlines():
        qid, _, docid, rank, score, _ = line.split()
        ranked[qid].append((int(rank), docid))
    per_lang = defaultdict(list)
    for qid, docid in relevant.items():
        docs = [d for _, d in sorted(ranked.get(qid, []))][:depth]
        per_lang[qid.split("-")[1]].append(1.0 / (docs.index(docid) + 1) if docid in docs else 0.0)
    table = {lang: sum(v) / len(v) for lang, v in per_lang.items()}
    table["Avg"] = sum(table.values()) / len(table)
    return table


@pytest.mark.slow
def test_demo_on_a_two_article_xquad_subset(tmp_path):
    sub = tmp_path / "xquad"
    sub.mkdir()
    for lang in ("en", *XQUAD_LANGUAGES):
        data = json.loads(gzip.decompress((PACKAGED_DEV_HALF / f"xquad.{lang}.json.gz").read_bytes()))
        data["data"] = data["data"][2:4]  # two articles
        (sub / f"xquad.{lang}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "run"
    proc = run_cli("-m", "xqg_tevatron.demo", "--xquad-dir", str(sub), "--out", str(out), "--word-lists", "cldr",
                   "--record", str(tmp_path / "artifact.json"), timeout=1800)
    results = json.loads((out / "results.json").read_text())
    tables = results["tables"]
    assert list(tables) == ["plain", "xQG dictionary mean a=0.2 n=5", "xQG gold (ceiling) mean a=0.2 n=5"]
    topics = {line.split("\t")[0] for line in (out / "data" / "topics.test.tsv").read_text(encoding="utf-8").splitlines()}
    for name, run in zip(tables, ("plain", "xqg", "gold")):
        rows = [line.split() for line in (out / "runs" / f"{run}.trec").read_text().splitlines()]
        # every question searched exactly once, also in the gold run (two folds joined)
        assert {r[0] for r in rows} == topics
        assert all(sum(1 for r in rows if r[0] == q and r[3] == "1") == 1 for q in topics)
        # the demo's MRR is the reciprocal rank computed here from the run and the qrels
        mine = mrr_by_language(out / "runs" / f"{run}.trec", out / "data" / "qrels.test.txt")
        assert set(tables[name]) == set(XQUAD_LANGUAGES) | {"Avg"}
        for lang, value in mine.items():
            assert tables[name][lang]["recip_rank"] == pytest.approx(value, abs=1e-4), (name, lang)
    # the printed table is results.json, in percent with one decimal
    printed = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if "MRR@100" in line.split()[:3]}
    plain_row = printed["plain"]
    assert plain_row[-1] == f"{100 * tables['plain']['Avg']['recip_rank']:.1f}"
    assert plain_row[2] == f"{100 * tables['plain']['ar']['recip_rank']:.1f}"
    # the closing notes describe the files actually read (issue 23, case 11), not the shipped half
    notes = [line for line in proc.stdout.splitlines() if line.startswith("note: ")]
    assert any(f"the XQuAD-format files in {sub}: 2 articles, 11 question language(s)" in n for n in notes), notes
    assert not any("of XQuAD's 48 articles" in n for n in notes) and "CLDR names only" in proc.stdout
    # issue 33: every system against plain with the cluster-aware tests; the verdict follows the p-value
    tests = results["significance"]
    assert tests["baseline"] == "plain" and set(tests["systems"]) == set(tables) - {"plain"}
    for name, result in tests["systems"].items():
        avg = result["Avg"]
        assert avg["queries"] == len(topics) and avg["clusters"] == len(topics) // len(XQUAD_LANGUAGES)
        assert avg["difference"] == pytest.approx(tables[name]["Avg"]["recip_rank"] - tables["plain"]["Avg"]["recip_rank"])
        assert avg["ci_low"] <= avg["difference"] <= avg["ci_high"]
        expected = ("better" if avg["difference"] > 0 else "worse") if avg["p_cluster"] < 0.05 else \
            "no significant difference"
        assert avg["verdict"] == expected and f"against plain: {expected} (" in proc.stdout
        assert set(result["languages"]) == set(XQUAD_LANGUAGES)
    artifact = json.loads((tmp_path / "artifact.json").read_text())
    assert artifact["results"]["tables"] == tables and artifact["results"]["significance"] == tests
    assert artifact["command"].startswith("python -m xqg_tevatron.demo --xquad-dir")
    assert artifact["machine"]["cores"] and "faiss" in artifact["machine"]["libraries"]
    assert len(artifact["load"]["loadavg_1_5_15_before"]) == 3 and artifact["commit"]
