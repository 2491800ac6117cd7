"""Seeds in the study: model names, the interval over seeds and questions, each level against p=0."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xqg_tevatron.evaluation.significance import compare, seed_cluster_interval
from xqg_tevatron.study.config import StudyConfig, model_name, model_names, parse_model


def test_a_model_name_says_its_level_and_seed_and_one_seed_keeps_the_old_names():
    assert parse_model(model_name(0.25, 3)) == (0.25, 3)
    assert parse_model(model_name(1.0)) == (1.0, None)
    assert parse_model("base") == (None, None)
    cfg = StudyConfig()
    cfg.train.p = [0.0, 0.5]
    assert model_names(cfg) == ["base", "p0", "p0.5"]
    cfg.train.seeds = [1, 2]
    assert model_names(cfg) == ["base", "p0-s1", "p0-s2", "p0.5-s1", "p0.5-s2"]


def _questions(n_questions: int, languages: list[str]):
    clusters = [f"q{i}" for i in range(n_questions) for _ in languages]
    langs = [lang for _ in range(n_questions) for lang in languages]
    return clusters, langs


def test_the_interval_widens_with_the_spread_across_seeds_and_holds_the_difference():
    rng = np.random.default_rng(1)
    clusters, langs = _questions(60, ["ar", "de", "ja"])
    base = rng.uniform(0, 1, len(clusters))
    a = np.stack([base] * 3)
    b_same = np.stack([base + 0.05] * 3)  # every seed alike
    shifts = np.array([-0.2, 0.0, 0.3])[:, None]  # seeds far apart
    b_apart = base + 0.05 + shifts
    low, high = seed_cluster_interval(a, b_same, clusters, langs, resamples=2000)
    assert low == pytest.approx(0.05) and high == pytest.approx(0.05)  # a constant shift: nothing to resample
    noisy = rng.uniform(-0.2, 0.3, len(clusters))
    b_noisy = np.stack([base + noisy] * 3)
    one_seed = seed_cluster_interval(a, b_noisy, clusters, langs, resamples=2000)
    seeds_apart = seed_cluster_interval(a, b_noisy + shifts, clusters, langs, resamples=2000)
    assert seeds_apart[1] - seeds_apart[0] > 2 * (one_seed[1] - one_seed[0])
    difference = compare(a.mean(0), (b_noisy + shifts).mean(0), clusters, langs, resamples=200).difference
    assert seeds_apart[0] < difference < seeds_apart[1]
    assert seed_cluster_interval(a, b_apart, clusters, langs, resamples=500, seed=3) == \
        seed_cluster_interval(a, b_apart, clusters, langs, resamples=500, seed=3)


def test_with_one_seed_each_the_interval_is_the_question_bootstrap():
    """One seed per system leaves only the questions to resample: close to the cluster
    bootstrap of ``compare`` (percentile here, BCa there)."""
    rng = np.random.default_rng(2)
    clusters, langs = _questions(200, ["de", "ru"])
    a, b = rng.uniform(0, 1, len(clusters)), rng.uniform(0, 1, len(clusters))
    low, high = seed_cluster_interval(a[None], b[None], clusters, langs, resamples=4000)
    test = compare(a, b, clusters, langs, resamples=4000)
    assert low == pytest.approx(test.ci_low, abs=0.01) and high == pytest.approx(test.ci_high, abs=0.01)


def test_each_level_against_p0_over_seeds(tmp_path):
    """Cell rows of three levels x 3 seeds and the base model: the level that is ahead on every
    seed and question is 'better'; a level whose seeds disagree is 'no significant difference'
    although the cluster test over seed-averaged scores alone would call it; the base model is
    compared with p=0 too (what fine-tuning adds)."""
    from xqg_tevatron.study.levels import compare_levels

    languages = ["de", "ru"]
    qids = [f"{lang}-{i}" for i in range(40) for lang in languages]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"id": q, "question": "?", "answers": [], "lang": q.split("-")[0],
                                             "source_question": q.split("-")[1]}) + "\n" for q in qids))
    rng = np.random.default_rng(0)
    base_scores = rng.uniform(0.2, 0.8, len(qids))

    def row(p, seed, scores):
        return {"cell_id": f"{'base' if p is None else model_name(p, seed)}__fused__a0__n0__none__flat",
                "code_switch_p": p, "seed": seed, "switched_share": p or 0.0, "lexical_overlap": 1 - (p or 0.0),
                "per_query": {q: [float(s), float(s > 0.5)] for q, s in zip(qids, scores)}}

    rows = [row(None, None, base_scores)]
    rows += [row(0.0, s, base_scores + 0.01 * s) for s in (1, 2, 3)]
    rows += [row(0.5, s, base_scores + 0.1 + 0.01 * s) for s in (1, 2, 3)]  # ahead everywhere
    rows += [row(1.0, s, base_scores + d) for s, d in ((1, -0.3), (2, 0.0), (3, 0.35))]  # seeds disagree
    levels = compare_levels(rows, questions, resamples=500)["plain"]["levels"]
    by_p = {entry["p"]: entry for entry in levels}
    assert [entry["p"] for entry in levels] == [None, 0.0, 0.5, 1.0]
    assert by_p[0.5]["seeds"] == [1, 2, 3] and by_p[None]["seeds"] == [] and "against_p0" not in by_p[0.0]
    assert by_p[None]["against_p0"]["MRR@100"]["difference"] == pytest.approx(-0.02)  # what fine-tuning added
    assert by_p[0.5]["against_p0"]["MRR@100"]["verdict"] == "better"
    assert by_p[0.5]["against_p0"]["MRR@100"]["difference"] == pytest.approx(0.1)
    assert by_p[0.5]["MRR@100"]["mean"] == pytest.approx(float(np.mean(base_scores)) + 0.12)
    assert by_p[1.0]["against_p0"]["MRR@100"]["verdict"] == "no significant difference"
    assert by_p[1.0]["MRR@100"]["max"] - by_p[1.0]["MRR@100"]["min"] == pytest.approx(0.65)
