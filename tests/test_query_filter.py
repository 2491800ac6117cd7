"""doc2query--'s filter at encode time: a prefix of N keeps the N generated queries most similar to
their passage, per language; without the filter, the first N generated."""
from __future__ import annotations

import numpy as np
import pytest

from xqg_tevatron.xqg.components import layout_queries, query_sums, rank_by_similarity


def test_a_prefix_keeps_the_most_similar_queries_of_each_passage_and_language():
    generated = [{"de": ["d0", "d1", "d2"], "ru": ["r0", "r1"]}, {"de": ["e0", "e1"]}]
    layout = layout_queries(generated, ["de", "ru"], 0)
    p = np.eye(4, dtype=np.float32)[:2]  # passage 0 = e0, passage 1 = e1
    sims = {"d0": 0.1, "d1": 0.9, "d2": 0.5, "r0": 0.2, "r1": 0.2, "e0": 0.3, "e1": 0.8}
    q = np.zeros((len(layout.texts), 4), np.float32)
    for i, (text, owner) in enumerate(zip(layout.texts, layout.owner)):
        q[i, owner] = sims[text]
        q[i, 3] = 1.0  # a direction no passage has: it adds nothing to the similarity (inner product)
    ranked = rank_by_similarity(layout, q, p)
    rank = dict(zip(ranked.texts, ranked.position.tolist()))
    assert rank == {"d1": 0, "d2": 1, "d0": 2, "r0": 0, "r1": 1, "e1": 0, "e0": 1}  # ties keep generation order
    qsum, qcount = query_sums(ranked, q, 2, [1, 2], 4)
    np.testing.assert_allclose(qsum[0, 0, 0], q[ranked.texts.index("d1")])
    np.testing.assert_allclose(qsum[0, 1, 0], q[ranked.texts.index("d1")] + q[ranked.texts.index("d2")])
    np.testing.assert_allclose(qsum[1, 0, 0], q[ranked.texts.index("e1")])
    assert qcount[:, 1].tolist() == [[2, 2], [2, 0]]
    assert rank_by_similarity(layout_queries([None], None, 0), np.zeros((0, 4)), p[:1]).texts == []


def test_an_unknown_filter_is_one_line_before_any_work():
    from xqg_tevatron.indexing.indexer import XqgConfig

    with pytest.raises(ValueError, match="query_filter must be one of none, similarity"):
        XqgConfig(query_filter="best")
