"""Work directories that can be resumed, and only ever deleted, by the job that made them.

Why: a resumable job (encode, generation, study) skips chunks it finds finished.  If the work
directory was started for another corpus or other settings, skipping would silently mix the
two.  So every work directory records what it was started for (settings plus a fingerprint of
every input file) in ``settings.json``, and a rerun that differs is refused with what
differs.  ``--overwrite`` deletes only directories carrying one of the plugin's markers, never
a folder the user pointed at by mistake.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable

from xqg_tevatron.chunking import atomic_write_text

SETTINGS = "settings.json"
INDEX_MANIFEST = "xqg_manifest.json"
BLOCK = 1 << 20


class WorkDirError(ValueError):
    """A work or output directory that must not be used or removed as asked."""


def file_fingerprint(path: str | os.PathLike) -> dict:
    """Identity of an input file without reading all of it: path, size, mtime and a hash of its
    first and last MiB (a changed, replaced or truncated corpus changes at least one)."""
    p = Path(path).resolve()
    if p.is_dir():  # an HF save_to_disk directory: every file in it
        return {"path": str(p), "files": [file_fingerprint(f) for f in sorted(p.rglob("*")) if f.is_file()]}
    st = p.stat()
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        h.update(fh.read(BLOCK))
        if st.st_size > BLOCK:
            fh.seek(max(BLOCK, st.st_size - BLOCK))
            h.update(fh.read(BLOCK))
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_tail_sha256": h.hexdigest()}


def fingerprint_inputs(paths: Iterable[str | os.PathLike]) -> list[dict]:
    return [file_fingerprint(p) for p in paths]


def settings_difference(old: dict, new: dict) -> dict:
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def claim_work_dir(work_dir: str | os.PathLike, settings: dict, what: str = "job") -> Path:
    """Create ``work_dir`` for ``settings`` or check that it was started with exactly them."""
    work = Path(work_dir)
    path = work / SETTINGS
    if work.exists() and not work.is_dir():
        raise WorkDirError(f"work dir {work} is a file")
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = settings_difference(old, settings)
        if diff:
            keys = ", ".join(diff)
            raise WorkDirError(f"work dir {work} was started for another {what} (differs in: {keys}); rerun with "
                               f"--overwrite to start over (removes only that work dir) or pass another --work_dir")
        return work
    if work.exists() and any(p.name != SETTINGS and not p.name.endswith(".tmp") for p in work.iterdir()):
        raise WorkDirError(f"work dir {work} holds files but no {SETTINGS}: not made by xqg_tevatron; "
                           "pass another --work_dir")
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(settings, indent=2, sort_keys=True))
    return work


def made_by_plugin(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / SETTINGS).is_file() or (p / INDEX_MANIFEST).is_file())


def remove_plugin_dir(path: str | os.PathLike) -> None:
    """``--overwrite``: delete ``path`` only if xqg_tevatron made it (or it is empty)."""
    p = Path(path)
    if not p.exists():
        return
    if not p.is_dir():
        raise WorkDirError(f"refusing to delete {p}: not a directory made by xqg_tevatron")
    if any(p.iterdir()) and not made_by_plugin(p):
        raise WorkDirError(f"refusing to delete {p} for --overwrite: it was not made by xqg_tevatron (no "
                           f"{SETTINGS} or {INDEX_MANIFEST} in it); remove it yourself or choose another path")
    shutil.rmtree(p)


def check_replaceable(path: str | os.PathLike, overwrite: bool) -> None:
    """An output directory may be written if absent or empty, or replaced with ``overwrite``
    when the plugin made it.  Checked before any work starts."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise WorkDirError(f"{p} exists and is a file")
    if not p.exists() or not any(p.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{p} exists and is not empty; pass --overwrite to replace it")
    if not made_by_plugin(p):
        raise WorkDirError(f"refusing to replace {p} for --overwrite: it was not made by xqg_tevatron (no "
                           f"{INDEX_MANIFEST} in it); choose another path")


def model_fingerprint(model_dir: str) -> str:
    """sha256 over the weight and config files of a model directory (identifies the encoder)."""
    h = hashlib.sha256()
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".safetensors", ".bin", ".json", ".pt"})
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$XQG_CACHE`` if set, else the user's cache folder (never inside the installed package)."""
    if os.environ.get("XQG_CACHE"):
        return Path(os.environ["XQG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xqg_tevatron"
