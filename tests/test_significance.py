"""The significance tests behind every verdict: the cluster-aware randomisation test and
bootstrap interval (a question's translations resampled together), the paired t-test printed
beside them, and Holm's correction over languages."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from xqg_tevatron.evaluation.significance import compare, compare_systems, holm, macro_weights


def translated(n_questions: int, n_langs: int, shift: float, per_question_noise: float, per_query_noise: float,
               seed: int = 0):
    """Scores of A and B on n_questions asked in n_langs languages: B = A + shift + a question's
    own noise (shared by its translations) + a little per-query noise."""
    rng = np.random.default_rng(seed)
    a, b, clusters, langs = [], [], [], []
    for q in range(n_questions):
        base, own = rng.random(), rng.normal(0, per_question_noise)
        for l in range(n_langs):
            x = base + rng.normal(0, 0.1)
            a.append(x)
            b.append(x + shift + own + rng.normal(0, per_query_noise))
            clusters.append(f"q{q}")
            langs.append(f"l{l}")
    return a, b, clusters, langs


def test_translations_of_one_question_are_one_sample_not_eleven():
    """A difference carried by the questions (each one's 11 translations move together) is
    significant to tests that count translations as independent, and not to the cluster-aware
    test: 20 questions whose own effects have mean 0.02 and spread 0.08."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=20)
    own = 0.02 + 0.08 * (z - z.mean()) / z.std()
    a = rng.random(20 * 11)
    b = a + np.repeat(own, 11) + rng.normal(0, 0.01, 20 * 11)
    clusters, langs = [f"q{i // 11}" for i in range(220)], [f"l{i % 11}" for i in range(220)]
    clustered = compare(a, b, clusters, langs, resamples=2000)
    naive = compare(a, b, [str(i) for i in range(220)], langs, resamples=2000)
    assert clustered.clusters == 20 and clustered.queries == 220
    assert naive.p_cluster < 0.05 and clustered.p_t < 0.05  # the per-query t-test is fooled too
    assert clustered.p_cluster > 0.05 and clustered.verdict == "no significant difference"
    assert clustered.ci_low < 0 < clustered.ci_high
    assert (clustered.ci_high - clustered.ci_low) > 2 * (naive.ci_high - naive.ci_low)


@pytest.mark.parametrize("shift, verdict", [(0.05, "better"), (-0.05, "worse")])
def test_a_real_shift_is_called_by_its_sign(shift, verdict):
    a, b, clusters, langs = translated(80, 5, shift, 0.02, 0.02, seed=1)
    c = compare(a, b, clusters, langs, resamples=2000)
    assert c.verdict == verdict and c.p_cluster < 0.01 and c.p_t < 0.01
    assert c.ci_low < shift < c.ci_high
    assert verdict in c.describe() and "95% CI" in c.describe()


def test_identical_systems_differ_by_nothing():
    a = [0.5, 1.0, 0.0, 0.25]
    c = compare(a, a, ["x", "x", "y", "y"], ["fi", "ja", "fi", "ja"])
    assert (c.difference, c.ci_low, c.ci_high, c.p_cluster) == (0.0, 0.0, 0.0, 1.0)
    assert c.verdict == "no significant difference"


def test_the_difference_is_the_one_of_the_macro_average_over_languages():
    """Languages with different numbers of queries weigh the same, as in the tables' Avg."""
    rng = np.random.default_rng(0)
    langs = ["fi"] * 30 + ["ja"] * 10
    a, b = rng.random(40), rng.random(40)
    c = compare(a, b, [str(i) for i in range(40)], langs, resamples=100)
    macro = lambda x: (np.mean(x[:30]) + np.mean(x[30:])) / 2  # noqa: E731
    assert c.difference == pytest.approx(macro(b) - macro(a))
    assert macro_weights(langs).sum() == pytest.approx(1.0)


def test_the_randomisation_test_is_exact_on_few_clusters():
    """With 2^clusters <= resamples every sign flip is enumerated: the p-value equals a brute
    force over all flips of whole clusters."""
    rng = np.random.default_rng(5)
    clusters = [f"q{i // 3}" for i in range(24)]  # 8 questions x 3 languages
    langs = [f"l{i % 3}" for i in range(24)]
    a = rng.random(24)
    b = a + rng.normal(0.05, 0.1, 24)
    c = compare(a, b, clusters, langs, resamples=10_000)
    d = np.array([sum((b - a)[i] for i in range(24) if clusters[i] == f"q{k}") for k in range(8)])
    observed = abs(d.sum())
    flips = [abs(np.dot(signs, d)) for signs in itertools.product((1, -1), repeat=8)]
    brute = np.mean([f >= observed - 1e-12 for f in flips])
    assert c.p_cluster == pytest.approx(brute)


def test_holm_steps_down_and_stays_monotone():
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert holm({"a": 0.5, "b": 0.9}) == pytest.approx({"a": 1.0, "b": 1.0})


def test_every_system_against_the_baseline_with_holm_marks_per_language():
    a, b, clusters, langs = translated(40, 3, 0.04, 0.01, 0.01, seed=2)
    qids = [f"{c}-{l}" for c, l in zip(clusters, langs)]
    per_query = {"plain": {q: {"recip_rank": x} for q, x in zip(qids, a)},
                 "xqg": {q: {"recip_rank": x} for q, x in zip(qids, b)}}
    out = compare_systems(per_query, "plain", "recip_rank", dict(zip(qids, clusters)), dict(zip(qids, langs)),
                          resamples=500)
    assert set(out) == {"xqg"} and out["xqg"]["Avg"]["verdict"] == "better"
    assert set(out["xqg"]["languages"]) == {"l0", "l1", "l2"}
    for rec in out["xqg"]["languages"].values():
        assert rec["p_holm"] >= rec["p_cluster"] and rec["clusters"] == 40
    del per_query["xqg"][qids[0]]
    with pytest.raises(ValueError, match="1 queries of plain have no score"):
        compare_systems(per_query, "plain", "recip_rank", {}, dict(zip(qids, langs)))
