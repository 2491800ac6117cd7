"""Tevatron datasets/collators without ``encode_plus`` (removed in transformers 5).

Tevatron 0.1.0 stores texts as token-id lists (``add_special_tokens=False``) and adds the
special tokens per example with ``encode_plus``.  We do the same with
``build_inputs_with_special_tokens``, which exists on every transformers 5 tokenizer.
Raw strings are accepted too (tokenised on the fly with the configured prefix), so plain
jsonl written by hand trains without a separate tokenisation step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Union

from tevatron import data as tv_data
from transformers import PreTrainedTokenizerBase

from xqg_tevatron.tevatron_compat.settings import EncoderSettings
from xqg_tevatron.tevatron_compat.sources import check_train_source
from xqg_tevatron.tevatron_compat.tokens import SpecialTokens, TextOrIds, encode_one, special_tokens_wrap

class TrainDataset(tv_data.TrainDataset):
    """Tevatron's TrainDataset (same positive/negative sampling) with the transformers-5 fix."""

    def __init__(self, data_args, dataset, tokenizer, trainer=None, settings: EncoderSettings | None = None):
        super().__init__(data_args, dataset, tokenizer, trainer)
        self.settings = settings or EncoderSettings()
        self.special = special_tokens_wrap(tokenizer)

    def create_one_example(self, text_encoding: TextOrIds, is_query: bool = False):
        max_len = self.data_args.q_max_len if is_query else self.data_args.p_max_len
        return encode_one(self.tok, text_encoding, max_len, self.settings.prefix(is_query), self.special)


class EncodeDataset(tv_data.EncodeDataset):
    """Tevatron's EncodeDataset with the transformers-5 fix."""

    def __init__(self, dataset, tokenizer, max_len: int = 128, prefix: str = ""):
        super().__init__(dataset, tokenizer, max_len=max_len)
        self.prefix = prefix
        self.special = special_tokens_wrap(tokenizer)

    def __getitem__(self, item):
        text_id, text = (self.encode_data[item][f] for f in self.input_keys)
        return text_id, encode_one(self.tok, text, self.max_len, self.prefix, self.special)


@dataclass
class QPCollator(tv_data.QPCollator):
    """Tevatron's query/passage collator; ``dynamic=True`` pads to the longest text in the batch
    instead of ``max_len`` (same maths, far less padding on CPU)."""

    dynamic: bool = True

    def __call__(self, features: list[Any]):
        qq = [f[0] for f in features]
        dd = [p for f in features for p in f[1]]
        if self.dynamic:
            pad = dict(padding="longest")
            return (self.tokenizer.pad(qq, return_tensors="pt", **pad), self.tokenizer.pad(dd, return_tensors="pt", **pad))
        return super().__call__(features)


def passage_text(passage: dict, separator: str = " ") -> str:
    """Tevatron's passage string: ``title + separator + text`` when a title is present."""
    title = passage.get("title")
    return f"{title}{separator}{passage['text']}" if title else passage["text"]


def resolve_separator(tokenizer, separator: str) -> str:
    """Tevatron's ``--passage_field_separator``: the name of a tokenizer attribute (e.g.
    ``sep_token``) is replaced by its value, as Tevatron's datasets do; anything else is literal."""
    value = getattr(tokenizer, separator, None) if tokenizer is not None and separator.isidentifier() else None
    return value if isinstance(value, str) else separator


def load_train_groups(data_args, cache_dir: str | None = None, tokenizer=None):
    """Training groups ``{query, positives, negatives}`` from Tevatron-format jsonl.

    Accepts both Tevatron's raw format (``query``, ``positive_passages``,
    ``negative_passages`` with ``title``/``text``) and its pre-tokenised format
    (``query``/``positives``/``negatives`` as id lists).  Raw texts stay strings and are
    tokenised per example by :class:`TrainDataset` (with the query/passage prefixes).
    """
    check_train_source(data_args)
    import datasets

    if data_args.train_path:
        from xqg_tevatron.corpus import iter_jsonl

        # read under the plugin's one text rule (corpus.TEXT_RULE), as every other input is; and
        # never from a cache keyed on file names, which would outlive an edit of the files
        ds = datasets.Dataset.from_list([rec for path in data_args.train_path for _, rec in iter_jsonl(path)])
    else:
        ds = datasets.load_dataset(data_args.dataset_name, data_args.dataset_language, cache_dir=cache_dir)[data_args.dataset_split]
    if len(ds) == 0:
        raise ValueError("training data is empty")
    if "positives" in ds.column_names:
        return ds
    missing_cols = {"query", "positive_passages"} - set(ds.column_names)
    if missing_cols:
        raise ValueError(f"training data lacks columns {sorted(missing_cols)}; found {ds.column_names}")
    sep = resolve_separator(tokenizer, data_args.passage_field_separator)

    def to_group(example):
        if not example["positive_passages"]:
            raise ValueError(f"training query {example.get('query_id', example['query'])!r} has no positive passage")
        return {
            "query": example["query"],
            "positives": [passage_text(p, sep) for p in example["positive_passages"]],
            "negatives": [passage_text(p, sep) for p in example.get("negative_passages") or []],
        }

    return ds.map(to_group, remove_columns=ds.column_names, desc="Preparing training groups")
