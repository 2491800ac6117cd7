"""Query generators writing the published xQG format ``{docid, text, generated_queries{lang: [...]}}``.

* ``xqg_tevatron.generate.seq2seq``: train / run an mT5-style seq2seq generator (the paper's xQG
  model) on either backend (``hf_backend``, ``ct2_backend``; their contract is ``backend``, the
  registry and the one way to build one is ``factory``);
* ``xqg_tevatron.generate.dictionary``: an offline generator from bilingual word lists (no weights);
* ``generate_units``: generation declared on the runtime's stage template (units, resume, the jsonl merge).
"""
