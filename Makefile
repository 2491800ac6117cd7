# Two commands a new user needs:
#   make demo   - create .venv, build the offline demo encoder, run the main job on the embedded default
#   make test   - create .venv and run the test suite
#   make demo-xquad - the same job on real XQuAD questions (11 languages; ~15 min on 2 cores)
.PHONY: env demo demo-xquad study-xquad word-lists test bench clean
PY := .venv/bin/python
# models and exports the plugin builds (demo encoder, ONNX query towers, CTranslate2 conversions)
export XQG_CACHE ?= $(CURDIR)/.cache
# XQuAD json folder: the development half shipped beside this checkout, if present; without it
# the official files are downloaded from the deepmind/xquad repository through ir_datasets.
XQUAD_DIR ?= $(wildcard ../shared/data/xquad-dev)
XQUAD_ARG := $(if $(XQUAD_DIR),--xquad_dir $(XQUAD_DIR),)

env:
	bash scripts/setup_env.sh

demo: env
	$(PY) -m xqg_tevatron.demo

demo-xquad: env word-lists
	$(PY) -m xqg_tevatron.demo --dataset xquad $(XQUAD_ARG)

study-xquad: env word-lists
	$(if $(XQUAD_DIR),XQG_XQUAD_DIR=$(abspath $(XQUAD_DIR)),) $(PY) -m xqg_tevatron.study --config configs/study_xquad.yaml

# FreeDict English->X dictionaries (Debian) for the offline generator; optional, needs root
word-lists:
	-@bash scripts/install_word_lists.sh >/dev/null 2>&1 || echo "note: FreeDict word lists not installed (needs root + apt); CLDR names only"

test: env
	$(PY) -m pytest -q tests

bench: env
	$(PY) benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
