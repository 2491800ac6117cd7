# Two commands a new user needs:
#   make demo   - create .venv, then the main job on real questions: XQuAD's development half
#                 (shipped in the package), plain vs the recommended offline xQG recipe vs the gold
#                 ceiling, per language (minutes on 2 cores; ARGS=--full for the official files)
#   make test   - create .venv and run the test suite (prints the 15 slowest tests)
# More: make demo-xor (the synthetic XOR-TyDi-format set: format + R@kt), make test-fast (the
# inner loop: no process, JVM or model), make study-xquad, make bench (every benchmark, results in
# docs/results.md), make bench-quick (every benchmark at its smallest sizes: a smoke run that writes
# no result file).  Benchmarks are modules: python -m benchmarks.NAME from this folder.
.PHONY: env env-packages demo demo-record recipe-selection docs demo-xor study-xquad study-xquad-record word-lists test test-fast coverage bench bench-quick bench-gpu bench-gpu-carry clean
PY := .venv/bin/python
# where the plugin keeps what it builds or fetches (demo encoder, ONNX exports, FreeDict files):
# this checkout's .cache (the plugin's own default is ~/.cache/xqg_tevatron)
export XQG_CACHE ?= $(CURDIR)/.cache
ARGS ?=

env:
	bash scripts/setup_env.sh

# the packages only, without building the demo encoder (what the fast tier needs)
env-packages:
	bash scripts/setup_env.sh packages

demo: env
	$(PY) -m xqg_tevatron.demo $(ARGS)

# the demo run the README's figures come from: its results with their provenance, then the documents
demo-record: env
	$(PY) -m xqg_tevatron.demo --record docs/results/demo.json $(ARGS)
	$(PY) scripts/render_docs.py

# the recipe selection on the development half (article-level cross-validation, tested against plain),
# recorded as docs/results/recipe_selection.json
XQUAD_LANGS := ar de el es hi ro ru th tr vi zh
recipe-selection: env
	$(PY) -m xqg_tevatron.data.convert corpus xquad-dev runs/dev/corpus.jsonl
	$(PY) -m xqg_tevatron.generate.dictionary --corpus runs/dev/corpus.jsonl --output runs/dev/dict_cldr.jsonl \
		--languages $(XQUAD_LANGS) --n-per-lang 10
	$(PY) -m xqg_tevatron.generate.dictionary --corpus runs/dev/corpus.jsonl --output runs/dev/dict_freedict.jsonl \
		--languages $(XQUAD_LANGS) --n-per-lang 10 --word-lists freedict
	$(PY) -m xqg_tevatron.study.select_recipe --generated cldr=runs/dev/dict_cldr.jsonl \
		freedict=runs/dev/dict_freedict.jsonl --output runs/dev/recipe.json --record docs/results/recipe_selection.json
	$(PY) scripts/render_docs.py

# README.md and docs/results.md: every rendered block again from docs/results/*.json
docs: env-packages
	$(PY) scripts/render_docs.py

demo-xor: env
	$(PY) -m xqg_tevatron.demo --dataset xor $(ARGS)

study-xquad: env
	$(PY) -m xqg_tevatron.study --config configs/study_xquad.yaml

# the same, and its summary kept as docs/results/study_xquad.json (what docs/results.md renders)
study-xquad-record: env
	$(PY) -m xqg_tevatron.study --config configs/study_xquad.yaml --record docs/results/study_xquad.json

# Optional: Debian's FreeDict packages system-wide (root + apt); without them the plugin fetches
# the same pinned release into its cache on first use
word-lists:
	-@bash scripts/install_word_lists.sh >/dev/null 2>&1 || echo "note: Debian FreeDict packages not installed (needs root + apt); the plugin fetches the pinned release into its cache instead"

# every tier, on two pytest-xdist workers, each test file on one worker (a module's shared fixtures
# and its namespace runs are made once), longest files first (tests/conftest.py)
test: env
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests

# line and branch coverage of xqg_tevatron/, child processes included (coverage's subprocess
# patch); the report in .cache/coverage (coverage.json, per module)
COV := COVERAGE_FILE=$(CURDIR)/.cache/coverage/.coverage
coverage: env
	rm -rf .cache/coverage && mkdir -p .cache/coverage
	$(COV) $(PY) -m coverage run -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder -p no:cacheprovider tests
	$(COV) $(PY) -m coverage combine -q
	$(COV) $(PY) -m coverage json -q -o .cache/coverage/coverage.json
	$(COV) $(PY) -m coverage report --sort=cover | tail -25

test-fast: env-packages
	$(PY) -m pytest -q -n 2 -m "not slow and not process" --durations=5 tests

bench: env
	$(PY) -m benchmarks.run_all

bench-quick: env
	$(PY) -m benchmarks.run_all --quick

# The prepared GPU run: per-unit costs on CUDA, the job with --device cuda, real e5 vectors of 200k
# passages and the index sweep (one script, about 7 minutes; JSON in $$OUT or runs/bench-gpu).
# Needs no .venv: on a GPU machine without registry access, carry .gpu-carry (make bench-gpu-carry).
BENCH_PY := $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
bench-gpu:
	$(BENCH_PY) -m benchmarks.bench_gpu $(ARGS)

bench-gpu-carry: env
	$(PY) -m benchmarks.gpu_carry

clean:
	rm -rf runs .pytest_cache
