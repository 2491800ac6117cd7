"""Temporaries a stopped benchmark removes: the one mechanism every benchmark uses.

Why: a ``make bench`` stopped inside ``bench_refuse`` left 19 GB in ``.cache/``.  Three pieces:

* :func:`scratch_dir`: a fresh folder named with this process's pid and host (the plugin's own
  temporaries' names, ``xqg_tevatron.runtime.atomic_io``), removed when the block exits by any
  path; before it is made, the leftovers of dead processes beside it (a ``kill -9``) are removed;
* :func:`run_benchmark`: a script's entry point; SIGTERM unwinds like Ctrl-C (every ``with`` and
  ``finally`` runs), one line on stderr, exit 130 / 143 as the plugin's commands exit.  The first
  signal unwinds; later ones are ignored so that they cannot cut the clean-up short;
* :func:`run_child`: a child process that owns temporaries of its own, stopped by SIGTERM (not
  ``subprocess.run``'s SIGKILL) when this process is stopped, so it removes them first.
"""
from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from xqg_tevatron.cli import EXIT_SIGNAL, Interrupted
from xqg_tevatron.runtime.atomic_io import new_tmp_dir, remove_stale_temporaries, remove_tree

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def scratch_dir(parent: Path, name: str) -> Iterator[Path]:
    """A fresh folder ``parent/.name.xqg-tmp-<pid>@<host>-N`` for the block, removed after it;
    stale ones of dead processes of this host are removed first."""
    target = Path(parent) / name
    remove_stale_temporaries(target)
    tmp = new_tmp_dir(target)
    try:
        yield tmp
    finally:
        try:
            remove_tree(tmp)
        except OSError:  # a file that went or came meanwhile (a child's last write): the rest still goes
            shutil.rmtree(tmp, ignore_errors=True)


def _stop(signum, _frame):
    for s in STOP_SIGNALS:  # the clean-up that follows runs to its end
        signal.signal(s, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


def run_benchmark(main: Callable[[Optional[Sequence[str]]], Optional[int]],
                  argv: Optional[Sequence[str]] = None) -> int:
    """``main(argv)`` with SIGINT and SIGTERM unwinding it; its exit code (130 / 143 when stopped).
    Errors keep their traceback: a benchmark is a developer's tool."""
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, _stop)
    try:
        return int(main(argv) or 0)
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(f"error: interrupted by {signal.Signals(signum).name}; its temporaries are removed", file=sys.stderr)
        return EXIT_SIGNAL[signum]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_child(cmd: Sequence[str], *, grace_s: float = 120.0, check: bool = False, **popen) -> int:
    """Run ``cmd`` to its end; its exit code (``check``: a non-zero one raises
    ``CalledProcessError``).  When this process is stopped meanwhile, the child gets SIGTERM and
    ``grace_s`` seconds to remove its temporaries (SIGKILL after that), then the stop goes on."""
    proc = subprocess.Popen(list(cmd), **popen)
    try:
        code = proc.wait()
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    if check and code != 0:
        raise subprocess.CalledProcessError(code, list(cmd))
    return code
