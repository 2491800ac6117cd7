"""Atomic file and directory writes: the one place every output of the plugin goes through.

Why: a killed job (kill -9, SIGTERM, full disk) must leave either the old file or the new
one, never half of one, and never a hidden copy nobody cleans up.  Every write goes to a
temporary sibling whose name carries ``.xqg-tmp-<pid>`` and is renamed into place; every
rename goes through :func:`replace` or :func:`exchange`, so there is one place to reason
about (and one place a fault-injection test counts renames).  Leftovers of dead processes
are recognised by that name and removed by :func:`remove_stale_temporaries`.

Directories are swapped with Linux ``renameat2(RENAME_EXCHANGE)``: the old and the new
directory trade places in one atomic step, so a kill at any moment leaves a complete index at
the path.  Where the call is missing (other kernels, some network file systems) the swap is
two renames with a journal file beside the target that the next writer completes.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import math
import os
import re
import shutil
import socket
from pathlib import Path

TMP_TAG = ".xqg-tmp-"
# temporaries are named by process *and* host: on a file system shared by a cluster only the
# host that made one can tell that its process is gone
HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
MARKER = ".xqg_tevatron"  # the plugin's ownership marker (see workdir.py); removed last from a folder
_TMP_PID = re.compile(re.escape(TMP_TAG) + r"(\d+)@([0-9a-f]{8})")


def _owner() -> str:
    return f"{TMP_TAG}{os.getpid()}@{HOST_TAG}"


def tmp_sibling(path: Path, suffix: str = "") -> Path:
    """A temporary name beside ``path`` owned by this process (hidden, pid-tagged)."""
    path = Path(path)
    return path.with_name(f".{path.name}{_owner()}{suffix}")


def replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """``os.replace``: the only rename the plugin does (see module doc)."""
    os.replace(src, dst)


def step(name: str) -> None:
    """Called just before each step of a directory swap or removal (``swap:exchange``,
    ``swap:target-to-old``, ``remove:rename``, ...): does nothing.  Why it exists: it is the one
    place a fault-injection test replaces (``atomic_io.step = ...``) to kill the process at
    each step and check that every step leaves a complete directory or a recoverable state."""


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", newline: str | None = None):
    """A file handle whose content appears at ``path`` only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        if "b" in mode:
            fh = open(tmp, mode)
        else:
            fh = open(tmp, mode, encoding="utf-8", newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        replace(tmp, path)
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:  # a failed write names no file: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def head_tail_sha256(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """sha256 of a file's first and last ``block`` bytes (all of it when it is small): a cheap
    identity check that reads two MiB whatever the file's size."""
    h = hashlib.sha256()
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        h.update(fh.read(block))
        if size > block:
            fh.seek(max(block, size - block))
            h.update(fh.read(block))
    return h.hexdigest()


def json_safe(obj):
    """``obj`` with every NaN/inf float replaced by None (JSON has no NaN; a reader would choke)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps_json(obj, **kwargs) -> str:
    """Strict JSON: NaN becomes null (never the non-standard ``NaN`` token)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def read_json(path: str | os.PathLike, what: str = "file") -> dict:
    """A JSON file the plugin wrote; a truncated or damaged one is a one-line error naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: damaged {what} (not valid JSON: {exc})") from None


# ------------------------------------------------------------------------------- directories
def public_mode(path: Path) -> None:
    """Give a directory made by ``mkdtemp`` (mode 0700) the mode a plain ``mkdir`` would give it,
    so an index shared on a cluster is readable by the others the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)


def new_tmp_dir(target: Path) -> Path:
    """A fresh hidden directory beside ``target`` for building its replacement."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        tmp = target.with_name(f".{target.name}{_owner()}-{attempt}")
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        public_mode(tmp)
        return tmp
    raise FileExistsError(f"cannot create a temporary directory beside {target}")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap two existing paths atomically (``renameat2(RENAME_EXCHANGE)``); False where the
    system cannot (then the caller falls back to :func:`swap_dir`'s journalled renames)."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _journal(target: Path) -> Path:
    return target.with_name(f".{target.name}.xqg-swap.json")


def swap_dir(new: Path, target: Path) -> None:
    """Put the complete directory ``new`` at ``target``; the old one (if any) is removed.  At
    every moment a kill leaves a complete directory at ``target`` (exchange) or a journal that
    :func:`recover_swap` completes."""
    new, target = Path(new), Path(target)
    if not target.exists():
        step("swap:rename-new")
        replace(new, target)
        _fsync_dir(target.parent)
        return
    step("swap:exchange")
    if exchange(new, target):  # ``new`` now holds the old directory
        step("swap:exchanged")
        _fsync_dir(target.parent)
        remove_tree(new)
        return
    journal = _journal(target)
    old = target.with_name(f".{target.name}{_owner()}-old")
    step("swap:journal")
    atomic_write_text(journal, json.dumps({"new": str(new), "old": str(old)}))
    step("swap:target-to-old")
    replace(target, old)
    step("swap:new-to-target")
    replace(new, target)
    step("swap:journal-unlink")
    journal.unlink()
    remove_tree(old)


def recover_swap(target: Path) -> None:
    """Finish a journalled swap that a kill interrupted (no-op when there is none)."""
    journal = _journal(Path(target))
    if not journal.exists():
        return
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        journal.unlink(missing_ok=True)
        return
    new, old = Path(record["new"]), Path(record["old"])
    if not Path(target).exists() and new.exists():
        replace(new, target)
    elif not Path(target).exists() and old.exists():
        replace(old, target)
    journal.unlink(missing_ok=True)
    for leftover in (new, old):
        if leftover.exists() and leftover != Path(target):
            remove_tree(leftover)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is alive: the one test of whether a temporary file or
    a lock holder's note was left by a killed process (atomic writes and ``workdir``'s locks)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove ``.<name>.xqg-tmp-<pid>...`` leftovers beside ``target`` whose process is gone
    (an interrupted write's hidden copy), and inside it when it is a folder; finish an
    interrupted swap.  Returns what was removed."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    recover_swap(target)
    candidates = [p for p in target.parent.iterdir()
                  if TMP_TAG in p.name and p.name.lstrip(".").startswith(target.name + ".")]
    if target.is_dir():
        candidates += [p for p in target.iterdir() if TMP_TAG in p.name]
    removed = []
    for p in candidates:
        m = _TMP_PID.search(p.name)
        if m and m.group(2) == HOST_TAG and not pid_alive(int(m.group(1))):
            remove_tree(p) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def remove_tree(path: str | os.PathLike) -> None:
    """Delete a directory the plugin owns so that a kill part-way never leaves a folder the
    plugin no longer recognises: first renamed to a hidden trash name (one atomic step), then
    emptied with its ownership marker removed last (see ``workdir.MARKER``)."""
    path = Path(path)
    if not path.exists():
        return
    if TMP_TAG not in path.name:
        trash = path.with_name(f".{path.name}{_owner()}-trash")
        if trash.exists():
            shutil.rmtree(trash)
        step("remove:rename")
        replace(path, trash)
        path = trash
    step("remove:children")
    for i, child in enumerate(c for c in path.iterdir() if c.name != MARKER):
        if i == 1:
            step("remove:child")  # some children gone, the marker still there
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    step("remove:marker")
    (path / MARKER).unlink(missing_ok=True)
    step("remove:rmdir")
    path.rmdir()
