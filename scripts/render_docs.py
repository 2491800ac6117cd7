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
BLOCK = re.compile(r"(?P<open><!-- render: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(?P<close><!-- /render -->)", re.S)


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


BLOCKS: dict[str, Callable[[str], str]] = {
    "demo-table": demo_table,
    "demo-when": demo_when,
    "demo-tests": demo_tests,
    "test-times": test_times,
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
        if line.startswith("<!-- render:"):
            inside_block = True
            continue
        if line.startswith("<!-- /render"):
            inside_block = False
            continue
        if inside_code or inside_block:
            continue
        prose = re.sub(r"`[^`]*`", "", line)
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
