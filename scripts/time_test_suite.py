"""Time a test command and record it as an artifact (docs/results/test_suite_times.json).

    python scripts/time_test_suite.py NAME [--cwd DIR] -- COMMAND...
    python scripts/time_test_suite.py --readme      # render the documents (make docs) from the artifacts

Why: the README's Development section states how long the test commands take; that line is
rendered from this file, which says what ran, where, on which commit and how busy the machine
was.  Each NAME is one entry (``make test``, ``make test-fast``, ``fresh clone .ci/run``,
``make bench-quick``), replaced when measured again; the other entries stay.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "docs" / "results" / "test_suite_times.json"
CLOSING = re.compile(r"^=*\s*(?P<summary>(\d+ \w+(, )?)+) in (?P<seconds>[\d.]+)s", re.M)
# benchmarks.run_all's last line: where a benchmark run's time went
PER_BENCHMARK = re.compile(r"^run_all: wall seconds per benchmark: (?P<pairs>.*); total (?P<total>\d+)$", re.M)


def provenance():
    """The plugin's provenance module (machine, commit, load): the one copy of those rules; the
    script runs under any Python, so the checkout is put on the path, not the package installed."""
    sys.path.insert(0, str(ROOT))
    import xqg_tevatron.provenance as provenance

    return provenance




def minutes(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60} min {whole % 60:02d} s"


def render(record: dict) -> str:
    """The README's sentence on how long the test and smoke commands took, from the artifact (a
    run that failed is no timing and is left out)."""
    record = {name: e for name, e in record.items() if e.get("exit") == 0}
    parts = []
    if "make test" in record:
        e = record["make test"]
        parts.append(f"`make test` {minutes(e['pytest']['seconds'])} ({e['pytest']['summary']}, pytest's own time, "
                     f"{e['date'][:10]}, commit {e['commit']})")
    if "fresh clone .ci/run" in record:
        e = record["fresh clone .ci/run"]
        parts.append(f"a fresh clone's `.ci/run`, installation included, {minutes(e['wall_s'])} "
                     f"({e['date'][:10]}, commit {e['commit']})")
    if "make test-fast" in record:
        e = record["make test-fast"]
        parts.append(f"`make test-fast` {e['wall_s']:.0f} s in all (pytest {e['pytest']['seconds']:.1f} s, commit {e['commit']})")
    if "fresh clone make demo" in record:
        e = record["fresh clone make demo"]
        parts.append(f"`make demo` on a fresh clone, installation, encoder build and FreeDict fetch included, "
                     f"{minutes(e['wall_s'])} ({e['date'][:10]}, commit {e['commit']})")
    if "make bench-quick" in record:
        e = record["make bench-quick"]
        parts.append(f"`make bench-quick` {minutes(e['wall_s'])} (commit {e['commit']})")
    cores = next(iter(record.values()))["machine"]["cores"] if record else "?"
    load = max(e["load"]["loadavg_1_5_15_before"][0] for e in record.values()) if record else 0
    return (f"Measured on this project's {cores}-core machine, one run at a time (1-minute load average "
            f"before each at most {load:.2f}; `docs/results/test_suite_times.json`): " + "; ".join(parts) +
            f". `make bench` (every benchmark at its full sizes) has not been timed end to end on {cores} cores.")


def write_readme() -> None:
    """The README's ``test-times`` block, through the one renderer (``make docs``)."""
    import runpy

    runpy.run_path(str(ROOT / "scripts" / "render_docs.py"), run_name="render_docs")["main"]([])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--readme"]:
        write_readme()
        return 0
    if "--" not in argv:
        raise SystemExit("usage: time_test_suite.py NAME [--cwd DIR] -- COMMAND...")
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--cwd", default=str(ROOT))
    args, command = parser.parse_args(argv[:split]), argv[split + 1:]
    cwd = Path(args.cwd)
    prov = provenance()
    checkout = prov.commit(cwd)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = prov.load_average()
    started = time.time()
    proc = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.time() - started
    sys.stdout.write(proc.stdout[-20000:])
    closing = list(CLOSING.finditer(proc.stdout))
    durations = re.findall(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)", proc.stdout, flags=re.M)
    entry = {
        "command": " ".join(command), "cwd": str(cwd), **checkout,
        "started": started_at, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": prov.machine(),
        "load": {"loadavg_1_5_15_before": load_before, "loadavg_1_5_15_after": prov.load_average()},
        "exit": proc.returncode, "wall_s": round(wall, 1),
        "pytest": ({"summary": closing[-1].group("summary"), "seconds": float(closing[-1].group("seconds"))}
                   if closing else None),
        "slowest": [{"seconds": float(s), "phase": phase, "test": test} for s, phase, test in durations[:15]],
    }
    per_benchmark = list(PER_BENCHMARK.finditer(proc.stdout))
    if per_benchmark:
        pairs = (pair.rsplit(" ", 1) for pair in per_benchmark[-1].group("pairs").split(", "))
        entry["benchmarks_s"] = {name: int(seconds) for name, seconds in pairs}
    record = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    record[args.name] = entry
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\n{args.name}: exit {proc.returncode}, {wall:.0f} s wall -> {ARTIFACT}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
