"""Offline query generator: pseudo-queries in a target language from bilingual word lists.

Why: the paper's generator is a fine-tuned mT5, which cannot be downloaded here.  This
generator needs no weights, so the whole xQG pipeline (generate -> augment -> index ->
search -> evaluate) runs anywhere.  For each passage and language it finds the English
phrases of the passage that the word list can translate (longest match first), ranks them
(title terms first, then by frequency), keeps the ``top_k`` most salient, and builds each of
``n`` queries from the title term plus a seeded random sample of the others, in that
language's question pattern.  Deterministic per (docid, language, seed).

    python -m xqg_tevatron.generate.dictionary --corpus psgs_w100.tsv --output corpus.xqg.jsonl \\
        --languages ar bn fi ja ko ru te --n_per_lang 5 [--word_lists ja=eng-jpn.index ...]
"""
from __future__ import annotations

import logging

import dataclasses
import random
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from xqg_tevatron.cli import FlagParser, run_main
from xqg_tevatron.corpus import Passage
from xqg_tevatron.generate.generate_units import add_job_arguments, run_job_cli
from xqg_tevatron.words.lexicon import (ENGLISH_STOPWORDS, Lexicon, load_lexicon, resolve_word_lists, word_lists_asked,
                                        words)
from xqg_tevatron.runtime.workdir import fingerprint_inputs

QUESTION_PATTERNS = {
    "ar": "ما {terms}؟", "bn": "{terms} কী?", "fi": "mikä {terms}?", "ja": "{terms}は何ですか？",
    "ko": "{terms}은 무엇입니까?", "ru": "что {terms}?", "te": "{terms} ఏమిటి?",
    "de": "was ist {terms}?", "el": "τι είναι {terms};", "es": "¿qué es {terms}?", "hi": "{terms} क्या है?",
    "ro": "ce este {terms}?", "th": "{terms} คืออะไร", "tr": "{terms} nedir?", "vi": "{terms} là gì?",
    "zh": "{terms}是什么？",
}

logger = logging.getLogger(__name__)


@dataclass
class DictionaryGeneratorConfig:
    n_per_lang: int = 5
    top_k: int = 10
    terms_per_query: int = 3
    seed: int = 0
    word_lists: dict[str, list[str]] = field(default_factory=dict)  # lang -> extra sources


class DictionaryQueryGenerator:
    def __init__(self, config: Optional[DictionaryGeneratorConfig] = None, lexicons: Optional[dict[str, Lexicon]] = None):
        self.config = config or DictionaryGeneratorConfig()
        self.lexicons = dict(lexicons or {})

    def lexicon(self, lang: str) -> Lexicon:
        if lang not in self.lexicons:
            self.lexicons[lang] = load_lexicon(lang, ["cldr", *self.config.word_lists.get(lang, [])])
        return self.lexicons[lang]

    def salient_terms(self, passage: Passage, lang: str) -> list[str]:
        lex = self.lexicon(lang)
        title_terms = [t for _, _, t in _content(lex, words(passage.title))]
        counts: Counter[str] = Counter()
        first: dict[str, int] = {}
        for pos, t in enumerate(t for _, _, t in _content(lex, words(passage.text))):
            counts[t] += 1
            first.setdefault(t, pos)
        rest = sorted(counts, key=lambda t: (-counts[t], first[t]))
        ordered = list(dict.fromkeys(title_terms + rest))
        return ordered[: self.config.top_k]

    def queries(self, passage: Passage, lang: str) -> list[str]:
        terms = self.salient_terms(passage, lang)
        if not terms:
            return []
        rng = random.Random(zlib.crc32(f"{passage.docid}\t{lang}\t{self.config.seed}".encode()))
        pattern = QUESTION_PATTERNS.get(lang, "{terms}?")
        out: list[str] = []
        head, others = terms[0], terms[1:]
        for _ in range(self.config.n_per_lang):
            k = min(len(others), max(0, self.config.terms_per_query - 1))
            picked = [head] + (rng.sample(others, rng.randint(min(1, k), k)) if k else [])
            out.append(pattern.format(terms=" ".join(picked)))
        return list(dict.fromkeys(out))  # distinct queries, in generation order

    def __call__(self, passages: list[Passage], lang: str) -> list[list[str]]:
        return [self.queries(p, lang) for p in passages]


def _content(lex: Lexicon, tokens: list[str]):
    """Lexicon matches that are not a lone function word or number."""
    for start, end, t in lex.match(tokens):
        if end - start == 1 and (tokens[start].lower() in ENGLISH_STOPWORDS or tokens[start].isdigit()):
            continue
        yield start, end, t


def dictionary_made_by(lang: str, word_lists: dict) -> str:
    """What a language's dictionary queries come from, as the coverage error names it."""
    files = [str(p) for p in word_lists.get(lang, [])]
    return f"the dictionary generator ({lang} word list: {' + '.join(['CLDR names', *files])})"


def main(argv: list[str] | None = None) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    parser = FlagParser(description=__doc__.split("\n\n")[0])
    add_job_arguments(parser)
    parser.add_argument("--top_k", type=int, default=10, help="salient terms to sample from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--word_lists", nargs="*", default=[],
                        help="LANG=PATH (MUSE text file or dictd .index), or 'freedict' to add every installed "
                             "FreeDict eng-xxx dictionary of the chosen languages (Debian's installed packages, else "
                             "the pinned release fetched once into the cache)")
    args = parser.parse_args(argv)
    # a user's list with no entries is one line here, before anything is locked or loaded
    asked = {"kind": "dictionary", "n_per_lang": args.n_per_lang, "top_k": args.top_k, "seed": args.seed,
             "word_lists": word_lists_asked(args.word_lists)}
    chosen: dict = {}

    def settings() -> dict:
        """Called once the output is locked: FreeDict may be fetched here."""
        word_lists = resolve_word_lists(args.word_lists, args.languages)
        chosen["config"] = DictionaryGeneratorConfig(n_per_lang=args.n_per_lang, top_k=args.top_k, seed=args.seed,
                                                     word_lists=word_lists)
        return {"kind": "dictionary", "word_lists": fingerprint_inputs(p for ps in word_lists.values() for p in ps),
                **{k: v for k, v in dataclasses.asdict(chosen["config"]).items() if k != "word_lists"}}

    def build() -> DictionaryQueryGenerator:
        config = chosen["config"]
        gen = DictionaryQueryGenerator(config)
        for lang in args.languages:
            sources = ["cldr", *(Path(p).name for p in config.word_lists.get(lang, []))]
            logger.info("word list %s: %d entries from %s", lang, len(gen.lexicon(lang)), " + ".join(sources))
        return gen

    return run_job_cli(args, build, settings, "generate.dictionary", asked,
                       made_by=lambda lang: dictionary_made_by(lang, chosen["config"].word_lists))


if __name__ == "__main__":
    sys.exit(main())
