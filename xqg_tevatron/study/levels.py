"""Each code-switching level against p=0, over seeds: the study's answer with its uncertainty.

Why: one seed of a barely trained model cannot say whether code-switching moves effectiveness.
Per method (plain, xQG, multi-vector, query translation), the fine-tunes of one level (one per
seed) are compared with p=0's fine-tunes under the same method:

* the mean and spread over seeds of the macro-averaged MRR@100 and R@5;
* the difference to p=0 with a 95% interval that resamples both levels' seeds and the questions
  as clusters (``significance.seed_cluster_interval``);
* the paired tests of :mod:`xqg_tevatron.evaluation.significance` over the seed-averaged
  per-query scores (cluster randomisation test and the paper's t-test).

A level is called "better" or "worse" only when the cluster test says so *and* the
seeds-and-questions interval excludes zero; otherwise "no significant difference", with that
interval.  The untrained base model is a level of its own (no seeds), compared with p=0 too:
what the fine-tuning itself adds.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

METRICS = {"MRR@100": 0, "R@5": 1}  # index into a cell's per_query pair
METHODS = {"fused__a0__n0__none": "plain", "multi": "multi-vector", "translate": "query translation"}


def method_of(cell_id: str) -> tuple[str, str]:
    """(key, label) of a cell's method: its cell id without the model."""
    key = cell_id.split("__", 1)[1]
    for prefix, label in METHODS.items():
        if key.startswith(prefix):
            return key, label
    mode, alpha, n, aggregation, _ = key.split("__")
    return key, f"xQG {aggregation} {alpha.replace('a', 'alpha ')} {n.replace('n', 'n ')}"


def spread(values: Sequence[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "per_seed": list(values)}


def level_of(row: dict) -> Optional[float]:
    return row.get("code_switch_p")


def compare_levels(rows: Sequence[dict], questions: Path, resamples: int = 10_000) -> dict:
    """``{method label: {"levels": [level entries in p order], ...}}`` from the study's cell rows
    (each with its ``per_query`` scores) and the questions file (language and source question)."""
    from xqg_tevatron.data.xor_format import read_questions
    from xqg_tevatron.evaluation.significance import compare, macro_weights, seed_cluster_interval

    asked = {q.qid: q for q in read_questions(questions)}
    grouped: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if "per_query" not in row:
            continue
        grouped[method_of(row["cell_id"])][level_of(row)].append(row)
    out = {}
    for (key, label), by_level in sorted(grouped.items()):
        qids = sorted(set.intersection(*(set(r["per_query"]) for runs in by_level.values() for r in runs)))
        clusters = [asked[q].source_question or q for q in qids]
        languages = [asked[q].lang for q in qids]
        weights = macro_weights(languages)

        def scores(runs: list[dict], metric: int) -> np.ndarray:
            return np.array([[r["per_query"][q][metric] for q in qids] for r in sorted(runs, key=lambda r: r["seed"] or 0)])

        reference = by_level.get(0.0)
        levels = []
        for level in sorted(by_level, key=lambda p: -1.0 if p is None else p):
            runs = by_level[level]
            entry = {"p": level, "seeds": sorted(r["seed"] for r in runs if r["seed"] is not None),
                     "switched_share": statistics.fmean(r["switched_share"] or 0.0 for r in runs),
                     "lexical_overlap": statistics.fmean(r["lexical_overlap"] or 0.0 for r in runs)}
            for name, m in METRICS.items():
                entry[name] = spread([float(weights @ s) for s in scores(runs, m)])
            if reference is not None and level != 0.0:
                entry["against_p0"] = {}
                for name, m in METRICS.items():
                    a, b = scores(reference, m), scores(runs, m)
                    test = compare(a.mean(axis=0), b.mean(axis=0), clusters, languages, name, resamples)
                    low, high = seed_cluster_interval(a, b, clusters, languages, resamples)
                    entry["against_p0"][name] = {**test.record(), "seed_ci_low": low, "seed_ci_high": high,
                                                 "verdict": _verdict(test, low, high)}
            levels.append(entry)
        out[label] = {"method": key, "queries": len(qids), "questions": len(set(clusters)), "levels": levels}
    return out


def _verdict(test, low: float, high: float) -> str:
    """The cluster test's verdict, kept only when the seeds-and-questions interval agrees."""
    if test.verdict == "better" and low > 0:
        return "better"
    if test.verdict == "worse" and high < 0:
        return "worse"
    return "no significant difference"


def describe(entry: dict, metric: str = "MRR@100", scale: float = 100.0) -> str:
    """One line for a level against p=0: the difference, the seeds-and-questions interval, the
    tests and the verdict."""
    from xqg_tevatron.evaluation.significance import fmt_p

    r = entry["against_p0"][metric]
    return (f"{r['verdict']} ({scale * r['difference']:+.2f}, 95% CI {scale * r['seed_ci_low']:+.2f} to "
            f"{scale * r['seed_ci_high']:+.2f} over seeds and questions; {fmt_p(r['p_cluster'])} over "
            f"{r['clusters']} questions as clusters, seed-averaged; paired t-test {fmt_p(r['p_t'])})")
