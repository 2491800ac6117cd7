"""``python -m xqg_tevatron.search``: see :mod:`xqg_tevatron.search.searcher`."""
import sys

from xqg_tevatron.search.searcher import main

if __name__ == "__main__":
    sys.exit(main())
