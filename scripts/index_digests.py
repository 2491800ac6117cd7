"""sha256 of the index files the five ``--index_type`` names build, on fixed vectors.

    python scripts/index_digests.py            # print the digests as JSON
    python scripts/index_digests.py --write    # record them in tests/data/index_digests.json

Why: the index stage is rebuilt on faiss factory strings; an index the old names build must stay
byte-identical, so the digests were recorded before that change (the commit is in the file) and
``tests/test_index_types.py`` rebuilds and compares.  One faiss thread (HNSW's insertion order
and k-means' reductions are then fixed); the digests hold for this machine's faiss build.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import faiss
import numpy as np

from xqg_tevatron.indexing.faiss_index import IndexConfig, write_index

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "tests" / "data" / "index_digests.json"
NAMES = ("flat", "hnsw", "hnsw-sq8", "ivf-pq", "ivf-sq8")
ROWS, DIM, SEED, CHUNK = 3_000, 32, 20261202, 700


def vectors() -> np.ndarray:
    x = np.random.default_rng(SEED).standard_normal((ROWS, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def digests(folder: Path) -> dict[str, str]:
    """``{name: {file: sha256}}`` of ``index`` and ``docid`` for each name (two shards for flat
    and ivf-sq8: the shard split is part of what must not move)."""
    x = vectors()
    docids = [f"d{i}" for i in range(ROWS)]
    chunks = lambda: ((x[i:i + CHUNK], docids[i:i + CHUNK]) for i in range(0, ROWS, CHUNK))  # noqa: E731
    out: dict[str, dict[str, str]] = {}
    faiss.omp_set_num_threads(1)
    for name in NAMES:
        for shards in ((1, 2) if name in ("flat", "ivf-sq8") else (1,)):
            label = name if shards == 1 else f"{name} shards={shards}"
            target = folder / label.replace(" ", "_").replace("=", "")
            write_index(target, IndexConfig(index_type=name, shards=shards), DIM, ROWS, chunks(), {},
                        training_rows=lambda n: x[:n])
            files = sorted(p for p in target.rglob("*") if p.name in ("index", "docid"))
            out[label] = {str(p.relative_to(target)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"record them in {RECORD.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        found = digests(Path(tmp))
    if not args.write:
        print(json.dumps(found, indent=1, sort_keys=True))
        return 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    RECORD.write_text(json.dumps({"commit": commit, "rows": ROWS, "dim": DIM, "seed": SEED, "faiss": faiss.__version__,
                                  "digests": found}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(found)} digests -> {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
