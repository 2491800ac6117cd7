"""The search stage: a Pyserini FAISS index dir (+ manifest) and topics -> a TREC run.

``searcher``: ``IndexSearcher`` (Pyserini's ``FaissSearcher`` over one index or its shards),
``run_topics``, ``time_queries`` and the CLI ``python -m xqg_tevatron.search``;
``query_encoder``: the Pyserini ``QueryEncoder`` (torch / ONNX / ONNX int8);
``latency``: the per-query latency report; ``translate``: the query-translation baseline.
"""
