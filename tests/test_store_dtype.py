"""The half-size store (``--store_dtype float16``): half the bytes, fused vectors within float16's
rounding of the float32 path, and a re-fuse equal to a fresh float16 encode."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import LANGS, encode_cli, run_cli, vectors
from xqg_tevatron.indexing.indexer import RunConfig, XqgConfig, XqgIndexer
from xqg_tevatron.indexing.merge_units import in_order_ahead
from xqg_tevatron.xqg.fusion import Fusion
ALPHA = 0.3
# float16 keeps 11 significant bits: a stored value x comes back within 2^-11 |x|; the tiny
# model's vectors are not normalised, so the bound scales with the largest stored magnitude
HALF_ULP = 2.0 ** -11


def encode(tiny_model, corpus, out, dtype: str, *extra: str):
    return encode_cli(tiny_model, corpus, out, "--alpha", str(ALPHA), "--aggregation", "mean", "--languages", *LANGS,
                      "--n_per_lang", "2", "--store_dtype", dtype, "--keep_work_dir", "true", *extra)


@pytest.mark.slow
def test_float16_store_is_half_and_within_rounding(tmp_path, tiny_model, xqg_corpus):
    full = encode(tiny_model, xqg_corpus, tmp_path / "f32", "float32")
    half = encode(tiny_model, xqg_corpus, tmp_path / "f16", "float16")
    stored32 = {p.name: np.load(p) for p in sorted((tmp_path / "f32.work").glob("*.npy"))}
    stored16 = {p.name: np.load(p) for p in sorted((tmp_path / "f16.work").glob("*.npy"))}
    assert stored32.keys() == stored16.keys() and stored32
    for name, a in stored16.items():
        if name.endswith(".qcount.npy"):
            assert a.dtype == np.int32 and np.array_equal(a, stored32[name])
        else:  # the vector parts: half the bytes, each value float16's rounding of the float32 one
            assert a.dtype == np.float16 and stored32[name].dtype == np.float32
            assert a.nbytes * 2 == stored32[name].nbytes
            np.testing.assert_array_equal(a, stored32[name].astype(np.float16))
    v32, v16 = vectors(full), vectors(half)
    scale = max(np.abs(a).max() for n, a in stored32.items() if not n.endswith(".qcount.npy"))
    deviation = np.abs(v16 - v32).max()
    assert 0 < deviation <= HALF_ULP * scale
    assert (full / "docid").read_text() == (half / "docid").read_text()


@pytest.mark.slow
def test_refuse_of_float16_store_equals_fresh_float16_encode(tmp_path, tiny_model, xqg_corpus):
    encode(tiny_model, xqg_corpus, tmp_path / "first", "float16")
    run_cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(tmp_path / "first.work"), "--output",
            str(tmp_path / "refused"), "--alpha", "0.6", "--aggregation", "sum", "--keep_work_dir")
    fresh = encode_cli(tiny_model, xqg_corpus, tmp_path / "fresh", "--alpha", "0.6", "--aggregation", "sum",
                       "--languages", *LANGS, "--n_per_lang", "2", "--store_dtype", "float16")
    assert (tmp_path / "refused" / "index").read_bytes() == (fresh / "index").read_bytes()
    assert (tmp_path / "refused" / "docid").read_text() == (fresh / "docid").read_text()


def test_store_dtype_is_part_of_the_work_dir_settings(tmp_path, tiny_model, xqg_corpus):
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig  # torch: not for the fast tier's collection

    enc = DenseEncoder(str(tiny_model), config=EncodeConfig(show_progress=False))
    run = RunConfig(unit_size=7, show_progress=False)
    first = XqgIndexer(enc, XqgConfig(Fusion(alpha=0.2)), run, tmp_path / "w")
    first.encode_shard([str(xqg_corpus)])
    first.release()  # a finished shard keeps its work dir locked until the merge; this test merges nothing
    with pytest.raises(ValueError, match=r"differs in: store_dtype"):
        XqgIndexer(enc, XqgConfig(Fusion(alpha=0.2), store_dtype="float16"), run, tmp_path / "w").encode_shard([str(xqg_corpus)])
    with pytest.raises(ValueError, match="store_dtype must be one of float32, float16"):
        XqgConfig(store_dtype="bfloat16")


def test_merge_reads_ahead_in_order_and_fails_at_the_failing_unit():
    import threading
    import time

    started = []

    def load(i: int) -> int:
        started.append(threading.current_thread().name)
        time.sleep(0.02 * ((7 - i) % 3))  # later units may finish first
        if i == 5:
            raise ValueError("unit 5 is damaged")
        return i * i

    loaded = in_order_ahead(load, 9, 4)
    assert [next(loaded) for _ in range(5)] == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="unit 5"):
        next(loaded)
    assert any(name.startswith("merge-read") for name in started)  # really in threads
    assert list(in_order_ahead(lambda i: -i, 3, 1)) == [0, -1, -2]  # no threads when ahead is 1


@pytest.mark.slow
def test_tevatron_bf16_flag_runs_the_encoder_in_bfloat16(tmp_path, tiny_model, xqg_corpus):
    import json

    full = encode_cli(tiny_model, xqg_corpus, tmp_path / "f32", "--alpha", "0")
    # on a CPU, transformers accepts --bf16 only with --use_cpu (its own rule)
    half = encode_cli(tiny_model, xqg_corpus, tmp_path / "bf16", "--alpha", "0", "--bf16", "true", "--use_cpu", "true")
    assert "dtype" not in json.loads((full / "xqg_manifest.json").read_text())
    assert json.loads((half / "xqg_manifest.json").read_text())["dtype"] == "bfloat16"
    a, b = vectors(full), vectors(half)
    assert not np.array_equal(a, b)  # really computed in bfloat16 (8 significant bits) ...
    np.testing.assert_allclose(b, a, atol=0.1 * np.abs(a).max())  # ... and still the same model
