"""Peak memory of fusing 1M x 384 passage vectors with generated-query vectors, side by side:

  in-memory   the authors' fuse_embeds.py approach: load all passage vectors, accumulate
              every query file in a full-size array, write the result;
  chunked     xqg_tevatron.xqg.fuse_files: memory-mapped inputs, fixed-size chunks.

Each runs in a fresh subprocess; peak RSS is the child's VmHWM. Target: chunked < 1 GiB.
``--repeats`` interleaved rounds (the order alternated); a figure is the median of its rounds,
with the spread.  The result is ``docs/results/bench_fuse_memory.json``.
    python -m benchmarks.bench_fuse_memory [--rows 1000000 --dim 384 --query_files 2] [--quick]
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"rows": 140_000, "dim": 64, "repeats": 2}  # 3 chunks of the chunked fuser (65,536 rows each), the last one partial

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
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds of both methods")
    args = quick.parse_args(ap, argv, QUICK)
    record = BenchmarkRecord("bench_fuse_memory", argv, args.quick)
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
        methods = {"chunked": (CHUNKED, "b.npy"), "in-memory": (IN_MEMORY, "a.npy")}
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
        for r in range(args.repeats):  # interleaved, the order alternated
            for name in (list(methods) if r % 2 == 0 else list(methods)[::-1]):
                code, out = methods[name]
                rounds[name].append(run(code, [files[0], str(tmp / out), *files[1:]]))
        a, b = np.load(tmp / "a.npy", mmap_mode="r"), np.load(tmp / "b.npy", mmap_mode="r")
        same = bool(np.allclose(a[:100_000], b[:100_000], atol=1e-5) and np.allclose(a[-1000:], b[-1000:], atol=1e-5))
    gib_in = args.rows * args.dim * 4 / 2 ** 30
    median = {name: (float(np.median([g for g, _ in r])), float(np.median([t for _, t in r]))) for name, r in rounds.items()}
    ratios = [c[0] / m[0] for c, m in zip(rounds["chunked"], rounds["in-memory"])]
    print(f"fuse {args.rows:,} x {args.dim} passages + {args.query_files} query files ({gib_in:.2f} GiB each); "
          f"median of {args.repeats} interleaved rounds [min-max]")
    print(f"{'method':<12}{'peak RSS GiB':>14}{'seconds':>10}   seconds per round")
    for name in ("in-memory", "chunked"):
        print(f"{name:<12}{median[name][0]:>14.3f}{median[name][1]:>10.1f}   "
              + " ".join(f"{t:.1f}" for _, t in rounds[name]))
    print(f"peak memory ratio chunked/in-memory = {np.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]; "
          f"outputs equal: {same}; target chunked < 1 GiB: {'met' if median['chunked'][0] < 1 else 'NOT met'}")
    record.write({"rows": args.rows, "dim": args.dim, "query_files": args.query_files, "input_gib_each": gib_in,
                  "repeats": args.repeats, "outputs_equal": same,
                  "methods": {name: {"peak_rss_gib_per_round": [g for g, _ in r], "seconds_per_round": [t for _, t in r],
                                     "peak_rss_gib_median": median[name][0], "seconds_median": median[name][1]}
                              for name, r in rounds.items()},
                  "peak_ratio_per_round": ratios, "peak_ratio_median": float(np.median(ratios))})


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
