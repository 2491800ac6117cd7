"""Query encoder for Pyserini's ``FaissSearcher``: the model's own query branch, pooling and
prefix, batched, under ``torch.inference_mode``, optionally through ONNX Runtime with int8
weights.

Why not Pyserini's ``AutoQueryEncoder``: it encodes one query per call with autograd
bookkeeping on, loads only the root model (an untied Tevatron query tower or a pooler head is
silently ignored) and takes pooling/prefix on the command line, where a wrong flag goes
unnoticed.  This class implements the same ``QueryEncoder`` interface (``encode`` for
``search``, ``encode_batch`` for ``batch_search``), so a ``FaissSearcher`` built with it is
Pyserini's own searcher; only query encoding differs.  Tokenisation matches Pyserini's
(special tokens, truncation at the tokenizer's limit unless ``max_length`` is given), so the
float path reproduces Pyserini's vectors.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from transformers import AutoTokenizer

from xqg_tevatron.runtime.atomic_io import atomic_write_text, replace, sha256_file, tmp_sibling
from xqg_tevatron.batching import encode_token_ids, tokenizer_limit
from xqg_tevatron.tevatron_compat.modeling import DenseModelForInference
from xqg_tevatron.tevatron_compat.settings import EncoderSettings

BACKENDS = ("torch", "onnx", "onnx-int8")
ONNX_OPSET = 17
EXPORT_VERSION = 3  # bump when the export recipe changes, so old exports are not reused


@dataclass
class QueryEncoderConfig:
    """How queries are encoded.  ``backend``: ``torch`` (float32), ``onnx`` (ONNX Runtime, float32,
    with ONNX Runtime's fused transformer ops for BERT-like encoders) or ``onnx-int8`` (ONNX
    Runtime, dynamically quantised per-channel int8 weights: fastest on CPU, costs some accuracy,
    so report MRR for it).  ``max_length`` None: the tokenizer's own limit, as Pyserini.
    ``threads``: the ONNX Runtime session's intra-op threads (torch's count is process-wide:
    set by the entry point, :func:`xqg_tevatron.search.searcher.set_process_threads`)."""

    backend: str = "torch"
    batch_size: int = 64
    max_length: Optional[int] = None
    device: str = "cpu"
    threads: Optional[int] = None  # intra-op threads (None: the library default)
    cache_dir: Optional[str] = None  # where exported ONNX models go (default: see onnx_cache_dir)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"query encoder backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.backend != "torch" and self.device != "cpu":
            raise ValueError("the ONNX backends run on CPU here; use backend 'torch' on a GPU")


class _QueryTower(torch.nn.Module):
    """input_ids, attention_mask -> pooled (and normalised) query vectors: what is exported."""

    def __init__(self, model: DenseModelForInference):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.encode_query({"input_ids": input_ids, "attention_mask": attention_mask})[1]


def export_key(model_dir: str, quantized: bool, settings: EncoderSettings) -> dict:
    """What an export is made from: the weights, the pooling and prefixes baked into the graph,
    the quantisation and the export recipe.  The cache slot is named by it and records it."""
    from xqg_tevatron.runtime.workdir import model_fingerprint

    return {"model_sha256": model_fingerprint(model_dir), "settings": asdict(settings), "quantized_int8": quantized,
            "opset": ONNX_OPSET, "export_version": EXPORT_VERSION}


def onnx_cache_dir(model_dir: str, key: dict, cache_dir: Optional[str] = None) -> Path:
    """One folder per export key: a retrained model or other pooling never reuses a stale export."""
    from xqg_tevatron.runtime.workdir import default_cache_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return default_cache_dir(cache_dir) / "onnx-query" / f"{Path(model_dir).name}-{digest}"


class XqgQueryEncoder:
    """Pyserini's ``QueryEncoder`` interface (``encode``, ``encode_batch``, ``has_model``) over a
    Tevatron bi-encoder saved by this plugin (or any HF encoder with an ``xqg_encoder.json``).
    Not a subclass: importing ``pyserini.encode`` starts the JVM, and importing this module must
    not; ``FaissSearcher`` calls only that interface."""

    def __init__(self, model_dir: str, config: QueryEncoderConfig | None = None,
                 settings: EncoderSettings | None = None):
        """``settings``: pooling / normalisation / prefixes to use (an index manifest's); default:
        the model folder's own ``xqg_encoder.json``."""
        self.config = config or QueryEncoderConfig()
        self.model_dir = str(model_dir)
        self.settings = settings or EncoderSettings.load(self.model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.has_model, self.has_encoded_query = True, False  # QueryEncoder's attributes
        model = DenseModelForInference.load(self.model_dir, overrides=self.settings).to(self.config.device)
        self.dim = model.output_dim
        self._tower = _QueryTower(model).eval()
        self._session = None
        if self.config.backend != "torch":
            self._session = self._onnx_session(quantized=self.config.backend == "onnx-int8")
            self._tower = None  # the session replaces the torch weights

    # ------------------------------------------------------------------ Pyserini interface
    def encode(self, query: str, **_: object) -> np.ndarray:
        """One query -> ``(dim,)`` float32 (``FaissSearcher.search``)."""
        return self.encode_batch([query])[0]

    def encode_batch(self, queries: Sequence[str]) -> np.ndarray:
        """Many queries -> ``(n, dim)`` float32 in input order (``FaissSearcher.batch_search``).
        Sorted by length and padded per batch, so padding costs little; masks hide it."""
        ids = self._token_ids([self.settings.query_prefix + q for q in queries]) if len(queries) else []
        return encode_token_ids(ids, self.dim, self.config.batch_size, self.tokenizer.pad_token_id or 0, self._run)

    # ------------------------------------------------------------------ internals
    def _max_length(self) -> int:
        limit = tokenizer_limit(self.tokenizer)
        return min(self.config.max_length or limit, limit)

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=True, truncation=True,
                              max_length=self._max_length())["input_ids"]

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self._session is not None:
            return self._session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.config.device)
            mask = torch.from_numpy(attention_mask).to(self.config.device)
            return self._tower(ids, mask).float().cpu().numpy()

    def _onnx_session(self, quantized: bool):
        """Export the query tower once (cached per model fingerprint), quantise it if asked,
        and open an ONNX Runtime session."""
        import onnxruntime as ort

        key = export_key(self.model_dir, quantized, self.settings)
        folder = onnx_cache_dir(self.model_dir, key, self.config.cache_dir)
        model_file = folder / "query_tower.onnx"
        record = folder / "export.json"
        if not _export_is_valid(model_file, record, key):
            folder.mkdir(parents=True, exist_ok=True)
            record.unlink(missing_ok=True)  # written last: a slot without it is rebuilt
            export_query_tower(self._tower, self.tokenizer, model_file, quantized)
            atomic_write_text(record, json.dumps({**key, "model_dir": os.path.abspath(self.model_dir),
                                                  "onnx_sha256": sha256_file(model_file)}, indent=2))
        options = ort.SessionOptions()
        if self.config.threads:
            options.intra_op_num_threads = self.config.threads
        try:
            return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime's own errors are long and name no file
            raise ValueError(f"{model_file}: ONNX Runtime cannot load it ({str(exc).splitlines()[0][:200]}); delete "
                             f"{folder} to export it again") from None


def _export_is_valid(model_file: Path, record: Path, key: dict) -> bool:
    """A cached export is used only if its record names this key and its file is unchanged."""
    if not model_file.is_file() or not record.is_file():
        return False
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if any(recorded.get(k) != v for k, v in key.items()):
        return False
    return recorded.get("onnx_sha256") == sha256_file(model_file)


def export_query_tower(tower: torch.nn.Module, tokenizer, path: Path, quantized: bool) -> Path:
    """ONNX export with dynamic batch and length, then (optionally) dynamic int8 quantisation of
    the weights (``onnxruntime.quantization.quantize_dynamic``); written under temporary names
    and renamed, so an interrupted export is never picked up as a model."""
    sample = tokenizer(["query: a b c", "query: a"], padding="longest", return_tensors="pt",
                       return_token_type_ids=False)
    float_path, final_tmp = tmp_sibling(path, ".float.onnx"), tmp_sibling(path, ".onnx")
    try:
        with warnings.catch_warnings():  # tracer chatter about constant-folded shape checks
            warnings.simplefilter("ignore")
            torch.onnx.export(tower.cpu(), (sample["input_ids"], sample["attention_mask"]), str(float_path),
                              input_names=["input_ids", "attention_mask"], output_names=["reps"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "length"},
                                            "attention_mask": {0: "batch", 1: "length"}, "reps": {0: "batch"}},
                              opset_version=ONNX_OPSET, dynamo=False)
        if quantized:  # the quantiser needs the plain graph (fused contrib ops defeat its shape inference)
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(float_path), str(final_tmp), weight_type=QuantType.QInt8, per_channel=True)
        else:
            fuse_transformer_ops(float_path, tower)
            replace(float_path, final_tmp)
        replace(final_tmp, path)
    finally:
        float_path.unlink(missing_ok=True)
        final_tmp.unlink(missing_ok=True)
    return path


def fuse_transformer_ops(path: Path, tower: torch.nn.Module) -> bool:
    """ONNX Runtime's transformer optimizer (fused attention, LayerNorm, GELU) for BERT-like
    encoders, in place; other architectures keep the plain export.  Same maths: the tests
    hold the float path to cosine > 0.999 against Pyserini's encoder."""
    config = tower.model.lm_q.config
    if getattr(config, "model_type", "") not in ("bert", "xlm-roberta", "roberta"):
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimize_model(str(path), model_type="bert", num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size, opt_level=1)
    optimized.save_model_to_file(str(path))
    return True


def pyserini_query_encoder(model_dir: str, settings: EncoderSettings | None = None):
    """Pyserini's own ``AutoQueryEncoder`` configured from ``settings`` (default: the model's
    ``xqg_encoder.json``): the reference the fast encoder is compared with.  Starts the JVM
    (default settings) unless a command already did: importing Pyserini needs it."""
    from xqg_tevatron.pyserini.bootstrap import bootstrap

    bootstrap()
    from pyserini.encode import AutoQueryEncoder

    s = settings or EncoderSettings.load(model_dir)
    prefix = s.query_prefix.strip() or None  # pyserini adds the space itself
    return AutoQueryEncoder(model_dir, pooling=s.pooling, l2_norm=s.normalize, prefix=prefix)


__all__ = ["BACKENDS", "QueryEncoderConfig", "XqgQueryEncoder", "pyserini_query_encoder"]
