"""Importing the plugin does nothing: no JVM, no environment variable set.

Every module of ``xqg_tevatron`` is imported in one fresh process.  The JVM must not be running
afterwards (a command starts it, with its ``--java-home`` / ``--java-heap``, when it first opens an
index or runs trec_eval), and ``os.environ`` must be what it was once the third-party libraries
the plugin builds on were imported (torch's compiler stack sets ``TORCHINDUCTOR_CACHE_DIR`` when
transformers' model code is first imported: that is theirs, and imported first so that it is not
counted against the plugin)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT

CHECK = r"""
import importlib, json, os, pkgutil, sys
start = dict(os.environ)
import faiss, numpy, torch, transformers, transformers.modeling_utils, tevatron.modeling  # the libraries' own effects
libraries = dict(os.environ)
import xqg_tevatron
names = sorted(m.name for m in pkgutil.walk_packages(xqg_tevatron.__path__, "xqg_tevatron."))
for name in names:
    importlib.import_module(name)
import jnius_config
changed = lambda a, b: sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
print(json.dumps({"modules": len(names), "jvm": bool(jnius_config.vm_running), "jnius": "jnius" in sys.modules,
                  "pyserini": sorted(m for m in sys.modules if m.split(".")[0] == "pyserini"),
                  "by_plugin": changed(libraries, dict(os.environ)), "by_libraries": changed(start, libraries)}))
"""


@pytest.mark.process
def test_importing_every_module_starts_no_jvm_and_sets_no_environment_variable():
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["modules"] > 80
    assert not found["jvm"] and not found["jnius"] and not found["pyserini"], found
    assert found["by_plugin"] == [], found
    assert set(found["by_libraries"]) <= {"TORCHINDUCTOR_CACHE_DIR"}, found
