"""The study runs its grid, records achieved overlap ratios, and resumes without redoing cells."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import yaml

from helpers import run_cli
from xqg_tevatron.study.config import StudyConfig, expand
from xqg_tevatron.study.plot import pareto_front


def test_grid_expansion_and_unknown_keys(tmp_path):
    cfg = StudyConfig.from_yaml(_write(tmp_path / "c.yaml", {
        "train": {"p": [0.0, 0.5]}, "xqg": {"alpha": [0.0, 0.1], "n_per_lang": [1, 5], "aggregation": ["sum"],
                                            "multi_vector": True}, "index_types": ["flat", "hnsw"]}))
    cells = expand(cfg)
    # per model and index type: plain, 2 fused (alpha 0.1 x n 1/5), 2 multi, 1 translate = 6
    assert len(cells) == 3 * 2 * 6
    assert len({c.cell_id for c in cells}) == len(cells)
    translate = next(c for c in cells if c.mode == "translate")
    plain = next(c for c in cells if c.mode == "fused" and c.alpha == 0 and c.model == translate.model
                 and c.index_type == translate.index_type)
    assert translate.index_key == plain.index_key  # the baseline searches the plain index
    with pytest.raises(ValueError, match="unknown keys"):
        StudyConfig.from_yaml(_write(tmp_path / "bad.yaml", {"xqg": {"alfa": [0.1]}}))


def test_pareto_front():
    pts = [(10, 0.5), (12, 0.7), (11, 0.4), (20, 0.69), (25, 0.9)]
    assert pareto_front(pts) == [(10, 0.5), (12, 0.7), (25, 0.9)]


def _write(path, data):
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.slow
def test_study_runs_and_resumes(tmp_path, tiny_model):
    out = tmp_path / "study"
    config = _write(tmp_path / "study.yaml", {
        "name": "tiny", "output": str(out), "encoder": str(tiny_model), "generated_n_per_lang": 2,
        "train": {"include_base": True, "p": [0.5], "max_steps": 2, "batch_size": 4, "learning_rate": 1e-3,
                  "languages": ["ja", "ru"], "p_max_len": 48, "q_max_len": 24},
        "xqg": {"alpha": [0.0, 0.5], "n_per_lang": [2], "aggregation": ["mean"], "multi_vector": False,
                "languages": ["ja", "ru"]},
        "index_types": ["flat"], "query_translation_baseline": True, "latency_queries": 20, "hits": 20})
    first = run_cli("-m", "xqg_tevatron.study", "--config", str(config), "--max_cells", "2")
    assert "[1/6]" in first.stdout and "[3/6]" not in first.stdout
    done = sorted(p.name for p in (out / "cells").glob("*.json"))
    assert len(done) == 2
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    model_stamp = (out / "models" / "p0.5" / "model.safetensors").stat().st_mtime_ns

    second = run_cli("-m", "xqg_tevatron.study", "--config", str(config))
    assert second.stdout.count("(done, skipped)") == 2
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json") if p.name in stamps} == stamps
    assert (out / "models" / "p0.5" / "model.safetensors").stat().st_mtime_ns == model_stamp  # not retrained
    rows = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    assert len(rows) == 6 and {r["mode"] for r in rows} == {"fused", "translate"}
    assert (out / "results.png").stat().st_size > 10_000
    trained = [r for r in rows if r["model"] == "p0.5"]
    stats = json.loads((out / "models" / "p0.5" / "code_switch_stats.json").read_text())
    assert all(float(r["switched_share"]) == pytest.approx(stats["switched_share"], abs=1e-4) for r in trained)
    assert all(float(r["p50_ms"]) > 0 and r["query_encoder"] == "onnx" for r in rows)  # the search default
    # every MRR in the table is the cell's TREC run scored by Pyserini's trec_eval directly
    from xqg_tevatron.data.xor_format import DEFAULT_DIR, read_questions
    lang = {q.qid: q.lang for q in read_questions(DEFAULT_DIR / "xor_dev_retrieve_eng_span.jsonl")}
    for r in rows:
        proc = run_cli("-m", "xqg_tevatron.pyserini", "eval.trec_eval", "-q", "-c", "-m", "recip_rank",
                       str(DEFAULT_DIR / "qrels.dev.txt"), str(out / "runs" / f"{r['cell_id']}.trec"))
        per: dict[str, list[float]] = {}
        for parts in (line.split() for line in proc.stdout.splitlines()):
            if len(parts) == 3 and parts[0] == "recip_rank" and parts[1] != "all":
                per.setdefault(lang[parts[1]], []).append(float(parts[2]))
        assert len(per) == 7
        assert float(r["MRR"]) == pytest.approx(sum(sum(v) / len(v) for v in per.values()) / len(per), abs=2e-4)
    base_plain = next(r for r in rows if r["model"] == "base" and r["mode"] == "fused" and r["alpha"] == "0.0")
    assert float(base_plain["lexical_overlap"]) > 0.5  # English training queries share words with passages

    third = run_cli("-m", "xqg_tevatron.study", "--config", str(config))
    assert third.stdout.count("(done, skipped)") == 6

    # a changed setup is refused (its cells would mix with these); a longer sweep is a resume
    changed = yaml.safe_load(config.read_text())
    changed["generated_n_per_lang"] = 3
    proc = subprocess.run([sys.executable, "-m", "xqg_tevatron.study", "--config",
                           str(_write(tmp_path / "changed.yaml", changed))], capture_output=True, text=True)
    assert proc.returncode == 1 and "differs in: config" in proc.stderr  # the one exit code for errors
    extended = yaml.safe_load(config.read_text())
    extended["xqg"]["alpha"] = [0.0, 0.5, 0.3]
    fourth = run_cli("-m", "xqg_tevatron.study", "--config", str(_write(tmp_path / "extended.yaml", extended)))
    assert fourth.stdout.count("(done, skipped)") == 6 and "[8/8]" in fourth.stdout
