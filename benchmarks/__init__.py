"""The benchmarks: scripts that time the plugin's stages side by side, each printing its own
ratios (``docs/results.md`` records their output).

Run a script as a module from the repository root: ``python -m benchmarks.NAME`` (``make bench``
runs every ``bench_*.py`` but the GPU run through ``python -m benchmarks.run_all``; ``make
bench-quick`` the same at the smallest sizes).  What two or more scripts share is in
``benchmarks.common``; no module here imports from ``tests/``.
"""
