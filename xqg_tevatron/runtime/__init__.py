"""The job runtime every corpus-scale stage runs on: the engine and its executors (units in
corpus order, shards, resume), committed units and their records, the work dir's ownership,
locks and claims, atomic writes and swaps, and the :class:`~xqg_tevatron.runtime.stage.Stage`
template that generation, encoding and the one-command job declare themselves on.  It imports
no stage."""
