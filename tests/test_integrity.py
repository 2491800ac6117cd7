"""Nothing silently wrong (issue 23): every file the plugin reads is checked against what it
claims to be, and the same command twice succeeds.  One test per case of the issue, each
through the command a user types; each failed on the main before the fix (exit 0 with a wrong
ranking, an empty output or lost work)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, cli, encode, encode_args, one_line_error, run_cli, write_corpus


def search(index: Path, topics: Path, run: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("-m", "xqg_tevatron.search", "--index", str(index), "--topics", str(topics), "--output", str(run),
               "--query_encoder", "torch", "--hits", "5", *extra)


def job(model: Path, corpus: Path, work: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("-m", "xqg_tevatron.job", "--corpus", str(corpus), "--encoder", str(model), "--work-dir", str(work),
               "--output", str(out), "--languages", "ja", "--n-per-lang", "2", "--chunk-size", "3",
               "--batch-size", "4", "--p-max-len", "32", "--q-max-len", "16", "--num-threads", "1", "--quiet", *extra)


def topics_file(path: Path, docids: list[str]) -> Path:
    path.write_text("".join(f"q{i}\tcurrency of country {d}\n" for i, d in enumerate(docids)), encoding="utf-8")
    return path


# ------------------------------------------------------------------ 1. shards of another build
def test_1_a_shard_of_another_build_is_refused_by_the_search(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(8)])
    work = tmp_path / "store"
    a, b = tmp_path / "a", tmp_path / "b"
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, a, "--index_shards", "2",
                                                                   "--work_dir", str(work), "--keep_work_dir"))
    run_cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(work), "--output", str(b), "--index_shards", "2",
            "--alpha", "0.9", "--keep_work_dir")
    topics = topics_file(tmp_path / "t.tsv", ["p1", "p5"])
    assert search(a, topics, tmp_path / "ok.trec").returncode == 0
    shutil.rmtree(a / "shard-001")
    shutil.copytree(b / "shard-001", a / "shard-001")  # same rows and docids, other vectors
    err = one_line_error(search(a, topics, tmp_path / "mixed.trec"))
    assert "shard-001: from another build" in err
    assert not (tmp_path / "mixed.trec").exists()


# ------------------------------------------------------------------ 2. same size and mtime
def test_2_a_corpus_edited_in_the_middle_with_size_and_mtime_kept_is_encoded_again(tmp_path, tiny_model):
    pad = "x" * (1 << 20)  # the first and last MiB (all the old fingerprint hashed) lie in these records
    docids = [f"p{i}" for i in range(9)]
    recs = [{"docid": d, "text": f"passage {d} about the currency of country {d}",
             "generated_queries": {"ja": [f"ja question {d}"]}, **({"pad": pad} if d in ("p0", "p8") else {})}
            for d in docids]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    out, keep = tmp_path / "idx", ["--keep_work_dir"]
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out, *keep))
    before = (out / "index").read_bytes()
    stat = corpus.stat()
    text = corpus.read_text(encoding="utf-8").replace("country p4", "country q4")  # same length, unit 1
    corpus.write_text(text, encoding="utf-8")
    os.utime(corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as cp -p and rsync -a keep it
    assert corpus.stat().st_size == stat.st_size and corpus.stat().st_mtime_ns == stat.st_mtime_ns
    rerun = cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out, *keep))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "chunk-000001.json: its input passages changed" in rerun.stderr
    assert "'encoded': 1, 'skipped': 2" in rerun.stderr and "'input_changed': 1" in rerun.stderr
    fresh = tmp_path / "fresh"
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, fresh))
    assert (out / "index").read_bytes() == (fresh / "index").read_bytes() != before
    # the same command once more: its output is up to date (checked by content), nothing is loaded
    stamp = (out / "index").stat().st_mtime_ns
    again = run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out, *keep))
    assert "up to date" in again.stderr and (out / "index").stat().st_mtime_ns == stamp


@pytest.mark.process
def test_2_9_generation_reruns_are_idempotent_and_see_edits_that_keep_size_and_mtime(tmp_path):
    pad = "x" * (1 << 20)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"docid": f"d{i}", "text": f"Finland uses the euro {i}.",
                                          **({"pad": pad} if i in (0, 5) else {})}) + "\n" for i in range(6)),
                      encoding="utf-8")
    out = tmp_path / "gq.jsonl"
    args = ["-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus), "--output", str(out), "--languages",
            "ja", "fi", "--n-per-lang", "2", "--chunk-size", "2"]
    run_cli(*args)
    first, stamp = out.read_bytes(), out.stat().st_mtime_ns
    again = run_cli(*args)
    assert "up to date" in again.stderr and out.stat().st_mtime_ns == stamp
    stat = corpus.stat()
    corpus.write_text(corpus.read_text(encoding="utf-8").replace("euro 3.", "yen! 3."), encoding="utf-8")
    os.utime(corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = run_cli(*args)
    assert "up to date" not in edited.stderr and out.read_bytes() != first
    assert b"yen! 3." in out.read_bytes()


# ------------------------------------------------------------------ 3. digests of the index files
def test_3_a_docid_file_that_no_longer_matches_its_vectors_is_refused(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(6)])
    out = tmp_path / "idx"
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out))
    lines = (out / "docid").read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]  # same rows, same bytes: only the order differs
    (out / "docid").write_text("\n".join(lines) + "\n")
    err = one_line_error(search(out, topics_file(tmp_path / "t.tsv", ["p1"]), tmp_path / "run.trec"))
    assert f"{out / 'docid'}: not the docid file written with these vectors" in err


def test_3_verify_hashes_the_whole_vector_file(tmp_path):
    import faiss

    from xqg_tevatron.indexing.faiss_index import write_index_dir
    from xqg_tevatron.indexing.manifest import IndexIntegrityError, verify_index_dir

    vectors = np.random.default_rng(0).standard_normal((5000, 128)).astype("float32")  # 2.5 MiB
    index = faiss.IndexFlatIP(128)
    index.add(vectors)
    out = write_index_dir(tmp_path / "idx", index, [f"d{i}" for i in range(5000)], {"rows": 5000})
    assert verify_index_dir(out, full=True)["rows"] == 5000
    with open(out / "index", "r+b") as fh:  # a byte in the middle: outside the ends the cheap check hashes
        fh.seek(1_300_000)
        byte = fh.read(1)
        fh.seek(1_300_000)
        fh.write(bytes([byte[0] ^ 1]))
    verify_index_dir(out)  # the cheap check cannot see it ...
    with pytest.raises(IndexIntegrityError, match="not the vector file written with this manifest"):
        verify_index_dir(out, full=True)  # ... --verify does


# ------------------------------------------------------------------ 4. word lists with no entries
@pytest.mark.process
def test_4_a_word_list_with_no_usable_entries_is_refused_before_work(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b"])
    junk = tmp_path / "notes.txt"
    junk.write_text("onecolumn\nanother\n", encoding="utf-8")
    out = tmp_path / "gq.jsonl"
    err = one_line_error(cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus), "--output", str(out),
                             "--languages", "ja", "--word-lists", f"ja={junk}"))
    assert f"{junk}: no usable word-list entries" in err
    assert not out.exists() and not (tmp_path / "gq.jsonl.work").exists()


# ------------------------------------------------------------------ 5. XQuAD folders
def _xquad_folder(folder: Path, langs: list[str], questions: bool = True) -> Path:
    from xqg_tevatron.data.xquad import PACKAGED_DEV_HALF
    import gzip

    folder.mkdir()
    for lang in ["en", *langs]:
        data = json.loads(gzip.decompress((PACKAGED_DEV_HALF / f"xquad.{lang}.json.gz").read_bytes()))
        data["data"] = data["data"][:2]
        if not questions:
            for article in data["data"]:
                for para in article["paragraphs"]:
                    para["qas"] = []
        (folder / f"xquad.{lang}.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.mark.process
def test_5_an_xquad_folder_without_questions_is_refused_and_a_subset_of_languages_works(tmp_path):
    empty = _xquad_folder(tmp_path / "empty", ["de", "ru"], questions=False)
    err = one_line_error(cli("-m", "xqg_tevatron.data.convert", "gold-queries", "xquad/all", str(tmp_path / "g.jsonl"),
                             "--xquad-dir", str(empty)))
    assert "hold no questions" in err and not (tmp_path / "g.jsonl").exists()
    subset = _xquad_folder(tmp_path / "subset", ["de", "ru"])
    run_cli("-m", "xqg_tevatron.data.convert", "gold-queries", "xquad/all", str(tmp_path / "g.jsonl"),
            "--xquad-dir", str(subset))
    langs = {lang for line in (tmp_path / "g.jsonl").read_text().splitlines()
             for lang in json.loads(line)["generated_queries"]}
    assert langs == {"de", "ru"}
    from xqg_tevatron.data.irds import xquad_files
    from xqg_tevatron.data.xquad import prepare_xquad

    assert prepare_xquad(tmp_path / "prepared", xquad_files(subset)).languages == ("de", "ru")


# ------------------------------------------------------------------ 6. one text-input rule
def test_6_topics_and_qrels_as_editors_write_them_are_read_by_one_rule(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", [f"p{i}" for i in range(6)])
    out = tmp_path / "idx"
    run_cli("-m", "xqg_tevatron.driver.encode", *encode_args(tiny_model, corpus, out))
    clean = topics_file(tmp_path / "clean.tsv", ["p1", "p4"])
    edited = tmp_path / "edited.tsv"  # a spreadsheet's UTF-8 with BOM and CRLF line ends
    edited.write_bytes(b"\xef\xbb\xbf" + clean.read_bytes().replace(b"\n", b"\r\n"))
    run_cli("-m", "xqg_tevatron.search", "--index", str(out), "--topics", str(clean), "--output",
            str(tmp_path / "clean.trec"), "--query_encoder", "torch", "--hits", "5")
    run_cli("-m", "xqg_tevatron.search", "--index", str(out), "--topics", str(edited), "--output",
            str(tmp_path / "edited.trec"), "--query_encoder", "torch", "--hits", "5")
    assert (tmp_path / "edited.trec").read_text().replace("edited", "clean") == \
        (tmp_path / "clean.trec").read_text()
    utf16 = tmp_path / "utf16.tsv"
    utf16.write_bytes(clean.read_text(encoding="utf-8").encode("utf-16"))
    err = one_line_error(search(out, utf16, tmp_path / "u.trec"))
    assert f"{utf16}:1: not UTF-8 (UTF-16 or UTF-32 text" in err
    # qrels written with CR line ends (old Mac) and a BOM are read under the same rule
    from xqg_tevatron.data.xor_format import read_qrels

    qrels = tmp_path / "qrels.txt"
    qrels.write_bytes(b"\xef\xbb\xbfq0 0 p1 1\rq1 0 p4 1\r")
    assert read_qrels(qrels) == {"q0": {"p1": 1}, "q1": {"p4": 1}}


# ------------------------------------------------------------------ 7, 8, 9. the job's locks, store, reruns
def test_7_8_9_the_job_locks_first_owns_its_store_and_a_rerun_is_idempotent(tmp_path, tiny_model):
    from xqg_tevatron.runtime.workdir import lock_output

    corpus = tmp_path / "c.jsonl"  # names CLDR translates, so the dictionary generator finds queries
    corpus.write_text("".join(json.dumps({"docid": f"p{i}", "text": f"Finland uses the euro; Japan uses the yen {i}."})
                              + "\n" for i in range(6)), encoding="utf-8")
    work, out, gq = tmp_path / "store", tmp_path / "idx", tmp_path / "gq.jsonl"
    # 7: a second job on the same output is refused before anything loads (the first holds the lock): before
    # the word lists are read (this one is missing, and a FreeDict fetch would come here) and models hashed
    holder = lock_output(out)
    try:
        started = time.perf_counter()
        err = one_line_error(job(tiny_model, corpus, work, out, "--word-lists", f"ja={tmp_path / 'missing.txt'}"))
        assert "is in use by another xqg_tevatron process" in err
        assert time.perf_counter() - started < 30 and not work.exists()  # no store claimed
    finally:
        holder.release()
    first = job(tiny_model, corpus, work, out, "--generated-output", str(gq))
    assert first.returncode == 0, first.stderr[-3000:]
    # 9: the same command again (say, the first was killed just after it finished) changes nothing
    stamps = {p.name: p.stat().st_mtime_ns for p in [*out.iterdir(), gq]}
    rerun = job(tiny_model, corpus, work, out, "--generated-output", str(gq))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "up to date" in rerun.stderr and "nothing loaded or written" in rerun.stderr
    assert {p.name: p.stat().st_mtime_ns for p in [*out.iterdir(), gq]} == stamps
    # a published file lost since: the rerun resumes the store (nothing encoded again) and writes it back
    published = gq.read_bytes()
    gq.unlink()
    resumed = job(tiny_model, corpus, work, out, "--generated-output", str(gq))
    assert resumed.returncode == 0 and "'encoded': 0, 'skipped': 2" in resumed.stderr, resumed.stderr[-2000:]
    assert gq.read_bytes() == published and (out / "index").stat().st_mtime_ns == stamps["index"]
    # ... and another command's output is still not replaced without --overwrite
    assert "pass --overwrite" in one_line_error(job(tiny_model, corpus, work, out, "--alpha", "0.5"))
    # 8: driver.encode never starts a job's store over, nor deletes it
    units = sorted(p.name for p in work.iterdir())
    err = one_line_error(encode(tiny_model, corpus, tmp_path / "other", "--work-dir", str(work), "--overwrite"))
    assert f"is the store of python -m xqg_tevatron.job for {out.resolve()}" in err
    assert sorted(p.name for p in work.iterdir()) == units
    # driver.merge re-fuses it, and keeps it (its generated queries are the job's)
    merged = cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(work), "--output", str(tmp_path / "refused"),
                 "--alpha", "0.5")
    assert merged.returncode == 0 and "kept" in merged.stderr and work.is_dir()


# ------------------------------------------------------------------ 10. flags given in any spelling
def test_10_augmentation_asked_with_hyphenated_flags_is_refused_without_queries(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a", "b", "c"], langs=())
    gq = tmp_path / "gq.jsonl"
    gq.write_text(json.dumps({"docid": "a", "text": "x", "generated_queries": {"ja": []}}) + "\n")
    args = ["--model_name_or_path", str(tiny_model), "--encode_in_path", str(corpus), "--per_device_eval_batch_size",
            "4", "--unit_size", "3", "--q_max_len", "16", "--p_max_len", "32", "--disable_tqdm", "true"]
    err = one_line_error(cli("-m", "xqg_tevatron.driver.encode", *args, "--encoded_save_path", str(tmp_path / "i1"),
                             "--generated-queries", str(gq)))
    assert "no passage has generated queries" in err
    err = one_line_error(cli("-m", "xqg_tevatron.driver.encode", *args, "--encoded_save_path", str(tmp_path / "i2"),
                             "--vector-mode", "multi"))
    assert "no passage has generated queries" in err


# ------------------------------------------------------------------ 11. notes describe the data used
# (through the CLI: test_demo_xquad.py's demo run on a two-article folder checks its printed notes)
def test_11_the_demo_note_describes_the_files_actually_read(tmp_path):
    from xqg_tevatron.data.irds import xquad_files
    from xqg_tevatron.demo import data_note

    dev = xquad_files("dev")
    assert "development half" in data_note("dev", dev.root, 24, ["ar", "de"])
    other = _xquad_folder(tmp_path / "x", ["de"])
    note = data_note(str(other), other, len(xquad_files(other).articles()), ["de"])
    assert str(other) in note and "2 articles" in note and "1 question language(s): de" in note
    assert "of XQuAD's 48 articles" not in note


# ------------------------------------------------------------------ 13. training shows progress
def test_13_training_shows_progress_with_an_estimate_by_default(tmp_path, tiny_model, prepared):
    out = tmp_path / "model"
    proc = run_cli("-m", "xqg_tevatron.driver.train", "--model_name_or_path", str(tiny_model), "--output_dir",
                   str(out), "--train_dir", str(prepared.train_jsonl.parent), "--per_device_train_batch_size", "4",
                   "--train_n_passages", "2", "--max_steps", "3", "--q_max_len", "16", "--p_max_len", "32",
                   "--save_strategy", "no", "--report_to", "none", "--dataset_proc_num", "1")
    assert "3/3 [" in proc.stderr and "<" in proc.stderr, proc.stderr[-2000:]  # tqdm: steps, elapsed<remaining
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    again = run_cli("-m", "xqg_tevatron.driver.train", "--model_name_or_path", str(tiny_model), "--output_dir",
                    str(out), "--train_dir", str(prepared.train_jsonl.parent), "--per_device_train_batch_size", "4",
                    "--train_n_passages", "2", "--max_steps", "3", "--q_max_len", "16", "--p_max_len", "32",
                    "--save_strategy", "no", "--report_to", "none", "--dataset_proc_num", "1")
    assert "up to date" in again.stderr and (out / "model.safetensors").stat().st_mtime_ns == stamp


# ------------------------------------------------------------------ 14, 15. names and files from elsewhere
@pytest.mark.process
def test_14_every_command_treats_model_names_the_same_way(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", ["a"])
    hub = "no-such-owner/no-such-model"
    commands = [
        ["-m", "xqg_tevatron.generate.seq2seq", "generate", "--model", hub, "--corpus", str(corpus), "--output",
         str(tmp_path / "g.jsonl"), "--device", "cpu"],
        ["-m", "xqg_tevatron.generate.seq2seq", "train", "--model_name_or_path", hub, "--train_file", str(corpus),
         "--output_dir", str(tmp_path / "gen")],
        ["-m", "xqg_tevatron.driver.encode", "--model_name_or_path", hub, "--encode_in_path", str(corpus),
         "--encoded_save_path", str(tmp_path / "idx")],
        ["-m", "xqg_tevatron.job", "--corpus", str(corpus), "--encoder", hub, "--work-dir", str(tmp_path / "w"),
         "--output", str(tmp_path / "i")],
    ]
    for command in commands:
        started = time.perf_counter()
        err = one_line_error(cli(*command))
        assert f"{hub!r} not found: not a local directory, and not in the Hugging Face cache" in err, command
        assert "the Hub is not asked" in err and time.perf_counter() - started < 60


@pytest.mark.process
def test_15_missing_official_xor_tydi_files_say_what_and_where(tmp_path):
    env = dict(os.environ, IR_DATASETS_HOME=str(tmp_path / "irds"))
    for what, dataset, name in (("topics", "xor-tydi/dev", "xor_dev_retrieve_eng_span_v1_1.jsonl"),
                                ("corpus", "xor-tydi", "enwiki_20190201_w100.tsv"),
                                ("topics", "xquad/all", "xquad.en.json")):
        proc = subprocess.run([sys.executable, "-m", "xqg_tevatron.data.convert", what, dataset,
                               str(tmp_path / f"{what}.out")], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        err = one_line_error(proc)
        folder, data = ("xquad", "XQuAD") if dataset.startswith("xquad") else ("xor-tydi", "XOR-TyDi")
        assert f"{data} file {name} is missing: put it at {tmp_path / 'irds' / folder / name}" in err
        assert "it is the official file from https://" in err and "HTTPSConnectionPool" not in proc.stderr

