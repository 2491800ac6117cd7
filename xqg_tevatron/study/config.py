"""Study configuration (YAML) as dataclasses, and the grid of cells it expands to."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import yaml

from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES


@dataclass
class TrainSweep:
    """Models to compare: the base encoder untouched, plus one fine-tuned model per code-switch p
    and seed (``seeds``: each varies the data order and the code-switching draws; empty: one
    model per p at ``seed``, named ``pP`` as before)."""

    include_base: bool = True
    p: list[float] = field(default_factory=list)
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    english_queries: bool = True  # train on English queries (code-switched), evaluate on native ones
    switch_passages: bool = False
    max_steps: int = 40
    batch_size: int = 8
    train_n_passages: int = 2
    learning_rate: float = 1e-5
    temperature: float = 0.01
    q_max_len: int = 32
    p_max_len: int = 96
    seed: int = 42
    seeds: list[int] = field(default_factory=list)


@dataclass
class XqgSweep:
    alpha: list[float] = field(default_factory=lambda: [0.0, 0.01])
    n_per_lang: list[int] = field(default_factory=lambda: [5])
    aggregation: list[str] = field(default_factory=lambda: ["sum"])
    multi_vector: bool = False  # also a multi-vector index per n_per_lang
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))


@dataclass
class StudyConfig:
    name: str = "study"
    output: str = "runs/study"
    encoder: str = "demo"  # "demo" = the offline multilingual-e5-small, or a model directory
    data: str = "default"  # "default": the embedded XOR-format set; "xquad": real XQuAD questions
    xquad: str = "dev"  # dev: the half shipped in the package; full: the official files; or a folder
    article_folds: int = 2  # xquad: articles split round robin; train on the other folds' English questions
    test_fold: int = 1  # xquad: the fold whose questions are evaluated (never trained on)
    word_lists: list[str] = field(default_factory=list)  # LANG=PATH or "freedict", for generator/switching/translation
    p_max_len: Optional[int] = None  # passage tokens when indexing (default: train.p_max_len; XQuAD needs ~256)
    generator: str = "dictionary"  # dictionary | path of a trained seq2seq generator
    generated_n_per_lang: int = 5
    train: TrainSweep = field(default_factory=TrainSweep)
    xqg: XqgSweep = field(default_factory=XqgSweep)
    index_types: list[str] = field(default_factory=lambda: ["flat"])
    query_translation_baseline: bool = True
    hits: int = 100
    latency_queries: int = 100
    # query encoder for effectiveness and latency alike: torch | onnx | onnx-int8 | pyserini
    # (default: the search stage's, search.searcher.DEFAULT_QUERY_ENCODER)
    query_encoder: Optional[str] = None
    threads: int = 1
    batch_size: int = 64

    @classmethod
    def from_yaml(cls, path: str | Path) -> "StudyConfig":
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        cfg = _build(cls, raw, str(path))
        if cfg.data not in ("default", "xquad"):
            raise ValueError(f"{path}: data must be 'default' or 'xquad', got {cfg.data!r}")
        from xqg_tevatron.search.searcher import DEFAULT_QUERY_ENCODER, QUERY_ENCODERS

        cfg.query_encoder = cfg.query_encoder or DEFAULT_QUERY_ENCODER
        if cfg.query_encoder not in QUERY_ENCODERS:
            raise ValueError(f"{path}: query_encoder must be one of {QUERY_ENCODERS}, got {cfg.query_encoder!r}")
        if cfg.data == "xquad" and not 0 <= cfg.test_fold < cfg.article_folds:
            raise ValueError(f"{path}: test_fold must be in [0, article_folds)")
        return cfg


def _build(cls, raw: dict, where: str):
    known = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        sub = {"train": TrainSweep, "xqg": XqgSweep}.get(key) if cls is StudyConfig else None
        kwargs[key] = _build(sub, value or {}, f"{where}:{key}") if sub else value
    return cls(**kwargs)


@dataclass(frozen=True)
class Cell:
    """One measured system: a model x an index recipe (or the query-translation baseline).

    ``mode`` is the index's ``vector_mode`` (``fused`` / ``multi``) or ``translate`` (the plain
    index, searched with dictionary-translated queries); ``aggregation`` is None where no
    generated query enters the vectors (plain, multi-vector, translate)."""

    model: str  # "base", "p0.3" or "p0.3-s2"
    mode: str  # fused | multi | translate
    alpha: float
    n_per_lang: int
    aggregation: Optional[str]
    index_type: str

    @property
    def index_mode(self) -> str:
        return "fused" if self.mode == "translate" else self.mode

    @property
    def index_alpha(self) -> float:
        return 0.0 if self.mode == "translate" else self.alpha

    @property
    def cell_id(self) -> str:
        return (f"{self.model}__{self.mode}__a{self.alpha:g}__n{self.n_per_lang}__{self.aggregation or 'none'}"
                f"__{self.index_type}")

    @property
    def index_key(self) -> str:
        """Cells sharing an index (translate reuses the plain one)."""
        if self.index_mode == "fused" and self.index_alpha == 0:
            return f"{self.model}__plain__{self.index_type}"
        return (f"{self.model}__{self.index_mode}__a{self.index_alpha:g}__n{self.n_per_lang}__"
                f"{self.aggregation or 'none'}__{self.index_type}")


def model_name(p: float, seed: Optional[int] = None) -> str:
    """``p0.25`` (one seed) or ``p0.25-s2`` (one of ``train.seeds``)."""
    return f"p{p:g}" if seed is None else f"p{p:g}-s{seed}"


def parse_model(name: str) -> tuple[Optional[float], Optional[int]]:
    """(code-switch p, seed) of a model name; (None, None) for ``base``, seed None without one."""
    if name == "base":
        return None, None
    p, _, seed = name[1:].partition("-s")
    return float(p), int(seed) if seed else None


def model_names(cfg: StudyConfig) -> list[str]:
    seeds = cfg.train.seeds or [None]
    return (["base"] if cfg.train.include_base else []) + [model_name(p, s) for p in cfg.train.p for s in seeds]


def expand(cfg: StudyConfig) -> list[Cell]:
    cells: list[Cell] = []
    for model, index_type in itertools.product(model_names(cfg), cfg.index_types):
        cells.append(Cell(model, "fused", 0.0, 0, None, index_type))
        for alpha, n, agg in itertools.product(cfg.xqg.alpha, cfg.xqg.n_per_lang, cfg.xqg.aggregation):
            if alpha > 0:
                cells.append(Cell(model, "fused", alpha, n, agg, index_type))
        if cfg.xqg.multi_vector:
            cells += [Cell(model, "multi", 0.0, n, None, index_type) for n in cfg.xqg.n_per_lang]
        if cfg.query_translation_baseline:
            cells.append(Cell(model, "translate", 0.0, 0, None, index_type))
    return cells
