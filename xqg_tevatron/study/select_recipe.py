"""Pick an xQG recipe on real questions by article-level cross-validation, never on the
synthetic set.

    python -m xqg_tevatron.study.select_recipe [--xquad dev] \\
        --generated cldr=runs/dev/dict_cldr.jsonl freedict=runs/dev/dict_freedict.jsonl \\
        --output runs/dev/recipe.json

Why in-process: the grid (generator x aggregation x alpha x n per language) has dozens of
recipes; every one is the same passage, query and generated-query vectors recombined by
:func:`xqg_tevatron.xqg.fusion.fuse`, so each text is encoded once and each recipe is one
matrix product.  The recipe it recommends is then built and measured through the real
pipeline (``driver.encode``, the search stage over Pyserini's ``FaissSearcher``, ``trec_eval``) by
the demo.

Protocol: the articles are split round robin into ``--folds`` folds; for each fold the recipe
with the best MRR@100 (macro over languages) on the *other* folds' questions is chosen and
scored on this fold's questions.  The cross-validated MRR is the mean of those held-out
scores, compared with plain on the same questions.  ``plain`` (alpha 0) is itself a
candidate, so the selection can say "do not augment".  The recommended recipe is the best on
all questions, reported beside the cross-validated estimate.
"""
from __future__ import annotations

import itertools
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from xqg_tevatron.cli import FlagParser
from xqg_tevatron.runtime.atomic_io import atomic_write_text
from xqg_tevatron.models import resolve_model
from xqg_tevatron.corpus import iter_passages
from xqg_tevatron.data.xquad import XquadQuestion, article_folds, gold_generated_queries
from xqg_tevatron.xqg.fusion import fuse_grouped
from xqg_tevatron.xqg.components import QUERY_FILTERS, layout_queries, rank_by_similarity

DEPTH = 100


@dataclass(frozen=True)
class Recipe:
    generator: Optional[str]  # name of a generated-query file; None for plain
    aggregation: Optional[str]  # None for plain
    alpha: float
    n_per_lang: int
    query_filter: str = "none"  # "similarity": the n most similar to the passage (doc2query--), not the first n

    @property
    def label(self) -> str:
        if self.alpha == 0:
            return "plain"
        return (f"{self.generator} {self.aggregation} a={self.alpha:g} n={self.n_per_lang}"
                + (" filtered" if self.query_filter == "similarity" else ""))


PLAIN = Recipe(None, None, 0.0, 0)


def recipe_grid(generators: Sequence[str], alphas: Sequence[float], aggregations: Sequence[str],
                ns: Sequence[int], filters: Sequence[str] = ("none",)) -> list[Recipe]:
    grid = [PLAIN]
    for g, agg, a, n, f in itertools.product(generators, aggregations, alphas, ns, filters):
        if a > 0:
            grid.append(Recipe(g, agg, a, n, f))
    return grid


def reciprocal_ranks(queries: np.ndarray, passages: np.ndarray, gold: np.ndarray, depth: int = DEPTH) -> np.ndarray:
    """RR@depth of each query's gold passage row under inner product (a passage tied with the gold one
    does not push it down; real-valued scores practically never tie)."""
    scores = queries @ passages.T
    gold_scores = scores[np.arange(len(gold)), gold]
    rank = (scores > gold_scores[:, None]).sum(axis=1) + 1
    return np.where(rank <= depth, 1.0 / rank, 0.0)


def macro_mean(values: np.ndarray, langs: np.ndarray, mask: np.ndarray) -> float:
    """Mean per language, then over languages (the tables' Avg)."""
    per = [values[mask & (langs == l)].mean() for l in np.unique(langs[mask])]
    return float(np.mean(per))


def cross_validate(rr: dict[Recipe, np.ndarray], langs: np.ndarray, fold_of_question: np.ndarray,
                   n_folds: int) -> tuple[list[dict], np.ndarray]:
    """Per fold, the recipe best on the other folds, scored on this one; and each question's
    RR under the recipe chosen without its fold (what the cross-validated estimate averages)."""
    plain = next(r for r in rr if r.alpha == 0)
    out = []
    held_out = np.zeros(len(langs))
    for f in range(n_folds):
        test = fold_of_question == f
        chosen = max(rr, key=lambda r: (macro_mean(rr[r], langs, ~test), r.alpha == 0))
        held_out[test] = rr[chosen][test]
        out.append({"fold": f, "questions": int(test.sum()), "chosen": chosen.label,
                    "chosen_mrr": macro_mean(rr[chosen], langs, test), "plain_mrr": macro_mean(rr[plain], langs, test)})
    return out, held_out


def against_plain(plain: np.ndarray, other: np.ndarray, questions: list[XquadQuestion]) -> dict:
    """``evaluation.significance.compare``: a question's translations resampled together."""
    from xqg_tevatron.evaluation.significance import compare

    return compare(plain, other, [q.squad_id for q in questions], [q.lang for q in questions], "RR@100").record()


def filter_tests(rr: dict[Recipe, np.ndarray], langs: np.ndarray, fold_of: np.ndarray, n_folds: int,
                 questions: list[XquadQuestion], ns: Sequence[int]) -> dict:
    """The similarity filter against none: (a) cross-validation over the whole grid against
    cross-validation over the unfiltered recipes only, held-out scores compared question by
    question (what decides whether the filter is recommended); (b) per n, the best unfiltered
    recipe at that n (on all questions: descriptive) against the same recipe filtered."""
    from xqg_tevatron.evaluation.significance import compare

    everyone = np.ones(len(langs), bool)
    clusters = [q.squad_id for q in questions]
    unfiltered = {r: v for r, v in rr.items() if r.query_filter == "none"}
    _, with_filter = cross_validate(rr, langs, fold_of, n_folds)
    _, without = cross_validate(unfiltered, langs, fold_of, n_folds)
    out = {"cross_validated": compare(without, with_filter, clusters, list(langs), "RR@100").record(), "per_n": {}}
    for n in ns:
        at_n = [r for r in unfiltered if r.alpha > 0 and r.n_per_lang == n]
        if not at_n:
            continue
        best = max(at_n, key=lambda r: macro_mean(rr[r], langs, everyone))
        twin = Recipe(best.generator, best.aggregation, best.alpha, n, "similarity")
        if twin in rr:
            out["per_n"][str(n)] = compare(rr[best], rr[twin], clusters, list(langs), "RR@100").record() | {
                "label": best.label}
    return out


def score_recipes(encoder, passages_file: Path, questions: list[XquadQuestion], generated: dict[str, Path],
                  grid: list[Recipe], branch: str = "query", gold_folds: int = 0) -> dict[Recipe, np.ndarray]:
    """RR@100 of every question under every recipe.  ``gold_folds`` > 0 adds the generator
    ``gold``: the other real questions of each paragraph, each question scored against the
    fusion that left its own fold out (as the demo does)."""
    passages = list(iter_passages([passages_file]))
    row = {p.docid: i for i, p in enumerate(passages)}
    p_vecs = encoder.encode([p.full_text() for p in passages], is_query=False, desc="passages")
    q_vecs = encoder.encode([q.question for q in questions], is_query=True, desc="questions")
    gold = np.array([row[q.docid] for q in questions])
    everyone = np.ones(len(questions), bool)
    # generator -> [(questions scored, generated queries per passage row)]
    sources: dict[str, list[tuple[np.ndarray, list[dict]]]] = {}
    for name, path in generated.items():
        recs = {p.docid: p.generated_queries or {} for p in iter_passages([path])}
        missing = set(row) - set(recs)
        if missing:
            raise ValueError(f"{path}: no generated queries for {len(missing)} passage(s), e.g. {sorted(missing)[:3]}")
        sources[name] = [(everyone, [recs[p.docid] for p in passages])]
    if gold_folds:
        positions = np.array([q.position for q in questions])
        sources["gold"] = []
        for k in range(gold_folds):
            table = {p.docid: p.generated_queries for p in gold_generated_queries(passages, questions, gold_folds, k)}
            sources["gold"].append((positions % gold_folds == k, [table[p.docid] for p in passages]))
    cache: dict[str, np.ndarray] = {}
    out = {}
    for recipe in grid:
        if recipe.alpha == 0:
            out[recipe] = reciprocal_ranks(q_vecs, p_vecs, gold)
            continue
        rr = np.zeros(len(questions))
        filtered = recipe.query_filter == "similarity"
        for scored, table in sources[recipe.generator]:
            # the encode's own rule: each passage's first n per language, or (filtered) every
            # query ranked by similarity to its passage and the n most similar kept
            layout = layout_queries(table, None, 0 if filtered else recipe.n_per_lang)
            todo = list(dict.fromkeys(t for t in layout.texts if t not in cache))
            if todo:
                cache.update(zip(todo, encoder.encode(todo, is_query=branch == "query", desc="generated queries",
                                                      max_len=encoder.config.q_max_len)))
            gq = np.stack([cache[t] for t in layout.texts]) if layout.texts else np.zeros((0, p_vecs.shape[1]), np.float32)
            keep = np.ones(len(layout.texts), bool)
            if filtered:
                keep = rank_by_similarity(layout, gq, p_vecs).position < recipe.n_per_lang
            counts = np.bincount(layout.owner[keep], minlength=len(passages))
            fused = fuse_grouped(p_vecs, gq[keep], counts.tolist(), recipe.alpha, recipe.aggregation)
            rr[scored] = reciprocal_ranks(q_vecs[scored], fused, gold[scored])
        out[recipe] = rr
    return out


def main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.cli import run_main

    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    from xqg_tevatron.data.irds import xquad_files
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

    parser = FlagParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", nargs="+", required=True, help="NAME=FILE (published xQG jsonl over XQuAD)")
    parser.add_argument("--gold_folds", type=int, default=2,
                        help="also score the gold generator (other real questions of the paragraph, leaving the "
                             "question's fold out); it is a ceiling, never a candidate for recommendation; 0 = off")
    parser.add_argument("--encoder", help="model directory (default: the demo encoder)")
    parser.add_argument("--languages", nargs="+", help="question languages (default: every one the XQuAD files hold)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--aggregations", nargs="+", default=["mean", "sum"])
    parser.add_argument("--n_per_lang", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--query_filters", nargs="+", choices=QUERY_FILTERS, default=["none"],
                        help="also try the encode's --query_filter similarity (doc2query--) at every recipe; it is "
                             "recommended only if cross-validation with it beats cross-validation without it")
    parser.add_argument("--folds", type=int, default=4, help="article folds")
    parser.add_argument("--p_max_len", type=int, default=256)
    parser.add_argument("--generated_query_branch", choices=["query", "passage"], default="query")
    parser.add_argument("--output", required=True)
    parser.add_argument("--xquad", default="dev", help="dev: the half shipped in the package (default); full: the "
                                                       "official 48-article files; or a folder of xquad.LANG.json")
    parser.add_argument("--record", help="also write the result with its provenance (commit, machine, load) here: "
                                         "the artifact docs/results.md renders the selection from")
    args = parser.parse_args(argv)
    from xqg_tevatron.provenance import Provenance

    provenance = Provenance(["python -m xqg_tevatron.study.select_recipe", *(argv if argv is not None else sys.argv[1:])])
    generated = {}
    for item in args.generated:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            raise ValueError(f"--generated takes NAME=FILE of an existing file, got {item!r}")
        generated[name] = Path(path)
    files = xquad_files(args.xquad)
    args.languages = args.languages or files.languages()
    questions = files.questions(args.languages)
    folds = article_folds(files.articles(), args.folds)
    encoder = DenseEncoder(resolve_model(args.encoder, "encoder model") if args.encoder else str(build_demo_encoder()),
                           config=EncodeConfig(batch_size=64, p_max_len=args.p_max_len, show_progress=False))
    corpus = Path(args.output).with_name("xquad_corpus.jsonl")
    from xqg_tevatron.data.xor_format import write_corpus_jsonl

    write_corpus_jsonl(files.passages(), corpus)
    grid = recipe_grid(list(generated) + (["gold"] if args.gold_folds else []), args.alphas, args.aggregations,
                       args.n_per_lang, args.query_filters)
    rr = score_recipes(encoder, corpus, questions, generated, grid, args.generated_query_branch, args.gold_folds)
    ceiling = {r: v for r, v in rr.items() if r.generator == "gold"}
    rr = {r: v for r, v in rr.items() if r.generator != "gold"}  # what an offline user can actually build
    langs = np.array([q.lang for q in questions])
    fold_of = np.array([folds[q.article] for q in questions])
    everyone = np.ones(len(questions), bool)
    filter_test = None
    if "similarity" in args.query_filters:
        filter_test = filter_tests(rr, langs, fold_of, args.folds, questions, args.n_per_lang)
        if filter_test["cross_validated"]["verdict"] != "better":  # a candidate only if it wins under CV
            rr = {r: v for r, v in rr.items() if r.query_filter == "none"}
    ranked = sorted(rr, key=lambda r: -macro_mean(rr[r], langs, everyone))
    cv, held_out = cross_validate(rr, langs, fold_of, args.folds)
    best = ranked[0]
    tests = {"cross_validated": against_plain(rr[grid[0]], held_out, questions)}
    if ceiling:
        top = max(ceiling, key=lambda r: macro_mean(ceiling[r], langs, everyone))
        tests["gold"] = against_plain(rr[grid[0]], ceiling[top], questions) | {"label": top.label}
    if filter_test is not None:
        tests["query_filter"] = filter_test
    result = {
        "generated_query_branch": args.generated_query_branch,
        "questions": len(questions), "articles": len(folds), "folds": args.folds, "languages": args.languages,
        "recommended": asdict(best) | {"label": best.label},
        "recommended_mrr": macro_mean(rr[best], langs, everyone),
        "plain_mrr": macro_mean(rr[grid[0]], langs, everyone),
        "cv": cv, "cv_mrr": float(np.mean([c["chosen_mrr"] for c in cv])),
        "cv_plain_mrr": float(np.mean([c["plain_mrr"] for c in cv])),
        # the held-out choice against plain on every question, and the best gold recipe (chosen on
        # these questions: a ceiling, not an estimate): translations of a question as one cluster
        "significance": tests,
        "all": [{"label": r.label, "mrr": macro_mean(rr[r], langs, everyone),
                 "per_language": {l: float(rr[r][langs == l].mean()) for l in args.languages}} for r in ranked],
        "gold": [{"label": r.label, "mrr": macro_mean(v, langs, everyone),
                  "per_language": {l: float(v[langs == l].mean()) for l in args.languages}}
                 for r, v in sorted(ceiling.items(), key=lambda kv: -macro_mean(kv[1], langs, everyone))],
    }
    atomic_write_text(Path(args.output), json.dumps(result, indent=2, ensure_ascii=False))
    if args.record:
        provenance.write(Path(args.record), result)
    from xqg_tevatron.tables import format_table

    print(format_table(["recipe", "MRR@100"], [[row["label"], row["mrr"]] for row in result["all"][:10]]))
    worst = result["all"][-1]
    print(f"... {len(result['all']) - 10} more; worst: {worst['label']} {worst['mrr']:.3f}")
    if result["gold"]:
        print(f"gold ceiling: best {result['gold'][0]['label']} {result['gold'][0]['mrr']:.3f}")
    for c in cv:
        print(f"fold {c['fold']}: chose {c['chosen']:<28} held-out MRR {c['chosen_mrr']:.3f} (plain {c['plain_mrr']:.3f})")
    print(f"cross-validated MRR {result['cv_mrr']:.3f} vs plain {result['cv_plain_mrr']:.3f}; "
          f"recommended on all questions: {best.label}")
    from xqg_tevatron.evaluation.significance import verdict_line

    print(f"held-out choice against plain: {verdict_line(tests['cross_validated'])}")
    if "gold" in tests:
        print(f"gold ceiling ({tests['gold']['label']}) against plain: {verdict_line(tests['gold'])}")
    if "query_filter" in tests:
        f = tests["query_filter"]
        print(f"cross-validated with the similarity filter against without it: {verdict_line(f['cross_validated'])}")
        for n, r in f["per_n"].items():
            print(f"  n={n}, {r['label']} filtered against unfiltered: {verdict_line(r)}")
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
