"""The training stage: a Tevatron bi-encoder trained on (optionally code-switched) XOR-TyDi or
XQuAD data.  ``python -m xqg_tevatron.training`` (Tevatron's name: ``xqg_tevatron.driver.train``);
``codeswitch``: the code-switching of training queries and its statistics (the lexical overlap the
study varies)."""
