"""Helpers shared by the tests: commands run as a user runs them, in this process or in a child.

Why in process: each ``python -m xqg_tevatron...`` child re-imports torch, transformers, faiss and
Tevatron (several seconds on 2 cores) before doing any work.  A command's ``main(argv)`` called
here goes through the same ``run_main`` error path, so its exit code, its one error line and its
stderr are the same; :func:`cli` restores what a command changes in the process (torch and faiss
threads, environment, cwd, logging, the libraries' verbosity, signal handlers), so no test depends
on another's order.  :func:`cli_process` keeps a real child where the process boundary is what is
tested: kills, signals, a lock's holder, a network namespace, what the libraries print at import.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import signal
import tempfile
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator

from benchmarks.common import netns as _netns, tiny_models as _tiny_models

ROOT = Path(__file__).resolve().parent.parent

# a fresh network namespace with only loopback, and whether this machine can make one (defined in
# benchmarks.common.netns: the benchmarks that start Ray use it too)
NETNS, netns_available = _netns.NETNS, _netns.netns_available


# ------------------------------------------------------------------ tests that run inside a namespace
INSIDE = "XQG_TEST_IN_NETNS"  # set for the test process re-run inside the namespace (test plumbing only)


def inside_netns() -> bool:
    """Whether this test process is the one re-run inside the loopback-only namespace."""
    return os.environ.get(INSIDE) == "1"


def run_inside_netns(nodeids: list[str], timeout: int = 1800) -> dict[str, str]:
    """Run these tests again, together, in one pytest inside a fresh loopback-only network
    namespace (Ray binds the machine's address; every process in there is one the tests
    started): one interpreter start and one set of session fixtures for all of them.  Returns
    ``node id -> "passed"`` or the failure's text, and prints what the run printed."""
    import xml.etree.ElementTree as ET

    with tempfile.TemporaryDirectory(prefix="xqg-netns-") as tmp:
        junit = Path(tmp) / "junit.xml"
        proc = subprocess.run(NETNS + [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                                       f"--junitxml={junit}", *nodeids], cwd=ROOT, env={**os.environ, INSIDE: "1"},
                              capture_output=True, text=True, timeout=timeout)
        print(proc.stdout[-8000:])
        assert junit.exists(), f"inside the network namespace:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
        outcomes = {}
        for case in ET.parse(junit).getroot().iter("testcase"):
            nodeid = case.get("classname").replace(".", "/") + ".py::" + case.get("name")
            bad = [child for child in case if child.tag in ("failure", "error", "skipped")]
            outcomes[nodeid] = "passed" if not bad else f"{bad[0].tag}: {bad[0].get('message')}\n{bad[0].text}"
    return outcomes


def cli_in_netns(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python ARGS`` in a child inside a fresh loopback-only network namespace (what starts Ray
    or a server)."""
    return subprocess.run(NETNS + [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def run_in_netns(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """:func:`cli_in_netns`, failing the test with its output unless it exits 0."""
    return _checked(cli_in_netns(*args, timeout=timeout))


# ------------------------------------------------------------------ running commands
def cli_process(*args: str, timeout: int = 600, env: dict | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python ARGS`` in a child process, as a user types it."""
    return subprocess.run([sys.executable, *args], cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


def _command_main(module: str) -> Callable:
    """The ``main(argv)`` that ``python -m module`` runs (the module's own, or its ``__main__``'s)."""
    mod = importlib.import_module(module)
    main = getattr(mod, "main", None)
    if main is None:
        main = importlib.import_module(module + ".__main__").main
    return main


@contextlib.contextmanager
def _process_state_restored() -> Iterator[None]:
    """Put back what a command's ``main`` may change in the process that runs it."""
    import torch

    env, cwd, argv = dict(os.environ), os.getcwd(), list(sys.argv)
    threads = torch.get_num_threads()
    try:
        import faiss

        faiss_threads = faiss.omp_get_max_threads()
    except ImportError:  # pragma: no cover - faiss is a dependency
        faiss, faiss_threads = None, None
    import huggingface_hub.utils as hub_utils
    import transformers.utils.logging as hf_logging

    hf_verbosity, hf_bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hub_bars_off = hub_utils.are_progress_bars_disabled()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.argv[:] = argv  # Pyserini's modules run as __main__ with their own argv
        os.environ.clear()
        os.environ.update(env)
        torch.set_num_threads(threads)
        if faiss is not None:
            faiss.omp_set_num_threads(faiss_threads)
        hf_logging.set_verbosity(hf_verbosity)
        (hf_logging.enable_progress_bar if hf_bars else hf_logging.disable_progress_bar)()
        (hub_utils.disable_progress_bars if hub_bars_off else hub_utils.enable_progress_bars)()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        signal.signal(signal.SIGTERM, sigterm)


def cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGV`` run as ``MODULE.main(ARGV)`` in this process: the same exit code,
    stdout and stderr a child would give (a ``--debug`` traceback included), without re-importing
    the libraries.  Anything but ``-m MODULE`` (``-c CODE``, a script) runs in a child.
    ``timeout`` is accepted for the same signature as :func:`cli_process`."""
    if len(args) < 2 or args[0] != "-m":
        return cli_process(*args, timeout=timeout)
    main = _command_main(args[1])
    return _in_process(lambda: main(list(args[2:])), list(args))


def run_as_main(module: str, *argv: str) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGV`` through the module's own ``__main__`` block (``runpy``, as the
    interpreter runs it), in this process: what :func:`cli` leaves out, the entry line itself."""
    import runpy

    def entry():
        sys.argv[:] = [module, *argv]
        runpy.run_module(module, run_name="__main__", alter_sys=True)

    return _in_process(entry, ["-m", module, *argv])


def _in_process(call: Callable[[], object], args: list[str]) -> subprocess.CompletedProcess:
    """``call()`` with stdout, stderr and the root logger captured and the process state restored;
    its exit code as a child's would be."""
    out, err = io.StringIO(), io.StringIO()
    with _process_state_restored(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        os.chdir(ROOT)
        root = logging.getLogger()
        for handler in list(root.handlers):  # the command's own basicConfig writes to the captured stderr
            root.removeHandler(handler)
        try:
            code = call()
        except SystemExit as exc:  # argparse's usage errors, --help, a __main__ block's sys.exit
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException as exc:  # --debug re-raises: what the interpreter prints for it
            if isinstance(exc, (KeyboardInterrupt,)) and "--debug" not in args:
                raise
            traceback.print_exc()
            code = 1
        for handler in root.handlers:
            handler.flush()
    return subprocess.CompletedProcess([sys.executable, *args], int(code or 0), out.getvalue(), err.getvalue())


def _checked(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, proc.args[1:]))} exited {proc.returncode}\n"
                             f"STDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-6000:]}")
    return proc


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """:func:`cli`, failing the test with its output unless it exits 0."""
    return _checked(cli(*args, timeout=timeout))


def run_cli_process(*args: str, timeout: int = 600, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """:func:`cli_process`, failing the test with its output unless it exits 0."""
    return _checked(cli_process(*args, timeout=timeout, cwd=cwd))


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The command failed with exactly one ``error: ...`` line and no traceback."""
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def run_killed_at(cmd: list[str], watch: Path, pattern: str, at: int, timeout: float = 300) -> bool:
    """Start ``python CMD`` and SIGKILL it (whole process group) as soon as ``at`` files match
    ``watch/pattern``: a kill between (or during) chunk writes.  True if it was killed."""
    proc = subprocess.Popen([sys.executable, *cmd], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if len(list(watch.glob(pattern))) >= at:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.003)
    proc.wait(timeout=timeout)
    return False


# ------------------------------------------------------------------ inputs and argument lists
def word_corpus(path: Path, n: int) -> Path:
    """``n`` jsonl passages ``p0..`` about countries, currencies and languages (no generated queries)."""
    words = ["Finland", "Japan", "euro", "yen", "Russia", "ruble", "Korea", "won", "Arabic", "Bengali"]
    path.write_text("".join(json.dumps({"docid": f"p{i}", "title": words[i % 10],
                                        "text": f"{words[i % 10]} uses the {words[(i + 3) % 10]} and speaks "
                                                f"{words[(i + 7) % 10]} number {i}."}) + "\n" for i in range(n)),
                    encoding="utf-8")
    return path


def write_corpus(path: Path, docids: list[str], langs=("ja",)) -> Path:
    """A jsonl corpus with ``generated_queries`` (2 per language) for each docid."""
    recs = [{"docid": d, "title": f"T{d}", "text": f"passage {d} about the currency of country {d}",
             "generated_queries": {l: [f"{l} question {d} {k}" for k in range(2)] for l in langs}} for d in docids]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def encode_args(model: Path, corpus: Path, out: Path, *extra: str, batch: int = 4, chunk: int = 3,
                threads: int | None = 1) -> list[str]:
    """``driver.encode``'s flags for the tiny test sizes (16/32 tokens, alpha 0.3, mean)."""
    return ["--model_name_or_path", str(model), "--encode_in_path", str(corpus), "--encoded_save_path", str(out),
            "--per_device_eval_batch_size", str(batch), "--unit_size", str(chunk), "--q_max_len", "16",
            "--p_max_len", "32", "--disable_tqdm", "true", "--alpha", "0.3", "--aggregation", "mean",
            *(["--num_threads", str(threads)] if threads else []), *extra]


def encode(model: Path, corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``driver.encode`` at the tiny sizes, batch 4, chunks of 3, in process."""
    return cli("-m", "xqg_tevatron.driver.encode", *encode_args(model, corpus, out, *extra, threads=None))


LANGS = ["ja", "ru"]  # the languages of the ``xqg_corpus`` fixture


def encode_cli(model: Path, corpus: Path, out: Path, *extra: str) -> Path:
    """``driver.encode`` at batch 8, chunks of 7, 16/48 tokens (the ``xqg_corpus`` tests), in process."""
    run_cli("-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(model), "--encode_in_path", str(corpus),
            "--encoded_save_path", str(out), "--per_device_eval_batch_size", "8", "--unit_size", "7",
            "--q_max_len", "16", "--p_max_len", "48", "--disable_tqdm", "true", *extra)
    return out


def vectors(index_dir: Path):
    """Every row of a flat index folder's ``index``."""
    import faiss

    index = faiss.read_index(str(index_dir / "index"))
    return index.reconstruct_n(0, index.ntotal)


def dictionary(corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``generate.dictionary`` in chunks of 2, 2 per language, in process."""
    return cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus), "--output", str(out),
               "--unit_size", "2", "--n_per_lang", "2", *extra)


# ------------------------------------------------------------------ tiny models
# a randomly initialised 2-layer BERT (defined in benchmarks.common.tiny_models: bench_scale uses it too)
build_tiny_bert = _tiny_models.build_tiny_bert


class StopAfter:
    """An executor that runs the first ``n`` units it is given in this process and then stops, as
    a run that dies after ``n`` commits would: the engine's own local executor for those units,
    the rest never taken (the run's ``complete`` stays False).  The hook tests use to leave a work
    dir half done, instead of a test-only parameter in the production API."""

    ships_workers = False
    threads_per_worker = 0

    def __init__(self, n: int):
        self.n = n

    def run(self, plan, tasks, factory, done) -> None:
        import itertools

        from xqg_tevatron.runtime.engine import LocalExecutor

        LocalExecutor().run(plan, itertools.islice(tasks, self.n), factory, done)
