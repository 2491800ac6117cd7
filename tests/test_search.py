"""The search and evaluate stages: typed hits, TREC runs, multi-vector collapse, translation,
timing, the per-language table, and the query encoder against Pyserini's own."""
from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from helpers import cli, run_cli
from xqg_tevatron.corpus import iter_passages, read_topics
from xqg_tevatron.data.xor_format import read_qrels, read_questions, write_corpus_jsonl
from xqg_tevatron.evaluation.table import evaluate_run_table
from xqg_tevatron.generate.dictionary import DictionaryGeneratorConfig, DictionaryQueryGenerator
from xqg_tevatron.search.latency import format_results, summarise
from xqg_tevatron.search.searcher import Hit, IndexSearcher, SearchConfig, collapse_rows, run_topics, time_queries
from xqg_tevatron.trec_run import read_trec_run


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, tiny_model, prepared) -> dict[str, Path]:
    """A plain and a multi-vector index of the embedded corpus (tiny model, 2 queries per language)."""
    root = tmp_path_factory.mktemp("search")
    gen = DictionaryQueryGenerator(DictionaryGeneratorConfig(n_per_lang=2))
    passages = list(iter_passages([prepared.corpus_file]))
    for p in passages:
        p.generated_queries = {lang: gen.queries(p, lang) for lang in ("ja", "ru")}
    corpus = write_corpus_jsonl(passages, root / "corpus.xqg.jsonl")
    out = {}
    for name, extra in (("plain", ["--alpha", "0"]), ("multi", ["--vector_mode", "multi", "--n_per_lang", "2"])):
        out[name] = root / name
        run_cli("-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(tiny_model), "--encode_in_path",
                str(corpus), "--encoded_save_path", str(out[name]), "--per_device_eval_batch_size", "32",
                "--q_max_len", "24", "--p_max_len", "48", "--disable_tqdm", "true", *extra)
    return out


def test_collapse_rows_keeps_each_passages_best_row():
    hits = [Hit("a#2", 0.9), Hit("b#0", 0.8), Hit("a#0", 0.7), Hit("c#1", 0.6), Hit("b#3", 0.5)]
    assert collapse_rows(hits, 10) == [Hit("a", 0.9), Hit("b", 0.8), Hit("c", 0.6)]
    assert collapse_rows(hits, 2) == [Hit("a", 0.9), Hit("b", 0.8)]


def test_search_scores_are_dot_products_and_batch_equals_single(indexes, tiny_model, prepared, tmp_path):
    searcher = IndexSearcher(indexes["plain"], config=SearchConfig(k=10))
    assert searcher.encoder_dir == str(Path(tiny_model).resolve()) and searcher.kind == "dense"
    topics = read_topics(prepared.topics_dev)[:12]
    run = run_topics(searcher, topics, tmp_path / "run.trec", tag="plain")
    ranked = read_trec_run(run.run_file)
    assert list(ranked) == [q for q, _ in topics] and all(len(d) == 10 for d in ranked.values())
    index = faiss.read_index(str(indexes["plain"] / "index"))
    docids = (indexes["plain"] / "docid").read_text().split()
    qv = searcher.encode([t for _, t in topics])
    for (qid, text), v in zip(topics, qv):
        single = searcher.search(text)
        scores = index.reconstruct_n(0, index.ntotal) @ v
        row = {d: i for i, d in enumerate(docids)}
        # each hit's score is its own dot product, and they are the 10 best (ties may swap docids)
        assert [h.score for h in single] == pytest.approx([float(scores[row[h.docid]]) for h in single], abs=1e-4)
        assert [h.score for h in single] == pytest.approx(sorted(scores, reverse=True)[:10], abs=1e-4)
        batch_scores = {d: float(scores[row[d]]) for d in ranked[qid]}
        assert sorted(batch_scores.values(), reverse=True) == pytest.approx([h.score for h in single], abs=1e-4)


def test_multi_vector_index_is_collapsed_per_passage(indexes, prepared):
    searcher = IndexSearcher(indexes["multi"], config=SearchConfig(k=15))
    assert searcher.kind == "multi" and searcher.depth == 5  # passage + 2 ja + 2 ru rows
    qids, texts = zip(*read_topics(prepared.topics_dev)[:5])
    for qid, hits in searcher.search_many(list(qids), list(texts)).items():
        ids = [h.docid for h in hits]
        assert len(ids) == 15 and len(set(ids)) == 15 and not any("#" in d for d in ids)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_translation_changes_the_query_only(indexes, prepared):
    class Upper:  # a deterministic "translation" whose effect is visible in the vectors
        def translate(self, text: str) -> str:
            return "official language currency"

    plain = IndexSearcher(indexes["plain"])
    translated = IndexSearcher(indexes["plain"], translator=Upper(), query_encoder=plain.query_encoder)
    assert translated.kind == "translate"
    a = translated.search("x")
    b = plain.search("official language currency")
    assert a == b


def test_time_queries_and_latency_report(indexes, prepared):
    """Per-query times include query encoding: an encoder that takes 30 ms makes every timed
    query take at least 30 ms more than the same search with vectors given."""
    import time as clock

    base = IndexSearcher(indexes["plain"], config=SearchConfig(k=5))

    class SlowEncoder:  # the same vectors, 30 ms later
        def encode(self, text, **kw):
            clock.sleep(0.03)
            return base.query_encoder.encode(text, **kw)

        def encode_batch(self, texts):
            clock.sleep(0.03)
            return base.query_encoder.encode_batch(texts)

    searcher = IndexSearcher(indexes["plain"], config=SearchConfig(k=5), query_encoder=SlowEncoder())
    texts = [t for _, t in read_topics(prepared.topics_dev)[:8]]
    assert [h.docid for h in searcher.search(texts[0])] == [h.docid for h in base.search(texts[0])]
    ms = time_queries(searcher, texts, warmup=2)
    vectors_only = time_queries(base, [base.query_encoder.encode(t) for t in texts], warmup=2)
    assert len(ms) == 8 and all(m >= 30 for m in ms) and all(v < 30 for v in vectors_only)
    r = summarise("plain", searcher.kind, indexes["plain"], ms)
    assert r.queries == 8 and r.p50_ms == pytest.approx(float(np.percentile(ms, 50)), abs=1e-3)
    assert r.qps == pytest.approx(1000 / np.mean(ms), rel=1e-2) and r.rows == len(list(iter_passages([
        prepared.corpus_file])))
    report = format_results([r]).splitlines()
    assert report[0].split() == ["system", "kind", "p50", "ms", "p95", "ms", "q/s", "index", "MB", "rows", "build", "s"]
    assert report[2].split()[:3] == ["plain", "dense", f"{r.p50_ms:.2f}"]


def test_search_cli_writes_run_and_refuses_foreign_dirs(indexes, prepared, tmp_path):
    run = tmp_path / "cli.trec"
    proc = run_cli("-m", "xqg_tevatron.search", "--index", str(indexes["plain"]), "--topics", str(prepared.topics_dev),
                   "--output", str(run), "--hits", "7")
    assert "ms/query" in proc.stdout
    assert all(len(d) == 7 for d in read_trec_run(run).values())
    bad = cli("-m", "xqg_tevatron.search", "--index", str(tmp_path), "--topics", str(prepared.topics_dev), "--output",
              str(tmp_path / "x.trec"))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "xqg_manifest.json" in bad.stderr
    assert not (tmp_path / "x.trec").exists()


def test_results_table_equals_scores_computed_from_the_run(indexes, prepared, tmp_path):
    searcher = IndexSearcher(indexes["plain"], config=SearchConfig(k=20))
    run = run_topics(searcher, read_topics(prepared.topics_dev), tmp_path / "run.trec", tag="t").run_file
    table = evaluate_run_table(run, prepared.qrels_dev, prepared.questions_dev, ("recall.20", "recip_rank"))
    qrels = read_qrels(prepared.qrels_dev)
    ranked: dict[str, list[tuple[float, str]]] = {}
    for line in run.read_text().splitlines():
        qid, _, doc, _, score, _ = line.split()
        ranked.setdefault(qid, []).append((float(score), doc))
    # trec_eval ranks by the score column (ties: docid descending), not by the rank column
    ranked = {q: [d for _, d in sorted(v, reverse=True)] for q, v in ranked.items()}
    lang = {q.qid: q.lang for q in read_questions(prepared.questions_dev)}
    per_lang: dict[str, list[float]] = {}
    for qid, rel in qrels.items():
        docs = ranked.get(qid, [])
        rr = next((1 / (i + 1) for i, d in enumerate(docs) if d in rel), 0.0)
        per_lang.setdefault(lang[qid], []).append(rr)
    own = {l: float(np.mean(v)) for l, v in per_lang.items()}
    for l, v in own.items():
        assert table.scores[l]["recip_rank"] == pytest.approx(v, abs=1e-4)
    assert table.avg("recip_rank") == pytest.approx(np.mean(list(own.values())), abs=1e-4)
    assert table.languages == sorted(own)


@pytest.mark.process
def test_results_table_refuses_a_run_of_another_data_set(tmp_path, prepared):
    run = tmp_path / "other.trec"
    run.write_text("dev-ar-000 Q0 t1 1 1.0 x\nzz-9 Q0 t1 1 1.0 x\n", encoding="utf-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("dev-ar-000 0 t1 1\nzz-9 0 t1 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not in .*same data set"):
        evaluate_run_table(run, qrels, prepared.questions_dev, ("recip_rank",))


@pytest.fixture(scope="module")
def pyserini_reference(demo_encoder, prepared):
    """Dev topics (every 20th, plus one beyond 512 tokens) and their vectors from Pyserini's own
    query encoder, built once for the three backends."""
    from xqg_tevatron.pyserini import bootstrap

    bootstrap()
    from xqg_tevatron.search.query_encoder import pyserini_query_encoder

    texts = [t for _, t in read_topics(prepared.topics_dev)[::20]] + ["x " * 600]
    pyserini_encoder = pyserini_query_encoder(str(demo_encoder))
    return texts, np.stack([pyserini_encoder.encode(t) for t in texts])


@pytest.mark.parametrize("backend,min_cos,min_cos_long", [("torch", 0.999, 0.999), ("onnx", 0.999, 0.999),
                                                          ("onnx-int8", 0.95, 0.9)])
def test_query_encoder_matches_pyserini(demo_encoder, pyserini_reference, backend, min_cos, min_cos_long):
    """In the plugin's cache, as the demo's search uses it: the demo encoder's ONNX export is made
    once, by whichever runs first (a slot is checked against its record before use)."""
    from xqg_tevatron.search.query_encoder import QueryEncoderConfig, XqgQueryEncoder, export_key, onnx_cache_dir

    texts, ref = pyserini_reference
    enc = XqgQueryEncoder(str(demo_encoder), QueryEncoderConfig(backend=backend, batch_size=4))
    batch, single = enc.encode_batch(texts), np.stack([enc.encode(t) for t in texts])
    for got in (batch, single):
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos[:-1].min() > min_cos and cos[-1] > min_cos_long, (backend, cos)
    if backend != "torch":  # exported once, with what it was exported from
        slot = onnx_cache_dir(str(demo_encoder), export_key(str(demo_encoder), backend == "onnx-int8", enc.settings))
        export = json.loads((slot / "export.json").read_text())
        assert export["quantized_int8"] == (backend == "onnx-int8") and export["settings"]["pooling"] == "mean"
