"""Query generators: tiny random MT5 through the real HF train/generate path, and the offline
dictionary generator with a small word list."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import StopAfter, run_cli
from xqg_tevatron.corpus import Passage, iter_passages
from xqg_tevatron.data.xor_format import read_qrels, read_questions, write_generator_pairs
from xqg_tevatron.generate.dictionary import DictionaryGeneratorConfig, DictionaryQueryGenerator
from xqg_tevatron.generate.generate_units import GenerationJob, run_generation
from xqg_tevatron.generate.backend import make_prompt
from xqg_tevatron.words.lexicon import Lexicon, dictd_pairs, load_lexicon, muse_pairs


def build_tiny_mt5(out: Path, texts: list[str]) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers, decoders
    from transformers import MT5Config, MT5ForConditionalGeneration, PreTrainedTokenizerFast
    import torch

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=1500, special_tokens=["<pad>", "</s>", "<unk>"],
                                                           unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    cfg = MT5Config(vocab_size=tok.get_vocab_size(), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                    num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    MT5ForConditionalGeneration(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def pairs_and_corpus(tmp_path_factory, prepared):
    corpus = {p.docid: p for p in iter_passages([prepared.corpus_file])}
    pairs = write_generator_pairs(read_questions(prepared.questions_train), read_qrels(
        prepared.questions_train.parent / "qrels.train.txt"), corpus, tmp_path_factory.mktemp("gen") / "pairs.jsonl")
    return pairs, corpus


def test_prompt_format():
    assert make_prompt("ja", "Japan", "Japan  uses the Yen.") == \
        "Generate a Japanese question for this passage: Japan Japan uses the Yen."
    with pytest.raises(ValueError, match="unknown language"):
        make_prompt("xx", "t", "p")


def test_generator_pairs_from_xor(pairs_and_corpus):
    pairs, _ = pairs_and_corpus
    rows = [json.loads(l) for l in pairs.read_text().splitlines()]
    assert len(rows) == 420 and {r["lang"] for r in rows} == {"ar", "bn", "fi", "ja", "ko", "ru", "te"}
    assert rows[0]["question"].endswith("؟") and rows[0]["text"]


@pytest.mark.slow
def test_tiny_mt5_train_generate_resume(tmp_path, pairs_and_corpus):
    pairs, corpus = pairs_and_corpus
    texts = [make_prompt(json.loads(l)["lang"], "", json.loads(l)["text"]) for l in pairs.read_text().splitlines()]
    texts += [json.loads(l)["question"] for l in pairs.read_text().splitlines()]
    base = build_tiny_mt5(tmp_path / "mt5", texts)
    trained = tmp_path / "mt5-trained"
    run_cli("-m", "xqg_tevatron.generate.seq2seq", "train", "--model_name_or_path", str(base), "--train_file", str(pairs),
            "--output_dir", str(trained), "--per_device_train_batch_size", "16", "--max_steps", "15",
            "--learning_rate", "3e-3", "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true")
    assert (trained / "model.safetensors").exists()
    from safetensors.numpy import load_file
    import numpy as np
    w0, w1 = load_file(str(base / "model.safetensors")), load_file(str(trained / "model.safetensors"))
    assert not np.allclose(w0["shared.weight"], w1["shared.weight"])

    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps({"docid": d, "title": corpus[d].title, "text": corpus[d].text}) + "\n"
                             for d in list(corpus)[:10]), encoding="utf-8")
    args = ["-m", "xqg_tevatron.generate.seq2seq", "generate", "--model", str(trained), "--corpus", str(small),
            "--languages", "ja", "te", "--n_per_lang", "3", "--top_k", "10", "--max_length", "12",
            "--batch_size", "4", "--unit_size", "4"]
    full = tmp_path / "full.jsonl"
    run_cli(*args, "--output", str(full))
    recs = [json.loads(l) for l in full.read_text().splitlines()]
    assert [r["docid"] for r in recs] == list(corpus)[:10]
    for r in recs:
        assert set(r["generated_queries"]) == {"ja", "te"}
        assert all(len(qs) == 3 and all(isinstance(q, str) for q in qs) for qs in r["generated_queries"].values())
        assert r["text"] == corpus[r["docid"]].text
    # sampling really samples: not all 3 queries of every passage identical
    assert any(len(set(qs)) > 1 for r in recs for qs in r["generated_queries"].values())

    # resume: a run killed after its first chunk, rerun, writes exactly the same file
    from xqg_tevatron.generate.backend import SamplingConfig
    from xqg_tevatron.generate.hf_backend import Seq2SeqQueryGenerator
    gen = Seq2SeqQueryGenerator(str(trained), SamplingConfig(n_per_lang=3, top_k=10, max_length=12, batch_size=4))
    resumed = tmp_path / "resumed.jsonl"
    job = GenerationJob([str(small)], str(resumed), ["ja", "te"], unit_size=4, show_progress=False)
    assert run_generation(job, gen, executor=StopAfter(1))["complete"] is False
    assert not resumed.exists() and len(list(job.work.glob("chunk-*.jsonl"))) == 1
    stats = run_generation(job, gen)
    assert stats["skipped"] == 1 and stats["generated"] == 2
    assert resumed.read_text() == full.read_text()

    # CTranslate2 backend: the same published format, resumable, and the same model (greedy ids agree)
    from xqg_tevatron.generate.ct2_backend import Ct2QueryGenerator
    ct2_full = tmp_path / "ct2.jsonl"
    run_cli(*args, "--output", str(ct2_full), "--backend", "ct2", "--compute_type", "float32")
    ct_recs = [json.loads(l) for l in ct2_full.read_text().splitlines()]
    assert [r["docid"] for r in ct_recs] == [r["docid"] for r in recs]
    assert all(set(r["generated_queries"]) == {"ja", "te"} and all(len(qs) == 3 and all(isinstance(q, str) for q in qs)
               for qs in r["generated_queries"].values()) for r in ct_recs)
    assert any(len(set(qs)) > 1 for r in ct_recs for qs in r["generated_queries"].values())
    conversion = json.loads((tmp_path / "mt5-trained.ct2" / "xqg_conversion.json").read_text())
    assert conversion["model_sha256"] and conversion["ctranslate2"]
    ct_gen = Ct2QueryGenerator(str(trained), SamplingConfig(n_per_lang=3, top_k=10, max_length=12, batch_size=4),
                               "float32")
    ct_job = GenerationJob([str(small)], str(tmp_path / "ct2_resumed.jsonl"), ["ja", "te"], unit_size=4,
                           show_progress=False)
    assert run_generation(ct_job, ct_gen, executor=StopAfter(1))["complete"] is False
    assert run_generation(ct_job, ct_gen)["skipped"] == 1
    assert (tmp_path / "ct2_resumed.jsonl").read_text() == ct2_full.read_text()
    greedy = SamplingConfig(n_per_lang=1, max_length=12, batch_size=4, greedy=True)
    hf_greedy, ct_greedy = Seq2SeqQueryGenerator(str(trained), greedy), Ct2QueryGenerator(str(trained), greedy, "float32")
    prompts = [make_prompt("ja", corpus[d].title, corpus[d].text) for d in list(corpus)[:16]]
    enc = hf_greedy.tokenizer(prompts, max_length=256, truncation=True, padding=True, return_tensors="pt")
    import torch
    with torch.inference_mode():
        out = hf_greedy.model.generate(**enc, do_sample=False, num_beams=1, max_new_tokens=11)
    eos = hf_greedy.tokenizer.eos_token_id
    hf_ids = [row[:row.index(eos) + 1] if eos in row else row for row in (r.tolist()[1:] for r in out)]
    assert hf_ids == ct_greedy.token_ids(prompts)
    ten = [corpus[d] for d in list(corpus)[:10]]
    assert hf_greedy(ten, "te") == ct_greedy(ten, "te")

    # the prompt is read up to 256 tokens by default (DSI-QG), not the 128 of training
    seen = []
    real_call = type(gen.tokenizer).__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("max_length"))
        return real_call(self, *args, **kwargs)

    from xqg_tevatron.corpus import Passage
    long = Passage("long", " ".join(["word"] * 400), "Title")
    gen256 = Seq2SeqQueryGenerator(str(trained), SamplingConfig(n_per_lang=1, max_length=4))
    import unittest.mock
    with unittest.mock.patch.object(type(gen256.tokenizer), "__call__", spy):
        gen256([long], "ja")
    assert seen == [256]


def test_dictionary_generator_with_small_word_list(tmp_path):
    words = tmp_path / "en-fi.txt"
    words.write_text("volcano tulivuori\nisland saari\nlava laava\nocean\tvaltameri\n", encoding="utf-8")
    lex = Lexicon("fi").update(muse_pairs(words))
    gen = DictionaryQueryGenerator(DictionaryGeneratorConfig(n_per_lang=4, top_k=10, terms_per_query=2),
                                   lexicons={"fi": lex})
    p = Passage("d1", "The volcano on the island erupted; lava reached the ocean. Lava flows continued.", "Volcano")
    assert gen.salient_terms(p, "fi") == ["tulivuori", "laava", "saari", "valtameri"]  # title first, then frequency
    qs = gen.queries(p, "fi")
    assert 1 <= len(qs) <= 4 and len(set(qs)) == len(qs)
    assert all(q.startswith("mikä tulivuori") and q.endswith("?") for q in qs)
    assert gen.queries(p, "fi") == qs  # deterministic
    assert gen.queries(Passage("d2", "nothing translatable here"), "fi") == []


def test_cldr_lexicon_multiword_longest_match():
    lex = load_lexicon("ja")
    from xqg_tevatron.words.lexicon import words
    hits = [t for _, _, t in lex.match(words("United Arab Emirates Dirham is used in the United Arab Emirates"))]
    assert hits == ["アラブ首長国連邦ディルハム", "アラブ首長国連邦"]


@pytest.mark.process
def test_dictd_loader(tmp_path):
    def b64(n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        s = ""
        while True:
            s = alphabet[n % 64] + s
            n //= 64
            if n == 0:
                return s
    entries = [("cat", "cat /kæt/\nкошка; кот\n"), ("dog", "dog\n1. собака\n")]
    body, index, off = b"", [], 0
    for head, text in entries:
        data = text.encode()
        index.append(f"{head}\t{b64(off)}\t{b64(len(data))}")
        body += data
        off += len(data)
    (tmp_path / "eng-rus.dict").write_bytes(body)
    (tmp_path / "eng-rus.index").write_text("\n".join(index) + "\n", encoding="utf-8")
    assert list(dictd_pairs(tmp_path / "eng-rus.index")) == [("cat", "кошка"), ("dog", "собака")]


@pytest.mark.process
def test_dictionary_cli_resume_and_format(tmp_path, prepared):
    out = tmp_path / "gen.jsonl"
    run_cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(prepared.corpus_file), "--output", str(out),
            "--languages", "ko", "ar", "--n_per_lang", "2", "--unit_size", "100")
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(recs) == 364 and set(recs[0]) == {"docid", "title", "text", "generated_queries"}
    korea = next(r for r in recs if r["title"] == "South Korea")
    assert any("대한민국" in q for q in korea["generated_queries"]["ko"])
    proc = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "xqg_tevatron.generate.dictionary", "--corpus", str(prepared.corpus_file),
         "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1 and "--overwrite" in proc.stderr
