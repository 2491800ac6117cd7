"""xQG encode driver: fusion formula, alpha=0 identity, resume, torchrun sharding, Pyserini search.
(torch, transformers and the encoder are imported inside the tests: the fast tier collects this
module without paying for them.)"""
from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from helpers import LANGS, encode_cli, run_cli, vectors
from xqg_tevatron.corpus import Passage, iter_passages
from xqg_tevatron.data.xor_format import write_corpus_jsonl
from xqg_tevatron.indexing.faiss_index import IndexConfig
from xqg_tevatron.indexing.indexer import RunConfig, XqgConfig, XqgIndexer
from xqg_tevatron.indexing.merge_units import merge_work_dir
from xqg_tevatron.xqg.fusion import Fusion

def cls_vectors(model_dir: Path, texts: list[str], max_len: int) -> np.ndarray:
    """Independent reference: plain transformers, one text at a time, [CLS] vector."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    out = []
    with torch.no_grad():
        for t in texts:
            batch = tok(t, truncation=True, max_length=max_len, return_tensors="pt")
            out.append(model(**batch).last_hidden_state[0, 0].numpy())
    return np.stack(out)


@pytest.mark.parametrize("aggregation", ["sum", "mean"])
def test_fused_vector_equals_formula(tmp_path, tiny_model, xqg_corpus, aggregation):
    alpha = 0.3
    out = encode_cli(tiny_model, xqg_corpus, tmp_path / "idx", "--alpha", str(alpha), "--aggregation", aggregation,
                     "--languages", *LANGS, "--n_per_lang", "2")
    recs = [json.loads(line) for line in xqg_corpus.read_text().splitlines()]
    assert (out / "docid").read_text().split() == [r["docid"] for r in recs]
    e_p = cls_vectors(tiny_model, [f"{r['title']} {r['text']}" for r in recs], 48)
    expected = []
    for i, r in enumerate(recs):
        qs = [q for lang in LANGS for q in r["generated_queries"].get(lang, [])[:2]]
        if not qs:
            expected.append(e_p[i])
            continue
        e_q = cls_vectors(tiny_model, qs, 16)
        agg = e_q.sum(0) if aggregation == "sum" else e_q.mean(0)
        expected.append((1 - alpha) * e_p[i] + alpha * agg)
    np.testing.assert_allclose(vectors(out), np.stack(expected), rtol=1e-4, atol=1e-4)
    manifest = json.loads((out / "xqg_manifest.json").read_text())
    assert manifest["plain"] == 8 and manifest["augmented"] == 32 and manifest["aggregation"] == aggregation
    assert manifest["languages"] == LANGS and manifest["n_per_lang"] == 2 and manifest["dim"] == 32
    # the cut of generated queries (the vectors above were made at 16 tokens) and of search questions
    assert manifest["generated_query_max_len"] == 16 and "tokenizer's limit" in manifest["search_query_max_len"]
    assert manifest["generated_queries"] == sum(
        min(2, len(r["generated_queries"].get(l, []))) for r in recs for l in LANGS)
    counts = [sum(min(2, len(r["generated_queries"].get(l, []))) for l in LANGS) for r in recs]
    assert manifest["queries_per_passage"] == {"min": min(counts), "max": max(counts),
                                               "mean": round(sum(counts) / len(counts), 4)}
    # sum over a varying number of queries per passage is flagged; mean is not
    assert min(counts) != max(counts)
    assert bool(manifest["warnings"]) == (aggregation == "sum")
    if aggregation == "sum":
        assert "varying number of generated queries" in manifest["warnings"][0]


def test_alpha_zero_is_plain_index_bit_for_bit(tmp_path, tiny_model, xqg_corpus, prepared):
    plain_corpus = write_corpus_jsonl([Passage(p.docid, p.text, p.title) for p in iter_passages([xqg_corpus])],
                                      tmp_path / "plain.jsonl")
    a = encode_cli(tiny_model, xqg_corpus, tmp_path / "alpha0", "--alpha", "0")
    b = encode_cli(tiny_model, plain_corpus, tmp_path / "plain")  # default alpha, no queries: plain, with a warning
    assert (a / "index").read_bytes() == (b / "index").read_bytes()
    assert (a / "docid").read_text() == (b / "docid").read_text()
    assert "no generated queries" in json.loads((b / "xqg_manifest.json").read_text())["warnings"][0]
    # asked for explicitly, the same corpus is refused: it would silently be a plain index
    proc = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(tiny_model),
         "--encode_in_path", str(plain_corpus), "--encoded_save_path", str(tmp_path / "asked"), "--alpha", "0.5"],
        capture_output=True, text=True)
    assert proc.returncode == 1 and "would be a plain one" in proc.stderr and not (tmp_path / "asked").exists()


class CrashingEncoder:
    """Wraps a real encoder and dies (like a kill) on the n-th passage batch."""

    def __init__(self, inner, crash_on_call: int):
        self.inner, self.calls, self.crash_on_call = inner, 0, crash_on_call

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, is_query, desc=None, max_len=None):
        if not is_query:
            self.calls += 1
            if self.calls == self.crash_on_call:
                raise KeyboardInterrupt("simulated kill")
        return self.inner.encode(texts, is_query, desc, max_len=max_len)


def test_resume_after_kill_gives_identical_index(tmp_path, tiny_model, xqg_corpus):
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

    reference = encode_cli(tiny_model, xqg_corpus, tmp_path / "ref", "--alpha", "0.2")
    enc = DenseEncoder(str(tiny_model), config=EncodeConfig(batch_size=8, q_max_len=16, p_max_len=48, show_progress=False))
    work = tmp_path / "resumed.work"
    xqg, run = XqgConfig(Fusion(alpha=0.2)), RunConfig(unit_size=7, show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        XqgIndexer(CrashingEncoder(enc, crash_on_call=4), xqg, run, work).encode_shard([str(xqg_corpus)])
    finished = sorted(p.name for p in work.glob("chunk-*.json"))
    assert finished == ["chunk-000000.json", "chunk-000001.json", "chunk-000002.json"]
    assert not list(work.glob("*.xqg-tmp-*"))
    # the second run (same CLI a user reruns) encodes only the 3 missing chunks of 6
    proc = run_cli("-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(tiny_model), "--encode_in_path",
                   str(xqg_corpus), "--encoded_save_path", str(tmp_path / "resumed"), "--work_dir", str(work),
                   "--per_device_eval_batch_size", "8", "--unit_size", "7", "--q_max_len", "16", "--p_max_len", "48",
                   "--alpha", "0.2", "--disable_tqdm", "true")
    assert "'encoded': 3, 'skipped': 3" in proc.stderr
    assert (tmp_path / "resumed" / "index").read_bytes() == (reference / "index").read_bytes()
    assert (tmp_path / "resumed" / "docid").read_text() == (reference / "docid").read_text()


def test_resume_refuses_other_settings(tmp_path, tiny_model, xqg_corpus):
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

    enc = DenseEncoder(str(tiny_model), config=EncodeConfig(show_progress=False))
    work = tmp_path / "w"
    with pytest.raises(KeyboardInterrupt):
        XqgIndexer(CrashingEncoder(enc, 2), XqgConfig(Fusion(alpha=0.2)), RunConfig(unit_size=7, show_progress=False),
                   work).encode_shard([str(xqg_corpus)])
    with pytest.raises(ValueError, match=r"started for another corpus or settings \(differs in: languages\)"):
        XqgIndexer(enc, XqgConfig(Fusion(alpha=0.2, languages=("ja",))), RunConfig(unit_size=7, show_progress=False),
                   work).encode_shard([str(xqg_corpus)])
    # another alpha or aggregation changes no stored byte: the run resumes (the merge re-fuses)
    stats = XqgIndexer(enc, XqgConfig(Fusion(alpha=0.5, aggregation="mean")), RunConfig(unit_size=7, show_progress=False),
                       work).encode_shard([str(xqg_corpus)])
    assert stats["skipped"] == 1 and stats["complete"]


def test_torchrun_two_processes_equals_single(tmp_path, tiny_model, xqg_corpus):
    single = encode_cli(tiny_model, xqg_corpus, tmp_path / "single", "--alpha", "0.1")
    run_cli("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531", "-m",
            "xqg_tevatron.driver.encode", "--model_name_or_path", str(tiny_model), "--encode_in_path", str(xqg_corpus),
            "--encoded_save_path", str(tmp_path / "ddp"), "--per_device_eval_batch_size", "8", "--unit_size", "7",
            "--q_max_len", "16", "--p_max_len", "48", "--alpha", "0.1", "--disable_tqdm", "true")
    assert (tmp_path / "ddp" / "index").read_bytes() == (single / "index").read_bytes()
    assert (tmp_path / "ddp" / "docid").read_text() == (single / "docid").read_text()
    assert json.loads((tmp_path / "ddp" / "xqg_manifest.json").read_text())["num_shards"] == 2


def test_separate_shards_then_merge(tmp_path, tiny_model, xqg_corpus):
    single = encode_cli(tiny_model, xqg_corpus, tmp_path / "single", "--alpha", "0.1")
    work = tmp_path / "sharded.work"
    encode_cli(tiny_model, xqg_corpus, tmp_path / "sharded", "--alpha", "0.1", "--work_dir", str(work),
               "--num-shards", "2", "--shard-id", "0")
    encode_cli(tiny_model, xqg_corpus, tmp_path / "sharded", "--alpha", "0.1", "--work_dir", str(work),
               "--num-shards", "2", "--shard-id", "1")
    assert not (tmp_path / "sharded").exists()
    run_cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(work), "--output", str(tmp_path / "sharded"))
    assert (tmp_path / "sharded" / "index").read_bytes() == (single / "index").read_bytes()


def test_merge_refuses_unfinished_shards(tmp_path, tiny_model, xqg_corpus):
    work = tmp_path / "w"
    encode_cli(tiny_model, xqg_corpus, tmp_path / "x", "--work_dir", str(work), "--num-shards", "2",
               "--shard-id", "0")
    with pytest.raises(RuntimeError, match="shards not finished"):
        merge_work_dir(work, tmp_path / "out", IndexConfig())


def test_pyserini_faiss_searcher_returns_expected_docs(tmp_path, tiny_model, xqg_corpus):
    from xqg_tevatron.pyserini import bootstrap

    bootstrap()
    from pyserini.encode import AutoQueryEncoder
    from pyserini.search.faiss import FaissSearcher

    out = encode_cli(tiny_model, xqg_corpus, tmp_path / "idx", "--alpha", "0.2")
    docids = (out / "docid").read_text().split()
    stored = vectors(out)
    searcher = FaissSearcher(str(out), AutoQueryEncoder(str(tiny_model), pooling="cls"))
    recs = [json.loads(line) for line in xqg_corpus.read_text().splitlines()]
    query = recs[3]["generated_queries"]["ja"][0]
    qv = cls_vectors(tiny_model, [query], 512)[0]
    scores = stored @ qv
    hits = searcher.search(query, k=5)
    # Pyserini returns exactly our top 5 (near-ties of a random tiny model may swap order, so
    # compare scores: each hit's score is its true score, and none is below our 5th best)
    assert len(hits) == 5 and len({h.docid for h in hits}) == 5
    fifth = np.sort(scores)[-5]
    for h in hits:
        assert h.score == pytest.approx(float(scores[docids.index(h.docid)]), rel=1e-4, abs=1e-4)
        assert h.score >= fifth - 1e-4
    assert hits[0].score == pytest.approx(float(scores.max()), rel=1e-4)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory, demo_encoder, prepared) -> Path:
    """The embedded corpus encoded once by the demo encoder, its store kept to index again."""
    out = tmp_path_factory.mktemp("demo_store") / "flat"
    run_cli("-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(demo_encoder), "--encode_in_path",
            str(prepared.corpus_jsonl), "--encoded_save_path", str(out), "--per_device_eval_batch_size", "64",
            "--p_max_len", "64", "--disable_tqdm", "true", "--keep_work_dir")
    return out.with_name("flat.work")


@pytest.mark.parametrize("index_type, flags", [
    ("hnsw", ["--index_type", "hnsw"]), ("ivfpq", ["--index_type", "ivfpq"]),
    # a factory string no --index_type name expresses: IVF lists found by an HNSW coarse quantiser
    ("factory", ["--index_factory", "IVF{nlist}_HNSW32,SQ8", "--index_params", "nprobe=4,quantizer_efSearch=48"])])
def test_other_index_types_are_searchable(tmp_path, demo_encoder, demo_store, prepared, index_type, flags):
    """Indexed from the encode's store (the same vectors an encode with the index type writes: the
    index type is a merge setting) and searched by Pyserini's own search.faiss and trec_eval."""
    from xqg_tevatron.search.searcher import IndexSearcher

    out = tmp_path / index_type
    run_cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(demo_store), "--output", str(out), *flags,
            "--keep_work_dir")
    index = faiss.read_index(str(out / "index"))
    assert index.ntotal == 364
    built = {"hnsw": faiss.IndexHNSWFlat, "ivfpq": faiss.IndexIVFPQ, "factory": faiss.IndexIVFScalarQuantizer}
    assert isinstance(faiss.downcast_index(index), built[index_type])
    manifest = json.loads((out / "xqg_manifest.json").read_text())
    if index_type == "factory":  # 9 lists: 364 rows / 39 (the one list-count rule); settings in file and manifest
        assert manifest["index_factory"] == "IVF9_HNSW32,SQ8" and manifest["index_params"] == "nprobe=4,quantizer_efSearch=48"
        ivf = faiss.extract_index_ivf(index)
        assert ivf.nprobe == 4 and faiss.downcast_index(ivf.quantizer).hnsw.efSearch == 48
        opened = faiss.extract_index_ivf(IndexSearcher(out, vectors_only=True).searchers[0].index)
        assert opened.nprobe == 4
    else:
        assert manifest["index_factory"] == {"hnsw": "HNSW32,Flat", "ivfpq": "IVF9,PQ96x8np"}[index_type]
    run = tmp_path / "run.trec"
    run_cli("-m", "xqg_tevatron.pyserini", "search.faiss", "--index", str(out), "--topics", str(prepared.topics_dev),
            "--encoder", str(demo_encoder), "--encoder-class", "auto", "--pooling", "mean", "--l2-norm",
            "--query-prefix", "query:", "--output", str(run), "--hits", "10", "--batch-size", "64", "--threads", "2")
    proc = run_cli("-m", "xqg_tevatron.pyserini", "eval.trec_eval", "-c", "-m", "recall.10", str(prepared.qrels_dev),
                   str(run))
    recall = float(next(l.split()[2] for l in proc.stdout.splitlines() if l.startswith("recall_10")))
    assert recall > 0.7  # plain flat gets 0.94 with the demo encoder; approximate indexes stay close


def test_multi_vector_rows(tmp_path, tiny_model, xqg_corpus):
    out = encode_cli(tiny_model, xqg_corpus, tmp_path / "multi", "--vector_mode", "multi", "--languages", "ja",
                     "--n_per_lang", "1")
    docids = (out / "docid").read_text().split()
    recs = [json.loads(line) for line in xqg_corpus.read_text().splitlines()]
    expected = []
    for r in recs:  # Pyserini's multi-passage ids: docid#0 = the passage, docid#1.. its queries
        expected += [f"{r['docid']}#{k}" for k in range(1 + min(1, len(r["generated_queries"].get("ja", []))))]
    assert docids == expected
    manifest = json.loads((out / "xqg_manifest.json").read_text())
    assert manifest["rows"] == len(expected) and manifest["max_passage_delimiter"] == "#"


def test_multi_vector_index_through_pyserini_max_passage(tmp_path, tiny_model, xqg_corpus, prepared):
    """search.faiss --max-passage gives one row per passage docid, scored by its best row."""
    out = encode_cli(tiny_model, xqg_corpus, tmp_path / "multi", "--vector_mode", "multi", "--languages", *LANGS,
                     "--n_per_lang", "2")
    run = tmp_path / "run.trec"
    run_cli("-m", "xqg_tevatron.pyserini", "search.faiss", "--index", str(out), "--topics", str(prepared.topics_dev),
            "--encoder", str(tiny_model), "--encoder-class", "auto", "--pooling", "cls", "--output", str(run),
            "--hits", "200", "--max-passage", "--max-passage-hits", "10", "--batch-size", "32")
    rows = [line.split() for line in run.read_text().splitlines()]
    by_query: dict[str, list[str]] = {}
    for qid, _, docid, rank, score, _ in rows:
        by_query.setdefault(qid, []).append(docid)
    corpus_ids = {json.loads(line)["docid"] for line in xqg_corpus.read_text().splitlines()}
    assert by_query and all(len(d) == len(set(d)) == 10 for d in by_query.values())
    assert all(d in corpus_ids for ds in by_query.values() for d in ds)
    # each passage is scored by its best row: the same search without --max-passage, collapsed by hand
    raw = tmp_path / "rows.trec"
    run_cli("-m", "xqg_tevatron.pyserini", "search.faiss", "--index", str(out), "--topics", str(prepared.topics_dev),
            "--encoder", str(tiny_model), "--encoder-class", "auto", "--pooling", "cls", "--output", str(raw),
            "--hits", "200", "--batch-size", "32")
    best: dict[str, dict[str, float]] = {}
    for qid, _, docid, rank, score, _ in (line.split() for line in raw.read_text().splitlines()):
        assert "#" in docid
        best.setdefault(qid, {}).setdefault(docid.split("#")[0], float(score))
    for qid, docids in by_query.items():
        assert docids == list(best[qid])[:10]
    assert any(len({d.split("#")[0] for d in ids}) < len(ids) for ids in [(out / "docid").read_text().split()])


def test_multi_vector_refuses_docids_with_the_delimiter(tmp_path, tiny_model):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"docid": "a#1", "text": "x", "generated_queries": {"ja": ["y"]}}) + "\n")
    proc = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(tiny_model),
         "--encode_in_path", str(corpus), "--encoded_save_path", str(tmp_path / "o"), "--vector_mode", "multi"],
        capture_output=True, text=True)
    assert proc.returncode != 0 and "contains '#'" in proc.stderr


def test_generated_query_branch_is_a_recorded_choice(tmp_path, demo_encoder):
    """--generated_query_branch passage embeds generated queries as the authors' scripts do
    (passage branch and prefix, at q_max_len); the default is the query branch."""
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

    corpus = tmp_path / "c.jsonl"
    recs = [{"docid": "d1", "title": "Finland", "text": "Finland uses the euro.",
             "generated_queries": {"fi": ["mikä on Suomen valuutta?"]}},
            {"docid": "d2", "title": "Japan", "text": "Japan uses the yen.",
             "generated_queries": {"ja": ["日本の通貨は何ですか？"]}}]
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    enc = DenseEncoder(str(demo_encoder), config=EncodeConfig(q_max_len=16, show_progress=False))
    queries = [r["generated_queries"][next(iter(r["generated_queries"]))][0] for r in recs]
    for branch in ("query", "passage"):
        out = encode_cli(demo_encoder, corpus, tmp_path / branch, "--alpha", "1.0", "--aggregation", "mean",
                         "--generated_query_branch", branch)
        expected = enc.encode(queries, is_query=branch == "query", max_len=16)
        np.testing.assert_allclose(vectors(out), expected, atol=1e-5)
        assert json.loads((out / "xqg_manifest.json").read_text())["generated_query_branch"] == branch
    assert not np.allclose(vectors(tmp_path / "query"), vectors(tmp_path / "passage"), atol=1e-3)


def test_index_corpus_goes_through_the_stage_template(tmp_path, tiny_model, xqg_corpus, capfd):
    """The in-process stage the study and the benchmarks call is the encode request
    ``driver.encode`` runs (``run_encode``) with the caller's encoder: the same bytes, its work dir
    removed, and a second call over its own complete output says ``up to date`` and touches
    nothing (the template's rule), with no model used."""
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
    from xqg_tevatron.indexing.request import index_corpus

    reference = encode_cli(tiny_model, xqg_corpus, tmp_path / "ref", "--alpha", "0.2")
    enc = DenseEncoder(str(tiny_model), config=EncodeConfig(batch_size=8, q_max_len=16, p_max_len=48, show_progress=False))
    xqg, run = XqgConfig(Fusion(alpha=0.2)), RunConfig(unit_size=7, show_progress=False)
    out = index_corpus(enc, xqg, [xqg_corpus], tmp_path / "inproc", run=run)
    assert (out / "index").read_bytes() == (reference / "index").read_bytes()
    assert not (tmp_path / "inproc.work").exists()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capfd.readouterr()

    class NoModel:  # the rerun must not encode a thing
        def __getattr__(self, name):
            if name in ("encode",):
                raise AssertionError("the encoder was used by an up-to-date rerun")
            return getattr(enc, name)

    index_corpus(NoModel(), xqg, [xqg_corpus], tmp_path / "inproc", run=run)
    assert "up to date" in capfd.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
