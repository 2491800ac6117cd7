"""Query-time dictionary translation (the baseline that pays at search time)."""
from __future__ import annotations

import re

from xqg_tevatron.search.translate import _SPACED, DictionaryTranslator


def translator(pairs: dict[str, str]) -> DictionaryTranslator:
    t = DictionaryTranslator(languages=[])
    t._reverse = {k.lower(): v for k, v in pairs.items()}
    t._spaced = {k for k in t._reverse if _SPACED.match(k)}
    t._max_len = max(map(len, t._reverse))
    return t


def test_whole_words_for_latin_anywhere_for_unsegmented_scripts():
    t = translator({"euro": "Euro", "suomi": "Finland", "日本": "Japan", "通貨": "currency", "円": "yen"})
    assert t.translate("Mikä on Suomen euro?") == "Mikä on Suomen  Euro ?"  # "Suomen" is not "suomi"
    assert t.translate("eurooppa") == "eurooppa"
    assert t.translate("日本の通貨は？") == "Japan の currency は？"
    assert t.translate("円") == "円"  # one-character keys are too ambiguous to translate


def test_longest_match_first_and_case_insensitive():
    t = translator({"united": "X", "united arab emirates": "United Arab Emirates", "арабские": "Arab"})
    assert t.translate("United Arab Emirates currency") == "United Arab Emirates  currency"
    assert t.translate("АРАБСКИЕ") == "Arab"


def test_same_result_as_one_longest_first_regex_on_the_embedded_questions(prepared):
    """The scanner replaced a regex alternation that took minutes to compile for FreeDict-size
    lexicons; on the CLDR lexicon both give the same text for every embedded question."""
    from xqg_tevatron.data.xor_format import read_questions

    t = DictionaryTranslator()
    questions = read_questions(prepared.questions_dev) + read_questions(prepared.questions_train)
    # the oracle's alternation holds only keys that occur in some question (case-folded): a key
    # found in none can match none, so the oracle's text is the same, and it compiles in a fraction
    text = "\n".join(q.question for q in questions).lower()
    keys = sorted((k for k in t._reverse if k in text), key=len, reverse=True)
    bounded = [rf"(?<!\w){re.escape(k)}(?!\w)" if _SPACED.match(k) else re.escape(k) for k in keys]
    oracle = re.compile("|".join(bounded), re.IGNORECASE)
    for q in questions:
        expected = oracle.sub(lambda m: f" {t._reverse[m.group(0).lower()]} ", q.question).strip()
        assert t.translate(q.question) == expected, q.question
    assert sum(t.translate(q.question) != q.question for q in questions) > 0.9 * len(questions)
