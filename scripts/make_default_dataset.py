#!/usr/bin/env python
"""Write the embedded default data set (XOR-TyDi XOR-Retrieve format) from CLDR facts in ``babel``.

Why generated: the real XOR-TyDi corpus (18M passages) cannot ship in a package, and nothing
downloads here.  This script writes a small corpus *for this project* whose facts come from
the Unicode CLDR tables bundled with babel: one English passage per territory (its currency
and official languages) and one per official language, plus native questions in Arabic,
Bengali, Finnish, Japanese, Korean, Russian and Telugu whose entity names are CLDR's own
localised territory names and whose answers are English spans of the gold passage.

Output (committed, ~300 KB) in ``xqg_tevatron/resources/xor_default``:
  psgs_w100.tsv                       id<TAB>text<TAB>title   (DPR/XOR corpus layout)
  xor_{train,dev}_retrieve_eng_span.jsonl   {"id","question","answers","lang"} (+ "question_en")
  qrels.{train,dev}.txt               TREC qrels of the gold passage
Deterministic: rerunning with the same babel version rewrites identical files.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from babel import Locale
from babel.languages import get_official_languages
from babel.numbers import get_territory_currencies

OUT = Path(__file__).resolve().parent.parent / "xqg_tevatron" / "resources" / "xor_default"
LANGS = ["ar", "bn", "fi", "ja", "ko", "ru", "te"]
TEMPLATES = {
    "currency": {
        "ar": "ما هي العملة الرسمية في {c}؟",
        "bn": "{c}-এর সরকারি মুদ্রা কী?",
        "fi": "Mikä valuutta on käytössä maassa {c}?",
        "ja": "{c}の通貨は何ですか？",
        "ko": "{c}의 공식 통화는 무엇입니까?",
        "ru": "Какая валюта используется в стране {c}?",
        "te": "{c} యొక్క అధికారిక కరెన్సీ ఏమిటి?",
        "en": "What is the official currency of {c}?",
    },
    "language": {
        "ar": "ما هي اللغة الرسمية في {c}؟",
        "bn": "{c}-এর সরকারি ভাষা কী?",
        "fi": "Mikä on maan {c} virallinen kieli?",
        "ja": "{c}の公用語は何ですか？",
        "ko": "{c}의 공용어는 무엇입니까?",
        "ru": "Какой официальный язык в стране {c}?",
        "te": "{c} యొక్క అధికారిక భాష ఏమిటి?",
        "en": "What is the official language of {c}?",
    },
}
TRAIN_PER_LANG, DEV_PER_LANG = 60, 40


def main() -> None:
    en = Locale("en")
    locales = {lang: Locale(lang) for lang in LANGS}
    rows = []
    for code in sorted(c for c in en.territories if len(c) == 2 and c.isalpha()):
        currencies = get_territory_currencies(code, tender=True)
        langs = [l for l in get_official_languages(code, de_facto=True) if en.languages.get(l)]
        if not currencies or not langs or not all(code in loc.territories for loc in locales.values()):
            continue
        rows.append((code, en.territories[code], currencies[0], en.currencies.get(currencies[0], currencies[0]),
                     [en.languages[l] for l in langs], langs))
    passages, lang_countries = [], {}
    for i, (code, name, cur_code, cur_name, lang_names, lang_codes) in enumerate(rows):
        others = f" Other official languages are {', '.join(lang_names[1:])}." if len(lang_names) > 1 else ""
        text = (f"{name} ({code}) is a territory whose official currency is the {cur_name} ({cur_code}). "
                f"The main official language of {name} is {lang_names[0]}.{others}")
        passages.append((f"t{i}", text, name, code))
        for lname in lang_names:
            lang_countries.setdefault(lname, []).append(name)
    for j, (lname, countries) in enumerate(sorted(lang_countries.items())):
        text = (f"{lname} is a language with official status in {len(countries)} "
                f"territor{'y' if len(countries) == 1 else 'ies'}: {', '.join(countries)}.")
        passages.append((f"l{j}", text, f"{lname} language", None))

    by_code = {p[3]: p for p in passages if p[3]}
    codes = sorted(by_code)
    rng = random.Random(2023)
    rng.shuffle(codes)
    cut = int(len(codes) * 0.6)
    splits = {"train": (codes[:cut], TRAIN_PER_LANG), "dev": (codes[cut:], DEV_PER_LANG)}
    row_by_code = {r[0]: r for r in rows}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "psgs_w100.tsv", "w", encoding="utf-8") as fh:
        fh.write("id\ttext\ttitle\n")
        for pid, text, title, _ in passages:
            fh.write(f"{pid}\t{text}\t{title}\n")
    for split, (pool, per_lang) in splits.items():
        with open(OUT / f"xor_{split}_retrieve_eng_span.jsonl", "w", encoding="utf-8") as q_fh, \
                open(OUT / f"qrels.{split}.txt", "w", encoding="utf-8") as r_fh:
            for lang in LANGS:
                for k, code in enumerate(rng.sample(pool, per_lang)):
                    kind = "currency" if k % 2 == 0 else "language"
                    _, _, cur_code, cur_name, lang_names, _ = row_by_code[code]
                    answers = [cur_name, cur_code] if kind == "currency" else [lang_names[0]]
                    qid = f"{split}-{lang}-{k:03d}"
                    question = TEMPLATES[kind][lang].format(c=locales[lang].territories[code])
                    # question_en (not in XOR-TyDi) lets the study train on English queries, as in
                    # code-switching work, and evaluate on the native ones
                    question_en = TEMPLATES[kind]["en"].format(c=en.territories[code])
                    q_fh.write(json.dumps({"id": qid, "question": question, "answers": answers, "lang": lang,
                                           "question_en": question_en}, ensure_ascii=False) + "\n")
                    r_fh.write(f"{qid} 0 {by_code[code][0]} 1\n")
    print(f"wrote {len(passages)} passages and {len(LANGS) * (TRAIN_PER_LANG + DEV_PER_LANG)} questions to {OUT}")


if __name__ == "__main__":
    main()
