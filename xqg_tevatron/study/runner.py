"""Run every cell of a study: train (code-switched) models, build indexes, search, evaluate, time.

Every artefact is written once and reused on rerun: generated queries, trained models
(``models/<name>/``), indexes (``indexes/<key>/``) and one JSON per finished cell
(``cells/<cell_id>.json``), so an interrupted study resumes where it stopped and a rerun of a
finished one only redraws the table and plot.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from xqg_tevatron.runtime.atomic_io import atomic_open, atomic_write_text, dumps_json
from xqg_tevatron.runtime.workdir import claim_work_dir, fingerprint_inputs, release
from xqg_tevatron.training.codeswitch import CodeSwitchConfig, CodeSwitchedGroups, CodeSwitcher
from xqg_tevatron.corpus import iter_passages, read_topics
from xqg_tevatron.data.xor_format import PreparedDataset, prepare_default, read_qrels, read_questions, write_tevatron_train
from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
from xqg_tevatron.evaluation.table import evaluate_run_table
from xqg_tevatron.indexing.faiss_index import IndexConfig
from xqg_tevatron.search.searcher import IndexSearcher, SearchConfig, run_topics, set_process_threads, time_queries
from xqg_tevatron.study.config import Cell, StudyConfig, expand, model_names, parse_model
from xqg_tevatron.indexing.indexer import RunConfig, XqgConfig
from xqg_tevatron.indexing.request import index_corpus
from xqg_tevatron.xqg.fusion import Fusion
from xqg_tevatron.indexing.manifest import INDEX_MANIFEST, read_manifest

logger = logging.getLogger(__name__)
COLUMNS = ["cell_id", "model", "code_switch_p", "seed", "switched_share", "lexical_overlap", "mode", "alpha",
           "n_per_lang", "aggregation", "index_type", "MRR", "R@5", "R@10", "R@100", "R@2kt", "R@5kt", "p50_ms", "p95_ms", "qps",
           "query_encoder", "index_mb", "rows", "build_s"]


class CachedEncoder:
    """A DenseEncoder that remembers every text it encoded, so the many index recipes of one
    model encode each passage and generated query once; charges each build the measured
    per-text encoding cost so build times stay honest."""

    def __init__(self, inner: DenseEncoder):
        self.inner = inner
        self.cache: dict[tuple, np.ndarray] = {}
        self.seconds_per_text = {True: 0.0, False: 0.0}
        self.texts_asked = {True: 0, False: 0}  # since the last charge()

    def charge(self) -> dict:
        """What the texts asked for since the last charge would cost encoded afresh, at the
        measured per-text cost: the honest build time of an index whose texts were cached (the
        manifest's own ``encode_seconds`` is the wall time, which cache hits make small)."""
        cost = sum(self.texts_asked[q] * self.seconds_per_text[q] for q in (True, False))
        self.texts_asked = {True: 0, False: 0}
        return {"encode_seconds_uncached": round(cost, 3)}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, is_query, desc=None, max_len=None):
        key = (is_query, max_len)
        self.texts_asked[is_query] += len(texts)
        missing = list(dict.fromkeys(t for t in texts if (key, t) not in self.cache))
        if missing:
            t0 = time.perf_counter()
            vecs = self.inner.encode(missing, is_query, desc, max_len=max_len)
            self.seconds_per_text[is_query] = (time.perf_counter() - t0) / len(missing)
            self.cache.update({(key, t): v for t, v in zip(missing, vecs)})
        if not texts:
            return np.zeros((0, self.inner.dim), np.float32)
        return np.stack([self.cache[(key, t)] for t in texts])


class Study:
    def __init__(self, cfg: StudyConfig):
        self.cfg = cfg
        self.out = Path(cfg.output).resolve()
        self.encoders: dict[str, CachedEncoder] = {}

    # ------------------------------------------------------------------ inputs
    def base_encoder(self) -> Path:
        if self.cfg.encoder == "demo":
            from xqg_tevatron.demo_encoder import build_demo_encoder

            return build_demo_encoder()
        return Path(self.cfg.encoder).resolve()

    def data(self) -> PreparedDataset:
        if not hasattr(self, "_data"):
            self._data = prepare_default(self.out / "data") if self.cfg.data == "default" else self._xquad()
        return self._data

    def _xquad(self) -> PreparedDataset:
        """XQuAD split by article: English questions of the training folds to fine-tune on,
        native questions of ``test_fold`` to evaluate (all paragraphs stay in the corpus)."""
        from xqg_tevatron.data.xquad import article_folds, prepare_xquad

        files = self._xquad_files()
        folds = article_folds(files.articles(), self.cfg.article_folds)
        test = [a for a, f in folds.items() if f == self.cfg.test_fold]
        train = [a for a, f in folds.items() if f != self.cfg.test_fold]
        return prepare_xquad(self.out / "data", files, test_articles=test, train_articles=train,
                             n_negatives=self.cfg.train.train_n_passages + 2)

    def _xquad_files(self):
        """The config's ``xquad``: ``dev`` (the shipped half), ``full`` (the official files) or a folder."""
        from xqg_tevatron.data.irds import xquad_files

        return xquad_files(self.cfg.xquad)

    def word_lists(self) -> dict[str, list[str]]:
        from xqg_tevatron.words.lexicon import resolve_word_lists

        return resolve_word_lists(self.cfg.word_lists, sorted({*self.cfg.xqg.languages, *self.cfg.train.languages}))

    def generated_corpus(self) -> Path:
        path = self.out / "data" / "corpus.xqg.jsonl"
        if path.exists():
            return path
        n = str(self.cfg.generated_n_per_lang)
        if self.cfg.generator == "dictionary":
            cmd = ["-m", "xqg_tevatron.generate.dictionary", "--corpus", str(self.data().corpus_file),
                   "--n_per_lang", n]
        else:
            cmd = ["-m", "xqg_tevatron.generate.seq2seq", "generate", "--model", self.cfg.generator, "--corpus",
                   str(self.data().corpus_file), "--n_per_lang", n]
        if self.cfg.word_lists and self.cfg.generator == "dictionary":
            cmd += ["--word_lists", *self.cfg.word_lists]
        _run([sys.executable, *cmd, "--output", str(path), "--languages", *self.cfg.xqg.languages])
        return path

    # ------------------------------------------------------------------ models
    def model_dir(self, name: str) -> Path:
        return self.base_encoder() if name == "base" else self.out / "models" / name

    def train_file(self) -> Path:
        if self.cfg.data == "xquad":
            return self.data().train_jsonl  # English questions of the training articles
        path = self.out / "data" / "train_study" / "train.jsonl"
        if not path.exists():
            d = self.data()
            corpus = {p.docid: p for p in iter_passages([d.corpus_file])}
            write_tevatron_train(read_questions(d.questions_train), read_qrels(d.questions_train.parent / "qrels.train.txt"),
                                 corpus, path, n_negatives=self.cfg.train.train_n_passages + 2,
                                 english_queries=self.cfg.train.english_queries)
        return path

    def train(self, name: str) -> None:
        out = self.model_dir(name)
        if name == "base" or (out / "train_done.json").exists():
            return
        t = self.cfg.train
        p, seed = parse_model(name)
        cmd = [sys.executable, "-m", "xqg_tevatron.driver.train", "--model_name_or_path", str(self.base_encoder()),
               "--output_dir", str(out), "--overwrite_output_dir", "--train_files", str(self.train_file()),
               "--per_device_train_batch_size", str(t.batch_size), "--train_n_passages", str(t.train_n_passages),
               "--max_steps", str(t.max_steps), "--learning_rate", str(t.learning_rate), "--temperature",
               str(t.temperature), "--q_max_len", str(t.q_max_len), "--p_max_len", str(t.p_max_len),
               "--warmup_ratio", "0.1", "--seed", str(t.seed if seed is None else seed), "--save_strategy", "no",
               "--report_to", "none",
               "--logging_steps", "10", "--disable_tqdm", "true", "--dataset_proc_num", "1",
               "--code_switch_p", str(p), "--code_switch_languages", *t.languages]
        if seed is not None:  # a seed of train.seeds also draws the code-switching
            cmd += ["--code_switch_seed", str(seed)]
        if t.switch_passages:
            cmd.append("--code_switch_passages")
        lists = [f"{lang}={path}" for lang, paths in self.word_lists().items() if lang in t.languages for path in paths]
        if lists:
            cmd += ["--code_switch_word_lists", *lists]
        started = time.time()
        _run(cmd)
        atomic_write_text(out / "train_done.json", json.dumps({"seconds": round(time.time() - started, 1)}))

    def overlap_stats(self, name: str) -> dict:
        """Achieved switch share and lexical overlap of the training queries for this model."""
        recorded = self.model_dir(name) / "code_switch_stats.json"
        if name != "base" and recorded.exists():
            return json.loads(recorded.read_text())
        # base model / p=0: measure the unswitched training data the same way (one pass)
        from xqg_tevatron.tevatron_compat.arguments import XqgDataArguments
        from xqg_tevatron.tevatron_compat.data import load_train_groups

        groups = load_train_groups(XqgDataArguments(train_files=[str(self.train_file())]))
        view = CodeSwitchedGroups(groups, CodeSwitcher(CodeSwitchConfig(p=0.0, languages=tuple(self.cfg.train.languages),
                                                                         word_lists=self.word_lists())))
        for i in range(len(view)):
            view[i]
        return view.stats.summary()

    def encoder(self, name: str) -> CachedEncoder:
        if name not in self.encoders:
            t = self.cfg.train
            self.encoders[name] = CachedEncoder(DenseEncoder(str(self.model_dir(name)), config=EncodeConfig(
                batch_size=self.cfg.batch_size, q_max_len=t.q_max_len, p_max_len=self.cfg.p_max_len or t.p_max_len,
                show_progress=False)))
        return self.encoders[name]

    # ------------------------------------------------------------------ indexes
    def index(self, cell: Cell) -> Path:
        out = self.out / "indexes" / cell.index_key
        if (out / INDEX_MANIFEST).exists():
            return out
        enc = self.encoder(cell.model)
        mode, alpha = cell.index_mode, cell.index_alpha
        xqg = XqgConfig(Fusion(alpha, cell.aggregation or "sum", tuple(self.cfg.xqg.languages), cell.n_per_lang, mode))
        enc.charge()  # start counting this index's texts
        return index_corpus(enc, xqg, [self.generated_corpus()], out, IndexConfig(index_type=cell.index_type),
                            RunConfig(unit_size=100_000, show_progress=False), overwrite=True,
                            extra_manifest=enc.charge)

    # ------------------------------------------------------------------ cells
    def run_cell(self, cell: Cell) -> dict:
        """Search the cell's index (search stage), score the run (evaluate stage), time queries."""
        path = self.out / "cells" / f"{cell.cell_id}.json"
        if path.exists():
            return json.loads(path.read_text())
        self.train(cell.model)
        index_dir = self.index(cell)
        d = self.data()
        translator = None
        if cell.mode == "translate":
            from xqg_tevatron.search.translate import DictionaryTranslator

            translator = DictionaryTranslator(self.cfg.xqg.languages, word_lists=self.word_lists())
        set_process_threads(self.cfg.threads)  # the study is this process's entry point
        searcher = IndexSearcher(index_dir, self.model_dir(cell.model), SearchConfig(
            k=self.cfg.hits, query_encoder=self.cfg.query_encoder, batch_size=self.cfg.batch_size,
            threads=self.cfg.threads), translator)
        topics = read_topics(d.topics_dev)
        # effectiveness: every topic, batch-encoded; latency: one query at a time (encoding
        # included) on the first latency_queries topics, with the same query encoder
        run = run_topics(searcher, topics, self.out / "runs" / f"{cell.cell_id}.trec", tag=cell.cell_id)
        lat = np.array(time_queries(searcher, [t for _, t in topics[: self.cfg.latency_queries or len(topics)]]))
        table = evaluate_run_table(run.run_file, d.qrels_dev, d.questions_dev, ("recall.5,10,100", "recip_rank"),
                                   corpus=[d.corpus_file])
        eff = table.scores["Avg"]
        manifest = read_manifest(index_dir)
        stats = self.overlap_stats(cell.model)
        p, seed = parse_model(cell.model)
        row = {
            "cell_id": cell.cell_id, "model": cell.model, "code_switch_p": p,
            "seed": None if p is None else seed if seed is not None else self.cfg.train.seed,  # base: none
            "switched_share": stats.get("switched_share"), "lexical_overlap": stats.get("lexical_overlap"),
            "mode": cell.mode, "alpha": cell.alpha, "n_per_lang": cell.n_per_lang, "aggregation": cell.aggregation,
            "index_type": cell.index_type, "MRR": eff["recip_rank"], "R@5": eff["recall_5"], "R@10": eff["recall_10"],
            "R@100": eff["recall_100"], "R@2kt": eff["R@2kt"], "R@5kt": eff["R@5kt"],
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "qps": float(1000.0 / lat.mean()), "query_encoder": self.cfg.query_encoder,
            "index_mb": (index_dir / "index").stat().st_size / 2 ** 20, "rows": manifest["rows"],
            "build_s": manifest.get("encode_seconds_uncached", manifest.get("encode_seconds", 0.0))
                       + manifest.get("build_seconds", 0.0),
            "tokenizer_note": "; ".join(table.notes) or None,
            "MRR_per_language": {lang: v["recip_rank"] for lang, v in table.scores.items() if lang != "Avg"},
            "R@5_per_language": {lang: v["recall_5"] for lang, v in table.scores.items() if lang != "Avg"},
            # per question: MRR@100 and R@5, for the tests across levels and seeds (study.levels)
            "per_query": {qid: [m.get("recip_rank", 0.0), m.get("recall_5", 0.0)]
                          for qid, m in sorted(table.per_query.items())},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, dumps_json(row, indent=2))
        return row

    def settings(self) -> dict:
        """What every finished cell depends on: the configuration minus the sweep lists (which a
        rerun may extend) plus a fingerprint of the data files.  A rerun that changes any of it
        is refused, so cells of two different setups never end up in one table."""
        cfg = dataclasses.asdict(self.cfg)
        for key in ("name", "output", "index_types", "query_translation_baseline"):
            cfg.pop(key)
        for key in ("p", "include_base", "seeds"):
            cfg["train"].pop(key)
        for key in ("alpha", "n_per_lang", "aggregation", "multi_vector"):
            cfg["xqg"].pop(key)
        return {"config": cfg, "inputs": fingerprint_inputs(self.input_files())}

    def training_record(self) -> dict:
        """Per fine-tuned model: its training seconds and loss curve (``train_log.json``)."""
        out = {}
        for name in model_names(self.cfg):
            folder = self.model_dir(name)
            if name == "base" or not (folder / "train_done.json").exists():
                continue
            log = folder / "train_log.json"
            out[name] = {**json.loads((folder / "train_done.json").read_text()),
                         "loss": [[e["step"], e["loss"]] for e in (json.loads(log.read_text()) if log.exists() else [])
                                  if "loss" in e]}
        return out

    def summary(self, rows: list[dict], seconds: float) -> dict:
        """``results.json``: the configuration, every cell (without its per-query scores, which
        stay in ``cells/``) and each level against p=0 over seeds (``study.levels``)."""
        from xqg_tevatron.study.levels import compare_levels

        summary = {"config": dataclasses.asdict(self.cfg), "seconds": round(seconds, 1),
                   "training": self.training_record(),
                   "cells": [{k: v for k, v in r.items() if k != "per_query"} for r in rows],
                   "levels": compare_levels(rows, self.data().questions_dev)}
        atomic_write_text(self.out / "results.json", dumps_json(summary, indent=1))
        return summary

    def input_files(self) -> list[Path]:
        if self.cfg.data == "default":
            from xqg_tevatron.data.xor_format import DEFAULT_DIR

            return sorted(p for p in DEFAULT_DIR.iterdir() if p.is_file())
        from xqg_tevatron.data.xquad import XQUAD_LANGUAGES

        files = self._xquad_files()
        return [files.path(lang) for lang in ("en", *XQUAD_LANGUAGES) if files.path(lang).is_file()]

    def run(self, max_cells: Optional[int] = None) -> list[dict]:
        locks = claim_work_dir(self.out, self.settings(), "study", "study configuration or data")
        try:
            return self._run(max_cells)
        finally:
            release(locks)

    def _run(self, max_cells: Optional[int]) -> list[dict]:
        cells = expand(self.cfg)
        for name in model_names(self.cfg):
            self.train(name)
        rows = []
        for i, cell in enumerate(cells):
            if max_cells is not None and i >= max_cells:
                break
            done = (self.out / "cells" / f"{cell.cell_id}.json").exists()
            print(f"[{i + 1}/{len(cells)}] {cell.cell_id}{' (done, skipped)' if done else ''}", flush=True)
            rows.append(self.run_cell(cell))
        write_csv(rows, self.out / "results.csv")
        return rows


def write_csv(rows: list[dict], path: Path) -> None:
    with atomic_open(path, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})


def _run(cmd: list[str]) -> None:
    print("$ " + " ".join(["python"] + cmd[1:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")
