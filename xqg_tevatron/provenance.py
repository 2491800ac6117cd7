"""Where a reported figure came from: the commit, date, command, machine and load of the run
that measured it, written by the measuring command itself beside its results.

Why: users choose hardware, index types and recipes from the numbers this project prints, so
each number in README.md and docs/ is rendered from an artifact that says how it was made
(``docs/results/*.json``), never typed.  :func:`artifact` wraps a command's results in that
record; the load average before and after says whether the machine was busy.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

LIBRARIES = ("torch", "transformers", "faiss", "pyserini", "numpy", "scipy", "onnxruntime", "tevatron")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu() -> Optional[dict]:
    """The GPU torch sees, if torch is already loaded by the command (never imported for this)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1), "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda}


def library_versions(names: Sequence[str] = LIBRARIES) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in names:
        dist = {"faiss": "faiss-cpu"}.get(name, name)
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine() -> dict:
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "gpu": gpu(), "python": platform.python_version(),
            "system": platform.platform(), "libraries": library_versions()}


def commit(cwd: Optional[Path] = None) -> dict:
    """The checkout's commit and whether it had uncommitted changes (None outside git)."""
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted_changes": None}
    if head.returncode != 0:
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": head.stdout.strip(), "uncommitted_changes": bool(dirty.stdout.strip())}


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class Provenance:
    """Started when a measuring command starts; :meth:`record` wraps its results once done."""

    def __init__(self, command: Sequence[str] | str):
        self.command = command if isinstance(command, str) else " ".join(command)
        self.started = datetime.now(timezone.utc)
        self.load_before = load_average()

    def record(self, results: dict) -> dict:
        return {**commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "started": self.started.isoformat(timespec="seconds"), "command": self.command, "machine": machine(),
                "load": {"loadavg_1_5_15_before": self.load_before, "loadavg_1_5_15_after": load_average()},
                "results": results}

    def write(self, path: Path, results: dict) -> Path:
        from xqg_tevatron.runtime.atomic_io import atomic_write_text

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.record(results), indent=1, ensure_ascii=False) + "\n")
        return path
