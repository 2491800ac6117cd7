"""Folders the plugin owns: ownership markers, locks, path checks, fingerprints.

Why: a resumable job (encode, generation, study) skips units it finds finished, and
``--overwrite`` replaces outputs.  Both are safe only on folders the plugin made, for the
settings it is run with, by one process at a time:

* **Ownership.**  A folder is the plugin's only if it holds the marker file :data:`MARKER`
  (JSON with a format id such as ``xqg_tevatron/encode-work/1``), never because it holds a
  common file name.  The marker of a work dir also records what it was started for
  (settings plus a fingerprint of every input file); a rerun that differs is refused with
  what differs, and ``--overwrite`` re-claims it, dropping only the units that no longer
  match.  Nothing without a marker is ever deleted, and a work dir is never confused with
  an index (the marker says which it is).
* **Paths.**  A work dir and the output it feeds may not be the same folder or inside each
  other (checked before any work).
* **Locks.**  Advisory ``flock`` locks: a work dir is shared by the shards of one job (each
  shard exclusively), an output is written by one process.  A second process gets a
  one-line error naming the first.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterable, Optional

from xqg_tevatron.runtime.atomic_io import (MARKER, TMP_TAG, atomic_write_text, head_tail_sha256, pid_alive, read_json,
                                            remove_stale_temporaries, remove_tree)

FORMAT = "xqg_tevatron/{kind}/1"
# the file an index dir records its request in (read here to tell a rerun over its own output;
# written and verified by indexing/manifest.py)
INDEX_MANIFEST = "xqg_manifest.json"
_LOCK = ".xqg_tevatron.lock"


class WorkDirError(ValueError):
    """A work or output directory that must not be used or removed as asked."""


class LockedError(WorkDirError):
    """Another process holds the folder."""


# ------------------------------------------------------------------------------ fingerprints
def file_fingerprint(path: str | os.PathLike) -> dict:
    """Identity of an input file without reading all of it: path, size, mtime and a hash of its
    first and last MiB (a changed, replaced or truncated corpus changes at least one)."""
    p = Path(path).resolve()
    if p.is_dir():  # an HF save_to_disk directory: every file in it
        return {"path": str(p), "files": [file_fingerprint(f) for f in sorted(p.rglob("*")) if f.is_file()]}
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_tail_sha256": head_tail_sha256(p)}


def fingerprint_inputs(paths: Iterable[str | os.PathLike]) -> list[dict]:
    return [file_fingerprint(p) for p in paths]


def settings_difference(old: dict, new: dict) -> dict:
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """sha256 over the weight, config and tokenizer files of a model directory."""
    h = hashlib.sha256()
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".safetensors", ".bin", ".json", ".pt",
                                                                              ".model", ".txt"}
                   and not p.name.startswith("."))
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def default_cache_dir(cache_dir: Optional[str | os.PathLike] = None) -> Path:
    """``cache_dir`` if given, else ``$XQG_CACHE``, else the user's cache folder (never inside the
    installed package)."""
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("XQG_CACHE"):
        return Path(os.environ["XQG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xqg_tevatron"


# ---------------------------------------------------------------------------------- markers
def read_marker(path: str | os.PathLike) -> Optional[dict]:
    """The plugin's marker of ``path`` (None if it has none)."""
    marker = Path(path) / MARKER
    if not marker.is_file():
        return None
    record = read_json(marker, "xqg_tevatron marker")
    if not str(record.get("format", "")).startswith("xqg_tevatron/"):
        raise WorkDirError(f"{marker}: not an xqg_tevatron marker (format {record.get('format')!r})")
    return record


def write_marker(path: Path, kind: str, settings: Optional[dict] = None, made_by: Optional[dict] = None) -> None:
    record = {"format": FORMAT.format(kind=kind), "kind": kind}
    if settings is not None:
        record["settings"] = settings
    if made_by is not None:
        record["made_by"] = made_by
    atomic_write_text(path / MARKER, json.dumps(record, indent=2, sort_keys=True))


def _ours(name: str) -> bool:
    return name == MARKER or name.startswith(_LOCK) or TMP_TAG in name


def _has_foreign_files(p: Path) -> bool:
    return any(not _ours(c.name) for c in p.iterdir())


# ------------------------------------------------------------------------------------ paths
def check_separate(work_dir: str | os.PathLike, *paths: str | os.PathLike, what: str = "--work_dir") -> None:
    """Refuse a work dir that is one of ``paths`` (the output, the inputs), holds it, or lies
    inside it (the clean-up of one would delete the other).  Called before any work."""
    w = Path(work_dir).resolve()
    for output in paths:
        o = Path(output).resolve()
        if w == o:
            raise WorkDirError(f"{what} {work_dir} is the output itself; give the work dir its own folder")
        if w in o.parents:
            raise WorkDirError(f"{what} {work_dir} holds the output {output}; give the work dir its own folder")
        if o in w.parents:
            raise WorkDirError(f"{what} {work_dir} lies inside the output {output}; give the work dir its own folder")


# ------------------------------------------------------------------------------------ locks
class FolderLock:
    """Advisory locks of one folder: ``shared`` for the shards of one job, ``exclusive`` for
    whoever changes or replaces it.  Holders leave a small file naming themselves, so a refused
    process can say who is in the way."""

    def __init__(self, lock_file: Path, holders_dir: Path, label: str):
        self.lock_file = lock_file
        self.holders_dir = holders_dir
        self.label = label
        self.fd: Optional[int] = None
        self.holder_file: Optional[Path] = None

    def acquire(self, exclusive: bool, wait: float = 0.0) -> bool:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        if self.fd is None:
            self.fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self.fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
        if self.holder_file is None:
            self._forget_dead_holders()
            self.holder_file = self.holders_dir / f"{self.lock_file.name}.holder-{os.getpid()}"
            atomic_write_text(self.holder_file, json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(sys.argv)[:300]}))
        return True

    def require(self, exclusive: bool, wait: float = 0.0) -> None:
        if not self.acquire(exclusive, wait):
            raise LockedError(f"{self.label} is in use by another xqg_tevatron process ({self.describe_holders()}); "
                              "wait for it to finish or use another folder")

    def _holder_records(self) -> Iterable[tuple[Path, dict]]:
        for p in sorted(self.holders_dir.glob(f"{self.lock_file.name}*.holder-*")):
            try:
                yield p, json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue

    def _forget_dead_holders(self) -> None:
        """Holder notes of processes that died on this host (kill -9 leaves them behind)."""
        for p, rec in self._holder_records():
            if rec.get("host") == socket.gethostname() and not pid_alive(int(rec.get("pid", 0))):
                p.unlink(missing_ok=True)

    def describe_holders(self) -> str:
        found = []
        for p, rec in self._holder_records():
            if p == self.holder_file:
                continue
            if rec.get("host") == socket.gethostname() and not pid_alive(int(rec.get("pid", 0))):
                continue
            found.append(f"pid {rec.get('pid')} on {rec.get('host')} since {rec.get('since')}: {rec.get('command')}")
        return "; ".join(found) or "holder unknown"

    def release(self) -> None:
        if self.holder_file is not None:
            self.holder_file.unlink(missing_ok=True)
            self.holder_file = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def work_dir_lock(work: Path, name: str = "") -> FolderLock:
    return FolderLock(work / f"{_LOCK}{name}", work, f"work dir {work}")


def output_lock(output: str | os.PathLike) -> FolderLock:
    """The lock of an output (an index folder or a file): a hidden file beside it."""
    out = Path(output)
    return FolderLock(out.with_name(f"{_LOCK}.{out.name}"), out.parent, f"output {out}")


def lock_output(output: str | os.PathLike) -> FolderLock:
    """Take the output's exclusive lock (or fail naming its holder); also clears what killed
    writers left beside it (hidden copies, an unfinished swap)."""
    lock = output_lock(output)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    lock.require(exclusive=True)
    remove_stale_temporaries(output)
    return lock


# ------------------------------------------------------------------------------- work dirs
def claim_work_dir(work_dir: str | os.PathLike, settings: dict, kind: str, what: str = "job",
                   overwrite: bool = False, shard: str = "", made_by: Optional[dict] = None,
                   locks: Optional[list[FolderLock]] = None) -> list[FolderLock]:
    """Create ``work_dir`` for ``settings`` or check that it was started with exactly them, and
    lock it (shared by the job's shards; ``shard`` exclusively).  ``locks``: what
    :func:`lock_work_dir` took earlier (before any model loaded); else they are taken now.
    With ``overwrite`` a work dir started with other settings is re-claimed (its units are
    dropped, the folder stays), but only by the command that made it, for the same output.
    Returns the locks, to be released when the job ends."""
    work = Path(work_dir)
    locks = locks or lock_work_dir(work, kind, overwrite, shard, made_by)
    try:
        _settle_claim(work, settings, kind, what, overwrite, locks[0], made_by)
    except BaseException:
        release(locks)
        raise
    return locks


def lock_work_dir(work_dir: str | os.PathLike, kind: str, overwrite: bool = False, shard: str = "",
                  made_by: Optional[dict] = None) -> list[FolderLock]:
    """The checks and locks of a work dir that need no settings, so a CLI takes them before
    anything expensive loads: a file, a foreign folder, another kind of folder, or the store of
    another command is refused; the shared lock (and the shard's exclusive one) is taken."""
    work = Path(work_dir)
    if work.exists() and not work.is_dir():
        raise WorkDirError(f"work dir {work} is a file")
    marker = read_marker(work) if work.exists() else None
    if marker is not None and marker.get("kind") != kind:
        raise WorkDirError(f"{work} is an xqg_tevatron {marker.get('kind')}, not a {kind} work dir; pass another "
                           "--work_dir")
    if marker is None and work.exists() and _has_foreign_files(work):
        raise WorkDirError(f"work dir {work} holds files but no {MARKER} marker: not made by xqg_tevatron; "
                           "pass another --work_dir")
    _check_maker(work, marker, made_by)
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(work)
    main = work_dir_lock(work)
    main.require(exclusive=False)
    locks = [main]
    try:
        if shard:
            own = work_dir_lock(work, f".{shard}")
            own.require(exclusive=True)
            locks.append(own)
    except BaseException:
        release(locks)
        raise
    return locks


def made_by_of(command: str, output: str | os.PathLike) -> dict:
    """What a work dir records about the command that made it (the module after
    ``python -m xqg_tevatron.``) and the output it feeds."""
    return {"command": command, "output": str(Path(output).resolve())}


def _describe(made_by: dict) -> str:
    return f"python -m xqg_tevatron.{made_by['command']} for {made_by['output']}"


def _check_maker(work: Path, marker: Optional[dict], made_by: Optional[dict]) -> None:
    """Only the command that made a store may use it: another command's store (a job's store
    holds its generated queries) is refused, naming the command that made it."""
    recorded = (marker or {}).get("made_by")
    if recorded and made_by and recorded.get("command") != made_by["command"]:
        raise WorkDirError(f"work dir {work} is the store of {_describe(recorded)}; "
                           f"{made_by['command']} neither reuses nor starts over another command's store: pass "
                           "another --work_dir")


def _settle_claim(work: Path, settings: dict, kind: str, what: str, overwrite: bool, main: FolderLock,
                  made_by: Optional[dict]) -> None:
    marker = read_marker(work)
    _check_maker(work, marker, made_by)  # again: another process may have claimed it since
    recorded = (marker or {}).get("settings")
    if recorded is not None and not settings_difference(recorded, settings):
        return
    recorded_by = (marker or {}).get("made_by")
    if recorded is not None:
        keys = ", ".join(settings_difference(recorded, settings))
        maker = f" by {_describe(recorded_by)}" if recorded_by else ""
        if not overwrite:
            raise WorkDirError(f"work dir {work} was started for another {what}{maker} (differs in: {keys}); rerun "
                               "with --overwrite to start it over (its finished units are replaced) or pass another "
                               "--work_dir")
        if recorded_by and made_by and recorded_by.get("output") != made_by["output"]:
            raise WorkDirError(f"work dir {work} was started{maker} with other settings (differs in: {keys}); "
                               "--overwrite starts over only a command's own work dir for the same output: pass "
                               "another --work_dir (or remove that one yourself)")
    # creating or re-claiming changes the folder: nobody else may be using it
    if not main.acquire(exclusive=True, wait=5.0):
        marker = read_marker(work)  # another shard of this same job may just have claimed it
        if marker is not None and not settings_difference(marker.get("settings") or {}, settings):
            return
        raise LockedError(f"work dir {work} is in use by another xqg_tevatron process ({main.describe_holders()}); "
                          "wait for it to finish or use another folder")
    try:
        if recorded is not None:
            for child in work.iterdir():
                if not _ours(child.name):
                    remove_tree(child) if child.is_dir() else child.unlink()
        write_marker(work, kind, settings, made_by)
    finally:
        main.acquire(exclusive=False)


def _recorded_request(index_dir: Path) -> Optional[dict]:
    try:
        return read_json(index_dir / INDEX_MANIFEST, "index manifest").get("request")
    except (OSError, ValueError):
        return None


def release(locks: Iterable[FolderLock]) -> None:
    for lock in locks:
        lock.release()


def remove_plugin_dir(path: str | os.PathLike, kinds: Optional[Iterable[str]] = None,
                      command: Optional[str] = None) -> None:
    """Delete ``path`` only if xqg_tevatron made it (of one of ``kinds``, when given; by
    ``command``, when given and the folder records its maker)."""
    p = Path(path)
    if not p.exists():
        return
    if not p.is_dir():
        raise WorkDirError(f"refusing to delete {p}: not a directory made by xqg_tevatron")
    marker = read_marker(p)
    if marker is None:
        if _has_foreign_files(p):
            raise WorkDirError(f"refusing to delete {p}: it was not made by xqg_tevatron (no {MARKER} marker in it); "
                               "remove it yourself or choose another path")
    elif kinds is not None and marker.get("kind") not in set(kinds):
        raise WorkDirError(f"refusing to delete {p}: it is an xqg_tevatron {marker.get('kind')}, not a "
                           f"{' or '.join(kinds)}")
    elif command and marker.get("made_by") and marker["made_by"].get("command") != command:
        raise WorkDirError(f"refusing to delete {p}: it is the store of {_describe(marker['made_by'])}")
    remove_tree(p)


def request_record(command: str, values: dict) -> dict:
    """What a command's output is a function of, as it was asked for (``values``: its settings
    with paths resolved), in the JSON form it is recorded and compared in."""
    return json.loads(json.dumps({"command": command, **values}, sort_keys=True, default=str))


def check_replaceable(path: str | os.PathLike, overwrite: bool, kind: str = "index",
                      request: Optional[dict] = None, command: Optional[str] = None) -> None:
    """An output directory may be written if absent or empty, or replaced with ``overwrite``
    when the plugin made it as that kind of output, or (no ``overwrite`` needed) when it is the
    output of this same command (its manifest records the same ``request``): a rerun then
    checks it and leaves it alone when it is up to date, as a build tool would.  Checked before
    any work starts; ``command`` instead of ``request``: the first, cheap pass, before the
    request is known (it hashes models), letting through only an output that ``command`` made."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise WorkDirError(f"{p} exists and is a file")
    if not p.exists() or not _has_foreign_files(p):
        return
    marker = read_marker(p)
    if marker is not None and marker.get("kind") != kind:
        raise WorkDirError(f"{p} is an xqg_tevatron {marker.get('kind')}, not an {kind}; choose another output path")
    recorded = _recorded_request(p) if marker is not None else None
    if not overwrite and recorded is not None and (recorded == request or (
            request is None and command is not None and recorded.get("command") == command)):
        return
    if not overwrite:
        raise FileExistsError(f"{p} exists and is not empty; pass --overwrite to replace it")
    if marker is None:
        raise WorkDirError(f"refusing to replace {p} for --overwrite: it was not made by xqg_tevatron (no {MARKER} "
                           "marker in it); choose another path")
