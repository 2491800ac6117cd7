"""Tiny model: train -> encode -> Pyserini search -> trec_eval, all through the real CLIs."""
from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from helpers import run_cli

pytestmark = pytest.mark.slow


def test_train_encode_search_eval(tmp_path: Path, prepared, tiny_model):
    model_out = tmp_path / "model"
    run_cli("-m", "xqg_tevatron.driver.train", "--model_name_or_path", str(tiny_model), "--output_dir", str(model_out),
            "--train_dir", str(prepared.train_jsonl.parent), "--per_device_train_batch_size", "8",
            "--train_n_passages", "4", "--max_steps", "30", "--learning_rate", "1e-3", "--pooling", "mean",
            "--normalize", "--temperature", "0.05", "--q_max_len", "24", "--p_max_len", "64",
            "--logging_steps", "10", "--save_strategy", "no", "--report_to", "none", "--dataset_proc_num", "1",
            "--disable_tqdm", "true")
    saved = json.loads((model_out / "xqg_encoder.json").read_text())
    assert saved == {"pooling": "mean", "normalize": True, "query_prefix": "", "passage_prefix": ""}
    assert (model_out / "model.safetensors").exists() and (model_out / "tokenizer.json").exists()
    # training changed the weights
    from safetensors.numpy import load_file
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(model_out / "model.safetensors"))
    key = "encoder.layer.0.attention.self.query.weight"
    assert not np.allclose(before[key], after[key])

    index_dir = tmp_path / "index"
    run_cli("-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(model_out),
            "--encode_in_path", str(prepared.corpus_jsonl), "--encoded_save_path", str(index_dir),
            "--per_device_eval_batch_size", "32", "--p_max_len", "64", "--unit_size", "100")
    docids = (index_dir / "docid").read_text().split()
    corpus_ids = [json.loads(line)["docid"] for line in prepared.corpus_jsonl.read_text().splitlines()]
    assert docids == corpus_ids
    index = faiss.read_index(str(index_dir / "index"))
    assert index.ntotal == len(corpus_ids) and index.d == 32
    manifest = json.loads((index_dir / "xqg_manifest.json").read_text())
    assert manifest["passages"] == len(corpus_ids) and manifest["plain"] == len(corpus_ids)
    assert manifest["alpha"] == 0.2 and manifest["augmented"] == 0  # the recommended recipe by default; no generated queries here
    assert not (tmp_path / "index.work").exists()

    run_file = tmp_path / "run.trec"
    run_cli("-m", "xqg_tevatron.pyserini", "search.faiss", "--index", str(index_dir), "--topics",
            str(prepared.topics_dev), "--encoder", str(model_out), "--encoder-class", "auto", "--pooling", "mean",
            "--l2-norm", "--output", str(run_file), "--hits", "20", "--batch-size", "32", "--threads", "2")
    lines = run_file.read_text().splitlines()
    qids = {line.split()[0] for line in lines}
    assert len(qids) == len(prepared.topics_dev.read_text().splitlines())
    assert all(len(line.split()) == 6 for line in lines)

    # Pyserini scores must equal our own query encoding dotted with the stored vectors
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
    enc = DenseEncoder(str(model_out), config=EncodeConfig(show_progress=False))
    qid, qtext = prepared.topics_dev.read_text().splitlines()[0].split("\t")
    qv = enc.encode([qtext], is_query=True)
    top = [line.split() for line in lines if line.startswith(qid + " ")][0]
    row = docids.index(top[2])
    assert float(top[4]) == pytest.approx(float(qv[0] @ index.reconstruct(row)), abs=1e-4)

    proc = run_cli("-m", "xqg_tevatron.pyserini", "eval.trec_eval", "-c", "-m", "recall.20", "-m", "recip_rank",
                   str(prepared.qrels_dev), str(run_file))
    scores = {parts[0]: float(parts[2]) for parts in (l.split() for l in proc.stdout.splitlines()) if len(parts) == 3}
    # trec_eval's numbers agree with recall@20 computed directly from the run and qrels
    from xqg_tevatron.data.xor_format import read_qrels
    qrels = read_qrels(prepared.qrels_dev)
    hits: dict[str, set] = {}
    for line in lines:
        q, _, d, *_ = line.split()
        hits.setdefault(q, set()).add(d)
    own = np.mean([len(hits.get(q, set()) & set(rel)) / len(rel) for q, rel in qrels.items()])
    assert scores["recall_20"] == pytest.approx(own, abs=1e-4)

    # training taught the model its training data: the positive beats the negatives far more often
    def fit(model_dir: Path) -> float:
        e = DenseEncoder(str(model_dir), config=EncodeConfig(show_progress=False, p_max_len=64, q_max_len=24))
        groups = [json.loads(x) for x in prepared.train_jsonl.read_text().splitlines()[:120]]
        wins = 0
        for g in groups:
            q = e.encode([g["query"]], is_query=True)[0]
            ps = e.encode([f"{p['title']} {p['text']}" for p in g["positive_passages"][:1] + g["negative_passages"]],
                          is_query=False)
            wins += int(np.argmax(ps @ q) == 0)
        return wins / len(groups)

    before, after = fit(tiny_model), fit(model_out)
    assert after > before + 0.15, (before, after)
