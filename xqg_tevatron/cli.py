"""One error path for every command: ``error: <what>[: file[:line]]`` on one line, exit 1.

Why: users run these commands in scripts and job arrays; a traceback hides the one line that
matters, and a killed job must say what survived.  :func:`run_main` wraps a command's
``main``:

* bad input, a damaged file, a folder in use, a full disk, a read-only cache: one line, exit 1
  (``--debug`` anywhere on the command line shows the traceback instead);
* SIGINT / SIGTERM: one line saying finished units are kept and a rerun resumes, exit 130 / 143.
"""
from __future__ import annotations

import errno
import signal
import sys
from typing import Callable, Optional, Sequence

EXIT_ERROR = 1
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(BaseException):
    """Raised in the main thread when SIGTERM arrives (SIGINT raises KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_sigterm(signum, _frame):
    raise Interrupted(signum)


def describe_os_error(exc: OSError) -> str:
    where = exc.filename or ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on device while writing {where}".rstrip()
    if exc.errno == errno.EROFS:
        return f"cannot write {where}: read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write {where}: permission denied" if where else "permission denied"
    if exc.errno == errno.EISDIR:
        return f"{where}: is a directory, a file was expected"
    if exc.errno == errno.ENOTDIR:
        return f"{where}: is not a directory"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded while writing {where}"
    return f"{exc.strerror or exc}: {where}".rstrip(": ")


def error_line(exc: BaseException) -> str:
    """The one line for an exception (never a traceback).  Expected failures (bad input, a
    damaged or missing file, a folder in use, the operating system) read as their message;
    anything else is named by its type, with the hint to rerun with ``--debug``."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is not None:
        return describe_os_error(exc)
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.errno is not None and not text.startswith(("/", ".")) and exc.strerror:
        return describe_os_error(exc)
    if isinstance(exc, (ValueError, RuntimeError, OSError)) and text:
        return text
    return f"{type(exc).__name__}: {text} (unexpected; rerun with --debug for the traceback)"


def run_main(main: Callable[[Sequence[str]], Optional[int]], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main(argv)`` with the one error path (see module doc); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        return int(main(argv) or 0)
    except SystemExit:
        raise
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        if debug:
            raise
        print(f"error: interrupted by {name}; finished units are kept, rerun the same command to resume",
              file=sys.stderr)
        return EXIT_SIGNAL[signum]
    except Exception as exc:  # every failure ends in the one line
        if debug:
            raise
        _close_progress_bars()
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _close_progress_bars() -> None:
    """A progress bar left open would print after the error line."""
    try:
        from tqdm.auto import tqdm

        for bar in list(getattr(tqdm, "_instances", [])):
            bar.close()
    except Exception:
        pass
