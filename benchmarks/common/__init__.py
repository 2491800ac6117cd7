"""What the benchmark scripts share, one job per module: passage sources (``corpora``), retrieval
measures (``metrics``), the faiss sweep (``index_sweep``), random-weight models of published
shapes (``shaped_models``) and their per-unit costs (``unit_costs``), the e5 pack (``e5_pack``),
a tiny BERT (``tiny_models``), the loopback-only network namespace (``netns``), real ``ray start``
clusters (``ray_processes``, used by the tests too), temporaries removed on SIGINT / SIGTERM
(``scratch``) and the ``--quick`` sizes (``quick``)."""
