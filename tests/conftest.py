"""Shared fixtures: tiny models built in-process, the embedded data set converted once; the test
tiers.  Helpers that tests call are in ``helpers.py``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from helpers import LANGS, build_tiny_bert

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    from xqg_tevatron.data.xor_format import prepare_default

    return prepare_default(tmp_path_factory.mktemp("xor_default"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, prepared) -> Path:
    from xqg_tevatron.corpus import iter_passages
    from xqg_tevatron.data.xor_format import read_questions

    texts = [p.full_text() for p in iter_passages([prepared.corpus_file])]
    texts += [q.question for q in read_questions(prepared.questions_train)]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), texts)


@pytest.fixture(scope="session")
def xqg_corpus(tmp_path_factory, prepared) -> Path:
    """40 passages with dictionary-generated queries in ``helpers.LANGS``; every 5th has none."""
    from xqg_tevatron.corpus import iter_passages
    from xqg_tevatron.data.xor_format import write_corpus_jsonl
    from xqg_tevatron.generate.dictionary import DictionaryGeneratorConfig, DictionaryQueryGenerator

    gen = DictionaryQueryGenerator(DictionaryGeneratorConfig(n_per_lang=3))
    passages = list(iter_passages([prepared.corpus_file]))[:40]
    for i, p in enumerate(passages):
        p.generated_queries = {} if i % 5 == 0 else {lang: gen.queries(p, lang) for lang in LANGS}
    return write_corpus_jsonl(passages, tmp_path_factory.mktemp("xqg") / "corpus.xqg.jsonl")


@pytest.fixture(scope="session")
def demo_encoder() -> Path:
    from xqg_tevatron.demo_encoder import build_demo_encoder

    return build_demo_encoder()


# The test tiers, from explicit markers: `slow` (end-to-end CLI runs) and `process` (starts a
# process or a JVM, or loads a model), both left out by `make test-fast`.  A test that uses one of
# these fixtures loads a model, so it is in `process` by its declared fixtures; any other test that
# starts a process says so with @pytest.mark.process, and the guard below fails a fast-tier test
# that starts one without it (so the tier cannot drift from what the tests do).
# the files that take the most of `make test`'s time, longest first (their summed --durations on
# 2 cores, 2026-12-02: 222, 193, 184, 129, 110, 85, 56, 40, 31 s)
LONGEST_FIRST = ("test_ray_cluster", "test_xqg_index", "test_faults", "test_demo_xquad", "test_engine",
                 "test_bench_gpu", "test_study", "test_search", "test_freedict")
MODEL_FIXTURES = {"tiny_model", "demo_encoder", "indexes", "encoder_dir", "tiny_mt5", "mt5_dir"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.get_closest_marker("slow") and MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)
    # longest files first: `make test` hands whole files to two workers (pytest -n 2 --dist
    # loadfile --no-loadscope-reorder, so xdist keeps this order instead of putting the files with
    # the most tests first), and a long file started last leaves the other worker idle at the end
    # (the Ray cluster file, started late, once kept one worker idle for three minutes); then every
    # other file holding slow tests.
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}

    def order(item) -> tuple[int, int]:
        name = item.module.__name__
        if name in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(name)
        return (1 if name in slow_modules else 2), 0

    items.sort(key=order)  # stable: file order otherwise kept


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_process(request, monkeypatch):
    """In the fast tier (no `slow`, no `process` marker) starting a process or the JVM is a test error."""
    if request.node.get_closest_marker("slow") or request.node.get_closest_marker("process"):
        yield
        return
    import subprocess

    def refuse(self, args, *rest, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process ({str(args)[:80]}): mark it "
                             "@pytest.mark.process")

    # the class stays (libraries subclass it at import); only starting one is refused, for this test
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    jvm_before = _jvm_running()
    yield
    if not jvm_before and _jvm_running():
        pytest.fail(f"{request.node.nodeid} starts the JVM (Pyserini): mark it @pytest.mark.process")


def _jvm_running() -> bool:
    """Whether this process's JVM runs (jnius's own state; nothing imported to ask)."""
    config = sys.modules.get("jnius_config")
    return bool(config is not None and config.vm_running)
