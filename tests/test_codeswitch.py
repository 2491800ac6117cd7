"""Code-switching: achieved switch ratio tracks p, overlap is measured, driver + DDP record it."""
from __future__ import annotations

import json
import random

import pytest

from helpers import run_cli
from xqg_tevatron.training.codeswitch import CodeSwitchConfig, CodeSwitchedGroups, CodeSwitcher, content_tokens
from xqg_tevatron.words.lexicon import Lexicon

VOCAB = [f"word{i}" for i in range(50)]


def full_lexicons(langs=("ja", "ru")):
    return {lang: Lexicon(lang).update((w, f"{lang}_{w}") for w in VOCAB) for lang in langs}


def make_groups(n=400, seed=0):
    rng = random.Random(seed)
    groups = []
    for _ in range(n):
        words = rng.sample(VOCAB, 10)
        groups.append({"query": "what is " + " ".join(words) + "?", "positives": [" ".join(words) + " and more"],
                       "negatives": ["the other passage"]})
    return groups


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_switched_share_matches_p(p):
    cfg = CodeSwitchConfig(p=p, languages=("ja", "ru"))
    view = CodeSwitchedGroups(make_groups(), CodeSwitcher(cfg, lexicons=full_lexicons()))
    switched = [view[i]["query"] for i in range(len(view))]
    s = view.stats
    assert s.query_tokens == 400 * 10 and s.translatable_tokens == 4000  # "what"/"is" are stop words
    assert s.switched_share == pytest.approx(p, abs=0.03)
    # the text really changed by that much, into both languages
    n_foreign = sum(w.startswith(("ja_", "ru_")) for q in switched for w in q.split())
    assert n_foreign == s.switched_tokens
    if 0 < p < 1:
        joined = " ".join(switched)
        assert "ja_" in joined and "ru_" in joined
    # overlap: every query content word is in the positive unless switched (passages untouched)
    assert s.lexical_overlap == pytest.approx(1 - s.switched_share, abs=1e-9)


def test_switching_passages_too_keeps_overlap_measured_after_switching():
    cfg = CodeSwitchConfig(p=0.5, languages=("ja",), switch_passages=True)
    view = CodeSwitchedGroups(make_groups(200), CodeSwitcher(cfg, lexicons=full_lexicons(("ja",))))
    groups = [view[i] for i in range(len(view))]
    assert any("ja_" in g["positives"][0] for g in groups)
    # with both sides switched independently, overlap = P(both kept) + P(both switched) = 0.5
    assert view.stats.lexical_overlap == pytest.approx(0.5, abs=0.05)


def test_reproducible_and_varies_across_epochs():
    make = lambda: CodeSwitchedGroups(make_groups(5), CodeSwitcher(  # noqa: E731
        CodeSwitchConfig(p=0.5, languages=("ja",)), lexicons=full_lexicons(("ja",))))
    a, b = make(), make()
    first = [a[i]["query"] for i in range(5)]
    assert first == [b[i]["query"] for i in range(5)]
    assert [a[i]["query"] for i in range(5)] != first  # second epoch differs


def test_multiword_phrases_and_cldr():
    sw = CodeSwitcher(CodeSwitchConfig(p=1.0, languages=("ja",)))
    text, n_content, translatable, switched = sw.switch("Which currency does United Arab Emirates use?", random.Random(0))
    assert "アラブ首長国連邦" in text and "United" not in text
    assert content_tokens("What is the Euro?") == ["euro"]


def test_bad_p_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CodeSwitchConfig(p=1.5)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["single", "torchrun"])
def test_train_driver_records_stats(tmp_path, prepared, tiny_model, launcher):
    # English training queries (as the study trains): they have translatable words, so the
    # achieved switch ratio among them must track p
    from xqg_tevatron.data.xor_format import read_qrels, read_questions, write_tevatron_train
    from xqg_tevatron.corpus import iter_passages

    corpus = {p.docid: p for p in iter_passages([prepared.corpus_file])}
    train = write_tevatron_train(read_questions(prepared.questions_train),
                                 read_qrels(prepared.questions_train.parent / "qrels.train.txt"), corpus,
                                 tmp_path / "train_en" / "train.jsonl", n_negatives=2, english_queries=True)
    out = tmp_path / "model"
    args = ["-m", "xqg_tevatron.driver.train", "--model_name_or_path", str(tiny_model), "--output_dir", str(out),
            "--train_dir", str(train.parent), "--per_device_train_batch_size", "4",
            "--train_n_passages", "2", "--max_steps", "20", "--q_max_len", "24", "--p_max_len", "48",
            "--code_switch_p", "0.5", "--code_switch_languages", "ja", "ru", "--report_to", "none",
            "--save_strategy", "no", "--disable_tqdm", "true", "--dataset_proc_num", "1"]
    if launcher == "torchrun":
        args = ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"] + args + [
            "--ddp_backend", "gloo"]
    run_cli(*args)
    stats = json.loads((out / "code_switch_stats.json").read_text())
    n_ranks = 2 if launcher == "torchrun" else 1
    assert stats["queries"] >= 20 * 4 * n_ranks  # every query read in every step of every rank was counted
    assert stats["p"] == 0.5 and stats["languages"] == ["ja", "ru"]
    assert stats["translatable_tokens"] >= 40, stats
    # half of the translatable words switched (binomial: sd <= 0.08 at 40 words)
    assert stats["switched_tokens"] / stats["translatable_tokens"] == pytest.approx(0.5, abs=0.2), stats
    assert (out / "model.safetensors").exists()
