"""``--quick``: a benchmark at the smallest sizes that still run every code path of it, so that
``make bench-quick`` checks every benchmark in minutes.  A quick run writes no result file where
the real ones live (``docs/``): its numbers only show that the benchmark runs."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

HELP = "smoke run: the smallest sizes that run every code path (numbers meaningless; no result file written)"


def parse_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]], quick: dict) -> argparse.Namespace:
    """``parser``'s arguments with ``--quick`` added; under ``--quick`` the defaults become
    ``quick``'s values (flags given on the command line still win)."""
    parser.add_argument("--quick", action="store_true", help=HELP)
    known, _ = parser.parse_known_args(argv)
    if known.quick:
        parser.set_defaults(**quick)
    return parser.parse_args(argv)
