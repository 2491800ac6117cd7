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
def ivf_lists_1m(_: str = "") -> str:
    """Inline: the list count the plugin's rule gives the 1M-vector sweep (code, not measured)."""
    from xqg_tevatron.indexing.faiss_index import ivf_list_count

    rows = 1_000_000  # docs/bench_index_scale_1m.json: 120 real paragraphs + 999,880 distractors
    return f"1,024 of its {ivf_list_count(rows):,} lists, by the plugin's `{{nlist}}` rule"


def parity_int8(_: str = "") -> str:
    """onnx-int8 against torch per language, from docs/query_encoder_parity.json."""
    parity = json.loads((ROOT / "docs" / "query_encoder_parity.json").read_text(encoding="utf-8"))
    torch, int8 = parity["backends"]["torch"]["mrr"], parity["backends"]["onnx-int8"]["mrr"]
    diffs = {lang: 100 * (int8[lang] - torch[lang]) for lang in torch if lang != "Avg"}
    tested = ((parity.get("significance") or {}).get("systems", {}).get("onnx-int8") or {}).get("languages")
    if tested:  # the tests' exact differences, not the JSON's rounded MRRs
        diffs = {lang: 100 * r["difference"] for lang, r in tested.items()}
    worse = [f"{lang} {d:+.2f}" for lang, d in diffs.items() if d < 0]
    better = [f"{lang} {d:+.2f}" for lang, d in diffs.items() if d >= 0]
    text = (f"  - MRR@100 points against torch, per language (`docs/query_encoder_parity.json`): lower in "
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
             f"{i['p50_over_plain_median']:.2f} [{i['p50_over_plain_min']:.2f}-{i['p50_over_plain_max']:.2f}]"]
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
            f"stored queries' text); re-fuse time {r['time_ratio_median']:.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] "
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
            + f"\n```\n- xQG workload, Tevatron's two runs over the plugin's one: {r['ratio_median']:.2f}x "
            f"[{min(ratios):.2f}-{max(ratios):.2f}]; passages only: {r['passages_only_ratio_median']:.2f}x "
            f"[{min(passages):.2f}-{max(passages):.2f}].\n")


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
    "ivf-lists-1m": ivf_lists_1m,
    "parity-int8": parity_int8,
    "search-latency": search_latency,
    "refuse-speed": refuse_speed,
    "refuse-mrr": refuse_mrr,
    "fuse-memory": fuse_memory,
    "encode-throughput": encode_throughput,
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


def unrendered_figures(text: str) -> list[tuple[int, str, str]]:
    """(line, figure, line text) of each measured-looking figure outside rendered blocks, code
    blocks and inline code."""
    out = []
    inside_code = inside_block = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            inside_code = not inside_code
            continue
        if line.startswith("<!-- render:") and "<!-- /render -->" not in line:
            inside_block = True
            continue
        if line.startswith("<!-- /render"):
            inside_block = False
            continue
        if inside_code or inside_block:
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
