"""Per-query trec_eval numbers from Pyserini's own ``eval.trec_eval`` (run as a subprocess,
exactly the command a user would type), aggregated per query language."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

from xqg_tevatron.pyserini.bootstrap import JavaSettings


def normalised_copy(path: str | Path, n_fields: int, layout: str, what: str, folder: Path) -> Path:
    """``path`` as read under the plugin's one text rule (``corpus.TEXT_RULE``: BOM dropped, any
    line end), written back as plain whitespace-separated lines for trec_eval, which would
    otherwise read a BOM into the first query id.  A file with no line at all is an error."""
    from xqg_tevatron.corpus import CorpusFormatError, iter_fields

    lines = [" ".join(parts) + "\n" for _, parts in iter_fields(path, n_fields, layout)]
    if not lines:
        raise CorpusFormatError(f"{path}: no {what} (an empty file)")
    out = folder / Path(path).name
    out.write_text("".join(lines), encoding="utf-8")
    return out


def trec_eval_per_query(qrels: str | Path, run: str | Path, metrics: Iterable[str],
                        java: JavaSettings | None = None) -> dict[str, dict[str, float]]:
    """``{qid: {metric: value}}`` via ``python -m xqg_tevatron.pyserini eval.trec_eval -q -c``
    (on the JVM ``java`` describes)."""
    cmd = [sys.executable, "-m", "xqg_tevatron.pyserini", *(java or JavaSettings()).argv(), "eval.trec_eval", "-q", "-c"]
    for m in metrics:
        cmd += ["-m", m]
    with tempfile.TemporaryDirectory(prefix="xqg-trec-eval-") as tmp:
        (Path(tmp) / "qrels").mkdir()
        (Path(tmp) / "run").mkdir()
        files = [normalised_copy(qrels, 4, "qid 0 docid rel", "judgements", Path(tmp) / "qrels"),
                 normalised_copy(run, 6, "qid Q0 docid rank score tag", "ranked passages", Path(tmp) / "run")]
        proc = subprocess.run(cmd + [str(f) for f in files], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"trec_eval failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            try:
                out[parts[1]][parts[0]] = float(parts[2])
            except ValueError:
                continue
    if "all" not in out:
        raise RuntimeError(f"trec_eval printed no summary:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return dict(out)


def by_language(per_query: dict[str, dict[str, float]], lang_of: Callable[[str], str]) -> dict[str, dict[str, float]]:
    """Mean of each metric per language plus ``Avg`` (macro average over languages)."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for qid, vals in per_query.items():
        if qid == "all":
            continue
        for metric, v in vals.items():
            sums[lang_of(qid)][metric].append(v)
    table = {lang: {m: sum(v) / len(v) for m, v in ms.items()} for lang, ms in sorted(sums.items())}
    metrics = {m for ms in table.values() for m in ms}
    table["Avg"] = {m: sum(table[l][m] for l in table if m in table[l]) / len(table) for m in metrics}
    return table
