"""Faults a user meets, driven through the CLIs: reruns never mix inputs, --overwrite never
deletes what the plugin did not make, bad input is one line before any work, and kill -9 at
random points of encode / generation / merge (1 and 2 shards) ends, after a rerun, in output
identical bit for bit to an uninterrupted run."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli


def cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The process failed with exactly one ``error: ...`` line and no traceback."""
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def write_corpus(path: Path, docids: list[str], langs=("ja",)) -> Path:
    recs = [{"docid": d, "title": f"T{d}", "text": f"passage {d} about the currency of country {d}",
             "generated_queries": {l: [f"{l} question {d} {k}" for k in range(2)] for l in langs}} for d in docids]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def encode(model: Path, corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(model), "--encode_in_path", str(corpus),
               "--encoded_save_path", str(out), "--per_device_eval_batch_size", "4", "--chunk_size", "3",
               "--q_max_len", "16", "--p_max_len", "32", "--disable_tqdm", "true", "--alpha", "0.3",
               "--aggregation", "mean", *extra)


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


def dictionary(corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus), "--output", str(out),
               "--chunk_size", "2", "--n_per_lang", "2", *extra)


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
    assert "refusing to delete" in err and (data / "precious.tsv").read_text() == "keep me"
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    err = one_line_error(encode(tiny_model, corpus, out, "--overwrite"))
    assert "refusing to replace" in err and (out / "notes.txt").read_text() == "mine"
    err = one_line_error(dictionary(corpus, tmp_path / "g.jsonl", "--work_dir", str(data), "--overwrite"))
    assert "refusing to delete" in err and (data / "precious.tsv").exists()


def test_overwrite_replaces_an_index_atomically(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c"])
    assert encode(tiny_model, corpus, tmp_path / "idx").returncode == 0
    before = (tmp_path / "idx" / "index").read_bytes()
    broken = write_corpus(tmp_path / "broken.jsonl", ["a", "b", "c", "d", "b"])
    one_line_error(encode(tiny_model, broken, tmp_path / "idx", "--overwrite"))  # fails mid-way
    assert (tmp_path / "idx" / "index").read_bytes() == before  # the old index is intact
    assert (tmp_path / "idx" / "docid").read_text().split() == ["a", "b", "c"]


# ------------------------------------------------------------------ 4-9: bad input, one line, before work
@pytest.mark.parametrize("extra,expected", [
    (["--n_per_lang", "-3"], "n_per_lang must be >= 0"),
    (["--languages", "jp"], "unknown language code(s) ['jp']"),
    (["--index_type", "foo"], "index_type must be one of"),
    (["--chunk_size", "0"], "chunk_size must be >= 1"),
])
def test_bad_arguments_fail_before_the_model_loads(tmp_path, tiny_model, extra, expected):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"])
    started = time.perf_counter()
    proc = encode(tiny_model, corpus, tmp_path / "idx", *extra)
    assert expected in one_line_error(proc)
    assert "loading model weight" not in proc.stderr  # nothing was loaded
    assert not (tmp_path / "idx.work").exists() and not (tmp_path / "idx").exists()
    assert time.perf_counter() - started < 60


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


def test_concurrent_writers_never_share_a_temporary_file(tmp_path):
    """torchrun ranks write settings.json at the same time: each through its own temporary."""
    from xqg_tevatron.chunking import atomic_write_text

    code = ("import sys; from pathlib import Path; from xqg_tevatron.chunking import atomic_write_text\n"
            "for i in range(300): atomic_write_text(Path(sys.argv[1]), 'x' * 5000 + sys.argv[2])\n")
    target = tmp_path / "settings.json"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target), tag], cwd=ROOT) for tag in "ab"]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert target.read_text() in {"x" * 5000 + "a", "x" * 5000 + "b"}
    assert not list(tmp_path.glob("*.tmp"))
    atomic_write_text(target, "done")
    assert target.read_text() == "done"


# ------------------------------------------------------------------ kill -9 at random points
def run_killed_at(cmd: list[str], watch: Path, pattern: str, at: int, timeout: float = 300) -> bool:
    """Start ``cmd`` and SIGKILL it (whole process group) as soon as ``at`` files match
    ``watch/pattern``: a kill between (or during) chunk writes.  True if it was killed."""
    proc = subprocess.Popen([sys.executable, *cmd], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if len(list(watch.glob(pattern))) >= at:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.003)
    proc.wait(timeout=timeout)
    return False


def encode_cmd(model: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["-m", "xqg_tevatron.driver.encode", "--model_name_or_path", str(model), "--encode_in_path", str(corpus),
            "--encoded_save_path", str(out), "--per_device_eval_batch_size", "2", "--chunk_size", "4",
            "--q_max_len", "16", "--p_max_len", "32", "--disable_tqdm", "true", "--alpha", "0.3", "--aggregation",
            "mean", "--num_threads", "1", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("shards", [1, 2])
def test_kill_9_during_encode_and_merge_resumes_to_the_identical_index(tmp_path, tiny_model, shards):
    rng = random.Random(1234 + shards)
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(40)], langs=("ja", "ru"))  # 10 chunks
    ref = tmp_path / "ref"
    run_cli(*encode_cmd(tiny_model, corpus, ref))
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
            killed = run_killed_at(encode_cmd(tiny_model, corpus, out, *extra), work, "chunk-*.json", others + at)
            log.append(f"encode shards={shards} shard={shard} kill after {at} of its {len(mine)} chunks: "
                       f"{'killed' if killed else 'finished first'}")
        if not (out / "index").exists():
            run_cli(*encode_cmd(tiny_model, corpus, out, *extra))
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
                "--languages", "ja", "ru", "de", "--chunk_size", "5", "--n_per_lang", "3",
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
