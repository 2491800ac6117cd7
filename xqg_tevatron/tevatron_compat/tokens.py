"""One text's token ids with the tokenizer's special tokens, as Tevatron's ``encode_plus`` gave
them (removed in transformers 5).  Kept apart from the training datasets so that encoding and
search import neither Tevatron's data module nor ``datasets``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

from transformers import PreTrainedTokenizerBase

TextOrIds = Union[str, Sequence[int]]


@dataclass(frozen=True)
class SpecialTokens:
    """Special ids a tokenizer puts before and after a single sequence (e.g. ``[CLS]``/``[SEP]``)."""

    head: tuple[int, ...]
    tail: tuple[int, ...]


def special_tokens_wrap(tokenizer: PreTrainedTokenizerBase) -> SpecialTokens:
    """Read the single-sequence template off one probe encoding: transformers 5 dropped
    ``build_inputs_with_special_tokens`` from tokenizers-backed tokenizers.  Callers that encode
    many texts compute this once and pass it to ``encode_one`` (no module-level cache)."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i:i + len(bare)] == bare:
            return SpecialTokens(tuple(full[:i]), tuple(full[i + len(bare):]))
    raise ValueError(f"cannot infer the special-token template of {type(tokenizer).__name__}")


def encode_one(
    tokenizer: PreTrainedTokenizerBase, text: TextOrIds, max_len: int, prefix: str = "",
    special: SpecialTokens | None = None,
) -> dict[str, list[int]]:
    """Token ids (with specials) of one text, truncated to ``max_len`` like ``encode_plus(truncation='only_first')``."""
    if isinstance(text, str):
        ids = tokenizer.encode(prefix + text, add_special_tokens=False)
    else:
        ids = list(text)
    special = special or special_tokens_wrap(tokenizer)
    budget = max(max_len - len(special.head) - len(special.tail), 0)
    return {"input_ids": [*special.head, *ids[:budget], *special.tail]}
