"""Code-switched training (Litschko et al., 2023 style) and the lexical-overlap statistics.

With probability ``p`` per English token that the bilingual word lists can translate, the
token (or the longest translatable phrase starting there) is replaced by its translation in
one of the chosen target languages.  Applied to training queries, and optionally passages,
on the fly, so every epoch sees a different mix.

What we record is what was *achieved*, not just ``p``:
  * ``switched_share``: switched tokens / content tokens of the queries;
  * ``lexical_overlap``: share of query content tokens (after switching) that also occur in
    the positive passage (after switching), the lexical-overlap ratio of the study.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from xqg_tevatron.languages import XOR_TYDI_LANGUAGES
from xqg_tevatron.words.lexicon import ENGLISH_STOPWORDS, Lexicon, load_lexicon

_TOKEN = re.compile(r"[\w'’-]+|[^\w\s]+|\s+", re.UNICODE)
def content_tokens(text: str) -> list[str]:
    return [t.lower() for t in re.findall(r"\w+", text, re.UNICODE) if t.lower() not in ENGLISH_STOPWORDS]


@dataclass
class SwitchStats:
    queries: int = 0
    query_tokens: int = 0          # content tokens of the original queries
    switched_tokens: int = 0       # of those, replaced by a translation
    translatable_tokens: int = 0   # of those, the word lists could translate
    overlap_tokens: int = 0        # switched-query content tokens also in the (switched) positive
    overlap_total: int = 0         # switched-query content tokens

    def add(self, other: "SwitchStats") -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)

    @property
    def switched_share(self) -> float:
        return self.switched_tokens / self.query_tokens if self.query_tokens else 0.0

    @property
    def lexical_overlap(self) -> float:
        return self.overlap_tokens / self.overlap_total if self.overlap_total else 0.0

    def summary(self) -> dict:
        return dict(asdict(self), switched_share=round(self.switched_share, 6),
                    lexical_overlap=round(self.lexical_overlap, 6),
                    translatable_share=round(self.translatable_tokens / self.query_tokens, 6)
                    if self.query_tokens else 0.0)


@dataclass
class CodeSwitchConfig:
    p: float = 0.0
    languages: Sequence[str] = XOR_TYDI_LANGUAGES
    switch_passages: bool = False
    word_lists: dict[str, list[str]] = field(default_factory=dict)
    seed: int = 13

    def __post_init__(self):
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"code-switch probability must be in [0, 1], got {self.p}")
        if not self.languages:
            raise ValueError("code-switching needs at least one target language")


class CodeSwitcher:
    def __init__(self, config: CodeSwitchConfig, lexicons: Optional[dict[str, Lexicon]] = None):
        self.config = config
        self.lexicons = lexicons or {lang: load_lexicon(lang, ["cldr", *config.word_lists.get(lang, [])])
                                     for lang in config.languages}
        self.max_words = max(lex.max_words for lex in self.lexicons.values())

    def switch(self, text: str, rng: random.Random) -> tuple[str, int, int, int]:
        """``(switched_text, content_tokens, translatable_tokens, switched_tokens)``."""
        pieces = _TOKEN.findall(text)
        word_pos = [i for i, p in enumerate(pieces) if re.match(r"\w", p, re.UNICODE)]
        out = list(pieces)
        n_content = sum(1 for i in word_pos if pieces[i].lower() not in ENGLISH_STOPWORDS)
        translatable = switched = 0
        j = 0
        langs = list(self.config.languages)
        while j < len(word_pos):
            hit = None
            for n in range(min(self.max_words, len(word_pos) - j), 0, -1):
                span = word_pos[j:j + n]
                phrase = " ".join(pieces[k] for k in span)
                options = [t for t in (self.lexicons[lang].translate(phrase) for lang in langs) if t is not None]
                if options:
                    hit = (span, rng.choice(options))
                    break
            if hit is None:
                j += 1
                continue
            span, target = hit
            n_span_content = sum(1 for k in span if pieces[k].lower() not in ENGLISH_STOPWORDS)
            translatable += n_span_content
            if rng.random() < self.config.p:
                out[span[0]] = target
                for k in range(span[0] + 1, span[-1] + 1):
                    out[k] = ""
                switched += n_span_content
            j += len(span)
        return "".join(out), n_content, translatable, switched

    def switch_group(self, group: dict, rng: random.Random) -> tuple[dict, SwitchStats]:
        """Switch a Tevatron training group (raw-text format); returns the new group and stats."""
        query, n_content, n_trans, n_sw = self.switch(group["query"], rng)
        positives, negatives = group["positives"], group["negatives"]
        if self.config.switch_passages:
            positives = [self.switch(p, rng)[0] for p in positives]
            negatives = [self.switch(p, rng)[0] for p in negatives]
        q_tokens = content_tokens(query)
        pos_vocab = set(content_tokens(positives[0])) if positives else set()
        stats = SwitchStats(1, n_content, n_sw, n_trans, sum(1 for t in q_tokens if t in pos_vocab), len(q_tokens))
        return dict(group, query=query, positives=positives, negatives=negatives), stats


class CodeSwitchedGroups:
    """A view over Tevatron training groups that code-switches each group when it is read.

    Tevatron's ``TrainDataset`` only calls ``len()`` and ``[item]`` on its data, so wrapping the
    data keeps Tevatron's positive/negative sampling untouched.  Randomness is seeded by
    (seed, item, how often the item was read), so epochs differ and runs are reproducible.
    """

    def __init__(self, groups, switcher: CodeSwitcher):
        if groups and not isinstance(groups[0]["query"], str):
            raise ValueError("code-switching needs raw-text training data, not pre-tokenised ids")
        self.groups = groups
        self.switcher = switcher
        self.stats = SwitchStats()
        self._reads: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, item: int) -> dict:
        n = self._reads.get(item, 0)
        self._reads[item] = n + 1
        rng = random.Random(f"{self.switcher.config.seed}:{item}:{n}")
        group, stats = self.switcher.switch_group(self.groups[item], rng)
        self.stats.add(stats)
        return group


def write_stats(stats: SwitchStats, config: CodeSwitchConfig, path: Path) -> dict:
    """Sum stats over DDP ranks (if any) and write them; returns the summary."""
    try:
        import torch
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            vals = torch.tensor(list(asdict(stats).values()), dtype=torch.long)
            dist.all_reduce(vals)
            stats = SwitchStats(*[int(v) for v in vals.tolist()])
    except ImportError:  # pragma: no cover
        pass
    summary = dict(stats.summary(), p=config.p, languages=list(config.languages),
                   switch_passages=config.switch_passages)
    Path(path).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
