"""Recipe selection by article-level cross-validation: exact ranks, macro averages, and the
choice made on the other folds only."""
from __future__ import annotations

import numpy as np
import pytest

from xqg_tevatron.study.select_recipe import PLAIN, Recipe, cross_validate, macro_mean, recipe_grid, reciprocal_ranks


def test_reciprocal_ranks_are_exact_and_cut_at_depth():
    passages = np.eye(4, dtype=np.float32)
    queries = np.array([[0.9, 0.1, 0, 0], [0.5, 0.4, 0.3, 0], [0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    gold = np.array([0, 2, 0])
    np.testing.assert_allclose(reciprocal_ranks(queries, passages, gold), [1.0, 1 / 3, 1 / 4])
    np.testing.assert_allclose(reciprocal_ranks(queries, passages, gold, depth=3), [1.0, 1 / 3, 0.0])


def test_grid_has_one_plain_recipe_first():
    grid = recipe_grid(["cldr", "freedict"], [0.0, 0.1], ["mean"], [1, 5])
    assert grid[0].alpha == 0 and grid[0].label == "plain"
    assert len(grid) == 1 + 2 * 1 * 1 * 2 and all(r.alpha == 0.1 for r in grid[1:])


def test_macro_mean_weights_languages_equally():
    values = np.array([1.0, 1.0, 1.0, 0.0])
    langs = np.array(["ar", "ar", "ar", "de"])
    assert macro_mean(values, langs, np.ones(4, bool)) == 0.5


def test_cross_validation_chooses_on_the_other_folds_only():
    plain, a, b = PLAIN, Recipe("g", "mean", 0.1, 5), Recipe("g", "mean", 0.5, 5)
    langs = np.array(["ar"] * 4)
    fold = np.array([0, 0, 1, 1])
    rr = {plain: np.array([0.5, 0.5, 0.5, 0.5]),
          a: np.array([1.0, 1.0, 0.0, 0.0]),   # best on fold 0 only
          b: np.array([0.0, 0.0, 0.9, 0.9])}   # best on fold 1 only
    cv, held_out = cross_validate(rr, langs, fold, 2)
    # each question keeps the RR of the recipe chosen without its fold (what the tests compare)
    np.testing.assert_allclose(held_out, [0.0, 0.0, 0.0, 0.0])
    # fold 0 is scored with the recipe that won fold 1 (b), and vice versa: both lose to plain
    assert [c["chosen"] for c in cv] == [b.label, a.label]
    assert [c["chosen_mrr"] for c in cv] == [0.0, 0.0] and [c["plain_mrr"] for c in cv] == [0.5, 0.5]


def test_cross_validation_prefers_plain_on_ties():
    plain, a = PLAIN, Recipe("g", "mean", 0.1, 5)
    rr = {a: np.ones(4) * 0.7, plain: np.ones(4) * 0.7}
    cv, held_out = cross_validate(rr, np.array(["ar"] * 4), np.array([0, 0, 1, 1]), 2)
    assert {c["chosen"] for c in cv} == {"plain"}
    np.testing.assert_allclose(held_out, rr[plain])


def test_the_held_out_choice_is_tested_against_plain_with_translations_as_one_question():
    """``against_plain`` clusters by the SQuAD id: 6 questions in 2 languages are 6 samples."""
    from xqg_tevatron.data.xquad import XquadQuestion
    from xqg_tevatron.study.select_recipe import against_plain

    questions = [XquadQuestion(qid=f"xquad-{l}-s{i}", question="?", answers=[], lang=l, question_en="?", docid="d",
                               article="a", position=i, squad_id=f"s{i}") for i in range(6) for l in ("fi", "ja")]
    plain = np.full(12, 0.5)
    better = plain + 0.25
    record = against_plain(plain, better, questions)
    assert record["clusters"] == 6 and record["queries"] == 12 and record["difference"] == 0.25
    assert record["verdict"] == "better" and record["p_cluster"] == 2 / 64  # both of 2^6 all-same-sign flips


def test_a_filtered_recipe_fuses_the_most_similar_queries_and_the_unfiltered_the_first(tmp_path):
    """score_recipes through the encode's own rules: n=1 unfiltered fuses each passage's first
    query per language, n=1 filtered the one most similar to the passage; which one was fused
    decides whether the question's passage comes first."""
    import json

    from xqg_tevatron.data.xquad import XquadQuestion
    from xqg_tevatron.study.select_recipe import score_recipes

    # p0's first query points at the question ("far"), its second is the one most like p0
    # ("near"); p1's only query is half way to the question
    vec = {"p0": [1, 0, 0, 0], "p1": [0, 1, 0, 0], "far": [0, 0, 1, 0], "near": [0.8, 0, 0.6, 0],
           "other": [0, 0, 0.8, 0.6]}

    class TableEncoder:  # the encoder interface score_recipes calls, over fixed vectors
        class config:
            q_max_len = 16

        def encode(self, texts, is_query, desc=None, max_len=None):
            return np.array([vec[t.split()[-1]] for t in texts], dtype=np.float32)

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"docid": d, "title": "", "text": d}) + "\n" for d in ("p0", "p1")))
    generated = tmp_path / "g.jsonl"
    generated.write_text("".join(json.dumps({"docid": d, "title": "", "text": d, "generated_queries": g}) + "\n"
                                 for d, g in (("p0", {"de": ["q far", "q near"]}), ("p1", {"de": ["q other"]}))))
    question = XquadQuestion("x", "s", "ask far", "de", (), "", "p0", "a", 0)  # encoded as "far"
    unfiltered, filtered = Recipe("g", "mean", 0.5, 1), Recipe("g", "mean", 0.5, 1, "similarity")
    rr = score_recipes(TableEncoder(), corpus, [question], {"g": generated}, [PLAIN, unfiltered, filtered])
    assert rr[unfiltered][0] == 1.0  # "far" fused into p0: p0 first
    assert rr[filtered][0] == 0.5  # "near" kept instead: p1 now ahead
    assert filtered.label.endswith("filtered") and unfiltered.label == "g mean a=0.5 n=1"


def test_the_filter_is_judged_by_cross_validation_with_it_against_without_it():
    """filter_tests: held-out scores of the grid with filtered recipes against the grid without
    them; a filter that helps on every fold is 'better', and each n compares the best unfiltered
    recipe at that n with the same recipe filtered."""
    from xqg_tevatron.data.xquad import XquadQuestion
    from xqg_tevatron.study.select_recipe import filter_tests

    rng = np.random.default_rng(0)
    questions = [XquadQuestion(f"{i}-{l}", f"s{i}", "?", l, (), "", "p", f"a{i % 4}", 0)
                 for i in range(80) for l in ("de", "ru")]
    langs = np.array([q.lang for q in questions])
    fold = np.array([int(q.article[1:]) for q in questions])
    base = rng.uniform(0.2, 0.7, len(questions))
    unfiltered = Recipe("g", "mean", 0.2, 3)
    rr = {PLAIN: base - 0.05, unfiltered: base, Recipe("g", "mean", 0.2, 3, "similarity"): base + 0.1}
    tests = filter_tests(rr, langs, fold, 4, questions, [1, 3])
    assert tests["cross_validated"]["verdict"] == "better"
    assert tests["cross_validated"]["difference"] == pytest.approx(0.1)
    assert list(tests["per_n"]) == ["3"] and tests["per_n"]["3"]["label"] == unfiltered.label
    assert tests["per_n"]["3"]["difference"] == pytest.approx(0.1)
