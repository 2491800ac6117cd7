"""Peak memory of fusing 1M x 384 passage vectors with generated-query vectors, side by side:

  in-memory   the authors' fuse_embeds.py approach: load all passage vectors, accumulate
              every query file in a full-size array, write the result;
  chunked     xqg_tevatron.xqg.fuse_files: memory-mapped inputs, fixed-size chunks.

Each runs in a fresh subprocess; peak RSS is the child's VmHWM. Target: chunked < 1 GiB.
    python -m benchmarks.bench_fuse_memory [--rows 1000000 --dim 384 --query_files 2] [--quick]
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"rows": 140_000, "dim": 64}  # 3 chunks of the chunked fuser (65,536 rows each), the last one partial

IN_MEMORY = """
import numpy as np, sys
p = np.load(sys.argv[1]); total = np.zeros_like(p)
for f in sys.argv[3:]:
    total += np.load(f)
np.save(sys.argv[2], (1 - 0.01) * p + 0.01 * total)
""" + "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
CHUNKED = """
import sys
from xqg_tevatron.xqg.fuse_files import fuse_files
fuse_files(sys.argv[1], sys.argv[3:], sys.argv[2], 0.01, show_progress=False)
""" + "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"


def run(code: str, args: list[str]) -> tuple[float, float]:
    """Peak RSS as the child's own VmHWM (the high-water mark of its address space since exec;
    ru_maxrss of children would also count the parent's pages at fork time)."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return int(proc.stdout.split()[-1]) / 2 ** 20, time.time() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--query_files", type=int, default=2)
    args = quick.parse_args(ap, argv, QUICK)
    with scratch_dir(ROOT / ".cache", "bench-fuse-memory") as tmp:
        rng = np.random.default_rng(0)
        files = []
        for name in ["p"] + [f"q{i}" for i in range(args.query_files)]:
            arr = np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=np.float32, shape=(args.rows, args.dim))
            for s in range(0, args.rows, 100_000):
                arr[s:s + 100_000] = rng.standard_normal((min(100_000, args.rows - s), args.dim), dtype=np.float32)
            arr.flush()
            del arr
            files.append(str(tmp / f"{name}.npy"))
        chunked_gib, chunked_s = run(CHUNKED, [files[0], str(tmp / "b.npy"), *files[1:]])
        mem_gib, mem_s = run(IN_MEMORY, [files[0], str(tmp / "a.npy"), *files[1:]])
        a, b = np.load(tmp / "a.npy", mmap_mode="r"), np.load(tmp / "b.npy", mmap_mode="r")
        same = bool(np.allclose(a[:100_000], b[:100_000], atol=1e-5) and np.allclose(a[-1000:], b[-1000:], atol=1e-5))
    gib_in = args.rows * args.dim * 4 / 2 ** 30
    print(f"fuse {args.rows:,} x {args.dim} passages + {args.query_files} query files ({gib_in:.2f} GiB each)")
    print(f"{'method':<12}{'peak RSS GiB':>14}{'seconds':>10}")
    print(f"{'in-memory':<12}{mem_gib:>14.3f}{mem_s:>10.1f}")
    print(f"{'chunked':<12}{chunked_gib:>14.3f}{chunked_s:>10.1f}")
    print(f"peak memory ratio chunked/in-memory = {chunked_gib / mem_gib:.3f}; outputs equal: {same}; "
          f"target chunked < 1 GiB: {'met' if chunked_gib < 1 else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
