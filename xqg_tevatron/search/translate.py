"""Query-time dictionary translation into English: the baseline that pays at search time.

The reverse of the bilingual word lists (target phrase -> English), applied greedily
longest-phrase-first anywhere in the query (so it works for unsegmented Japanese too).
Untranslatable text stays as it is; the multilingual encoder still sees it.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from xqg_tevatron.words.lexicon import load_lexicon
from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES


_SPACED = re.compile(r"^[\u0000-\u024F\u0400-\u04FF\s'’.-]+$")  # Latin / Cyrillic: words end at boundaries


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what the re module's Unicode \w matches


def _lower_same_length(text: str) -> str:
    """Lower-case character by character, keeping positions (a few characters lower to two)."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


class DictionaryTranslator:
    """Greedy longest-match translation, left to right.  Latin/Cyrillic keys must match whole
    words ("euro" not inside "eurooppa"); scripts that attach particles or are unsegmented (ja,
    ko, ar, bn, te, th, zh) match anywhere.  A dictionary lookup per position and length, not one
    huge regex: FreeDict lexicons hold hundreds of thousands of entries."""

    def __init__(self, languages: Iterable[str] = LANGUAGES, sources: Iterable[str] = ("cldr",),
                 word_lists: Optional[dict[str, list[str]]] = None):
        reverse: dict[str, str] = {}
        for lang in languages:
            for en, tgt in load_lexicon(lang, [*sources, *(word_lists or {}).get(lang, [])]).entries.items():
                reverse.setdefault(tgt.lower(), en)
        self._reverse = {k: v for k, v in reverse.items() if len(k) > 1}
        self._spaced = {k for k in self._reverse if _SPACED.match(k)}
        self._max_len = max(map(len, self._reverse), default=0)

    def _match_at(self, lowered: str, i: int) -> int:
        """Length of the longest key matching at ``i`` (0 if none)."""
        bounded_ok = i == 0 or not _is_word_char(lowered[i - 1])
        for n in range(min(self._max_len, len(lowered) - i), 1, -1):
            key = lowered[i:i + n]
            if key in self._reverse:
                if key in self._spaced and not (bounded_ok and (i + n == len(lowered)
                                                                or not _is_word_char(lowered[i + n]))):
                    continue
                return n
        return 0

    def translate(self, text: str) -> str:
        if not self._reverse:
            return text
        lowered = _lower_same_length(text)
        out, i, plain_from = [], 0, 0
        while i < len(text):
            n = self._match_at(lowered, i)
            if n:
                out += [text[plain_from:i], f" {self._reverse[lowered[i:i + n]]} "]
                i = plain_from = i + n
            else:
                i += 1
        out.append(text[plain_from:])
        return "".join(out).strip()
