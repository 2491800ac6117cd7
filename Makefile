# Two commands a new user needs:
#   make demo   - create .venv, build the offline demo encoder, run the main job on the embedded default
#   make test   - create .venv and run the test suite
.PHONY: env demo test bench clean
PY := .venv/bin/python

env:
	bash scripts/setup_env.sh

demo: env
	$(PY) -m xqg_tevatron.demo

test: env
	$(PY) -m pytest -q tests

bench: env
	$(PY) benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
