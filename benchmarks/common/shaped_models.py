"""Random-weight models with the published shapes of the models users will run, for measuring
per-unit cost (cost depends on shapes and lengths, not on weight values; no such weights exist
offline here).

* ``mt5-base``: the query generator's shape (google/mt5-base: d_model 768, d_ff 2048, 12 + 12
  layers, 12 heads, gated-GELU, an LM head over a 250,112-token vocabulary).  The head is tied to
  the embedding here (390M parameters; mT5 unties it, 582M): the same matrix product per token,
  so the same cost, with a third less memory;
* ``mbert-base``: the paper's encoder shape (bert-base-multilingual-cased: 768 dims, 12 layers,
  12 heads, 3072 FFN, 119,547-token vocabulary);
* ``tiny-t5`` / ``tiny-bert``: the same families at toy size, for the CPU dry run in CI.

Each model directory gets a word-level tokenizer whose vocabulary is exactly the model's size
(real corpus words first, then filler tokens), so every sampled id decodes to a word and a text
of W words is W tokens: lengths are forced, never guessed.  Only torch, transformers and
tokenizers are needed (the GPU machine has no other package of this project's).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class Shape:
    family: str  # "t5" (generator) or "bert" (encoder)
    vocab: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    source: str


SHAPES = {
    "mt5-base": Shape("t5", 250_112, 768, 12, 12, 2048, "google/mt5-base config"),
    "mbert-base": Shape("bert", 119_547, 768, 12, 12, 3072, "bert-base-multilingual-cased config"),
    "tiny-t5": Shape("t5", 2_000, 64, 2, 4, 128, "toy (dry run)"),
    "tiny-bert": Shape("bert", 2_000, 64, 2, 4, 128, "toy (dry run)"),
}
SPECIALS = {"t5": ["<pad>", "</s>", "<unk>"], "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]}
ENCODER_SETTINGS = {"pooling": "cls", "normalize": False, "query_prefix": "", "passage_prefix": ""}


def word_level_tokenizer(shape: Shape, texts: Sequence[str]):
    """A fast tokenizer of exactly ``shape.vocab`` tokens: whitespace/punctuation words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = SPECIALS[shape.family]
    counts = Counter(w for t in texts for w in pre_tokenizers.Whitespace().pre_tokenize_str(t) for w in [w[0]])
    words = [w for w, _ in counts.most_common(shape.vocab - len(specials)) if w not in specials]
    words += [f"w{i}" for i in range(shape.vocab - len(specials) - len(words))]
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    unk = "<unk>" if shape.family == "t5" else "[UNK]"
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if shape.family == "bert":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                       cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")


def build_shaped_model(name: str, out: Path, texts: Sequence[str], seed: int = 0) -> Path:
    """Write a random-weight HF model directory of shape ``name`` (idempotent: reused if there)."""
    import torch
    from transformers import BertConfig, BertModel, MT5Config, MT5ForConditionalGeneration

    shape = SHAPES[name]
    out = Path(out)
    if (out / "shape.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if shape.family == "t5":
        config = MT5Config(vocab_size=shape.vocab, d_model=shape.hidden, d_kv=shape.hidden // shape.heads,
                           d_ff=shape.ffn, num_layers=shape.layers, num_decoder_layers=shape.layers,
                           num_heads=shape.heads, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
        model = MT5ForConditionalGeneration(config)
        with torch.no_grad():
            # a zero <pad> row: random tied weights otherwise echo the decoder's start token (<pad>)
            # forever, and every query would decode to an empty string
            model.shared.weight[0].zero_()
    else:
        config = BertConfig(vocab_size=shape.vocab, hidden_size=shape.hidden, num_hidden_layers=shape.layers,
                            num_attention_heads=shape.heads, intermediate_size=shape.ffn, max_position_embeddings=512,
                            pad_token_id=0)
        model = BertModel(config)
        (out / "xqg_encoder.json").write_text(json.dumps(ENCODER_SETTINGS))
    model.save_pretrained(out)
    word_level_tokenizer(shape, texts).save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    (out / "shape.json").write_text(json.dumps({"name": name, "source": shape.source, "parameters": params}))
    return out


def long_texts(words: Sequence[str], n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` texts of exactly ``length`` words drawn from real ``words`` (so ``length`` tokens
    under the word-level tokenizer, before specials)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pool = np.array(list(words))
    return [" ".join(pool[rng.integers(0, len(pool), size=length)]) for _ in range(n)]
