"""Index types for corpus scale (flat written as it streams, HNSW, HNSW-SQ8, IVF-PQ, IVF-SQ8) and
sharded indexes: every one is a folder Pyserini's own FaissSearcher reads, and sharded search
merges to exactly what one flat index returns."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from xqg_tevatron.indexing.faiss_index import FlatFileWriter, IndexConfig, write_index

DIM = 32


def unit_vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chunks(x: np.ndarray, size: int = 700):
    for start in range(0, len(x), size):
        yield x[start:start + size], [f"d{i}" for i in range(start, min(start + size, len(x)))]


def build(tmp_path, x: np.ndarray, name: str, **config) -> tuple:
    cfg = IndexConfig(**config)
    out = write_index(tmp_path / name, cfg, DIM, len(x), chunks(x), {"model": None, "vector_mode": "fused"},
                      training_rows=lambda k: x[:k])
    return out, cfg


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "hnsw-sq8", "ivf-sq8", "ivf-pq"])
def test_factory_strings_build_what_the_explicit_faiss_classes_build(index_type):
    """``make_index`` uses faiss' own ``index_factory``; trained and filled, each type serialises to
    the same bytes as the faiss classes built by hand with the same settings (what indexes written
    before the factory hold), so no existing index changes."""
    from xqg_tevatron.indexing.faiss_index import make_index, train

    x, ip = unit_vectors(3000, 3), faiss.METRIC_INNER_PRODUCT
    cfg = IndexConfig(index_type=index_type)
    by_hand = {"flat": lambda: faiss.IndexFlatIP(DIM),
               "hnsw": lambda: faiss.IndexHNSWFlat(DIM, cfg.hnsw_m, ip),
               "hnsw-sq8": lambda: faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_8bit, cfg.hnsw_m, ip),
               "ivf-sq8": lambda: faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(DIM), DIM, 76,
                                                                faiss.ScalarQuantizer.QT_8bit, ip),
               "ivf-pq": lambda: faiss.IndexIVFPQ(faiss.IndexFlatIP(DIM), DIM, 76, DIM // 4, cfg.pq_nbits, ip)}
    built = []
    for index in (make_index(cfg, DIM, len(x)), by_hand[index_type]()):
        if index_type.startswith("hnsw"):
            index.hnsw.efConstruction, index.hnsw.efSearch = cfg.hnsw_ef_construction, cfg.hnsw_ef_search
        if index_type.startswith("ivf"):
            assert index.nlist == 76  # min(4 sqrt(3000), 3000 rows / 39)
            index.nprobe = cfg.ivf_nprobe
        train(index, cfg, lambda k: x[:k])
        index.add(x)
        built.append(faiss.serialize_index(index).tobytes())
    assert built[0] == built[1]


def test_streamed_flat_file_is_byte_for_byte_what_faiss_writes(tmp_path):
    x = unit_vectors(1234, 0)
    writer = FlatFileWriter(tmp_path / "streamed", DIM, len(x))
    for rows, _ in chunks(x, 100):
        writer.add(rows)
    writer.close()
    ref = faiss.IndexFlatIP(DIM)
    ref.add(x)
    faiss.write_index(ref, str(tmp_path / "ref"))
    assert (tmp_path / "streamed").read_bytes() == (tmp_path / "ref").read_bytes()
    writer = FlatFileWriter(tmp_path / "short", DIM, 10)
    writer.add(x[:9])
    with pytest.raises(ValueError, match="9 rows written, 10 announced"):
        writer.close()


@pytest.mark.parametrize("index_type,settings", [
    ("flat", {}), ("hnsw", {"hnsw_ef_search": 64}), ("hnsw-sq8", {"hnsw_ef_search": 64}),
    ("ivf-pq", {"ivf_nlist": 16, "ivf_nprobe": 8, "pq_m": 8}), ("ivf-sq8", {"ivf_nlist": 16, "ivf_nprobe": 8}),
])
@pytest.mark.process
def test_every_index_type_is_read_by_pyserinis_searcher(tmp_path, index_type, settings):
    from xqg_tevatron.pyserini import bootstrap

    bootstrap()
    from pyserini.search.faiss import FaissSearcher

    x, q = unit_vectors(3000, 1), unit_vectors(50, 2)
    out, cfg = build(tmp_path, x, index_type, index_type=index_type, **settings)
    manifest = json.loads((out / "xqg_manifest.json").read_text())
    assert manifest["index_type"] == index_type and manifest["rows"] == 3000
    searcher = FaissSearcher(str(out), None)  # Pyserini's own searcher, unpatched
    found = searcher.batch_search(q, [f"q{i}" for i in range(len(q))], k=10, threads=1)
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    recall = np.mean([len({h.docid for h in found[f"q{i}"]} & {f"d{j}" for j in exact[i]}) / 10
                      for i in range(len(q))])
    assert recall >= (0.999 if index_type == "flat" else 0.5), recall
    index = faiss.read_index(str(out / "index"))  # the search settings travel in the file
    if index_type.startswith("hnsw"):
        assert faiss.downcast_index(index).hnsw.efSearch == 64
    if index_type.startswith("ivf"):
        assert faiss.extract_index_ivf(index).nprobe == 8


@pytest.mark.process
@pytest.mark.parametrize("index_type,shards", [("flat", 3), ("flat", 7), ("ivf-sq8", 3)])
def test_sharded_search_equals_one_index(tmp_path, index_type, shards):
    from xqg_tevatron.search.searcher import IndexSearcher, SearchConfig

    x, q = unit_vectors(2500, 3), unit_vectors(40, 4)
    settings = {"ivf_nlist": 16, "ivf_nprobe": 16} if index_type != "flat" else {}
    one, _ = build(tmp_path, x, "one", index_type=index_type, **settings)
    many, _ = build(tmp_path, x, "many", index_type=index_type, shards=shards, **settings)
    manifest = json.loads((many / "xqg_manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == 2500 and max(s["rows"] for s in manifest["shards"]) - min(
        s["rows"] for s in manifest["shards"]) <= 1
    assert not (many / "index").exists() and all((many / s["dir"] / "index").exists() for s in manifest["shards"])
    qids = [f"q{i}" for i in range(len(q))]
    a = IndexSearcher(one, config=SearchConfig(k=20), vectors_only=True).search_vectors(qids, q)
    b = IndexSearcher(many, config=SearchConfig(k=20), vectors_only=True).search_vectors(qids, q)
    for qid in qids:
        assert [h.docid for h in a[qid]] == [h.docid for h in b[qid]]
        assert np.allclose([h.score for h in a[qid]], [h.score for h in b[qid]], atol=1e-6)
    single = IndexSearcher(many, config=SearchConfig(k=20), vectors_only=True).search(q[:1])
    assert [h.docid for h in single] == [h.docid for h in a["q0"]]
    if index_type == "flat":  # exact: the merged hits are the true top 20
        exact = np.argsort(-(q @ x.T), axis=1)[:, :20]
        assert [h.docid for h in a["q0"]] == [f"d{j}" for j in exact[0]]


def test_a_trained_index_refuses_too_small_a_sample(tmp_path):
    x = unit_vectors(100, 5)
    with pytest.raises(ValueError, match="needs at least 256 training vectors"):
        build(tmp_path, x, "pq", index_type="ivf-pq", ivf_nlist=4, pq_m=8)
    assert not (tmp_path / "pq").exists()


@pytest.mark.process
def test_the_five_index_type_names_build_the_bytes_recorded_before_the_factory_rework():
    """``scripts/index_digests.py`` rebuilds flat, hnsw, hnsw-sq8, ivf-pq and ivf-sq8 (two sharded)
    on fixed vectors with one faiss thread; every ``index`` and ``docid`` file hashes to what the
    same builds gave at the commit recorded in ``tests/data/index_digests.json``."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    recorded = json.loads((root / "tests" / "data" / "index_digests.json").read_text())["digests"]
    proc = subprocess.run([sys.executable, "scripts/index_digests.py"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == recorded


@pytest.mark.parametrize("flags, says", [
    (["--index_factory", "Foo32"], "could not parse index string Foo32"),
    (["--index_params", "efSearch"], "index parameters must be NAME=VALUE"),
])
def test_a_bad_factory_string_or_parameter_is_one_line_before_the_store_is_read(tmp_path, capsys, flags, says):
    """The merge refuses it before it opens the work dir (which does not even exist here): the
    command's own ``main``, one ``error:`` line, exit 1, nothing written."""
    from xqg_tevatron.indexing.merge_cli import main

    code = main(["--work_dir", str(tmp_path / "absent"), "--output", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: ") and says in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_factory_string_or_parameter_that_does_not_fit_the_index_is_refused_once_the_dimension_is_known():
    """``check(dim)`` runs when the encoder (or the store) gives the dimension, before any unit:
    it builds the empty index with its parameters."""
    with pytest.raises(ValueError, match="nprobe=4 does not apply to this index"):
        IndexConfig(index_type="hnsw", params="nprobe=4").check(DIM)
    IndexConfig(factory="IVF{nlist},PQ7")  # parses: PQ7 fits a dimension divisible by 7
    with pytest.raises(ValueError, match=r"IVF\{nlist\},PQ7' at 32 dimensions: .*multiple of the number of subquantizers"):
        IndexConfig(factory="IVF{nlist},PQ7").check(DIM)
    IndexConfig(factory="IVF{nlist},PQ8").check(DIM)


def test_a_factory_string_searches_with_the_index_flags_where_its_index_has_them(tmp_path):
    """``--ivf_nprobe`` / ``--hnsw_ef_*`` reach a factory string's IVF or HNSW index as they reach
    the named types (not faiss' nprobe 1); ``--index_params`` goes on top."""
    x = unit_vectors(3000, 6)
    out, _ = build(tmp_path, x, "ivf", factory="IVF{nlist},SQ8", ivf_nprobe=8)
    manifest = json.loads((out / "xqg_manifest.json").read_text())
    assert manifest["index_factory"] == "IVF76,SQ8" and manifest["index_params"] == "nprobe=8"
    assert faiss.extract_index_ivf(faiss.read_index(str(out / "index"))).nprobe == 8
    out, _ = build(tmp_path, x, "hnsw", factory="HNSW16,Flat", hnsw_ef_search=40, params="efSearch=64")
    manifest = json.loads((out / "xqg_manifest.json").read_text())
    assert manifest["index_params"] == "efConstruction=200,efSearch=64"
    assert faiss.downcast_index(faiss.read_index(str(out / "index"))).hnsw.efSearch == 64
