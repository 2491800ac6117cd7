"""Query-time dictionary translation into English: the baseline that pays at search time.

The reverse of the bilingual word lists (target phrase -> English), applied greedily
longest-phrase-first anywhere in the query (so it works for unsegmented Japanese too).
Untranslatable text stays as it is; the multilingual encoder still sees it.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from xqg_tevatron.lexicon import load_lexicon
from xqg_tevatron.xqg.generated import LANGUAGES


_SPACED = re.compile(r"^[\u0000-\u024F\u0400-\u04FF\s'’.-]+$")  # Latin / Cyrillic: words end at boundaries


def _bounded(key: str) -> str:
    """Latin/Cyrillic keys must match whole words ("euro" not inside "eurooppa"); scripts that
    attach particles or are unsegmented (ja, ko, ar, bn, te) match anywhere."""
    return rf"(?<!\w){re.escape(key)}(?!\w)" if _SPACED.match(key) else re.escape(key)


class DictionaryTranslator:
    def __init__(self, languages: Iterable[str] = LANGUAGES, sources: Iterable[str] = ("cldr",),
                 word_lists: Optional[dict[str, list[str]]] = None):
        reverse: dict[str, str] = {}
        for lang in languages:
            for en, tgt in load_lexicon(lang, [*sources, *(word_lists or {}).get(lang, [])]).entries.items():
                reverse.setdefault(tgt.lower(), en)
        # one alternation, longest first: a single regex pass per query
        keys = sorted((k for k in reverse if len(k) > 1), key=len, reverse=True)
        self._reverse = reverse
        self._pattern = re.compile("|".join(_bounded(k) for k in keys), re.IGNORECASE) if keys else None

    def translate(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: f" {self._reverse[m.group(0).lower()]} ", text).strip()
