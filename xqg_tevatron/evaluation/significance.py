"""Is one system better than another on the same queries?  The tests the xQG paper and IR
practice use, with the translations of one question treated as one sample.

Why clusters: XQuAD asks every question in 11 languages.  The 11 translations share a passage
and most of their meaning, so they are not 11 independent samples; a test over queries that
ignores this is too sure of itself.  The verdict therefore comes from tests that resample
*questions* (clusters: every translation together):

* a paired randomisation test: each question's difference keeps or flips its sign as a whole
  (``scipy.stats.permutation_test``, ``permutation_type="samples"`` over question sums);
* a bootstrap interval of the difference that draws whole questions (``scipy.stats.bootstrap``,
  paired, BCa).

The two-tailed paired t-test over queries (``scipy.stats.ttest_rel``) is printed beside them as
the paper's figure.  Per-language marks use Holm's correction over the languages.

The statistic is the difference of the macro average over languages (what the tables print as
``Avg``): each query is weighted by ``1 / (languages x queries of its language)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

LEVEL = 0.05  # a verdict of better or worse needs p below this in the cluster-aware test
RESAMPLES = 10_000
SAME = 1e-12  # differences closer than this are one difference (floating-point noise, not spread)


@dataclass(frozen=True)
class Comparison:
    """System B against system A on the same queries (B - A, in the metric's own units)."""

    metric: str
    queries: int
    clusters: int
    difference: float  # of the macro average over languages
    ci_low: float  # 95% bootstrap interval, questions resampled as clusters
    ci_high: float
    p_cluster: float  # paired randomisation test over clusters (two-sided)
    t: Optional[float]  # paired t-test over queries (the xQG paper's test), two-sided; None: no spread
    p_t: float
    resamples: int
    seed: int

    @property
    def verdict(self) -> str:
        """"better", "worse" or "no significant difference", from the cluster-aware test."""
        if self.p_cluster < LEVEL:
            return "better" if self.difference > 0 else "worse"
        return "no significant difference"

    def describe(self, scale: float = 100.0) -> str:
        """One line: the difference, its interval, both p-values and the verdict."""
        t_test = f"paired t-test over {self.queries} queries {fmt_p(self.p_t)}" if self.t is not None else \
            f"paired t-test undefined: every one of the {self.queries} queries moved by the same amount"
        return (f"{self.verdict} ({scale * self.difference:+.2f}, 95% CI {scale * self.ci_low:+.2f} to "
                f"{scale * self.ci_high:+.2f}; {fmt_p(self.p_cluster)} over {self.clusters} questions as clusters; "
                f"{t_test})")

    def record(self) -> dict:
        return {**asdict(self), "verdict": self.verdict, "level": LEVEL}


def fmt_p(p: float) -> str:
    return f"p={p:.2g}" if p >= 0.001 else "p<0.001"


def macro_weights(languages: Sequence[str]) -> np.ndarray:
    """Weights that make a weighted sum over queries the macro average over languages."""
    langs = np.asarray(languages)
    names, counts = np.unique(langs, return_counts=True)
    per = dict(zip(names, 1.0 / (len(names) * counts)))
    return np.array([per[l] for l in langs])


class ClusterSums:
    """Per-query scores summed per cluster (a question and its translations), each query
    weighted so that a sum over queries is the macro average over languages: what both the
    tests over questions and the interval over seeds and questions resample."""

    def __init__(self, clusters: Sequence[str], languages: Sequence[str]):
        self.weights = macro_weights(languages)
        ids, self.owner = np.unique(np.asarray(clusters), return_inverse=True)
        self.n = len(ids)
        self.weight = self.of(np.ones(len(self.owner)))  # each cluster's total weight

    def of(self, values: np.ndarray) -> np.ndarray:
        """The weighted sums of ``values`` (one per query) per cluster."""
        return np.bincount(self.owner, weights=self.weights * values, minlength=self.n)


def compare(a: Sequence[float], b: Sequence[float], clusters: Sequence[str], languages: Sequence[str],
            metric: str = "", resamples: int = RESAMPLES, seed: int = 0) -> Comparison:
    """B against A: per-query scores in the same order, each query's cluster (the question it
    translates) and language."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if not (len(a) == len(b) == len(clusters) == len(languages)) or len(a) < 2:
        raise ValueError(f"compare needs the same >= 2 queries in both systems, got {len(a)} and {len(b)}")
    sums = ClusterSums(clusters, languages)
    wdiff, wsum = sums.of(b - a), sums.weight  # per cluster
    difference = float(wdiff.sum() / wsum.sum())
    diff = b - a
    if np.all(diff == 0):
        return Comparison(metric, len(a), sums.n, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, resamples, seed)
    rng = np.random.default_rng(seed)
    # sign flips of whole clusters: swapping a cluster's (A, B) sums is flipping its difference
    sa, sb = sums.of(a), sums.of(b)
    perm = stats.permutation_test((sb, sa), lambda x, y, axis: np.sum(x - y, axis=axis),
                                  permutation_type="samples", n_resamples=resamples, alternative="two-sided",
                                  vectorized=True, random_state=rng)
    if np.ptp(wdiff / wsum) <= SAME:  # every question moved by the same amount: no spread to resample
        low = high = difference
    else:
        boot = stats.bootstrap((wdiff, wsum), lambda d, s, axis: np.sum(d, axis=axis) / np.sum(s, axis=axis),
                               paired=True, vectorized=True, n_resamples=resamples, confidence_level=0.95,
                               method="BCa", random_state=rng)
        low, high = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    if np.ptp(diff) > SAME:
        t = stats.ttest_rel(b, a)
        t_stat, p_t = float(t.statistic), float(t.pvalue)
    else:  # the same difference on every query: the t statistic is unbounded
        t_stat, p_t = None, 0.0
    return Comparison(metric, len(a), sums.n, difference, low, high, float(perm.pvalue), t_stat, p_t, resamples, seed)


def seed_cluster_interval(a: np.ndarray, b: np.ndarray, clusters: Sequence[str], languages: Sequence[str],
                          resamples: int = RESAMPLES, seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """95% percentile interval of B - A (macro average over languages) when each system was run
    with several seeds: ``a[seed][query]``, ``b[seed][query]`` (queries in the same order).  Each
    resample draws the questions as clusters (every translation together) and, independently,
    each system's seeds, both with replacement; so the interval holds the spread across seeds as
    well as across questions.  No library resamples two nested levels, so it is written here."""
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape[1] != b.shape[1] or a.shape[1] != len(clusters) or len(clusters) != len(languages):
        raise ValueError(f"seed_cluster_interval needs the same queries in both systems, got {a.shape} and {b.shape}")
    sums = ClusterSums(clusters, languages)
    ca, cb = (np.stack([sums.of(row) for row in m]) for m in (a, b))  # [seed, cluster]: weighted sums
    weight, n = sums.weight, sums.n
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n))
    sa = rng.integers(0, len(a), size=(resamples, len(a)))
    sb = rng.integers(0, len(b), size=(resamples, len(b)))
    # per resample: mean over the drawn seeds of the drawn clusters' sums, over the drawn weight
    ta = np.stack([ca[sa[i]][:, picks[i]].sum(axis=1).mean() for i in range(resamples)])
    tb = np.stack([cb[sb[i]][:, picks[i]].sum(axis=1).mean() for i in range(resamples)])
    diff = (tb - ta) / weight[picks].sum(axis=1)
    tail = 100 * (1 - confidence) / 2
    return float(np.percentile(diff, tail)), float(np.percentile(diff, 100 - tail))


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (step-down, family-wise error rate), by name."""
    order = sorted(pvalues, key=pvalues.__getitem__)
    adjusted, running = {}, 0.0
    for i, name in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * pvalues[name]))
        adjusted[name] = running
    return adjusted


def compare_systems(per_query: Mapping[str, Mapping[str, Mapping[str, float]]], baseline: str, metric: str,
                    cluster_of: Mapping[str, str], lang_of: Mapping[str, str], resamples: int = RESAMPLES,
                    seed: int = 0) -> dict[str, dict]:
    """Every system against ``baseline``: ``{system: {"Avg": record, "languages": {lang: record
    with p_holm}}}``.  ``per_query[system][qid][metric]``; every system must hold the same queries."""
    base = per_query[baseline]
    qids = sorted(q for q in base if q != "all")
    out = {}
    for name, scores in per_query.items():
        if name == baseline:
            continue
        missing = [q for q in qids if q not in scores]
        if missing:
            raise ValueError(f"{name}: {len(missing)} queries of {baseline} have no score (e.g. {missing[0]})")
        a = [base[q][metric] for q in qids]
        b = [scores[q][metric] for q in qids]
        langs = [lang_of[q] for q in qids]
        clusters = [cluster_of.get(q, q) for q in qids]
        overall = compare(a, b, clusters, langs, metric, resamples, seed).record()
        per_lang = {}
        for lang in sorted(set(langs)):
            pick = [i for i, l in enumerate(langs) if l == lang]
            if len(pick) >= 2:
                per_lang[lang] = compare([a[i] for i in pick], [b[i] for i in pick], [clusters[i] for i in pick],
                                         [lang] * len(pick), metric, resamples, seed).record()
        for lang, p in holm({l: r["p_cluster"] for l, r in per_lang.items()}).items():
            per_lang[lang]["p_holm"] = p
            per_lang[lang]["verdict_holm"] = per_lang[lang]["verdict"] if p < LEVEL else "no significant difference"
        out[name] = {"Avg": overall, "languages": per_lang}
    return out


def verdict_line(record: dict, scale: float = 100.0) -> str:
    """:meth:`Comparison.describe` for a stored record."""
    fields = {k: record[k] for k in Comparison.__dataclass_fields__}
    return Comparison(**fields).describe(scale)
