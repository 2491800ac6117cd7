"""The encode/fuse + index stage: passages (and their generated queries) -> a Pyserini FAISS
index dir with ``xqg_manifest.json``.

``encoder``: batched passage / generated-query encoding; ``indexer``: encoding on the engine and
the merge that fuses; ``index``: the FAISS index types and the atomic index write; ``manifest``:
the manifest file, the multi-vector docid delimiter, reading and checking an index dir.
"""
