"""``python -m xqg_tevatron.indexing``: the encode stage's command (``indexing/encode_cli.py``)."""
import sys

from xqg_tevatron.indexing.encode_cli import main

if __name__ == "__main__":
    sys.exit(main())
