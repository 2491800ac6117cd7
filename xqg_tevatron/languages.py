"""The query languages this plugin knows, in one place: XOR-TyDi's seven, XQuAD's eleven, and
their English names (the names go into the mT5 generation prompt, so a code without a name
cannot be generated for and is refused up front)."""
from __future__ import annotations

from typing import Iterable

XOR_TYDI_LANGUAGES = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
XQUAD_LANGUAGES = ("ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
LANGUAGE_NAMES = {"en": "English", "ar": "Arabic", "bn": "Bengali", "fi": "Finnish", "ja": "Japanese", "ko": "Korean",
                  "ru": "Russian", "te": "Telugu",
                  # XQuAD's other languages (the real-question development track)
                  "de": "German", "el": "Greek", "es": "Spanish", "hi": "Hindi", "ro": "Romanian", "th": "Thai",
                  "tr": "Turkish", "vi": "Vietnamese", "zh": "Chinese"}


def check_language_codes(languages: Iterable[str]) -> None:
    """Refuse codes this plugin has no name for (a typo such as ``jp`` would match nothing)."""
    unknown = [l for l in languages if l not in LANGUAGE_NAMES]
    if unknown:
        raise ValueError(f"unknown language code(s) {unknown}; known: {' '.join(sorted(LANGUAGE_NAMES))}")
