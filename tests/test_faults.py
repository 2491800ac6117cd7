"""Faults a user meets, driven through the CLIs: reruns never mix inputs, --overwrite never
deletes what the plugin did not make, bad input is one line before any work, and kill -9 at
random points of encode / generation / merge (1 and 2 shards) ends, after a rerun, in output
identical bit for bit to an uninterrupted run."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import (ROOT, cli, cli_process, dictionary, encode, encode_args, one_line_error, run_cli, run_killed_at,
                     write_corpus)


# ------------------------------------------------------------------ 1, 2: reruns never mix inputs
def test_failed_encode_is_never_resumed_with_another_corpus(tmp_path, tiny_model):
    bad = write_corpus(tmp_path / "bad.jsonl", ["a", "b", "c", "d", "a"])  # duplicate found in chunk 1
    assert "duplicated docid 'a'" in one_line_error(encode(tiny_model, bad, tmp_path / "idx"))
    assert (tmp_path / "idx.work" / "chunk-000000.npy").exists()  # chunk 0 was encoded
    other = write_corpus(tmp_path / "other.jsonl", ["x", "y", "z", "w"])
    err = one_line_error(encode(tiny_model, other, tmp_path / "idx"))
    assert "was started for another corpus or settings" in err and "inputs" in err and "--overwrite" in err
    assert not (tmp_path / "idx").exists()
    run = encode(tiny_model, other, tmp_path / "idx", "--overwrite")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "idx" / "docid").read_text().split() == ["x", "y", "z", "w"]


def test_failed_encode_with_fixed_corpus_is_refused_then_restarts_cleanly(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c", "d", "a"])
    one_line_error(encode(tiny_model, corpus, tmp_path / "idx"))
    write_corpus(corpus, ["a", "b", "c", "d", "e"])  # the user fixes the file in place
    assert "differs in: inputs" in one_line_error(encode(tiny_model, corpus, tmp_path / "idx"))
    assert encode(tiny_model, corpus, tmp_path / "idx", "--overwrite").returncode == 0
    assert (tmp_path / "idx" / "docid").read_text().split() == ["a", "b", "c", "d", "e"]


@pytest.mark.process
def test_generation_work_dir_never_mixes_corpora_or_languages(tmp_path):
    corpus = tmp_path / "c.jsonl"
    lines = [json.dumps({"docid": f"d{i}", "text": "Finland uses the euro; Japan uses the yen."}) for i in range(4)]
    corpus.write_text("\n".join(lines[:3]) + "\n{broken\n", encoding="utf-8")  # chunk 0 fine, chunk 1 breaks
    assert "c.jsonl:4: malformed JSON" in one_line_error(dictionary(corpus, tmp_path / "g.jsonl", "--languages", "ja"))
    assert (tmp_path / "g.jsonl.work" / "chunk-000000.jsonl").exists()
    other = tmp_path / "o.jsonl"
    other.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "differs in: inputs" in one_line_error(dictionary(other, tmp_path / "g.jsonl", "--languages", "ja"))
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = one_line_error(dictionary(corpus, tmp_path / "g.jsonl", "--languages", "ru"))
    assert "inputs" in err and "languages" in err
    assert dictionary(corpus, tmp_path / "g.jsonl", "--languages", "ru", "--overwrite").returncode == 0
    recs = [json.loads(x) for x in (tmp_path / "g.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["docid"] for r in recs] == ["d0", "d1", "d2", "d3"] and all(set(r["generated_queries"]) == {"ru"}
                                                                          for r in recs)


# ------------------------------------------------------------------ 3: --overwrite deletes only our own
def test_overwrite_refuses_folders_the_plugin_did_not_make(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"])
    data = tmp_path / "data"
    data.mkdir()
    (data / "precious.tsv").write_text("keep me")
    err = one_line_error(encode(tiny_model, corpus, tmp_path / "idx", "--work_dir", str(data), "--overwrite"))
    assert "not made by xqg_tevatron" in err and (data / "precious.tsv").read_text() == "keep me"
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    err = one_line_error(encode(tiny_model, corpus, out, "--overwrite"))
    assert "refusing to replace" in err and (out / "notes.txt").read_text() == "mine"
    err = one_line_error(dictionary(corpus, tmp_path / "g.jsonl", "--work_dir", str(data), "--overwrite"))
    assert "not made by xqg_tevatron" in err and (data / "precious.tsv").exists()


def test_overwrite_replaces_an_index_atomically(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c"])
    assert encode(tiny_model, corpus, tmp_path / "idx").returncode == 0
    before = (tmp_path / "idx" / "index").read_bytes()
    broken = write_corpus(tmp_path / "broken.jsonl", ["a", "b", "c", "d", "b"])
    one_line_error(encode(tiny_model, broken, tmp_path / "idx", "--overwrite"))  # fails mid-way
    assert (tmp_path / "idx" / "index").read_bytes() == before  # the old index is intact
    assert (tmp_path / "idx" / "docid").read_text().split() == ["a", "b", "c"]


def test_quiet_by_default_and_verbose_shows_model_loading(tmp_path, tiny_model):
    """The signal the before-work tests rely on: --verbose shows the model loading; by default the
    libraries' loading bars and tokenizer warnings stay quiet and the command prints its result.
    In a child, as a user sees it, and in process (``helpers.cli``, how most tests run commands),
    so that "Loading weights" absent from an in-process run's stderr means no model was loaded."""
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"])
    long_text = json.loads(corpus.read_text().splitlines()[0]) | {"text": "currency " * 3000}  # > any tokenizer limit
    corpus.write_text(json.dumps(long_text) + "\n" + corpus.read_text().splitlines()[1] + "\n")
    def child(out: str, *extra: str):
        return cli_process("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, tmp_path / out, *extra,
                                                                           threads=None))

    loud, quiet = child("loud", "--verbose"), child("quiet")
    assert loud.returncode == quiet.returncode == 0, loud.stderr + quiet.stderr
    assert "Loading weights" in loud.stderr and "Token indices sequence length" in loud.stderr
    assert "Loading weights" not in quiet.stderr and "Token indices sequence length" not in quiet.stderr
    assert quiet.stderr.strip().splitlines()[-1] == f"wrote Pyserini index {tmp_path / 'quiet'}"
    in_process_quiet = encode(tiny_model, corpus, tmp_path / "q2")
    in_process_loud = encode(tiny_model, corpus, tmp_path / "l2", "--verbose")
    assert "Loading weights" in in_process_loud.stderr and "Loading weights" not in in_process_quiet.stderr
    assert in_process_quiet.stderr.strip().splitlines()[-1] == f"wrote Pyserini index {tmp_path / 'q2'}"


# ------------------------------------------------------------------ 4-9: bad input, one line, before work
@pytest.mark.parametrize("extra,expected", [
    (["--n_per_lang", "-3"], "n_per_lang must be >= 0"),
    (["--languages", "jp"], "unknown language code(s) ['jp']"),
    (["--index_type", "foo"], "index_type must be one of"),
    (["--unit_size", "0"], "unit_size must be >= 1"),
])
def test_bad_arguments_fail_before_the_model_loads(tmp_path, tiny_model, extra, expected):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"])
    started = time.perf_counter()
    proc = encode(tiny_model, corpus, tmp_path / "idx", *extra, "--verbose")
    assert expected in one_line_error(proc)
    # with --verbose, transformers' loading bar shows whenever a model loads (see test_verbose_shows_model_loading)
    assert "Loading weights" not in proc.stderr
    assert not (tmp_path / "idx.work").exists() and not (tmp_path / "idx").exists()
    assert time.perf_counter() - started < 60


@pytest.mark.process
def test_generator_rejects_bad_counts_and_languages(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a"])
    assert "n_per_lang must be >= 1" in one_line_error(dictionary(corpus, tmp_path / "g.jsonl", "--n_per_lang", "-3"))
    assert "unknown language code(s) ['jp']" in one_line_error(dictionary(corpus, tmp_path / "g.jsonl",
                                                                          "--languages", "jp"))
    assert not (tmp_path / "g.jsonl").exists() and not (tmp_path / "g.jsonl.work").exists()


def test_alpha_with_languages_no_record_has_is_refused(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"], langs=("ja",))
    err = one_line_error(encode(tiny_model, corpus, tmp_path / "idx", "--languages", "ko"))
    assert "no passage has generated queries in ['ko']" in err and "plain" in err
    assert not (tmp_path / "idx").exists()


def test_non_utf8_input_names_file_and_line(tmp_path, tiny_model):
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b'{"docid": "a", "text": "ok"}\n{"docid": "b", "text": "caf\xe9"}\n')
    assert f"{corpus}:2: not UTF-8" in one_line_error(encode(tiny_model, corpus, tmp_path / "idx"))


@pytest.mark.process
def test_missing_local_model_path_fails_at_once(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a"])
    started = time.perf_counter()
    err = one_line_error(encode(tmp_path / "no-such-model", corpus, tmp_path / "idx"))
    assert "model directory not found" in err and "Hub was not asked" in err
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("docid", ["a b", "a\nb", " a"])
def test_docids_with_whitespace_are_refused_with_their_line(tmp_path, tiny_model, docid):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"docid": "z", "text": "x"}) + "\n" + json.dumps({"docid": docid, "text": "y"}) + "\n")
    err = one_line_error(encode(tiny_model, corpus, tmp_path / "idx", "--alpha", "0"))
    assert f"{corpus}:2: docid" in err and "whitespace" in err


def test_debug_shows_the_traceback(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a"])
    proc = encode(tiny_model, corpus, tmp_path / "idx", "--n_per_lang", "-1", "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.process
def test_json_outputs_never_hold_nan(tmp_path, prepared):
    run = tmp_path / "run.trec"
    run.write_text("dev-ar-000 Q0 t18 1 9.0 x\n")
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "dev-ar-000", "question": "?", "answers": ["yes"], "lang": "ar"}) + "\n")
    out = tmp_path / "scores.json"
    run_cli("-m", "xqg_tevatron.evaluation.xor_retrieve", "--questions", str(questions), "--run", str(run),
            "--corpus", str(prepared.corpus_file), "--output", str(out))
    text = out.read_text()
    assert "NaN" not in text and json.loads(text)["scores"]["R@2kt"]["Avg"] is None and "note" in json.loads(text)


@pytest.mark.process
def test_concurrent_writers_never_share_a_temporary_file(tmp_path):
    """torchrun ranks write settings.json at the same time: each through its own temporary."""
    from xqg_tevatron.runtime.atomic_io import atomic_write_text

    code = ("import sys; from pathlib import Path; from xqg_tevatron.runtime.atomic_io import atomic_write_text\n"
            "for i in range(300): atomic_write_text(Path(sys.argv[1]), 'x' * 5000 + sys.argv[2])\n")
    target = tmp_path / "settings.json"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target), tag], cwd=ROOT) for tag in "ab"]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert target.read_text() in {"x" * 5000 + "a", "x" * 5000 + "b"}
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]
    atomic_write_text(target, "done")
    assert target.read_text() == "done"


# ------------------------------------------------------------------ kill -9 at random points
@pytest.mark.slow
@pytest.mark.parametrize("shards", [1, 2])
def test_kill_9_during_encode_and_merge_resumes_to_the_identical_index(tmp_path, tiny_model, shards):
    rng = random.Random(1234 + shards)
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(40)], langs=("ja", "ru"))  # 10 chunks
    ref = tmp_path / "ref"
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, ref, batch=2, chunk=4))
    out, work = tmp_path / "idx", tmp_path / "idx.work"
    log = []
    for shard in range(shards):
        extra = ["--shard_id", str(shard), "--num_shards", str(shards)] if shards > 1 else []
        # kill points: a random number of finished chunks of this shard, rising, then the last one
        # (for one shard that kill lands in the merge); then run to the end
        mine = [c for c in range(10) if c % shards == shard]
        points = sorted(rng.sample(range(1, len(mine)), 2)) + [len(mine)]
        for at in points:
            others = sum(1 for c in range(10) if c % shards != shard and (work / f"chunk-{c:06d}.json").exists())
            cmd = ["-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out, *extra, batch=2, chunk=4)]
            killed = run_killed_at(cmd, work, "chunk-*.json", others + at)
            log.append(f"encode shards={shards} shard={shard} kill after {at} of its {len(mine)} chunks: "
                       f"{'killed' if killed else 'finished first'}")
        if not (out / "index").exists():
            run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out, *extra, batch=2, chunk=4))
    if shards > 1:
        merge = ["-m", "xqg_tevatron.driver.merge", "--work_dir", str(work), "--output", str(out), "--keep_work_dir"]
        killed = run_killed_at(merge, tmp_path, ".idx.*", 1)  # while it writes the new index directory
        log.append(f"merge shards={shards}: {'killed' if killed else 'finished first'}")
        if not (out / "index").exists():
            run_cli(*merge)
    print("\n" + "\n".join(log))
    assert sum("killed" in line for line in log) >= 3
    assert (out / "index").read_bytes() == (ref / "index").read_bytes()
    assert (out / "docid").read_text() == (ref / "docid").read_text()
    manifest = json.loads((out / "xqg_manifest.json").read_text())
    assert manifest["passages"] == 40 and manifest["rows"] == 40


@pytest.mark.slow
@pytest.mark.parametrize("shards", [1, 2])
def test_kill_9_during_generation_resumes_to_the_identical_file(tmp_path, shards):
    rng = random.Random(99 + shards)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"docid": f"d{i}", "title": "Finland",
                                          "text": f"Finland {i} uses the euro and Japan uses the yen."}) + "\n"
                              for i in range(600)), encoding="utf-8")  # 120 chunks

    def cmd(out: Path, shard: int) -> list[str]:
        return ["-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus), "--output", str(out),
                "--languages", "ja", "ru", "de", "--unit_size", "5", "--n_per_lang", "3",
                "--shard_id", str(shard), "--num_shards", str(shards)]

    ref = tmp_path / "ref.jsonl"
    for shard in range(shards):
        run_cli(*cmd(ref, shard))
    out, work = tmp_path / "g.jsonl", tmp_path / "g.jsonl.work"
    log = []
    for shard in range(shards):
        for at in sorted(rng.sample(range(1, 120 // shards), 3)):
            others = sum(1 for c in range(120) if c % shards != shard and (work / f"chunk-{c:06d}.jsonl").exists())
            killed = run_killed_at(cmd(out, shard), work, "chunk-*.jsonl", others + at)
            log.append(f"generate shards={shards} shard={shard} kill at {at} chunks: "
                       f"{'killed' if killed else 'finished first'}")
        if not out.exists():
            run_cli(*cmd(out, shard))
    print("\n" + "\n".join(log))
    assert sum("killed" in line for line in log) >= 3
    assert out.read_bytes() == ref.read_bytes()


# =====================================================================================================
# Issue 16: no data loss, no silent wrong numbers.  One test (or more) per numbered case of the issue.
# =====================================================================================================
TMP_TAG = ".xqg-tmp-"  # the pid-tagged name of every temporary the plugin writes (atomic_io.TMP_TAG)

def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TMP_TAG in p.name)


# ------------------------------------------------------------------ case 1
def test_1_overwrite_never_deletes_a_folder_that_merely_holds_settings_json(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"])
    project = tmp_path / "project"
    project.mkdir()
    (project / "settings.json").write_text("{}")  # a common file name, not the plugin's marker
    (project / "thesis.tex").write_text("years of work")
    for proc in (encode(tiny_model, corpus, tmp_path / "idx", "--work_dir", str(project), "--overwrite"),
                 encode(tiny_model, corpus, project, "--overwrite"),
                 dictionary(corpus, tmp_path / "g.jsonl", "--work_dir", str(project), "--overwrite",
                            "--languages", "ja")):
        err = one_line_error(proc)
        assert "not made by xqg_tevatron" in err or "refusing" in err, err
        assert (project / "thesis.tex").read_text() == "years of work" and (project / "settings.json").exists()


# ------------------------------------------------------------------ case 2
@pytest.mark.parametrize("where", ["same", "parent", "inside"])
def test_2_work_dir_and_output_may_not_overlap_refused_before_encoding(tmp_path, tiny_model, where):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c"])
    out = tmp_path / "proj" / "idx"
    assert encode(tiny_model, corpus, out).returncode == 0
    before = (out / "index").read_bytes()
    work = {"same": out, "parent": out.parent, "inside": out / "w"}[where]
    started = time.perf_counter()
    err = one_line_error(encode(tiny_model, corpus, out, "--work_dir", str(work), "--overwrite"))
    assert "work dir" in err and ("output" in err), err
    assert (out / "index").read_bytes() == before  # the index is intact
    assert not list(tmp_path.rglob("chunk-*")), "refused only after encoding"
    assert time.perf_counter() - started < 60


# ------------------------------------------------------------------ case 3
def test_3_work_dir_mistyped_as_an_existing_index_is_refused(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c"])
    other = tmp_path / "other_index"
    assert encode(tiny_model, corpus, other).returncode == 0
    before = (other / "index").read_bytes()
    err = one_line_error(encode(tiny_model, corpus, tmp_path / "idx", "--work_dir", str(other), "--overwrite"))
    assert "is an xqg_tevatron index, not a encode-work work dir" in err
    assert (other / "index").read_bytes() == before


# ------------------------------------------------------------------ case 4
@pytest.mark.slow
def test_4_two_runs_on_one_work_dir_never_mix(tmp_path, tiny_model):
    x = write_corpus(tmp_path / "x.jsonl", [f"x{i}" for i in range(120)])
    y = write_corpus(tmp_path / "y.jsonl", [f"y{i}" for i in range(120)])
    ref = tmp_path / "ref"
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, x, ref, batch=1))
    out, work = tmp_path / "idx", tmp_path / "idx.work"
    a = subprocess.Popen([sys.executable, "-m", "xqg_tevatron.driver.encode",
                          *encode_args(tiny_model, x, out, batch=1)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(work.glob("chunk-*.json")) and time.time() < deadline and a.poll() is None:
        time.sleep(0.05)
    assert a.poll() is None, "run A finished before run B could start"
    os.kill(a.pid, signal.SIGSTOP)  # A holds its locks mid-run for as long as B needs
    try:
        b = cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, y, out, "--overwrite"))
    finally:
        os.kill(a.pid, signal.SIGCONT)
    err = one_line_error(b)
    assert "in use by another xqg_tevatron process" in err and f"pid {a.pid}" in err, err
    assert a.wait(timeout=600) == 0, a.stderr.read()[-3000:]
    assert (out / "index").read_bytes() == (ref / "index").read_bytes()
    assert (out / "docid").read_text() == (ref / "docid").read_text()


# ------------------------------------------------------------------ case 5
def test_5_search_takes_pooling_and_prefixes_from_the_manifest_and_checks_the_model(tmp_path, tiny_model, prepared):
    import shutil

    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file

    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
    from xqg_tevatron.search.searcher import IndexSearcher, SearchConfig
    from xqg_tevatron.tevatron_compat.settings import EncoderSettings

    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c", "d"])
    out = tmp_path / "idx"
    proc = encode(tiny_model, corpus, out, "--pooling", "mean", "--query_prefix", "q: ", "--normalize")
    assert proc.returncode == 0, proc.stderr[-2000:]
    searcher = IndexSearcher(out, config=SearchConfig(k=4))
    text = "question about currency of country b"
    want = DenseEncoder(str(tiny_model), settings_overrides=EncoderSettings("mean", True, "q: ", ""),
                        config=EncodeConfig(show_progress=False)).encode([text], is_query=True, max_len=512)
    plain = DenseEncoder(str(tiny_model), config=EncodeConfig(show_progress=False)).encode([text], is_query=True,
                                                                                          max_len=512)
    got = searcher.encode([text])
    assert np.allclose(got, want, atol=1e-5) and not np.allclose(got, plain, atol=1e-3)
    # a model folder with other weights is refused, unless asked for explicitly
    other = tmp_path / "other_model"
    shutil.copytree(tiny_model, other)
    weights = load_file(str(other / "model.safetensors"))
    save_file({k: v + 0.01 if v.dtype == torch.float32 else v for k, v in weights.items()},
              str(other / "model.safetensors"))
    topics = tmp_path / "t.tsv"
    topics.write_text("q1\tcurrency of b\n", encoding="utf-8")
    run = tmp_path / "run.trec"
    err = one_line_error(cli("-m", "xqg_tevatron.search", "--index", str(out), "--topics", str(topics), "--output",
                             str(run), "--encoder", str(other)))
    assert "is not the encoder" in err and "--allow_encoder_mismatch" in err and not run.exists()
    ok = cli("-m", "xqg_tevatron.search", "--index", str(out), "--topics", str(topics), "--output", str(run),
             "--encoder", str(other), "--allow_encoder_mismatch")
    assert ok.returncode == 0 and run.read_text().startswith("q1 Q0 ")


# ------------------------------------------------------------------ case 6
def test_6_passage_field_separator_is_part_of_the_work_dir_fingerprint(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c", "d"])
    work = tmp_path / "w"
    assert encode(tiny_model, corpus, tmp_path / "i1", "--work_dir", str(work), "--keep_work_dir").returncode == 0
    err = one_line_error(encode(tiny_model, corpus, tmp_path / "i2", "--work_dir", str(work),
                                "--passage_field_separator", "sep_token"))
    assert "differs in: separator" in err
    assert not (tmp_path / "i2").exists()


# ------------------------------------------------------------------ case 7
@pytest.mark.process
def test_7_a_truncated_generation_chunk_is_detected_and_generated_again(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"docid": f"d{i}", "title": "Finland",
                                          "text": f"Finland {i} uses the euro."}) + "\n" for i in range(8)))
    ref = tmp_path / "ref.jsonl"
    run_cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus), "--output", str(ref),
            "--languages", "fi", "--unit_size", "2", "--n_per_lang", "2")
    out, work = tmp_path / "g.jsonl", tmp_path / "g.jsonl.work"

    def shard(i: int) -> subprocess.CompletedProcess:
        return dictionary(corpus, out, "--languages", "fi", "--num_shards", "2", "--shard_id", str(i))

    assert shard(0).returncode == 0 and not out.exists()
    chunk = work / "chunk-000000.jsonl"
    chunk.write_text(chunk.read_text().splitlines(keepends=True)[0])  # a line lost
    err = one_line_error(shard(1))  # shard 1 finishes last and merges: the damage is named, not trusted
    assert "chunk-000000.jsonl" in err and "damaged" in err and not out.exists()
    rerun = shard(0)
    assert rerun.returncode == 0 and "damaged unit, done again" in rerun.stderr
    assert out.read_bytes() == ref.read_bytes()


# ------------------------------------------------------------------ case 8
@pytest.mark.process
def test_8_queries_missing_from_a_run_count_as_zero_and_unknown_qrels_docids_are_reported(tmp_path):
    from xqg_tevatron.evaluation.table import evaluate_run_table

    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{i}", "question": "?", "answers": [], "lang": "ar"}) + "\n"
                                 for i in range(4)))
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q0 0 d0 1\nq1 0 d1 1\nq2 0 d2 1\nq3 0 dX 1\n")
    run = tmp_path / "run.trec"
    run.write_text("q0 Q0 d0 1 9.0 t\n")  # one of four queries, ranked perfectly
    table = evaluate_run_table(run, qrels, questions, ("recip_rank",), corpus_docids={"d0", "d1", "d2"})
    assert table.scores["Avg"]["recip_rank"] == pytest.approx(0.25)  # not 1.0
    assert any("3 of 4 judged queries are missing" in n for n in table.notes)
    assert any("1 docids of qrels.txt are not in the corpus (e.g. dX)" in n for n in table.notes)


# ------------------------------------------------------------------ case 9
@pytest.mark.parametrize("content,expected", [
    ("q1\tcurrency\tof Japan\n", "t.tsv:1: 3 tab-separated field(s)"),
    ("q1\tyen\nq2\teuro\nq1\tdollar\n", "t.tsv:3: duplicated query id 'q1' (first at"),
    ("q1\tyen\nq2\t  \n", "t.tsv:2: query 'q2' has no text"),
])
def test_9_topics_are_read_strictly(tmp_path, content, expected):
    from xqg_tevatron.corpus import CorpusFormatError, read_topics

    topics = tmp_path / "t.tsv"
    topics.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=re.escape(expected)):
        read_topics(topics)


# ------------------------------------------------------------------ case 10
@pytest.mark.parametrize("keep", [0, 1])
def test_10_an_xquad_language_file_missing_questions_is_refused(tmp_path, keep):
    import shutil

    from xqg_tevatron.data.xquad import XquadFiles

    src = ROOT.parent / "shared" / "data" / "xquad-dev"
    if not src.is_dir():
        pytest.skip("the XQuAD development half is not beside this checkout")
    for f in src.glob("xquad.*.json"):
        shutil.copy(f, tmp_path / f.name)
    de = json.loads((tmp_path / "xquad.de.json").read_text(encoding="utf-8"))
    para = de["data"][3]["paragraphs"][1]
    para["qas"] = para["qas"][:keep]  # none, or only the first, of this paragraph's questions
    (tmp_path / "xquad.de.json").write_text(json.dumps(de, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"xquad\.de\.json: article 3 .* paragraph 1 lacks"):
        XquadFiles(tmp_path).questions()


# ------------------------------------------------------------------ case 11
def test_11_an_onnx_cache_slot_holding_another_model_is_rebuilt(tmp_path, tiny_model):
    import numpy as np

    from xqg_tevatron.search.query_encoder import QueryEncoderConfig, XqgQueryEncoder

    config = QueryEncoderConfig(backend="onnx", cache_dir=str(tmp_path / "cache"))
    first = XqgQueryEncoder(str(tiny_model), config)
    slot = next((tmp_path / "cache" / "onnx-query").glob("*/query_tower.onnx"))
    want = first.encode_batch(["currency of japan"])
    # another model's export lands in the slot (a copy, a stale sync, a bad disk)
    other = XqgQueryEncoder(str(tiny_model), QueryEncoderConfig(backend="onnx-int8", cache_dir=str(tmp_path / "c2")))
    int8_file = next((tmp_path / "c2" / "onnx-query").glob("*/query_tower.onnx"))
    slot.write_bytes(int8_file.read_bytes())
    again = XqgQueryEncoder(str(tiny_model), config)
    assert np.allclose(again.encode_batch(["currency of japan"]), want, atol=1e-5)
    assert not np.allclose(other.encode_batch(["currency of japan"]), want, atol=1e-7)
    assert slot.read_bytes() != int8_file.read_bytes()  # rebuilt


# ------------------------------------------------------------------ case 12
@pytest.mark.process
def test_12_official_xquad_downloads_are_pinned_by_checksum(tmp_path):
    home = tmp_path / "irds"
    (home / "xquad").mkdir(parents=True)
    for lang in ("en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"):
        (home / "xquad" / f"xquad.{lang}.json").write_text('{"data": []}')  # a tampered / stale copy
    code = ("import xqg_tevatron.data.irds as irds\n"
            "try:\n    irds.xquad_files('full')\nexcept ValueError as e:\n    print('REFUSED', e)\n")
    env = os.environ | {"IR_DATASETS_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert "REFUSED" in proc.stdout and "not the official XQuAD file" in proc.stdout, proc.stdout + proc.stderr


# ------------------------------------------------------------------ case 13
@pytest.mark.slow
def test_13_a_rerun_after_a_failed_merge_or_a_killed_overwrite_keeps_finished_chunks(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(12)])  # 4 chunks
    out = tmp_path / "idx"
    # the merge fails (IVF-PQ needs more training vectors than 12 passages give) ...
    err = one_line_error(encode(tiny_model, corpus, out, "--index_type", "ivfpq", "--overwrite"))
    assert "training vectors" in err
    # ... the rerun with a flat index needs no --overwrite and encodes nothing again
    rerun = encode(tiny_model, corpus, out, "--index_type", "flat")
    assert rerun.returncode == 0 and "'encoded': 0, 'skipped': 4" in rerun.stderr
    # kill -9 during a run with --overwrite: the rerun with --overwrite keeps what was finished
    out2, work2 = tmp_path / "idx2", tmp_path / "idx2.work"
    cmd = ["-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out2, "--overwrite",
                                                                   batch=1)]
    assert run_killed_at(cmd, work2, "chunk-*.json", 2)
    done = len(list(work2.glob("chunk-*.json")))
    final = cli(*cmd)
    assert final.returncode == 0 and f"'skipped': {done}" in final.stderr, final.stderr[-2000:]


# ------------------------------------------------------------------ case 14
# the swap's and the removal's one hook (``atomic_io.step``) kills the process at its Nth step; the
# journal mode is the fallback where the system has no renameat2 exchange
STEP_KILLER = """
import os, signal, sys
import xqg_tevatron.runtime.atomic_io as aio
kill_at, seen, only = sys.argv[1], [], sys.argv[3]  # the Nth step, or the first step of that name
def step(name):
    if not name.startswith(only):
        return
    seen.append(name)
    print(f"STEP {len(seen)} {name}", file=sys.stderr, flush=True)
    if kill_at in (str(len(seen)), name):
        os.kill(os.getpid(), signal.SIGKILL)
aio.step = step
if sys.argv[2] == "journal":
    aio.exchange = lambda a, b: False
"""

# the light child: only atomic_io; it builds a 3-file directory, swaps it in and removes its work
# dir, as a command's last steps do (no model)
SWAP_CHILD = STEP_KILLER + """
from pathlib import Path
target = Path(sys.argv[4])
new = aio.new_tmp_dir(target)
for name in ("index", "docid", aio.MARKER):
    (new / name).write_text("new " + name)
aio.swap_dir(new, target)
aio.remove_tree(target.with_name(target.name + ".work"))
"""

# the whole command under the same killer
ENCODE_CHILD = STEP_KILLER + """
from xqg_tevatron.driver.encode import main
sys.exit(main(sys.argv[4:]))
"""

SWAP_STEPS = {"exchange": {"swap:exchange", "swap:exchanged", "remove:rename", "remove:children", "remove:child",
                           "remove:marker", "remove:rmdir"},
              "journal": {"swap:exchange", "swap:journal", "swap:target-to-old", "swap:new-to-target",
                          "swap:journal-unlink"}}


def _killed_child(code: str, kill_at: int | str, mode: str, *argv: str) -> tuple[bool, list[str]]:
    """Run ``code`` killed at step ``kill_at`` (the journal mode counts the swap's own steps only;
    removals are the same code in both modes): whether it was killed, and the steps it reached."""
    proc = cli_process("-c", code, str(kill_at), mode, "swap:" if mode == "journal" else "", *argv, timeout=300)
    steps = [line.split()[2] for line in proc.stderr.splitlines() if line.startswith("STEP ")]
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-3000:]
    return proc.returncode == -signal.SIGKILL, steps


@pytest.mark.process
@pytest.mark.parametrize("mode", ["exchange", "journal"])
def test_14_kill_9_at_every_step_of_the_directory_swap_and_removal(tmp_path, mode):
    """``swap_dir`` killed at each of its steps and of the old directory's removal: a complete
    directory (the old or the new) is at the path, or a journal that :func:`recover_swap`
    completes; a work dir being removed is whole with its marker or gone; the dead process's
    hidden leftovers are cleaned up by the next writer."""
    from xqg_tevatron.runtime.atomic_io import MARKER, remove_stale_temporaries

    killed_at, kill_at = set(), 1
    while True:
        folder = tmp_path / f"k{kill_at}"
        target = folder / "idx"
        target.mkdir(parents=True)
        work = folder / "idx.work"
        for name in ("index", "docid", MARKER):
            (target / name).write_text("old " + name)
        work.mkdir()
        for name in ("chunk-000000.npy", "chunk-000000.json", MARKER):
            (work / name).write_text(name)
        killed, steps = _killed_child(SWAP_CHILD, kill_at, mode, str(target))
        if mode == "journal" and not target.exists():  # between the two renames: the journal says how to finish
            assert (folder / ".idx.xqg-swap.json").exists(), (kill_at, steps)
        for path in (target, work):
            remove_stale_temporaries(path)  # what the next writer or reader of the path does first
        assert (target / "index").read_text() in ("old index", "new index"), (kill_at, steps)
        assert (target / "docid").read_text() == (target / "index").read_text().replace("index", "docid")
        assert not work.exists() or (work / MARKER).exists(), (kill_at, steps)  # never a folder we cannot claim
        assert sorted(p.name for p in folder.iterdir()) in (["idx"], ["idx", "idx.work"]), (kill_at, steps)
        if not killed:
            assert (target / "index").read_text() == "new index" and not work.exists()
            break
        killed_at.add(steps[-1])
        kill_at += 1
    assert SWAP_STEPS[mode] <= killed_at, killed_at


@pytest.mark.slow
@pytest.mark.parametrize("mode,step", [("exchange", "remove:child"), ("journal", "swap:new-to-target")])
def test_14_a_command_killed_inside_its_index_swap_is_completed_and_rerun_cleanly(tmp_path, tiny_model, mode, step):
    """One kill per swap mode through the whole command: inside the old index's removal
    (exchange) and between the journal's two renames (journal), where any reader completes the
    swap; the rerun ends in the uninterrupted run's bytes with nothing hidden left behind."""
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c", "d"])
    out, ref = tmp_path / "idx", tmp_path / "ref"
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, ref))
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, write_corpus(tmp_path / "old.jsonl",
                                                                                    ["o1", "o2"]), out))
    old = (out / "index").read_bytes()
    killed, steps = _killed_child(ENCODE_CHILD, step, mode, *encode_args(tiny_model, corpus, out, "--overwrite"))
    assert killed and steps[-1] == step, steps
    if mode == "journal":
        from xqg_tevatron.indexing.manifest import require_manifest

        assert not out.exists() and (tmp_path / ".idx.xqg-swap.json").exists()
        require_manifest(out)  # any reader (the search stage) completes the swap
    assert (out / "index").read_bytes() in (old, (ref / "index").read_bytes())
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out, "--overwrite"))
    assert (out / "index").read_bytes() == (ref / "index").read_bytes()
    assert hidden_leftovers(tmp_path) == [] and not (tmp_path / "idx.work").exists()


# ------------------------------------------------------------------ case 15
def test_15_damaged_chunks_are_named_before_work_and_encoded_again(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(15)])  # 5 chunks of 3
    ref = tmp_path / "ref"
    assert encode(tiny_model, corpus, ref).returncode == 0
    out, work = tmp_path / "idx", tmp_path / "idx.work"
    shard = ["--num_shards", "2", "--shard_id"]
    assert encode(tiny_model, corpus, out, *shard, "0").returncode == 0  # chunks 0, 2, 4
    npy = work / "chunk-000000.npy"
    npy.write_bytes(npy.read_bytes()[:-16])  # truncated
    ids = work / "chunk-000002.ids"
    ids.write_text(ids.read_text().splitlines(keepends=True)[0])  # short
    (work / "chunk-000004.json").write_text("")  # empty record
    rerun = encode(tiny_model, corpus, out, *shard, "0")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    for name in ("chunk-000000.npy", "chunk-000002.ids", "chunk-000004.json"):
        assert name in rerun.stderr
    assert "'encoded': 3, 'skipped': 0" in rerun.stderr
    assert encode(tiny_model, corpus, out, *shard, "1").returncode == 0
    run_cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(work), "--output", str(out))
    assert (out / "index").read_bytes() == (ref / "index").read_bytes()


# ------------------------------------------------------------------ case 16
def test_16_unknown_generated_query_docids_are_reported_before_encoding_with_file_and_line(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(6)], langs=())
    gq = tmp_path / "gq.jsonl"
    gq.write_text("".join(json.dumps({"docid": d, "text": "x", "generated_queries": {"ja": ["q"]}}) + "\n"
                          for d in ["p0", "p1", "zzz"]))
    err = one_line_error(encode(tiny_model, corpus, tmp_path / "idx", "--generated_queries", str(gq)))
    assert f"{gq}:3: docid 'zzz'" in err and "not in the corpus" in err
    assert not list((tmp_path / "idx.work").glob("chunk-*"))


# ------------------------------------------------------------------ case 17
def _in_private_mount(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _need_mount_namespace():
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mount namespace here (unshare -m needs root)")


@pytest.mark.process
def test_17_a_full_disk_is_one_line_that_says_so(tmp_path):
    _need_mount_namespace()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"docid": f"d{i}", "text": "Finland uses the euro. " * 40}) + "\n"
                              for i in range(200)))
    small = tmp_path / "small"
    small.mkdir()
    proc = _in_private_mount(f"mount -t tmpfs -o size=64k tmpfs {small} && {sys.executable} -m "
                             f"xqg_tevatron.generate.dictionary --corpus {corpus} --output {small}/g.jsonl "
                             f"--languages fi --unit_size 50 --n_per_lang 2")
    err = one_line_error(proc)
    assert "no space left on device while writing" in err and str(small) in err


def test_17_a_read_only_cache_is_one_line(tmp_path, tiny_model):
    _need_mount_namespace()
    cache = tmp_path / "cache"
    cache.mkdir()
    corpus = tmp_path / "t.tsv"
    corpus.write_text("q1\tcurrency\n")
    index = tmp_path / "idx"
    assert encode(tiny_model, write_corpus(tmp_path / "c.jsonl", ["a", "b"]), index).returncode == 0
    proc = _in_private_mount(f"mount --bind {cache} {cache} && mount -o remount,ro,bind {cache} && "
                             f"XQG_CACHE={cache} {sys.executable} -m xqg_tevatron.search --index {index} --topics "
                             f"{corpus} --output {tmp_path}/run.trec --query_encoder onnx")
    err = one_line_error(proc)
    assert "read-only file system" in err and str(cache) in err


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_17_sigint_and_sigterm_end_in_one_line_and_the_rerun_resumes(tmp_path, tiny_model, signum, code):
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(90)])
    out, work = tmp_path / "idx", tmp_path / "idx.work"
    cmd = [sys.executable, "-m", "xqg_tevatron.driver.encode",
           *encode_args(tiny_model, corpus, out, batch=1)]
    # a runner started in the background (``cmd &`` in a script) hands its children SIGINT ignored,
    # and Python then keeps it ignored: give the child the default a user's terminal gives
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not list(work.glob("chunk-*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code and "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: interrupted by {signal.Signals(signum).name}; finished units are kept, rerun the "
                      "same command to resume"]
    done = len(list(work.glob("chunk-*.json")))
    rerun = cli(*cmd[1:])
    assert rerun.returncode == 0 and f"'skipped': {done}" in rerun.stderr


def test_17_damaged_index_folders_and_wrong_arguments_are_one_line(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c"])
    index = tmp_path / "idx"
    assert encode(tiny_model, corpus, index).returncode == 0
    topics = tmp_path / "t.tsv"
    topics.write_text("q1\tcurrency\n")

    def search(idx: Path, output: Path) -> subprocess.CompletedProcess:
        return cli("-m", "xqg_tevatron.search", "--index", str(idx), "--topics", str(topics), "--output", str(output))

    assert "is a directory" in one_line_error(search(index, tmp_path))
    docid = index / "docid"
    docid.write_text("".join(docid.read_text().splitlines(keepends=True)[:2]))
    assert "2 docids, but the index holds 3 rows" in one_line_error(search(index, tmp_path / "r.trec"))
    manifest = index / "xqg_manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    err = one_line_error(search(index, tmp_path / "r.trec"))
    assert f"{manifest}: damaged index manifest" in err
    err = one_line_error(cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(tmp_path), "--output",
                             str(tmp_path / "m")))
    assert "is not an encode work dir" in err


# ------------------------------------------------------------------ case 18
def test_18_index_folders_are_readable_by_others_as_the_umask_allows(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"])
    out = tmp_path / "idx"
    assert encode(tiny_model, corpus, out).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
