"""The job on a real Ray cluster: the README's recipe (``ray start`` head and worker processes,
token authentication) run as written, worker nodes killed at three points of the job, the only
worker lost (one line, then a resume), the driver killed and rerun, the head lost (then resumed
with no cluster).  Every run ends with the bytes of the local run.

The module's tests re-run themselves together inside one loopback-only network namespace (Ray
binds the machine's address; ``helpers.run_inside_netns``), where every process is one they
started; each test still starts and kills its own cluster.  What it
runs of the README: the recipe's lines as written with its variables set; two worker nodes
share this machine, so the worker line gets ``--num-cpus 1``, and the job line gets the small
test's sizes (tiny model, 10 units of 4 passages) and ``--verbose`` (its dispatch lines say
which node runs which unit, so a test can kill the node of a unit in flight).
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import datetime
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from helpers import ROOT, inside_netns, netns_available, run_cli, run_inside_netns, word_corpus
from benchmarks.common.ray_processes import RayProcesses, recipe

pytestmark = [pytest.mark.slow, pytest.mark.netns,
              pytest.mark.skipif(not netns_available(), reason="needs a network namespace (unshare --net, root)")]
README = (ROOT / "README.md").read_text(encoding="utf-8")
UNITS, CHUNK = 10, 4
SIZES = ["--languages", "ja", "fi", "--n-per-lang", "2", "--chunk-size", str(CHUNK), "--batch-size", "2",
         "--p-max-len", "32", "--q-max-len", "16", "--num-threads", "1"]


@pytest.fixture(scope="module")
def netns_outcomes(request) -> dict[str, str] | None:
    """Outside the namespace: the outcome of each of this module's selected tests, run once
    together inside it; inside: None (each test runs its body)."""
    if inside_netns():
        return None
    return run_inside_netns([item.nodeid for item in request.session.items if item.module is request.module])


def ran_inside(request, outcomes: dict[str, str] | None) -> bool:
    """True in the outer process, once this test passed inside the namespace."""
    if outcomes is None:
        return False
    assert outcomes.get(request.node.nodeid) == "passed", outcomes.get(request.node.nodeid, "not run inside")
    return True


DISPATCH = re.compile(r"unit (\d+) sent to node ([0-9a-f]+):(\d+)")


def outputs(shared: Path) -> dict[str, bytes]:
    return {name: (shared / name).read_bytes() for name in ("index/index", "index/docid", "generated.jsonl")}


def local_job(corpus_file: Path, model: Path, shared: Path) -> list[str]:
    """The recipe's job with the local executor: the reference, and how a store is resumed
    with no cluster at all."""
    return ["-m", "xqg_tevatron.job", "--corpus", str(corpus_file), "--encoder", str(model), "--generator",
            "dictionary", "--work-dir", str(shared / "store"), "--output", str(shared / "index"),
            "--generated-output", str(shared / "generated.jsonl"), "--quiet", *SIZES]


def local_reference(tmp: Path, corpus_file: Path, model: Path) -> dict[str, bytes]:
    run_cli(*local_job(corpus_file, model, tmp / "local"))
    return outputs(tmp / "local")


def job_line(cluster: RayProcesses, *extra: str) -> str:
    return " ".join([cluster.line("python -m xqg_tevatron.job"), *SIZES, "--generated-output",
                     "$SHARED/generated.jsonl", "--ray-num-cpus", "1", "--verbose", *extra])


def committed(shared: Path) -> set[int]:
    return {int(p.stem.split("-")[1]) for p in (shared / "store").glob("chunk-*.json")}


def watch_and_kill(cluster: RayProcesses, proc, log: Path, shared: Path, when, timeout: float = 300) -> dict:
    """Follow the job's dispatch lines; when ``when(dispatched, done)`` names a unit in flight,
    kill the node it runs on.  Returns the kill time, unit and node (empty if nothing fit)."""
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        dispatched = {int(u): node for u, node, _ in DISPATCH.findall(log.read_text(errors="replace"))}
        done = committed(shared)
        unit = when(dispatched, done)
        if unit is not None and unit not in committed(shared):
            cluster.kill_node(next(n for n in cluster.raylets() if n.startswith(dispatched[unit][:12])))
            return {"t": time.time(), "unit": unit, "done_at_kill": len(done)}
        time.sleep(0.01)
    return {}


LOST = re.compile(r"(\d{4}-\d\d-\d\d \S+) - WARNING - \S+ - a Ray actor on node \w+ was lost \(\w+\); "
                  r"unit\(s\) ([\d ]+) put back")


def units_of(lost: re.Match) -> list[int]:
    return [int(u) for u in lost.group(2).split()]


def logged_at(text: str, match: re.Match) -> float:
    """The time of a --verbose log line (local time, milliseconds)."""
    stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


def redone_s(shared: Path, killed: dict, units: list[int]) -> float:
    """Seconds from the kill until every unit it put back is committed again."""
    return round(max((shared / "store" / f"chunk-{u:06d}.json").stat().st_mtime for u in units) - killed["t"], 2)


KILL_POINTS = {
    # the node of unit 0, once it is sent and nothing is committed (its actor is loading the model)
    "before the first commit": lambda sent, done: 0 if 0 in sent and not done else None,
    # the node of a unit in flight once 3 are committed
    "mid-run": lambda sent, done: next((u for u in sorted(sent) if u not in done), None) if len(done) >= 3 else None,
    # the node of the last unit while it runs
    "during the last unit": lambda sent, done: UNITS - 1 if UNITS - 1 in sent else None,
}


@contextmanager
def recipe_cluster(tmp: Path, model: Path, workers: int) -> Iterator[tuple[Path, dict, RayProcesses]]:
    """The corpus, the local run's bytes, and a cluster started by the README's recipe (the head
    and ``workers`` 1-CPU worker nodes); every process of it is killed at the end."""
    c = word_corpus(tmp / "c.jsonl", UNITS * CHUNK)
    reference = local_reference(tmp, c, model)
    cluster = RayProcesses(recipe(README), tmp / "home", {"HEAD": "127.0.0.1", "CORPUS": c, "MODEL": model,
                                                          "GENERATOR": "dictionary", "ACTORS": 2})
    try:
        cluster.start_head()
        for _ in range(workers):
            cluster.add_worker("--num-cpus", "1")
        yield c, reference, cluster
    finally:
        cluster.stop_all()


def test_the_readme_recipe_survives_a_worker_node_lost_at_three_points(request, netns_outcomes, tmp_path, tiny_model):
    if ran_inside(request, netns_outcomes):
        return
    table = []
    with recipe_cluster(tmp_path, tiny_model, workers=2) as (c, reference, cluster):
        for k, (point, when) in enumerate(KILL_POINTS.items()):
            shared = tmp_path / f"run{k}"
            cluster.environ["SHARED"] = str(shared)
            log = tmp_path / f"run{k}.log"
            started = time.time()
            proc = cluster.popen(job_line(cluster), log)
            killed = watch_and_kill(cluster, proc, log, shared, when)
            rc = proc.wait(timeout=600)
            text = log.read_text(errors="replace")
            assert killed, f"{point}: no kill point reached\n{text[-3000:]}"
            assert rc == 0, f"{point}: exit {rc}\n{text[-4000:]}"
            lost = LOST.search(text)
            assert lost and killed["unit"] in units_of(lost), f"{point}: unit {killed['unit']} not put back\n{text[-3000:]}"
            assert outputs(shared) == reference, point
            table.append({"kill point": point, "unit": killed["unit"], "committed at kill": killed["done_at_kill"],
                          "units put back": units_of(lost), "bytes equal": True,
                          "loss seen s": round(logged_at(text, lost) - killed["t"], 2),
                          "put-back units redone s": redone_s(shared, killed, units_of(lost)),
                          "run s": round(time.time() - started, 1)})
            cluster.add_worker("--num-cpus", "1")  # back to two worker nodes
        status = cluster.shell(cluster.line("ray status")).stdout
        assert "Active:" in status
    print("KILL-POINTS " + json.dumps(table))


def test_no_worker_left_a_killed_driver_and_a_lost_head_all_resume_to_the_same_bytes(request, netns_outcomes, tmp_path,
                                                                                     tiny_model):
    if ran_inside(request, netns_outcomes):
        return
    rows = []
    with recipe_cluster(tmp_path, tiny_model, workers=1) as (c, reference, cluster):
        # the only worker node lost mid-run: nothing can take the rest; one line within the bound
        shared = tmp_path / "lost"
        cluster.environ["SHARED"] = str(shared)
        log = tmp_path / "lost.log"
        proc = cluster.popen(job_line(cluster, "--ray-wait-s", "8"), log)
        killed = watch_and_kill(cluster, proc, log, shared, KILL_POINTS["mid-run"])
        rc = proc.wait(timeout=300)
        waited = time.time() - killed["t"]
        text = log.read_text(errors="replace")
        errors = [line for line in text.splitlines() if line.startswith("error:")]
        assert rc == 1 and len(errors) == 1, text[-4000:]
        assert "no Ray actor could run for 8 s: each needs {'CPU': 1.0}" in errors[0], errors
        assert "Traceback" not in text
        kept = len(committed(shared))
        assert 3 <= kept < UNITS
        # resumed with no cluster at all (a lost head is the same: the store is all there is)
        resumed = run_cli(*local_job(c, tiny_model, shared))
        assert f"'encoded': {UNITS - kept}, 'skipped': {kept}" in resumed.stderr
        assert outputs(shared) == reference
        rows.append({"case": "the only worker lost mid-run", "outcome": errors[0][:90], "seconds to the line":
                     round(waited, 1), "resumed": "--executor local", "bytes equal": True})

        # the driver killed mid-run, the same command rerun against the same cluster
        cluster.add_worker("--num-cpus", "1")
        shared = tmp_path / "driver"
        cluster.environ["SHARED"] = str(shared)
        log = tmp_path / "driver.log"
        proc = cluster.popen(job_line(cluster), log)
        deadline = time.time() + 300
        while len(committed(shared)) < 3 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = len(committed(shared))
        assert kept < UNITS, "the job ended before the driver was killed"
        start = time.time()
        proc = cluster.popen(job_line(cluster), log)
        assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
        skipped = int(re.search(r"'skipped': (\d+)", log.read_text()).group(1))
        assert skipped >= kept  # resumed: what was committed (by then) is not done again
        assert outputs(shared) == reference
        rows.append({"case": "driver killed (SIGKILL) mid-run", "committed at kill": kept, "skipped by the rerun": skipped,
                     "resumed": "same cluster",
                     "rerun s": round(time.time() - start, 1), "bytes equal": True})

        # the head lost mid-run: the job ends (Ray gives up on its GCS; 60 s by default, 5 here) and
        # the same command resumes with no cluster
        shared = tmp_path / "head"
        cluster.environ["SHARED"] = str(shared)
        cluster.environ["RAY_gcs_rpc_server_reconnect_timeout_s"] = "5"  # Ray's own setting, shortened for the test
        log = tmp_path / "head.log"
        proc = cluster.popen(job_line(cluster), log)
        deadline = time.time() + 300
        while len(committed(shared)) < 3 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        killed_at = time.time()
        cluster.kill_head()
        rc = proc.wait(timeout=300)
        ended = time.time() - killed_at
        kept = len(committed(shared))
        # it ends, never hangs; the actors, still alive on their nodes, may commit what they hold
        assert rc != 0 and "Failed to connect to GCS within 5 seconds" in log.read_text(), log.read_text()[-3000:]
        cluster.stop_all()
        resumed = run_cli(*local_job(c, tiny_model, shared))
        assert f"'encoded': {UNITS - kept}, 'skipped': {kept}" in resumed.stderr
        assert outputs(shared) == reference
        rows.append({"case": "head killed (GCS and raylet) mid-run", "committed when the job ended": kept,
                     "job ended s": round(ended, 1), "exit": rc, "resumed": "--executor local", "bytes equal": True})
    print("LOSSES " + json.dumps(rows))


def test_sigterm_to_a_job_on_ray_is_one_line_and_exit_143(request, netns_outcomes, tmp_path, tiny_model):
    """Ray's core worker installs a native SIGTERM handler (a stack dump, then abort); the job's
    own one line and exit 143 must win, as with the local executor."""
    if ran_inside(request, netns_outcomes):
        return
    c = word_corpus(tmp_path / "c.jsonl", UNITS * CHUNK)
    log = tmp_path / "term.log"
    with log.open("w") as fh, tempfile.TemporaryDirectory(prefix="xqg-ray-") as ray_tmp:
        proc = subprocess.Popen([sys.executable, "-m", "xqg_tevatron.job", "--corpus", str(c), "--encoder",
                                 str(tiny_model), "--work-dir", str(tmp_path / "store"), "--output",
                                 str(tmp_path / "index"), "--executor", "ray", "--ray-num-cpus", "0.5", "--verbose",
                                 *SIZES], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "HOME": str(tmp_path), "RAY_TMPDIR": ray_tmp})
        deadline = time.time() + 300
        while not DISPATCH.search(log.read_text(errors="replace")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=120)
    text = log.read_text(errors="replace")
    assert rc == 143, text[-3000:]
    assert "SIGTERM received" not in text and "Traceback" not in text, text[-3000:]
    assert text.rstrip().splitlines()[-1].startswith("error: interrupted by SIGTERM"), text[-2000:]
