"""The encode/fuse + index stage's flags, declared once as dataclasses (Tevatron's
``arguments.py`` habit) and shared by ``driver.encode`` (HfArgumentParser), ``driver.merge`` and
``job`` (argparse, through ``cli.add_dataclass_arguments``): one spelling, one default, one help
text for each."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from xqg_tevatron.indexing.faiss_index import INDEX_TYPES
from xqg_tevatron.runtime.executors import EXECUTOR_FLAGS
from xqg_tevatron.xqg.fusion import PAPER, Fusion, check_aggregation

FUSION_PRESETS = {"recommended": Fusion(), "paper": PAPER}

# Flags that change how an encode or the job runs, never what it writes: left out of the request
# either command records, so a rerun that differs only in them finds its output up to date.  One
# list for both commands; a shard's flags are among them (the merged index is the same).
OPERATIONAL = frozenset({"overwrite", "keep_work_dir", "no_merge", "quiet", "verbose", "debug", "num_threads",
                         "shard_id", "num_shards", "max_share_without_queries", *EXECUTOR_FLAGS})


@dataclass
class FusionArguments:
    """How generated-query vectors are fused.  None: not given (the preset's value; for a
    re-fuse, the encode's)."""

    fusion_preset: Optional[str] = field(default=None, metadata={
        "help": "recommended (default: mean, alpha 0.2, 5 per language; chosen on the XQuAD dev half) | paper "
                "(sum, alpha 0.01, 5 per language: the paper's, tuned for un-normalised mDPR); --alpha, "
                "--aggregation and --n_per_lang given override it"})
    alpha: Optional[float] = field(default=None, metadata={
        "help": "xQG weight: (1-alpha)*e_p + alpha*agg(e_q); 0 = plain index (default: the preset's)"})
    aggregation: Optional[str] = field(default=None, metadata={"help": "sum | mean (default: the preset's)"})

    def __post_init__(self):  # a one-line error, as for every other value (argparse's choices print usage)
        if self.fusion_preset is not None and self.fusion_preset not in FUSION_PRESETS:
            raise ValueError(f"--fusion_preset must be one of {', '.join(FUSION_PRESETS)}, got {self.fusion_preset!r}")
        if self.aggregation is not None:
            check_aggregation(self.aggregation)

    def fusion(self, base: Optional[Fusion] = None, **given) -> Fusion:
        """The one fusion value: ``base`` (default: the preset), then the preset if one was given,
        then the values given on the command line (``given``: the stage's other fusion flags)."""
        start = FUSION_PRESETS[self.fusion_preset] if self.fusion_preset else (base or Fusion())
        return start.given(alpha=self.alpha, aggregation=self.aggregation, **given)


@dataclass
class IndexArguments:
    """The FAISS index written (``indexing.faiss_index.IndexConfig``)."""

    index_type: str = field(default="flat", metadata={"help": f"one of {INDEX_TYPES} (ivfpq = ivf-pq); each is a faiss "
                                                              "factory string with its settings (the manifest records it)"})
    index_factory: Optional[str] = field(default=None, metadata={
        "help": "any faiss index_factory string instead of --index_type, e.g. IVF{nlist}_HNSW32,SQ8 ({nlist}: about "
                "4*sqrt(rows), the named types' rule); --ivf_nprobe and --hnsw_ef_* apply where its index has them"})
    index_params: Optional[str] = field(default=None, metadata={
        "help": "faiss ParameterSpace settings applied to the index, e.g. efConstruction=200,efSearch=512 or "
                "nprobe=64,quantizer_efSearch=64; search settings are stored in the index file (Pyserini uses them)"})
    index_shards: int = field(default=1, metadata={"help": "write the index as N Pyserini index folders of "
                                                           "consecutive rows, searched together by the search stage"})
    hnsw_m: int = field(default=32)
    hnsw_ef_construction: int = field(default=200)
    hnsw_ef_search: int = field(default=128, metadata={"help": "stored in the index: Pyserini searches with it"})
    ivf_nlist: int = field(default=0, metadata={"help": "0: about 4*sqrt(rows)"})
    ivf_nprobe: int = field(default=32, metadata={"help": "stored in the index: Pyserini searches with it"})
    pq_m: int = field(default=0, metadata={"help": "ivf-pq bytes per vector (0: dim/4)"})


@dataclass
class StoreArguments:
    """The store (work dir) of units and how this process works on it: the flags ``driver.encode``
    and the job share, declared once."""

    store_dtype: str = field(default="float32", metadata={
        "help": "float32 | float16: what the work dir keeps vectors in (float16 halves it; re-fuses widen back)"})
    query_filter: str = field(default="none", metadata={
        "help": "none | similarity: a passage's first N generated queries per language, or the N most similar to "
                "it under the encoder (doc2query--'s filter; every query is encoded)"})
    unit_size: int = field(default=10000, metadata={"help": "passages per resumable unit",
                                                     "aliases": ["--chunk_size", "--chunk-size"]})
    component_n_per_lang: Optional[list[int]] = field(default=None, metadata={
        "nargs": "*", "help": "also store the query sums of the first N per language for these N (0 = all), so "
                              "driver.merge can re-fuse at any of them; --n_per_lang is always stored"})
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = cores / processes)"})
    shard_id: int = field(default=0, metadata={"help": "this process's shard (units c with c %% N == I)"})
    num_shards: int = field(default=1, metadata={"help": "shards of the job (e.g. a SLURM array's size)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing index and work dir"})
