"""A generator that gives no queries is an error (issue 33): the share of passages without a
query in a language is counted over the passages generated so far, checked after the first
units (a long job stops early) and over the whole output, with one line naming the generator."""
from __future__ import annotations

import json

import pytest

from helpers import cli, dictionary, one_line_error, word_corpus


def plain_corpus(path, n: int):
    """``n`` passages that name nothing CLDR translates (no country, currency or language)."""
    things = ["river", "bridge", "market", "garden", "harbour", "tower", "meadow", "mill"]
    path.write_text("".join(json.dumps({"docid": f"p{i}", "title": things[i % 8],
                                        "text": f"The {things[i % 8]} is near the {things[(i + 3) % 8]} number {i}."})
                            + "\n" for i in range(n)), encoding="utf-8")
    return path
from xqg_tevatron.generate.coverage import EARLY_PASSAGES, NoQueriesError, QueryCoverage

PROSE = "The river was wide and slow.\nIt ran past the town.\nNothing here is a word list at all.\n"


def test_the_share_is_counted_over_the_units_so_far_not_per_unit():
    coverage = QueryCoverage(0.9, {"fi": "the fi list"})
    coverage.after_commit(0, {"passages": 10, "without_queries": {"fi": 10}})  # one bare unit: no verdict
    coverage.after_commit(1, {"passages": EARLY_PASSAGES, "without_queries": {"fi": 0}})
    coverage.check_complete([{"passages": 10, "without_queries": {"fi": 10}},
                             {"passages": 90, "without_queries": {"fi": 80}}])  # 90%: at the bar, not over
    with pytest.raises(NoQueriesError, match=r"^fi: 91 of 100 passages \(91%\) got no generated query from the "
                                             r"fi list; .*--max-share-without-queries 0.9 sets the bar"):
        coverage.check_complete([{"passages": 100, "without_queries": {"fi": 91}}])
    QueryCoverage(1.0).check_complete([{"passages": 5, "without_queries": {"fi": 5}}])  # 1 = off
    with pytest.raises(ValueError, match=r"--max_share_without_queries must be in \(0, 1\], got 0"):
        QueryCoverage(0)


def test_a_text_file_that_is_no_word_list_is_one_line_naming_it_and_publishes_nothing(tmp_path):
    corpus = plain_corpus(tmp_path / "c.jsonl", 6)
    prose = tmp_path / "notes.txt"
    prose.write_text(PROSE)
    out = tmp_path / "g.jsonl"
    error = one_line_error(dictionary(corpus, out, "--languages", "te", "--word_lists", f"te={prose}"))
    assert "te: 6 of 6 passages (100%) got no generated query" in error and str(prose) in error
    assert not out.exists()
    # the bar is a flag; 1 turns the check off and the same run publishes its (empty) queries
    assert dictionary(corpus, out, "--languages", "te", "--word_lists", f"te={prose}",
                      "--max_share_without_queries", "1").returncode == 0
    assert all(json.loads(line)["generated_queries"] == {"te": []} for line in out.read_text().splitlines())
    # a bad bar is refused before any work
    error = one_line_error(dictionary(corpus, tmp_path / "h.jsonl", "--max_share_without_queries", "1.5"))
    assert "--max_share_without_queries must be in (0, 1], got 1.5" in error


def test_a_long_generation_stops_after_its_first_units(tmp_path):
    """The check runs as units commit: with units of 50, the run stops once 200 passages are in,
    with most of the corpus not generated."""
    corpus = plain_corpus(tmp_path / "c.jsonl", 600)
    prose = tmp_path / "notes.txt"
    prose.write_text(PROSE)
    out = tmp_path / "g.jsonl"
    proc = cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus), "--output", str(out),
               "--languages", "te", "--word_lists", f"te={prose}", "--unit_size", "50")
    assert "te: 200 of 200 passages (100%)" in one_line_error(proc)
    assert len(list((tmp_path / "g.jsonl.work").glob("chunk-*.json"))) == EARLY_PASSAGES // 50


def test_a_language_some_passages_lack_is_not_an_error(tmp_path):
    corpus = word_corpus(tmp_path / "c.jsonl", 10)
    words = tmp_path / "fi.txt"
    words.write_text("euro euroa\n")  # 3 of 10 passages name the euro
    out = tmp_path / "g.jsonl"
    assert dictionary(corpus, out, "--languages", "fi", "--word_lists", f"fi={words}").returncode == 0
    with_queries = sum(1 for line in out.read_text().splitlines() if json.loads(line)["generated_queries"]["fi"])
    assert 0 < with_queries < 10


@pytest.mark.process
def test_the_job_stops_on_a_generator_without_queries_before_it_publishes_an_index(tmp_path, tiny_model):
    corpus = plain_corpus(tmp_path / "c.jsonl", 6)
    prose = tmp_path / "notes.txt"
    prose.write_text(PROSE)
    proc = cli("-m", "xqg_tevatron.job", "--corpus", str(corpus), "--encoder", str(tiny_model), "--work_dir",
               str(tmp_path / "store"), "--output", str(tmp_path / "index"), "--languages", "te",
               "--word_lists", f"te={prose}", "--n_per_lang", "2", "--unit_size", "3", "--p_max_len", "32",
               "--q_max_len", "16", "--quiet")
    error = one_line_error(proc)
    assert "te: 6 of 6 passages (100%) got no generated query from the dictionary generator" in error
    assert str(prose) in error and not (tmp_path / "index").exists()
