"""The encode/fuse + index stage: passages (and their generated queries) -> a Pyserini FAISS
index dir with ``xqg_manifest.json``.  Its command: ``python -m xqg_tevatron.indexing`` (``encode``;
Tevatron's name ``xqg_tevatron.driver.encode``) and ``xqg_tevatron.indexing.merge``.

``indexer``: the encode declared on the runtime's stage template; ``store``: what an encode work
dir holds; ``merging``: the merge that fuses while it streams; ``arguments``: the fusion and index
flags; ``encoder``: batched passage / generated-query encoding; ``index``: the FAISS index types
and the atomic index write; ``manifest``: reading and checking an index dir.
"""
