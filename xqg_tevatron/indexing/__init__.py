"""The encode/fuse + index stage: passages (and their generated queries) -> a Pyserini FAISS
index dir with ``xqg_manifest.json``.  Its commands: ``python -m xqg_tevatron.indexing``
(``encode_cli``; Tevatron's name ``xqg_tevatron.driver.encode``) and ``merge_cli`` (Tevatron-style
``xqg_tevatron.driver.merge``).

``request``: the one encode request and ``run_encode``; ``indexer``: the encode's units on the
runtime's stage template; ``store``: what an encode work dir holds; ``merge_units``: the merge
that fuses while it streams; ``arguments``: the fusion, index and store flags; ``dense_encoder``:
batched passage / generated-query encoding (``encode_config``: its settings, no torch);
``faiss_index``: faiss factory strings and the atomic index write; ``manifest``: reading and
checking an index dir.
"""
