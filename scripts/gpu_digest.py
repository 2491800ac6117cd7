"""Digest the raw output of ``make bench-gpu`` into an artifact, by code (never by hand).

    python scripts/gpu_digest.py docs/gpu/h200-2026-11-28-bench_gpu.log docs/gpu/h200-2026-11-28-job.log \\
        --output docs/results/gpu_h200_2026-11-28.json

Why: the GPU figures the documents use come from a log that a device run printed; the log stays
raw (``docs/gpu/*.log``) and this digest is what the renderer reads.  It keeps every table row
the benchmark printed, each section's time limit and how it ended, and the environment line
(GPU, torch, transformers) of each run in the log; the digest records the sha256 of the logs
it was made from.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^=== (?P<name>\w+) \(limit (?P<limit>\d+) s\)$")
END = re.compile(r"^--- (?P<name>\w+): (?P<how>ok in (?P<ok>\d+) s|stopped at its (?P<limit>\d+) s limit in (?P<spent>\d+) s)")
JOB = re.compile(r"^job: (?P<passages>[\d,]+) passages x \((?P<langs>\d+) languages? x (?P<n>\d+) queries\) on "
                 r"(?P<device>\w+) \((?P<dtype>\w+)\), (?P<executor>\w+) executor: (?P<seconds>[\d.]+) s = "
                 r"(?P<rate>[\d.]+) passages/s")
UNIT_COLUMNS = ("unit", "model", "device", "precision", "backend", "batch", "units", "per_s", "s_per_unit")
INDEX_COLUMNS = ("case", "n", "index", "search", "R@10", "R@100", "MRR", "p50_ms", "MB", "build_s")


def number(text: str):
    if text == "-":
        return None
    try:
        return int(text.replace(",", ""))
    except ValueError:
        return float(text)


def unit_row(line: str) -> dict | None:
    """A per-unit rate row: 'generated query' is a two-word unit."""
    parts = line.split()
    if line.startswith("generated query"):
        parts = ["generated query", *parts[2:]]
    if len(parts) != len(UNIT_COLUMNS) or parts[2] not in ("cuda", "cpu"):
        return None
    return {c: (number(v) if c in ("batch", "units", "per_s", "s_per_unit") else v) for c, v in zip(UNIT_COLUMNS, parts)}


def index_row(line: str) -> dict | None:
    """An index sweep row: columns split on runs of two or more spaces."""
    parts = re.split(r"\s{2,}", line.strip())
    if len(parts) != len(INDEX_COLUMNS) or parts[0] not in ("in-domain", "island"):
        return None
    return {c: (v if c in ("case", "index", "search") else number(v)) for c, v in zip(INDEX_COLUMNS, parts)}


def digest_log(path: Path) -> list[dict]:
    """The runs of one log: each starts at an environment line (a JSON object)."""
    runs: list[dict] = []
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{") and line.endswith("}"):
            runs.append({"environment": json.loads(line), "sections": []})
            section = None
            continue
        if not runs:
            continue
        if line.startswith("make: ***"):  # the command that ran the benchmark failed
            runs[-1].setdefault("errors", []).append(line)
            continue
        if m := SECTION.match(line):
            section = {"name": m["name"], "limit_s": int(m["limit"]), "end": None, "rows": [], "notes": []}
            runs[-1]["sections"].append(section)
            continue
        if section is None:
            continue
        if m := END.match(line):
            section["end"] = ({"status": "ok", "seconds": int(m["ok"])} if m["ok"] else
                              {"status": "stopped at its limit", "seconds": int(m["spent"])})
        elif m := JOB.match(line):
            section["job"] = {"passages": number(m["passages"]), "languages": int(m["langs"]),
                              "queries_per_language": int(m["n"]), "device": m["device"], "dtype": m["dtype"],
                              "executor": m["executor"], "seconds": float(m["seconds"]),
                              "passages_per_s": float(m["rate"])}
        elif row := (unit_row(line) or index_row(line)):
            section["rows"].append(row)
        elif line.startswith(("note:", "warning:", "e5 pack:")):
            section["notes"].append(line)
    return runs


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from xqg_tevatron.provenance import Provenance

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    provenance = Provenance(["python scripts/gpu_digest.py", *(sys.argv[1:] if argv is None else argv)])
    logs = []
    for log in args.logs:
        logs.append({"log": str(log), "sha256": hashlib.sha256(log.read_bytes()).hexdigest(), "runs": digest_log(log)})
    provenance.write(args.output, {"what": "digest of raw make bench-gpu output (the GPU machine's environment is "
                                           "each run's 'environment'; 'machine' below is where the digest ran)",
                                   "logs": logs})
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
