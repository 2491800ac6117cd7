"""One error path for every command: ``error: <what>[: file[:line]]`` on one line, exit 1.

Why: users run these commands in scripts and job arrays; a traceback hides the one line that
matters, and a killed job must say what survived.  :func:`run_main` wraps a command's
``main``:

* bad input, a damaged file, a folder in use, a full disk, a read-only cache: one line, exit 1
  (``--debug`` anywhere on the command line shows the traceback instead);
* SIGINT / SIGTERM: one line saying finished units are kept and a rerun resumes, exit 130 / 143;
* quiet by default: the libraries' model-loading bars and tokenizer length warnings are off
  unless ``--verbose`` is on the command line (the plugin's own bars are for long work only).

One flag style: :class:`FlagParser` accepts every long option in Pyserini's hyphenated form and
in the underscored form (``--batch-size`` and ``--batch_size``), as HfArgumentParser already does
for the Tevatron drivers; :func:`rename_flags` maps another tool's names (Tevatron v2's) onto ours.
"""
from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
from typing import Callable, Mapping, Optional, Sequence

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
    verbose = "--verbose" in argv
    argv = [a for a in argv if a not in ("--debug", "--verbose")]
    # quiet: "warning: <what>", as the error line reads; verbose: time, level and logger of each record
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s" if verbose else
                        "%(levelname_lower)s: %(message)s", level=logging.INFO if verbose else logging.WARNING)
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_lower_level_name)  # a filter already there is not added twice
        quiet_libraries()
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


def _lower_level_name(record: logging.LogRecord) -> bool:
    record.levelname_lower = record.levelname.lower()
    return True


def quiet_libraries() -> None:
    """Model-loading progress bars and transformers' warnings (e.g. "Token indices sequence
    length is longer than the specified maximum", said for every long passage that is then cut
    as asked) off; errors still show.  Called by :func:`run_main`, the process's entry point,
    never by a constructor."""
    import huggingface_hub.utils
    import transformers.utils.logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()


def twin(option: str) -> Optional[str]:
    """The other spelling of a long option: ``--batch-size`` <-> ``--batch_size``."""
    if not option.startswith("--"):
        return None
    body = option[2:]
    other = body.replace("-", "_") if "-" in body else body.replace("_", "-")
    return None if other == body else "--" + other


def both_spellings(names: Sequence[str], kwargs: dict) -> tuple[tuple[str, ...], dict]:
    """Option strings with each long option's twin added (hyphenated first: the one help shows),
    and ``dest`` fixed to the underscored name whichever spelling came first."""
    if not names or not all(n.startswith("-") for n in names):
        return tuple(names), kwargs
    spelled: list[str] = []
    for n in names:
        for form in (n, twin(n)):
            if form and form not in spelled:
                spelled.append(form)
    spelled.sort(key=lambda n: "_" in n)
    longs = [n for n in names if n.startswith("--")]
    if longs and "dest" not in kwargs:
        kwargs = dict(kwargs, dest=longs[0][2:].replace("-", "_"))
    return tuple(spelled), kwargs


class FlagParser(argparse.ArgumentParser):
    """argparse with both spellings of every long option (Pyserini's hyphens first in help)."""

    def add_argument(self, *names, **kwargs):
        names, kwargs = both_spellings(names, kwargs)
        return super().add_argument(*names, **kwargs)

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        plain = group.add_argument

        def add_argument(*names, **kw):
            names, kw = both_spellings(names, kw)
            return plain(*names, **kw)

        group.add_argument = add_argument  # type: ignore[method-assign]
        return group


def rename_flags(argv: Sequence[str], names: Mapping[str, str]) -> list[str]:
    """``argv`` with other tools' flag names mapped onto ours (``--name`` and ``--name=value``,
    either spelling), so e.g. a Tevatron v2 encode command line runs unchanged."""
    table = {}
    for theirs, ours in names.items():
        table[theirs] = ours
        if twin(theirs):
            table[twin(theirs)] = ours
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        out.append(table[flag] + eq + value if flag in table else arg)
    return out


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """The flags of an arguments dataclass (Tevatron's ``arguments.py`` habit) on an argparse
    parser, so a flag declared once serves the HfArgumentParser CLIs and the argparse ones alike:
    ``--name`` (both spellings with a :class:`FlagParser`), its type (``Optional`` unwrapped; lists
    take ``nargs``: ``+``, or ``*`` with ``metadata["nargs"]``), ``store_true`` for booleans, and
    ``help`` from the field's metadata, old spellings from its ``aliases`` (as HfArgumentParser reads them).  No argparse ``choices``: a value is checked where it is
    made (a dataclass ``__post_init__``, ``IndexConfig``, ``Fusion``), so a bad one is the usual
    one-line error, not argparse's usage text."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if typing.get_origin(kind) is typing.Union:
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        kwargs: dict = {"help": f.metadata.get("help")}
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if kind is bool:
            kwargs.update(action="store_true")
        elif typing.get_origin(kind) is list:
            kwargs.update(nargs=f.metadata.get("nargs", "+"), type=typing.get_args(kind)[0], default=default)
        else:
            kwargs.update(type=kind, default=default)
        parser.add_argument(f"--{f.name}", *f.metadata.get("aliases", ()), **kwargs)
