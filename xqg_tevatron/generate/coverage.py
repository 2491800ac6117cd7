"""Did the generator give queries?  A check over the passages generated so far.

Why: a text file that is no word list, or a generator that has not learnt to write queries,
gives (almost) every passage an empty list, and everything after it still runs: the xQG index
silently equals the plain one.  On a GPU a random generator left 4,998 of 5,000 passages
without a query and the job went on.  So the share of passages with no query in a language is
counted over every unit committed so far (not per unit: a short unit may be all titles), and
above the bar the command stops with one line naming the generator.  It is checked after the
first units, so a long job stops early, and once more over the whole output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

DEFAULT_BAR = 0.9  # --max_share_without_queries
EARLY_PASSAGES = 200  # checked as units commit once this many passages are in (smaller: at the end only)


class NoQueriesError(ValueError):
    """Too many passages got no generated query in some language."""


def passages_without_queries(per_lang: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, int]:
    """A unit's count, per language, of passages whose generated queries are all empty."""
    return {lang: sum(1 for qs in rows if not any(q.strip() for q in qs)) for lang, rows in per_lang.items()}


@dataclass
class QueryCounts:
    """Passages seen, and per language those without a query, over some units' records."""

    passages: int = 0
    without: dict[str, int] = field(default_factory=dict)

    def add(self, record: Mapping) -> None:
        self.passages += int(record.get("passages", 0))
        for lang, n in (record.get("without_queries") or {}).items():
            self.without[lang] = self.without.get(lang, 0) + int(n)


@dataclass
class QueryCoverage:
    """The check, as a stage's unit hooks (``runtime.stage.UnitWork``): ``after_commit`` counts
    the units committed in this run and checks once :data:`EARLY_PASSAGES` are in;
    ``check_complete`` checks every unit of the finished shard.  ``generator``: language -> what
    made its queries (a word list, a model), named in the error; ``bar`` 1 turns it off."""

    bar: float = DEFAULT_BAR
    generator: Mapping[str, str] = field(default_factory=dict)
    so_far: QueryCounts = field(default_factory=QueryCounts)

    def __post_init__(self):
        check_bar(self.bar)

    def after_commit(self, index: int, record: Mapping) -> None:
        self.so_far.add(record)
        if self.so_far.passages >= EARLY_PASSAGES:
            self.check(self.so_far)

    def check_complete(self, records: Iterable[Mapping]) -> None:
        counts = QueryCounts()
        for record in records:
            counts.add(record)
        self.check(counts)

    def check(self, counts: QueryCounts) -> None:
        if self.bar >= 1 or not counts.passages:
            return
        for lang in sorted(counts.without):
            share = counts.without[lang] / counts.passages
            if share > self.bar:
                raise NoQueriesError(
                    f"{lang}: {counts.without[lang]:,} of {counts.passages:,} passages ({share:.0%}) got no generated "
                    f"query from {self.generator.get(lang, 'the generator')}; is it the right word list or model? "
                    f"(--max-share-without-queries {self.bar:g} sets the bar; 1 turns the check off)")


def check_bar(bar: float) -> float:
    if not 0 < bar <= 1:
        raise ValueError(f"--max_share_without_queries must be in (0, 1], got {bar}")
    return bar


def add_coverage_argument(parser) -> None:
    parser.add_argument("--max_share_without_queries", type=float, default=DEFAULT_BAR,
                        help="stop with an error when more than this share of the passages generated so far get no "
                             "query in a language (a file that is no word list, an untrained model); 1 = never")
