"""``python -m xqg_tevatron.pyserini MODULE [ARGS...]``: any pyserini module, unchanged."""
import sys

from xqg_tevatron.pyserini.bootstrap import JavaStartError, run_module

USAGE = "usage: python -m xqg_tevatron.pyserini MODULE [ARGS...]   e.g. search.faiss --help, eval.trec_eval -m ndcg_cut.10 qrels run"


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] in {"-h", "--help"}:
        print(USAGE)
        return 0 if len(sys.argv) >= 2 else 2
    try:
        run_module(sys.argv[1], sys.argv[2:])
    except JavaStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
