"""Evaluation: Pyserini's trec_eval per query/language and the official XOR-Retrieve R@kt."""
