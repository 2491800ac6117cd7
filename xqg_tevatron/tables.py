"""The one table printer: every table the plugin prints (results per language, latency,
study cells, recipes) is a header and rows of cells, aligned the same way.

Why one: five printers had drifted apart (widths, percent vs fraction, missing cells); a
reader comparing the demo, the evaluation CLI and the study should see one format.
Numbers are right-aligned, text left-aligned; ``None`` prints as ``-``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

Cell = Optional[object]


def cell_text(value: Cell, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.{digits}f}"
    return str(value)


def format_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], digits: int = 3) -> str:
    """A plain-text table: header, a rule, one line per row; columns as wide as their widest cell."""
    text = [[str(h) for h in header]] + [[cell_text(v, digits) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) and bool(rows)
               for i in range(len(header))]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)).rstrip()

    out = [line(text[0]), "-" * len(line(text[0]))]
    out += [line(r) for r in text[1:]]
    return "\n".join(out)


def language_table(systems: Mapping[str, Mapping[str, Mapping[str, float]]], metrics: Mapping[str, str],
                   languages: Sequence[str]) -> str:
    """``systems[name][lang][metric]`` (fractions) as percentages: one row per system and metric,
    one column per language and ``Avg``.  ``metrics``: metric key -> the label printed."""
    columns = list(languages) + ["Avg"]
    rows = []
    for name, scores in systems.items():
        for key, label in metrics.items():
            values = [scores.get(c, {}).get(key) for c in columns]
            rows.append([name, label] + [None if v is None else round(100 * v, 1) for v in values])
            name = ""  # the system's name once, on its first row
    return format_table(["system", "metric"] + [c.capitalize() for c in columns], rows, digits=1)
