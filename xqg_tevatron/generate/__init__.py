"""Query generators writing the published xQG format ``{docid, text, generated_queries{lang: [...]}}``.

* ``xqg_tevatron.generate.seq2seq``: train / run an mT5-style seq2seq generator (the paper's xQG model);
* ``xqg_tevatron.generate.dictionary``: an offline generator from bilingual word lists (no weights).
"""
