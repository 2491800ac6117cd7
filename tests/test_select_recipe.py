"""Recipe selection by article-level cross-validation: exact ranks, macro averages, and the
choice made on the other folds only."""
from __future__ import annotations

import numpy as np

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
