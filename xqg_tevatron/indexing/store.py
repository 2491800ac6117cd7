"""The encode store: what a work dir of ``driver.encode`` / ``job`` holds and what its counts say.

A unit's files are the components of ``xqg/components.py`` (passage vectors, per-language sums
and counts of generated-query vectors); this module names the work dir's kind and format, writes
a unit's files, reads the work dir's settings, and turns stored counts into the numbers a
manifest records and the warnings an encode gives (at its first unit) and a merge repeats.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from xqg_tevatron.runtime.units import Unit
from xqg_tevatron.runtime.workdir import WorkDirError, read_marker
from xqg_tevatron.xqg.components import fused_query_counts, npy_bytes, npy_load
from xqg_tevatron.xqg.fusion import Fusion

WORK_KIND = "encode-work"
COMPONENTS_FORMAT = 2  # units hold components (passage vectors, per-language query sums and counts)


def unit_files(docids: Sequence[str], p_vecs: np.ndarray, qsum: np.ndarray, qcount: np.ndarray, store_dtype: str,
               multi: Optional[tuple[np.ndarray, np.ndarray]] = None) -> dict[str, bytes]:
    """A unit's stored files (``xqg/components.py``): vector parts in ``store_dtype`` (rounded
    once, from float32), counts as int32; ``multi`` = (query vectors, owner rows) for multi rows."""
    stored = np.dtype(store_dtype)
    files = {".npy": npy_bytes(p_vecs.astype(stored, copy=False)), ".ids": "".join(f"{d}\n" for d in docids).encode("utf-8"),
             ".qsum.npy": npy_bytes(qsum.astype(stored, copy=False)), ".qcount.npy": npy_bytes(qcount)}
    if multi is not None:
        files[".queries.npy"] = npy_bytes(multi[0].astype(stored, copy=False))
        files[".qowner.npy"] = npy_bytes(multi[1].astype(np.int32))
    return files


def encode_work_settings(work: Path) -> dict:
    """The settings an encode work dir was started with; a one-line error for any other folder."""
    if not work.is_dir():
        raise FileNotFoundError(f"work dir not found: {work}")
    marker = read_marker(work)
    if marker is None or marker.get("kind") != WORK_KIND or "settings" not in marker:
        raise WorkDirError(f"{work} is not an encode work dir of xqg_tevatron (written by driver.encode)")
    return marker["settings"]


def fused_counts(unit: Unit, record: dict, fusion: Fusion) -> np.ndarray:
    """How many generated queries each passage of a unit fuses under ``fusion``."""
    return fused_query_counts(npy_load(unit.read_bytes(".qcount.npy")), record, fusion, str(unit.record_path))


def queries_per_passage(metas: list[dict], counts: dict) -> dict:
    """min / mean / max generated queries used per passage (0 = the passage stays plain)."""
    mins = [m["queries_per_passage_min"] for m in metas if "queries_per_passage_min" in m]
    maxs = [m["queries_per_passage_max"] for m in metas if "queries_per_passage_max" in m]
    return {"min": min(mins) if mins else None, "max": max(maxs) if maxs else None,
            "mean": round(counts["generated_queries"] / counts["passages"], 4) if counts["passages"] else None}


def varying_sum_warning(settings: dict, per_passage: dict) -> list[str]:
    """Why: with aggregation=sum the query part of e_p' grows with the number of queries, so on
    normalised encoders passages with more generated queries outrank the rest for every query
    (measured on the XQuAD dev half: plain MRR 0.84, sum recipes 0.07-0.43; docs/results.md).  The paper's constant 35 per passage avoids it."""
    if settings.get("vector_mode") != "fused" or settings.get("aggregation") != "sum" or not settings.get("alpha"):
        return []
    if per_passage["min"] is None or per_passage["min"] == per_passage["max"]:
        return []
    return [f"aggregation=sum with a varying number of generated queries per passage (min {per_passage['min']}, "
            f"mean {per_passage['mean']}, max {per_passage['max']}): passages with more queries get longer vectors "
            "and outrank the others for every query; use --aggregation mean, or the same number of queries for "
            "every passage (--n_per_lang with complete generations)"]
