"""Render the figures of README.md and docs/results.md from their artifacts (``make docs``).

    python scripts/render_docs.py            # rewrite the rendered blocks in place
    python scripts/render_docs.py --check    # exit 1 (naming the blocks) when a document has drifted

Why: users choose hardware, index types and recipes from these numbers, so none is typed.  A
document marks each rendered block ``<!-- render: NAME -->`` ... ``<!-- /render -->``; NAME is a
function of :data:`BLOCKS` over the artifacts in ``docs/results/`` (each written by the command
that measured it, with its commit, date, command, machine and load).  Prose is written around
the blocks; :func:`unrendered_figures` is the lint that finds a measured-looking figure outside
them (versions, dates, flags, commands and settings are exempt).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "docs" / "results"
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "results.md")
# a block is its own lines, or inline (``<!-- render: NAME -->text<!-- /render -->`` inside a sentence)
BLOCK = re.compile(r"(?P<open><!-- render: (?P<name>[\w-]+) -->\n?)(?P<body>.*?)(?P<close><!-- /render -->)", re.S)


def artifact(name: str) -> dict:
    path = ARTIFACTS / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no artifact (run the command that measures it)")
    return json.loads(path.read_text(encoding="utf-8"))


def minutes(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60} min {whole % 60:02d} s"


def where(record: dict) -> str:
    """Measured where, when, on which commit, how busy: one parenthesis."""
    m = record["machine"]
    load = record["load"]["loadavg_1_5_15_before"][0]
    return (f"{m['cores']} cores ({m['cpu']}), {record['date'][:10]}, commit {record['commit']}"
            + (" with uncommitted changes" if record.get("uncommitted_changes") else "")
            + f", 1-minute load {load:.2f} before")


def interval(median: float, low: float, high: float, digits: int = 2, unit: str = "") -> str:
    """A repeated measurement as printed everywhere on the page: ``median [min-max]``
    (``unit`` after the median: ``1.74x [1.55-1.75]``)."""
    return f"{median:.{digits}f}{unit} [{low:.{digits}f}-{high:.{digits}f}]"


def spread(values: list[float], digits: int = 2) -> str:
    """The median of repeated measurements and their [min-max]."""
    import statistics

    return interval(statistics.median(values), min(values), max(values), digits)


# ------------------------------------------------------------------------------------ the demo
DEMO_METRICS = {"recip_rank": "MRR@100", "recall_5": "R@5"}


def demo_table(_: str = "") -> str:
    from xqg_tevatron.tables import language_table

    results = artifact("demo")["results"]
    tables = results["tables"]
    languages = [lang for lang in next(iter(tables.values())) if lang != "Avg"]
    return "```\n" + language_table(tables, DEMO_METRICS, languages) + "\n```\n"


def demo_when(_: str = "") -> str:
    record = artifact("demo")
    return (f"Output of `{record['command']}` ({minutes(record['results']['seconds'])} for the demo command "
            f"itself, installation not included; {where(record)}; `docs/results/demo.json`; MRR@100 and R@5 from "
            "Pyserini's `trec_eval`):\n")


def demo_tests(_: str = "") -> str:
    """Each system against plain: the difference, its interval, both p-values, the verdict."""
    from xqg_tevatron.evaluation.significance import verdict_line

    tests = artifact("demo")["results"]["significance"]
    lines = []
    for name, result in tests["systems"].items():
        marks = [f"{lang} {'+' if r['difference'] > 0 else '-'}{100 * abs(r['difference']):.1f}"
                 for lang, r in result["languages"].items() if r["p_holm"] < 0.05]
        per_lang = (f"; languages that differ after Holm's correction: {', '.join(marks)}" if marks else
                    "; no single language differs after Holm's correction")
        lines.append(f"- **{name}** against plain, MRR@100: {verdict_line(result['Avg'])}{per_lang}.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- test times
def test_times(_: str = "") -> str:
    import importlib.util

    spec = importlib.util.spec_from_file_location("time_test_suite", ROOT / "scripts" / "time_test_suite.py")
    timer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timer)
    return timer.render(artifact("test_suite_times")) + "\n"


# --------------------------------------------------------------------- the recipe selection
def recipe_folds(_: str = "") -> str:
    result = artifact("recipe_selection")["results"]
    lines = ["| fold | chosen on the other folds | held-out MRR@100 | plain |", "|---|---|---|---|"]
    for c in result["cv"]:
        lines.append(f"| {c['fold']} ({c['questions']:,} queries) | {c['chosen']} | {c['chosen_mrr']:.3f} | "
                     f"{c['plain_mrr']:.3f} |")
    lines.append(f"| **mean of the folds** | | **{result['cv_mrr']:.3f}** | **{result['cv_plain_mrr']:.3f}** |")
    return "\n".join(lines) + "\n"


def recipe_all(_: str = "") -> str:
    """MRR@100 on all questions of the recipes the text discusses, from the artifact."""
    record = artifact("recipe_selection")
    result = record["results"]
    by_label = {r["label"]: r["mrr"] for r in result["all"]}
    best = result["recommended"]["label"]
    same_cldr = best.replace("freedict", "cldr", 1)
    sums = [v for label, v in by_label.items() if " sum " in f" {label} "]
    lines = [f"On all {result['questions']:,} queries ({len(result['languages'])} languages; in-process scoring "
             f"with the demo encoder; {where(record)}; `docs/results/recipe_selection.json`), MRR@100:",
             f"- plain: {by_label['plain']:.3f};",
             f"- {best} (the best on all questions): {by_label[best]:.3f};"]
    if same_cldr in by_label and same_cldr != best:
        lines.append(f"- {same_cldr} (CLDR names only): {by_label[same_cldr]:.3f};")
    if sums:
        lines.append(f"- every `sum` recipe: {min(sums):.3f} to {max(sums):.3f}, because the counts per passage vary;")
    if result.get("gold"):
        lines.append(f"- the gold ceiling: {result['gold'][0]['mrr']:.3f} ({result['gold'][0]['label']}).")
    return "\n".join(lines) + "\n"


def recipe_tests(_: str = "") -> str:
    from xqg_tevatron.evaluation.significance import verdict_line

    tests = artifact("recipe_selection")["results"]["significance"]
    lines = [f"- The held-out choice against plain (each question scored by the recipe chosen without its fold), "
             f"MRR@100: {verdict_line(tests['cross_validated'])}."]
    if "gold" in tests:
        lines.append(f"- The gold ceiling ({tests['gold']['label']}, chosen on these questions) against plain: "
                     f"{verdict_line(tests['gold'])}.")
    return "\n".join(lines) + "\n"

# ------------------------------------------------------------------------------ the H200 run
GPU = "gpu_h200_2026-11-28"
XOR_TYDI = {"passages": 18_200_000, "languages": 7, "queries_per_language": 5}  # quoted: the paper's corpus


def gpu_runs() -> list[dict]:
    """Every run of the digested logs that measured per-unit rates, in log order."""
    return [run for log in artifact(GPU)["results"]["logs"] for run in log["runs"]
            if any(s["rows"] for s in run["sections"] if s["name"] in ("encode", "generate"))]


def gpu_unit_rows(run: dict) -> list[dict]:
    return [row for s in run["sections"] if s["name"] in ("encode", "generate") for row in s["rows"]]


def gpu_rates(_: str = "") -> str:
    """Every per-unit rate the H200 run printed, one column per precision, per run."""
    from xqg_tevatron.tables import format_table

    out = []
    for i, run in enumerate(gpu_runs(), 1):
        env = run["environment"]
        rows = gpu_unit_rows(run)
        keys = list(dict.fromkeys((r["unit"], r["model"], r["batch"]) for r in rows))
        precisions = list(dict.fromkeys(r["precision"] for r in rows))
        rate = {(r["unit"], r["model"], r["batch"], r["precision"]): r["per_s"] for r in rows
                if r["backend"] == "hf"}
        table = [[u, m, b, *[f"{rate[(u, m, b, p)]:,.1f}" if (u, m, b, p) in rate else "-" for p in precisions]]
                 for u, m, b in keys]
        digest = artifact(GPU)
        out.append(f"Run {i}: {env['gpu']} ({env['gpu_memory_gib']} GiB), torch {env['torch']}, transformers "
                   f"{env['transformers']}, Python {env['python']}; units per second, HF backend (digested by "
                   f"`scripts/gpu_digest.py` at commit {digest['commit']}):\n\n```\n"
                   + format_table(["unit", "model shape", "batch", *precisions], table) + "\n```\n")
    return "\n".join(out)


def half_precision_ratios() -> list[tuple[int, str, int, float, float, float]]:
    """(run, unit, batch, float32/s, bfloat16/s, ratio) where both were measured in the same run."""
    out = []
    for i, run in enumerate(gpu_runs(), 1):
        rate = {(r["unit"], r["batch"], r["precision"]): r["per_s"] for r in gpu_unit_rows(run)}
        for (unit, batch, precision), value in rate.items():
            if precision == "float32" and (unit, batch, "bfloat16") in rate:
                half = rate[(unit, batch, "bfloat16")]
                out.append((i, unit, batch, value, half, half / value))
    return out


def gpu_half_precision(_: str = "") -> str:
    from xqg_tevatron.tables import format_table

    ratios = half_precision_ratios()
    table = [[f"run {i}", unit, batch, f"{f32:,.1f}", f"{bf16:,.1f}", f"{ratio:.2f}x"]
             for i, unit, batch, f32, bf16, ratio in ratios]
    lines = ["```", format_table(["run", "unit", "batch", "float32/s", "bfloat16/s", "bfloat16/float32"], table), "```"]
    for unit in dict.fromkeys(r[1] for r in ratios):
        values = [r[5] for r in ratios if r[1] == unit]
        spread = f"{values[0]:.2f}x at the one batch measured in both" if len(values) == 1 else \
            f"{min(values):.2f}x to {max(values):.2f}x over {len(values)} (run, batch) pairs measured in both"
        lines.append(f"- {unit}: bfloat16 runs {spread}.")
    return "\n".join(lines) + "\n"


def gpu_job() -> dict:
    for log in artifact(GPU)["results"]["logs"]:
        for run in log["runs"]:
            for section in run["sections"]:
                if section.get("job"):
                    return dict(section["job"], notes=section["notes"])
    raise KeyError("no job section in the GPU digest")


def best_generation_rate() -> dict:
    rows = [r for run in gpu_runs() for r in gpu_unit_rows(run)
            if r["unit"] == "generated query" and r["precision"] == "bfloat16"]
    return max(rows, key=lambda r: r["per_s"])


def gpu_job_line(_: str = "") -> str:
    job, best = gpu_job(), best_generation_rate()
    queries = job["passages"] * job["languages"] * job["queries_per_language"]
    rate = queries / job["seconds"]
    stopped = [f"{s['name']} ({s['limit_s']} s)" for run in gpu_runs() for s in run["sections"]
               if (s["end"] or {}).get("status") == "stopped at its limit"]
    empty = next((n for n in job["notes"] if "no generated queries" in n), None)
    text = (f"- The one end-to-end GPU job: {job['passages']:,} passages x ({job['languages']} language x "
            f"{job['queries_per_language']} queries), {job['dtype']}, {job['executor']} executor: {job['seconds']} s, "
            f"{job['passages_per_s']} passages/s, {rate:,.0f} requested queries/s, {rate / best['per_s']:.0%} of the "
            f"generator's own best bfloat16 rate ({best['per_s']:,.1f}/s at batch {best['batch']}). It includes "
            "loading and hashing the models.")
    if empty:
        text += (f" Its random generator left almost every query empty (`{empty}`), so query encoding and "
                 "fusion were hardly paid.")
    errors = [e for log in artifact(GPU)["results"]["logs"] for run in log["runs"] for e in run.get("errors", [])]
    if stopped:
        text += f" Sections stopped at their limits in the full run: {', '.join(stopped)}."
    if errors:
        text += f" The run's make ended with `{errors[0]}`."
    return text + "\n"


def gpu_projection(_: str = "") -> str:
    """PROJECTION: XOR-TyDi's cost on one H200, from the unit rates and from the job's rate."""
    from xqg_tevatron.tables import format_table

    passages = XOR_TYDI["passages"]
    queries = passages * XOR_TYDI["languages"] * XOR_TYDI["queries_per_language"]
    rows, total = [], 0.0
    for unit, count, label in (("generated query", queries, "generation"), ("passage", passages, "passage encoding"),
                               ("query", queries, "query encoding")):
        best = max((r for run in gpu_runs() for r in gpu_unit_rows(run)
                    if r["unit"] == unit and r["precision"] == "bfloat16"), key=lambda r: r["per_s"])
        hours = count / best["per_s"] / 3600
        total += hours
        rows.append([label, f"{count:,}", f"{best['per_s']:,.1f}", best["batch"], f"{hours:,.0f}"])
    job = gpu_job()
    job_rate = job["passages"] * job["languages"] * job["queries_per_language"] / job["seconds"]
    job_hours = queries / job_rate / 3600
    return ("```\n" + format_table(["stage (bfloat16, best batch)", "units", "per s", "batch", "H200-hours"], rows) +
            f"\nsum of the unit rates: {total:,.0f} H200-hours"
            f"\nat the end-to-end job's rate ({job_rate:,.0f} requested queries/s): {job_hours:,.0f} H200-hours\n```\n"
            f"A PROJECTION, not a run: {passages:,} passages x {XOR_TYDI['languages']} languages x "
            f"{XOR_TYDI['queries_per_language']} queries ({queries:,} generated queries, quoted from the paper's "
            "setup) over rates measured once on one H200 with random-weight mT5-base- and mBERT-base-shaped "
            "models (768 dimensions). The job's rate includes its start-up and skipped most query encoding (see "
            "above); the sum of the unit rates leaves out everything between the models. Neither is a measured "
            "cost of the whole corpus.\n")


# ------------------------------------------------------------ index and query-encoder pages
def parity_int8(_: str = "") -> str:
    """onnx-int8 against torch per language, from docs/results/query_encoder_parity.json."""
    parity = json.loads((ROOT / "docs" / "results" / "query_encoder_parity.json").read_text(encoding="utf-8"))
    torch, int8 = parity["backends"]["torch"]["mrr"], parity["backends"]["onnx-int8"]["mrr"]
    diffs = {lang: 100 * (int8[lang] - torch[lang]) for lang in torch if lang != "Avg"}
    tested = ((parity.get("significance") or {}).get("systems", {}).get("onnx-int8") or {}).get("languages")
    if tested:  # the tests' exact differences, not the JSON's rounded MRRs
        diffs = {lang: 100 * r["difference"] for lang, r in tested.items()}
    worse = [f"{lang} {d:+.2f}" for lang, d in diffs.items() if d < 0]
    better = [f"{lang} {d:+.2f}" for lang, d in diffs.items() if d >= 0]
    text = (f"  - MRR@100 points against torch, per language (`docs/results/query_encoder_parity.json`): lower in "
            f"{len(worse)} of {len(diffs)} ({', '.join(worse)}), not lower in {', '.join(better) or 'none'}.")
    tests = (parity.get("significance") or {}).get("systems", {}).get("onnx-int8")
    if tests is None:
        return text + " Untested for significance (that run kept no per-query scores).\n"
    from xqg_tevatron.evaluation.significance import verdict_line

    marks = [f"{lang} {100 * r['difference']:+.2f}" for lang, r in tests["languages"].items() if r["p_holm"] < 0.05]
    return (text + f"\n  - Averaged over languages, against torch: {verdict_line(tests['Avg'])}; languages that differ "
            f"after Holm's correction: {', '.join(marks) or 'none'}.\n")


def search_latency(_: str = "") -> str:
    """Index cost side by side, from docs/results/bench_search_latency.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_search_latency")
    r = record["results"]
    rows = [[name, f"{i['rows']:,}", f"{i['mb']:,.0f}", f"{i['p50_ms_median']:.2f}",
             interval(i["p50_over_plain_median"], i["p50_over_plain_min"], i["p50_over_plain_max"])]
            for name, i in r["indexes"].items()]
    return (f"`python -m benchmarks.bench_search_latency` ({where(record)}; MB is MiB): {r['queries']} queries one at a time, "
            f"k={r['k']}, {r['threads']} thread, {r['passages']:,} synthetic passages x {r['dim']} through Pyserini's "
            f"FaissSearcher; median of {r['repeats']} interleaved rounds, [min-max] of the per-round ratio:\n\n```\n"
            + format_table(["index", "rows", "MB", "p50 ms", "p50 / plain"], rows) + "\n```\n")


def refuse_speed(_: str = "") -> str:
    """The store's re-fuse, float32 against float16, from docs/results/bench_refuse.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_refuse")
    r = record["results"]["speed"]
    rows = [[row["dtype"], f"{row['bytes_per_passage']:,.0f}", f"{row['refuse_s']:.1f}",
             " ".join(f"{t:.1f}" for t in row["refuse_s_per_round"]), f"{r['passages'] / row['refuse_s']:,.0f}",
             "dropped" if row["cold"] else "warm"] for row in r["rows"]]
    ratios = r["time_ratio_per_round"]
    bytes_ratio = r["rows"][1]["bytes_per_passage"] / r["rows"][0]["bytes_per_passage"]
    return (f"`python -m benchmarks.bench_refuse` ({where(record)}): `driver.merge` re-fuses (alpha 0.5, mean, flat "
            f"index) {r['passages']:,} passages x {r['dim']} dims x {r['languages']} languages of synthetic components, "
            f"reading ahead in {r['read_ahead_threads']} threads; the page cache dropped before each re-fuse where "
            f"allowed; median of {r['repeats']} interleaved rounds:\n\n```\n"
            + format_table(["store", "bytes/passage", "re-fuse s", "rounds s", "passages/s", "page cache"], rows)
            + f"\n```\n- float16 against float32: {bytes_ratio:.3f} of the bytes (the vector parts only, not the "
            f"stored queries' text); re-fuse time {interval(r['time_ratio_median'], min(ratios), max(ratios), unit='x')} "
            f"over the rounds; max |fused16 - fused32| {r['max_fused_deviation']:.2e}.\n"
            f"- PROJECTION to {r['projection_passages']:,} passages (the faster store's measured seconds per passage "
            f"scaled, this machine, assuming the disk keeps its rate): {r['projection_minutes']:.1f} min.\n")


def refuse_mrr(_: str = "") -> str:
    """The float16 store's MRR against float32's on real questions, from docs/results/bench_refuse.json."""
    from xqg_tevatron.evaluation.significance import verdict_line
    from xqg_tevatron.tables import language_table

    m = artifact("bench_refuse")["results"]["mrr"]
    tables = m["tables"]
    languages = [lang for lang in tables["float32"] if lang != "Avg"]
    diff = max(abs(tables["float16"][l]["recip_rank"] - tables["float32"][l]["recip_rank"]) for l in languages)
    return ("```\n" + language_table(tables, {"recip_rank": "MRR@100"}, languages) + "\n```\n"
            f"- Largest per-language difference {100 * diff:.2f} points; max |fused16 - fused32| "
            f"{m['max_fused_deviation']:.2e} over {m['passages']:,} passages, passages at {m['p_max_len']} tokens.\n"
            f"- float16 against float32, MRR@100: {verdict_line(m['significance'])}.\n")


def fuse_memory(_: str = "") -> str:
    """Peak memory of the streaming fuser against the authors' in-memory way, from docs/results/bench_fuse_memory.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_fuse_memory")
    r = record["results"]
    rows = [[name, f"{m['peak_rss_gib_median']:.3f}", f"{m['seconds_median']:.1f}",
             " ".join(f"{t:.1f}" for t in m["seconds_per_round"])] for name, m in r["methods"].items()]
    ratios = r["peak_ratio_per_round"]
    return (f"`python -m benchmarks.bench_fuse_memory` ({where(record)}): fuse {r['rows']:,} x {r['dim']} passage "
            f"vectors with {r['query_files']} query files ({r['input_gib_each']:.2f} GiB each), each method in a fresh "
            f"process (peak RSS = its VmHWM), median of {r['repeats']} interleaved rounds:\n\n```\n"
            + format_table(["method", "peak RSS GiB", "seconds", "seconds per round"], rows)
            + f"\n```\n- chunked / in-memory peak memory: {r['peak_ratio_median']:.3f} [{min(ratios):.3f}-"
            f"{max(ratios):.3f}]; outputs equal: {'yes' if r['outputs_equal'] else 'NO'}.\n")


def encode_throughput(_: str = "") -> str:
    """Tevatron's encode driver against the plugin's on the xQG workload, from docs/results/bench_encode_throughput.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_encode_throughput")
    r = record["results"]
    labels = {"tevatron_passages": "tevatron.driver.encode, passages", "tevatron_queries":
              "tevatron.driver.encode, generated queries (one run)", "xqg_index":
              "xqg_tevatron.driver.encode, xQG index (fusion and index included)", "xqg_passages_only":
              "xqg_tevatron.driver.encode, passages only"}
    rows = [[labels[name], f"{r['seconds_median'][name]:.1f}", " ".join(f"{v:.1f}" for v in values)]
            for name, values in r["seconds_per_round"].items()]
    ratios, passages = r["ratio_per_round"], r["passages_only_ratio_per_round"]
    return (f"`python -m benchmarks.bench_encode_throughput` ({where(record)}): {r['passages']} w100-like passages "
            f"(p_max_len {r['p_max_len']}) + {r['generated_queries']:,} generated queries (q_max_len {r['q_max_len']}), "
            f"batch {r['batch_size']}, the demo encoder, whole commands timed (model loading included), median of "
            f"{r['repeats']} interleaved rounds:\n\n```\n"
            + format_table(["run", "seconds", "per round"], rows)
            + f"\n```\n- xQG workload, Tevatron's two runs over the plugin's one: "
            f"{interval(r['ratio_median'], min(ratios), max(ratios), unit='x')}; passages only: "
            f"{interval(r['passages_only_ratio_median'], min(passages), max(passages), unit='x')}.\n")



# ------------------------------------------------------------------------------ the study
def study_levels(_: str = "") -> str:
    """Each code-switching level against p=0 over seeds, per method, from docs/results/study_xquad.json."""
    from xqg_tevatron.study.levels import describe
    from xqg_tevatron.tables import format_table

    record = artifact("study_xquad")
    r = record["results"]
    train = r["config"]["train"]
    out = [f"`{record['command']}` ({where(record)}; {r['seconds'] / 3600:.1f} h): the demo encoder fine-tuned "
           f"{train['max_steps']} steps at batch {train['batch_size']} per level and seed (seeds "
           f"{', '.join(map(str, train['seeds']))}); MRR@100 and R@5 macro-averaged over languages, mean "
           f"[min-max] over seeds:\n"]
    for label, method in r["levels"].items():
        rows = []
        for e in method["levels"]:
            m, k = e["MRR@100"], e["R@5"]
            rows.append(["base" if e["p"] is None else f"{e['p']:g}", len(e["seeds"]) or "-",
                         f"{e['switched_share']:.3f}", f"{e['lexical_overlap']:.3f}",
                         f"{100 * m['mean']:.1f} [{100 * m['min']:.1f}-{100 * m['max']:.1f}]",
                         f"{100 * k['mean']:.1f} [{100 * k['min']:.1f}-{100 * k['max']:.1f}]"])
        out.append(f"**{label}** ({method['queries']:,} queries, {method['questions']:,} questions):\n\n```\n"
                   + format_table(["p", "seeds", "switched", "overlap", "MRR@100", "R@5"], rows) + "\n```\n")
        out += [f"- p={e['p']:g} against p=0, MRR@100: {describe(e)}." for e in method["levels"] if "against_p0" in e]
        out.append("")
    return "\n".join(out)


def study_latency(_: str = "") -> str:
    """Each study method's query latency at two index sizes, from docs/results/bench_study_latency.json."""
    import statistics

    from xqg_tevatron.tables import format_table

    record = artifact("bench_study_latency")
    r = record["results"]
    rows = []
    for n, size in r["sizes"].items():
        for threads, methods in size["threads"].items():
            for method, t in methods.items():
                ratio = t["p50_over_plain"]
                rows.append([f"{int(n):,}", threads, method, f"{size['rows'][method]:,}",
                             f"{statistics.median(t['p50_ms']):.2f}", f"{statistics.median(t['p95_ms']):.2f}",
                             spread(ratio)])
    return (f"`{command_of(record, 'bench_study_latency')}` ({where(record)}): {r['queries']} real XQuAD questions "
            f"timed one at a time through the search stage (the `{r['query_encoder']}` query encoder, the question "
            f"encoded for real, then Pyserini's `FaissSearcher`, flat indexes), the 120 paragraphs among mixture "
            f"distractors; multi-vector adds {r['rows_per_passage']} generated-query rows a passage; median of "
            f"{r['rounds']} interleaved rounds, [min-max] of the per-round p50 over plain's (below 1 is faster):\n\n```\n"
            + format_table(["passages", "threads", "method", "rows", "p50 ms", "p95 ms", "p50/plain"], rows)
            + "\n```\n")


# ------------------------------------------------------------------- the engine at corpus scale
def command_of(record: dict, module: str) -> str:
    """The command an artifact records, with its benchmark's module (artifacts named after a part
    or a size, written before ``BenchmarkRecord`` took the module, named the artifact instead)."""
    words = [w for w in record["command"].split()[3:] if w != "--in-netns"]  # the part's run inside its namespace
    return " ".join(["python", "-m", f"benchmarks.{module}", *words])


def signed(values: list[float], unit: str) -> str:
    """The median of repeated measurements that may be negative, and its range: ``-0.2% (runs
    -11.2% to +4.0%)``."""
    import statistics

    return (f"{statistics.median(values):+.1f}{unit} (runs {min(values):+.1f}{unit} to "
            f"{max(values):+.1f}{unit})")


def scale_engine(_: str = "") -> str:
    """Memory against corpus size, stored bytes and re-fuse, from docs/results/bench_scale_engine.json."""
    record = artifact("bench_scale_engine")
    r = record["results"]
    rss = r["peak_rss_bytes"]
    return (f"`{command_of(record, 'bench_scale')}`, its engine part ({where(record)}; one run): {r['passages']:,} "
            f"manual-page passages, dictionary generator ({', '.join(r['languages'])} x {r['n_per_lang']}, CLDR + "
            f"FreeDict word lists), {r['encoder']}, units of {r['unit_size']:,}, local executor:\n\n"
            f"- {r['passages_per_s']:,.1f} passages/s end to end ({r['seconds']:.1f} s);\n"
            f"- peak RSS {rss['small'] / 2**20:,.0f} MiB at {r['small_passages']:,} passages and "
            f"{rss['large'] / 2**20:,.0f} MiB at {r['passages']:,} (ratio {r['rss_ratio']:.2f});\n"
            f"- {r['store_bytes_per_passage']:,.0f} bytes stored per passage at this model's 32 dimensions;\n"
            f"- a re-fuse (`driver.merge --alpha ...`, flat index) of the {r['passages']:,} passages: "
            f"{r['refuse_seconds']:.1f} s.\n")


def scale_ray(_: str = "") -> str:
    """Ray's cost against local, repeated and interleaved, from docs/results/bench_scale_ray.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_scale_ray")
    r = record["results"]
    local = r["configs"]["local"]
    rows = []
    for name, c in r["configs"].items():
        ratio = [lo / s for lo, s in zip(local["seconds"], c["seconds"])]
        steady = [s / lo for lo, s in zip(local["steady_units_per_s"], c["steady_units_per_s"])]
        rows.append([name, spread(c["seconds"]), spread(ratio), spread(c["steady_units_per_s"]), spread(steady)])
    busy, loads = r["cpu_busy_percent_before_each"], r["load_1min_before_each"]
    return (f"`{command_of(record, 'bench_scale')}`, its Ray part ({where(record)}): {r['passages']:,} manual-page "
            f"passages, dictionary generator ({', '.join(r['languages'])} x {r['n_per_lang']}, CLDR + FreeDict word "
            f"lists), {r['encoder']}, "
            f"units of {r['unit_size']:,}, {r['cores']} cores; each configuration run {r['repeats']} times, "
            f"interleaved, median [min-max]; CPU {min(busy):.1f}-{max(busy):.1f}% busy in the 2 s before each run "
            f"(1-minute load {min(loads):.2f}-{max(loads):.2f}); \"x local\" is local's time over the configuration's, and units/s "
            f"at speed counts from the first unit committed to the last:\n\n```\n"
            + format_table(["executor", "end-to-end s", "x local", "units/s at speed", "x local"], rows)
            + f"\n```\n- Ray with 1 actor at speed: {signed(r['at_speed_percent'], '%')} time per unit against "
            f"local; end to end it adds {signed(r['fixed_seconds'], ' s')} (mostly Ray's and the actor's start-up, "
            "paid once per job, but each run's difference also holds its share of the runs' noise).\n")


def scale_recovery(_: str = "") -> str:
    """A worker node lost and replaced on real ``ray start`` processes, from docs/results/bench_scale_recovery.json."""
    record = artifact("bench_scale_recovery")
    r = record["results"]
    u = r["units_per_s"]
    return (f"`{command_of(record, 'bench_scale')}`, its recovery part ({where(record)}; one run): {r['passages']:,} "
            f"passages in {r['units']} units of {r['unit_size']}, {r['encoder']} (a real model, so the new actor's "
            f"load is part of the recovery), {r['actors']} actors on two 1-CPU worker nodes; one node killed at a "
            f"third of the job and a new node joined at once ({r['join_seconds']:.1f} s for `ray start`):\n\n"
            f"- loss seen by the job {r['loss_seen_s']:.1f} s after the kill (its units put back);\n"
            f"- new actor ready {r['new_actor_ready_s']:.1f} s after the kill;\n"
            f"- full speed again {r['full_speed_s']:.1f} s after the kill (the new actor's first unit committed);\n"
            f"- units/s: {u['before']:.2f} before the kill, {u['recovering']:.2f} while recovering, "
            f"{u['after']:.2f} after.\n")


SHAPES = {"mbert-base": "mBERT-base shape", "mt5-base": "mT5-base shape"}


def scale_costs(_: str = "") -> str:
    """Per-unit costs of the real-shaped models on this CPU, from docs/results/bench_scale_costs.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_scale_costs")
    r = record["results"]
    per_round = list(zip(*r["rounds"]))
    rows = [[row["what"], SHAPES.get(row["model"], row["model"]), row["precision"], row["backend"], row["batch"],
             spread([x["per_s"] for x in same], 1)] for row, same in zip(r["median"], per_round)]
    demo = r["demo_encoder"]
    return (f"`{command_of(record, 'bench_scale')}`, its costs part ({where(record)}; {r['threads']} threads; median "
            f"[min-max] of {len(r['rounds'])} interleaved rounds):\n\n```\n"
            + format_table(["unit", "model", "precision", "backend", "batch", "per s"], rows)
            + f"\n```\n- CTranslate2 int8 over HF float32 generation at the mT5-base shape: "
            f"{spread(r['ct2_over_hf_per_round'])}x.\n"
            f"- The demo encoder, one run: {demo['passages_per_s']:.1f} passages/s ({demo['p_max_len']}-token limit, "
            f"100-word passages), {demo['queries_per_s']:.0f} queries/s (batch {demo['batch']}).\n")


# ------------------------------------------------------------------------------- index sweeps
GPU_INDEX_ROWS = [("Flat", "-"), ("HNSW32,Flat efConstruction 64", "efSearch 512"),
                  ("HNSW32,Flat efConstruction 200", "efSearch 128"), ("HNSW32,Flat efConstruction 200", "efSearch 512"),
                  ("HNSW32,Flat efConstruction 200", "efSearch 1024"), ("IVF2048,Flat", "nprobe 64"),
                  ("IVF2048,Flat", "nprobe 256"), ("IVF2048,SQ8", "nprobe 64"), ("IVF2048,SQ8", "nprobe 256")]


def gpu_index_rows() -> list[dict]:
    return [row for log in artifact(GPU)["results"]["logs"] for run in log["runs"] for s in run["sections"]
            if s["name"] == "index" for row in s["rows"]]


def gpu_index_200k(_: str = "") -> str:
    """The 200k real-vector sweep of the H200 run (selected rows; all are in the digest)."""
    from xqg_tevatron.tables import format_table

    rows = gpu_index_rows()
    chosen = [r for key in GPU_INDEX_ROWS for r in rows if (r["index"], r["search"]) == key]
    table = [[r["case"], r["index"], r["search"], f"{r['R@10']:.3f}", f"{r['R@100']:.3f}",
              "" if r["MRR"] is None else f"{r['MRR']:.3f}", f"{r['p50_ms']:.2f}", f"{r['MB']:,}", f"{r['build_s']:.1f}"]
             for r in chosen]
    return (f"From `docs/results/{GPU}.json` (the digest of the raw log), {len(chosen)} of its {len(rows)} rows, "
            f"{rows[0]['n']:,} vectors:\n\n```\n"
            + format_table(["case", "index", "search", "R@10", "R@100", "MRR", "p50 ms", "MiB", "build s"], table)
            + "\n```\n")


def mixture_1m(_: str = "") -> str:
    """The island case at 1M vectors, flat and the plugin's ivf-sq8, from docs/results/bench_index_scale_mixture_1000000.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_index_scale_mixture_1000000")
    r = record["results"]
    flat = {row["vectors"]: row for row in r["rows"] if row["index"] == "flat"}
    table = []
    for row in r["rows"]:
        f = flat[row["vectors"]]
        table.append([row["vectors"], row["index"], row["setting"], f"{row['recall@10']:.3f}",
                      f"{row['recall@100']:.3f}", f"{row['mrr@100']:.4f}", f"{row['mrr@100'] - f['mrr@100']:+.4f}",
                      f"{row['p50_ms']:.2f}", f"{row['p95_ms']:.2f}",
                      f"{row['rss_bytes'] / 2**20:,.0f}", f"{row['rss_bytes'] / f['rss_bytes']:.3f}",
                      f"{row['build_s']:.1f}"])
    return (f"`{command_of(record, 'bench_index_scale')}` ({where(record)}; {r['seconds'] / 60:.0f} min): {r['vectors']:,} vectors, "
            f"`ivf-sq8` with the plugin's `{{nlist}}` rule ({r['ivf_lists']:,} lists), {r['timed_queries']} queries "
            f"timed one at a time at 1 thread (one run: no timed ratio is given); mem/flat is the row's memory over "
            f"flat's:\n\n```\n"
            + format_table(["vectors", "index", "search", "R@10", "R@100", "MRR@100", "dMRR", "p50 ms", "p95 ms",
                            "RSS MiB", "mem/flat", "build s"], table)
            + "\n```\n")


def ivf_default_1m(_: str = "") -> str:
    """Inline: the plugin's ivf-sq8 at its default nprobe against flat, 1M vectors, island case (plain vectors)."""
    from xqg_tevatron.indexing.faiss_index import IndexConfig

    default = IndexConfig().ivf_nprobe
    record = artifact("bench_index_scale_mixture_1000000")
    rows = [row for row in record["results"]["rows"] if row["vectors"] == "plain"]
    flat = next(row for row in rows if row["index"] == "flat")
    ivf = next(row for row in rows if row["index"] == "ivf-sq8" and row["setting"] == f"nprobe {default}")
    return (f"at 1M vectors (island case, mixture distractors) the plugin's `ivf-sq8` at its default nprobe "
            f"{default} of {record['results']['ivf_lists']:,} lists gave MRR@100 {ivf['mrr@100']:.3f} against "
            f"flat's {flat['mrr@100']:.3f}, recall@100 {ivf['recall@100']:.3f}, at {ivf['p50_ms']:.1f} ms p50 against "
            f"{flat['p50_ms']:.1f} ms")


# ----------------------------------------------------------------------- query-time benchmarks
def parity_table(_: str = "") -> str:
    """Each query-encoder backend against Pyserini's, from docs/results/query_encoder_parity.json."""
    from xqg_tevatron.tables import format_table

    parity = json.loads((ROOT / "docs" / "results" / "query_encoder_parity.json").read_text(encoding="utf-8"))
    langs = [lang for lang in next(iter(parity["backends"].values()))["mrr"] if lang != "Avg"]
    rows = [[name, f"{b['min_cosine_vs_pyserini']:.6f}", f"{b['batch_encode_ms_per_query']:.2f}",
             *[f"{100 * b['mrr'][lang]:.2f}" for lang in langs + ['Avg']]] for name, b in parity["backends"].items()]
    prov = parity["provenance"]
    return (f"`{prov['command']}` ({where(prov)}; one run; ms/query is batch encoding, {parity['threads']} "
            f"threads):\n\n```\n"
            + format_table(["backend", "min cos", "ms/query", *[l.capitalize() for l in langs], "Avg"], rows)
            + "\n```\n")


def bench_generate(_: str = "") -> str:
    """HF against CTranslate2 generation, interleaved rounds, from docs/results/bench_generate.json."""
    from xqg_tevatron.tables import format_table

    record = artifact("bench_generate")
    r = record["results"]
    rows = [[row["batch"], row["backend"], f"{row['tokens_per_s']:.1f}",
             interval(row["x_hf"], row["x_hf_min"], row["x_hf_max"])] for row in r["rows"]]
    g = r["greedy_agreement"]
    return (f"`python -m benchmarks.bench_generate` ({where(record)}): {r['prompts']} prompts of "
            f"{'-'.join(dict.fromkeys(map(str, r['prompt_tokens'])))} tokens, {r['new_tokens']} new tokens each (forced), "
            f"{r['sampling']} sampling, {r['threads']} threads, {r['model']}; median of {r['rounds']} interleaved "
            f"rounds, [min-max] of the per-round ratio:\n\n```\n"
            + format_table(["batch", "backend", "tokens/s", "x HF"], rows)
            + f"\n```\n- Greedy agreement (tiny random MT5, float32): {g['identical']}/{g['sequences']} sequences with "
            "identical token ids.\n")


def bench_query_encoder(_: str = "") -> str:
    """Per-query latency and batch throughput of each query encoder, from docs/results/bench_query_encoder.json."""
    import statistics

    from xqg_tevatron.tables import format_table

    record = artifact("bench_query_encoder")
    r = record["results"]
    ref = r["reference"]
    threads = [str(t) for t in r["threads"]]
    rows = []
    for row in r["rows"]:
        cells = [row["backend"]]
        for t in threads:
            lat = row["latency"][t]
            x = lat["p50_x_ref"]
            cells += [f"{statistics.median(lat['p50_ms']):.2f}", f"{statistics.median(lat['p95_ms']):.2f}",
                      interval(x["median"], x["min"], x["max"])]
        b = row["batch_x_ref"]
        cells += [f"{statistics.median(row['batch_queries_per_s']):.1f}", interval(b["median"], b["min"], b["max"]),
                  f"{100 * row['mrr@100']:.2f}", f"{100 * row['recall@20']:.2f}"]
        rows.append(cells)
    head = ["query encoder"] + [h for t in threads for h in (f"p50 ms {t}t", f"p95 ms {t}t", f"p50/{ref}")]
    head += ["batch q/s", f"q/s / {ref}", "MRR@100", "R@20"]
    return (f"`python -m benchmarks.bench_query_encoder` ({where(record)}): {r['data']}, {r['questions']:,} questions "
            f"for MRR@100 and R@20 (one run each), {r['latency_queries']} timed one at a time (encode + search, "
            f"`FaissSearcher.search`) at 1 and 2 threads, {r['batch_queries']:,} in the timed batch run; "
            f"{r['encoder']}, {r['index']} index; median of {r['rounds']} interleaved rounds, [min-max] of the "
            f"per-round ratio to `{ref}` (p50/{ref}: below 1 is faster; q/s / {ref}: above 1 is faster):\n\n```\n"
            + format_table(head, rows) + "\n```\n")


BLOCKS: dict[str, Callable[[str], str]] = {
    "demo-table": demo_table,
    "demo-when": demo_when,
    "demo-tests": demo_tests,
    "test-times": test_times,
    "recipe-folds": recipe_folds,
    "recipe-all": recipe_all,
    "recipe-tests": recipe_tests,
    "gpu-rates": gpu_rates,
    "gpu-half-precision": gpu_half_precision,
    "gpu-job": gpu_job_line,
    "gpu-projection": gpu_projection,
    "parity-int8": parity_int8,
    "search-latency": search_latency,
    "refuse-speed": refuse_speed,
    "refuse-mrr": refuse_mrr,
    "fuse-memory": fuse_memory,
    "encode-throughput": encode_throughput,
    "study-levels": study_levels,
    "study-latency": study_latency,
    "scale-engine": scale_engine,
    "scale-ray": scale_ray,
    "scale-recovery": scale_recovery,
    "scale-costs": scale_costs,
    "gpu-index-200k": gpu_index_200k,
    "mixture-1m": mixture_1m,
    "ivf-default-1m": ivf_default_1m,
    "parity-table": parity_table,
    "bench-generate": bench_generate,
    "bench-query-encoder": bench_query_encoder,
}


def render(text: str) -> str:
    """``text`` with every block rendered again from the artifacts."""
    def one(match: re.Match) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise KeyError(f"unknown rendered block {name!r} (known: {', '.join(BLOCKS)})")
        return match.group("open") + BLOCKS[name](match.group("body")) + match.group("close")

    return BLOCK.sub(one, text)


# ------------------------------------------------------------------------------------ lint
# a measured-looking figure: a number or range with a decimal point, a unit or a ratio sign
NUMBER = r"\d[\d,]*(?:\.\d+)?"
CANDIDATE = re.compile(rf"(?<![\w.\-/=@])[-+]?(?P<value>{NUMBER}(?:\s?-\s?{NUMBER})?)"
                       r"(?P<unit>x(?![\w])|\s?(?:%|ms|s|min|h|GB|GiB|MB|KB|TB|GPU-hours|years)(?![\w]))?")


def figures(prose: str):
    for match in CANDIDATE.finditer(prose):
        if match.group("unit") or "." in match.group("value"):
            yield match


# settings and names, not measurements: "alpha 0.2", "Python 3.11", "Tevatron 0.1.0", "CC BY-SA 4.0"
EXEMPT_BEFORE = re.compile(r"(alpha|Python|Java|Tevatron|transformers|torch|BY-SA|version|v|exit|efSearch|"
                           r"efConstruction|nprobe|M|default:?|--[\w-]+)\s*$")


COMMAND_FENCES = {"bash", "sh", "console", "yaml", "json", "python", "toml"}


def unrendered_figures(text: str) -> list[tuple[int, str, str]]:
    """(line, figure, line text) of each measured-looking figure outside rendered blocks and
    inline code.  Fenced blocks are output unless they name a language of commands or settings
    (```bash, ```yaml, ...): pasted output is linted like prose."""
    out = []
    fence: str | None = None  # the open fence's language ("" for plain output)
    inside_block = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("<!-- render:") and "<!-- /render -->" not in line:
            inside_block = True
            continue
        if line.startswith("<!-- /render"):
            inside_block = False
            continue
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if inside_block or (fence is not None and fence in COMMAND_FENCES):
            continue
        prose = re.sub(r"<!-- render: [\w-]+ -->.*?<!-- /render -->", "", line)
        prose = re.sub(r"`[^`]*`", "", prose)
        prose = re.sub(r"\]\([^)]*\)", "]", prose)  # link targets
        prose = re.sub(r"\b\d{4}-\d{2}-\d{2}\b", "", prose)  # dates
        for match in figures(prose):
            if EXEMPT_BEFORE.search(prose[:match.start()]):
                continue
            out.append((number, match.group(0).strip(), line.strip()))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = argv == ["--check"]
    if argv and not check:
        raise SystemExit("usage: render_docs.py [--check]")
    drifted = []
    for doc in DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        rendered = render(text)
        if rendered != text:
            drifted.append(str(doc.relative_to(ROOT)))
            if not check:
                doc.write_text(rendered, encoding="utf-8")
    if check and drifted:
        print(f"not rendered from their artifacts: {', '.join(drifted)} (run make docs)", file=sys.stderr)
        return 1
    if drifted:
        print(f"rendered: {', '.join(drifted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
