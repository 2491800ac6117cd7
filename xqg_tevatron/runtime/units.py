"""Units of work, committed once and verified on every read.

Why: a resumable job trusts the units it finds finished.  A unit is a few files in a work dir
(``chunk-000003.npy`` + ``.ids``, or ``chunk-000003.jsonl``) plus its **record**
(``chunk-000003.json``), written last: the size and sha256 of each file and the unit's
counts.  A unit without a record is unfinished; a unit whose files no longer match their
record (truncated, edited, a line lost) is *damaged*: it is named, dropped and done again,
never used.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from xqg_tevatron.runtime.atomic_io import atomic_open, atomic_write_text, read_json, sha256_file

logger = logging.getLogger(__name__)
RECORD_FORMAT = "xqg_tevatron/unit/1"


class DamagedUnitError(ValueError):
    """A unit whose files do not match its record."""


@dataclass(frozen=True)
class Unit:
    """Unit ``index`` of a work dir: files ``<stem><suffix>`` and the record ``<stem>.json``."""

    work: Path
    index: int
    suffixes: tuple[str, ...]

    @property
    def stem(self) -> str:
        return f"chunk-{self.index:06d}"

    def path(self, suffix: str) -> Path:
        return self.work / f"{self.stem}{suffix}"

    @property
    def record_path(self) -> Path:
        return self.work / f"{self.stem}.json"

    def committed(self) -> bool:
        return self.record_path.exists()

    def commit(self, writers: dict[str, Callable[[object], None]], meta: dict) -> dict:
        """Write each file (``writers[suffix](binary file handle)``) atomically, then the record."""
        files = {}
        for suffix in self.suffixes:
            path = self.path(suffix)
            with atomic_open(path, "wb") as fh:
                writers[suffix](fh)
            files[suffix] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        record = {"format": RECORD_FORMAT, "files": files, **meta}
        atomic_write_text(self.record_path, json.dumps(record, sort_keys=True))
        return record

    def record(self) -> dict:
        record = read_json(self.record_path, "unit record")
        if record.get("format") != RECORD_FORMAT or not isinstance(record.get("files"), dict):
            raise DamagedUnitError(f"{self.record_path}: not a unit record of this version")
        return record

    def problem(self, full: bool = True) -> Optional[str]:
        """Why this committed unit cannot be used (None if it can): a file missing, of another
        size, or (``full``) with another sha256 than its record says."""
        try:
            record = self.record()
        except (ValueError, OSError) as exc:
            return str(exc)
        for suffix in self.suffixes:
            want = record["files"].get(suffix)
            path = self.path(suffix)
            if want is None:
                return f"{self.record_path}: records no {suffix} file"
            if not path.is_file():
                return f"{path}: missing"
            size = path.stat().st_size
            if size != want["bytes"]:
                return f"{path}: {size} bytes, its record says {want['bytes']}"
            if full and sha256_file(path) != want["sha256"]:
                return f"{path}: content differs from its record (sha256)"
        return None

    def read_bytes(self, suffix: str) -> bytes:
        """A file's bytes, checked against the record as they are read."""
        data = self.path(suffix).read_bytes()
        want = self.record()["files"][suffix]
        if len(data) != want["bytes"] or hashlib.sha256(data).hexdigest() != want["sha256"]:
            raise DamagedUnitError(f"{self.path(suffix)}: damaged (does not match {self.record_path.name}); rerun the "
                                   "same command: damaged units are done again")
        return data

    def drop(self) -> None:
        """Forget this unit (record first, so a kill in between leaves it unfinished, not damaged)."""
        self.record_path.unlink(missing_ok=True)
        for suffix in self.suffixes:
            self.path(suffix).unlink(missing_ok=True)


def drop_damaged(units: list[Unit], full: bool = True) -> list[str]:
    """Check every committed unit before work starts; damaged ones are named in the log and
    dropped so this run does them again.  Returns the problems found."""
    problems = []
    for unit in units:
        if unit.committed():
            problem = unit.problem(full)
            if problem:
                logger.warning("damaged unit, done again: %s", problem)
                problems.append(problem)
                unit.drop()
    return problems


def existing_units(work: Path, suffixes: tuple[str, ...]) -> list[Unit]:
    """Every unit with a record or a file in ``work`` (whatever the corpus length now is)."""
    indexes = set()
    for p in work.glob("chunk-*"):
        head = p.name.split(".", 1)[0]
        if head[6:].isdigit():
            indexes.add(int(head[6:]))
    return [Unit(work, i, suffixes) for i in sorted(indexes)]
