"""Tevatron's name for ``python -m xqg_tevatron.indexing.merge_cli``: the same command, kept for Tevatron users
(``python -m xqg_tevatron.driver.merge``)."""
from __future__ import annotations

import sys

from xqg_tevatron.indexing.merge_cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
