#!/usr/bin/env python
"""Run every benchmark in turn (each prints its own side-by-side ratios)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for script in ("bench_encode_throughput.py", "bench_fuse_memory.py", "bench_search_latency.py",
               "bench_query_encoder.py", "bench_generate.py", "bench_scale.py", "bench_refuse.py", "bench_index_scale.py"):
    print(f"\n=== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
