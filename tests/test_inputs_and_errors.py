"""Bad input is refused with clear errors; readers stream the supported formats."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from xqg_tevatron.corpus import CorpusFormatError, iter_passages, read_topics
from xqg_tevatron.indexing.faiss_index import IndexConfig, write_index_dir
from xqg_tevatron.xqg.fusion import fuse
from xqg_tevatron.xqg.components import layout_queries
from xqg_tevatron.xqg.generated import load_generated_queries
from xqg_tevatron.indexing.indexer import RunConfig, XqgConfig, XqgIndexer
from xqg_tevatron.indexing.merge_units import merge_work_dir
from xqg_tevatron.xqg.fusion import PLAIN, Fusion


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(l + "\n" for l in lines), encoding="utf-8")
    return path


def test_malformed_json_reports_file_and_line(tmp_path):
    f = write(tmp_path / "c.jsonl", ['{"docid": "a", "text": "x"}', '{"docid": "b", "text": '])
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:2: malformed JSON"):
        list(iter_passages([f]))


def test_missing_docid_and_bad_generated_queries(tmp_path):
    f = write(tmp_path / "c.jsonl", ['{"text": "x"}'])
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:1: record has no 'docid'"):
        list(iter_passages([f]))
    g = write(tmp_path / "g.jsonl", ['{"docid": "a", "text": "x", "generated_queries": {"ja": "not a list"}}'])
    with pytest.raises(CorpusFormatError, match="must map language -> list of strings"):
        list(iter_passages([g]))


def test_tsv_gz_and_hf_dir_formats(tmp_path):
    tsv = tmp_path / "c.tsv.gz"
    with gzip.open(tsv, "wt", encoding="utf-8") as fh:
        fh.write("id\ttext\ttitle\n1\tsome text\tA title\n2\tmore\t\n")
    ps = list(iter_passages([tsv]))
    assert [(p.docid, p.text, p.title) for p in ps] == [("1", "some text", "A title"), ("2", "more", "")]
    assert ps[0].full_text() == "A title some text"
    import datasets
    datasets.Dataset.from_list([{"docid": "x", "text": "t", "generated_queries": {"ja": ["q1", "q2"]}}]).save_to_disk(
        str(tmp_path / "hf"))
    (p,) = list(iter_passages([tmp_path / "hf"]))
    assert p.docid == "x" and p.generated_queries["ja"] == ["q1", "q2"]


def test_topics_tsv_and_jsonl(tmp_path):
    assert read_topics(write(tmp_path / "t.tsv", ["q1\tWhat?", "q2\tWho?"])) == [("q1", "What?"), ("q2", "Who?")]
    assert read_topics(write(tmp_path / "t.jsonl", ['{"id": "q", "question": "x"}'])) == [("q", "x")]
    with pytest.raises(CorpusFormatError, match=r"t2\.tsv:1"):
        read_topics(write(tmp_path / "t2.tsv", ["no-tab-here"]))


def test_query_selection_order_and_limits():
    """The one selection rule (``layout_queries``): chosen languages in the given order (default:
    sorted), the first n of each (0 = all), blanks dropped."""
    pick = lambda g, langs, n: layout_queries([g], langs, n).texts  # noqa: E731
    gq = {"ru": ["r1", "r2", " "], "ja": ["j1", "j2", "j3"]}
    assert pick(gq, ["ja", "ru"], 2) == ["j1", "j2", "r1", "r2"]
    assert pick(gq, ["ru"], 0) == ["r1", "r2"]
    assert pick(gq, None, 1) == ["j1", "r1"]
    assert pick(None, ["ja"], 1) == []


def test_layout_sums_and_fuse_unit_give_the_fusion_formula():
    """Numpy only: stored components (``layout_queries -> query_sums -> unit files``) re-fused by
    ``fuse_unit`` equal the formula computed by hand, per prefix, language subset and aggregation."""
    import numpy as np

    from xqg_tevatron.indexing.store import unit_files
    from xqg_tevatron.xqg.components import Fusion, fuse_unit, query_sums

    rng = np.random.default_rng(0)
    generated = [{"ja": ["a", "b", "c"], "ru": ["d"]}, None, {"ru": ["e", "f"]}]
    layout = layout_queries(generated, None, 0)
    assert layout.languages == ["ja", "ru"] and layout.texts == list("abcdef")
    p_vecs = rng.normal(size=(3, 4)).astype(np.float32)
    q_vecs = {t: v for t, v in zip(layout.texts, rng.normal(size=(6, 4)).astype(np.float32))}
    qsum, qcount = query_sums(layout, np.stack([q_vecs[t] for t in layout.texts]), 3, (0, 2), 4)
    files = unit_files(["p0", "p1", "p2"], p_vecs, qsum, qcount, "float32")
    record = {"prefixes": [0, 2], "languages": layout.languages}
    for alpha, agg, langs, n in [(0.2, "mean", None, 0), (0.5, "sum", ("ru",), 2), (0.3, "mean", ("ja",), 2)]:
        fused, counts = fuse_unit(files, record, Fusion(alpha, agg, langs, n), "unit")
        for row, g in enumerate(generated):
            used = [q for lang in (langs or ("ja", "ru")) for q in ((g or {}).get(lang, [])[:n] if n else
                                                                     (g or {}).get(lang, []))]
            assert counts[row] == len(used)
            if not used:
                np.testing.assert_array_equal(fused[row], p_vecs[row])  # no queries: the passage untouched
                continue
            agg_vec = np.sum([q_vecs[q] for q in used], axis=0) / (len(used) if agg == "mean" else 1)
            np.testing.assert_allclose(fused[row], (1 - alpha) * p_vecs[row] + alpha * agg_vec, rtol=1e-5, atol=1e-6)


def test_fuse_rules():
    p = np.arange(6, dtype=np.float32).reshape(3, 2)
    q = np.array([[1, 0], [0, 1], [2, 2]], dtype=np.float32)
    owner = np.array([0, 0, 2])
    out = fuse(p, q, owner, 0.5, "sum")
    np.testing.assert_allclose(out[0], 0.5 * p[0] + 0.5 * np.array([1, 1]))
    np.testing.assert_array_equal(out[1], p[1])  # no queries: untouched
    np.testing.assert_allclose(fuse(p, q, owner, 0.5, "mean")[0], 0.5 * p[0] + 0.5 * np.array([0.5, 0.5]))
    assert fuse(p, q, owner, 0.0).tobytes() == p.tobytes()
    with pytest.raises(ValueError, match="dimension mismatch"):
        fuse(p, np.zeros((1, 3), np.float32), np.array([0]), 0.1)
    with pytest.raises(ValueError, match="aggregation"):
        fuse(p, q, owner, 0.1, "max")


class FakeDimEncoder:
    """Stands in only for the *model* (returns fixed vectors) so chunk bookkeeping can be tested fast."""

    model_dir = "."

    def __init__(self, dim=4):
        from xqg_tevatron.indexing.encode_config import EncodeConfig
        from xqg_tevatron.tevatron_compat.settings import EncoderSettings
        self.dim, self.settings, self.config = dim, EncoderSettings(), EncodeConfig()

    def encode(self, texts, is_query, desc=None, max_len=None):
        return np.ones((len(texts), self.dim), dtype=np.float32) * (2.0 if is_query else 1.0)

    def manifest_settings(self):
        return {"model": "fake", "dim": self.dim}


def test_duplicated_docid_refused(tmp_path):
    f = write(tmp_path / "c.jsonl", ['{"docid": "a", "text": "x"}', '{"docid": "b", "text": "y"}',
                                     '{"docid": "a", "text": "z"}'])
    idx = XqgIndexer(FakeDimEncoder(), XqgConfig(PLAIN), RunConfig(unit_size=2, show_progress=False), tmp_path / "w")
    # found when the record is read, before its chunk is encoded, naming both records
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:3: duplicated docid 'a' \(first at .*c\.jsonl:1\)"):
        idx.encode_shard([str(f)])
    assert idx.unit_done(0) and not idx.unit_done(1)
    assert not (tmp_path / "out").exists()


def test_empty_corpus_refused(tmp_path):
    f = write(tmp_path / "c.jsonl", [])
    with pytest.raises(CorpusFormatError, match="empty corpus"):
        XqgIndexer(FakeDimEncoder(), XqgConfig(PLAIN), RunConfig(show_progress=False), tmp_path / "w").encode_shard([str(f)])


def test_generated_query_docids_must_exist_in_corpus(tmp_path):
    corpus = write(tmp_path / "c.jsonl", ['{"docid": "a", "text": "x"}'])
    gen = write(tmp_path / "g.jsonl", ['{"docid": "a", "text": "x", "generated_queries": {"ja": ["q"]}}',
                                       '{"docid": "zz", "text": "y", "generated_queries": {"ja": ["q"]}}'])
    idx = XqgIndexer(FakeDimEncoder(), XqgConfig(Fusion(alpha=0.5)), RunConfig(show_progress=False), tmp_path / "w",
                     generated_queries=[str(gen)])
    with pytest.raises(CorpusFormatError, match=r"g\.jsonl:2: docid 'zz' of the generated queries is not in the corpus"):
        idx.encode_shard([str(corpus)])
    dup = write(tmp_path / "d.jsonl", ['{"docid": "a", "text": "x", "generated_queries": {}}'] * 2)
    with pytest.raises(CorpusFormatError, match="duplicated docid"):
        load_generated_queries([dup])


def test_dimension_mismatch_in_chunks_refused(tmp_path):
    f = write(tmp_path / "c.jsonl", ['{"docid": "a", "text": "x"}', '{"docid": "b", "text": "y"}'])
    idx = XqgIndexer(FakeDimEncoder(), XqgConfig(PLAIN), RunConfig(unit_size=1, show_progress=False), tmp_path / "w")
    idx.encode_shard([str(f)])
    np.save(tmp_path / "w" / "chunk-000001.npy", np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match=r"chunk-000001\.npy: \d+ bytes, its record says \d+"):
        merge_work_dir(tmp_path / "w", tmp_path / "out", IndexConfig())


def test_index_dir_not_overwritten_silently(tmp_path):
    import faiss
    out = tmp_path / "idx"
    out.mkdir()
    (out / "something").write_text("x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_index_dir(out, faiss.IndexFlatIP(2), [], {})


def test_chunks_are_npy_never_pickles(tmp_path):
    f = write(tmp_path / "c.jsonl", ['{"docid": "a", "text": "x"}'])
    XqgIndexer(FakeDimEncoder(), XqgConfig(PLAIN), RunConfig(show_progress=False), tmp_path / "w").encode_shard([str(f)])
    arr = np.load(tmp_path / "w" / "chunk-000000.npy", allow_pickle=False)
    assert arr.shape == (1, 4)
    assert not list(tmp_path.rglob("*.pkl"))


@pytest.mark.parametrize("aggregation", ["sum", "mean"])
def test_fuse_files_streams_the_formula(tmp_path, aggregation):
    from xqg_tevatron.xqg.fuse_files import fuse_files

    rng = np.random.default_rng(0)
    p, q1, q2 = (rng.standard_normal((1000, 8)).astype(np.float32) for _ in range(3))
    for name, arr in (("p", p), ("q1", q1), ("q2", q2)):
        np.save(tmp_path / f"{name}.npy", arr)
    out = fuse_files(tmp_path / "p.npy", [tmp_path / "q1.npy", tmp_path / "q2.npy"], tmp_path / "f.npy", 0.25,
                     aggregation, chunk_rows=128, show_progress=False)
    agg = q1 + q2 if aggregation == "sum" else (q1 + q2) / 2
    np.testing.assert_allclose(np.load(out), 0.75 * p + 0.25 * agg, rtol=1e-5, atol=1e-6)
    # one rule: the streaming path equals the indexer's fusion of the same queries, passage by passage
    from xqg_tevatron.xqg.fusion import fuse_grouped
    grouped = np.stack([q1, q2], axis=1).reshape(-1, 8)  # passage 0's two queries, then passage 1's ...
    np.testing.assert_allclose(np.load(out), fuse_grouped(p, grouped, [2] * len(p), 0.25, aggregation),
                               rtol=1e-6, atol=1e-6)
    np.save(tmp_path / "bad.npy", q1[:10])
    with pytest.raises(ValueError, match="rows must align"):
        fuse_files(tmp_path / "p.npy", [tmp_path / "bad.npy"], tmp_path / "g.npy", 0.1, show_progress=False)
    from xqg_tevatron.runtime.atomic_io import TMP_TAG

    # the real temporaries' names (``tmp_sibling``), not a pattern they never match
    assert not (tmp_path / "g.npy").exists() and not [p.name for p in tmp_path.iterdir() if TMP_TAG in p.name]


def test_hub_dataset_ids_get_the_exact_command_to_run(tmp_path):
    from xqg_tevatron.corpus import corpus_files
    from xqg_tevatron.tevatron_compat import XqgDataArguments
    from xqg_tevatron.tevatron_compat.sources import check_train_source

    with pytest.raises(FileNotFoundError, match=r"hf download ielab/xor-tydi-xqg-augmented --repo-type dataset"):
        corpus_files(["ielab/xor-tydi-xqg-augmented"])
    with pytest.raises(FileNotFoundError, match="input not found"):
        corpus_files([str(tmp_path / "missing.jsonl")])
    with pytest.raises(ValueError, match=r"hf download Tevatron/xor-tydi .*--train_files"):
        check_train_source(XqgDataArguments(dataset_name="Tevatron/xor-tydi/train"))


@pytest.mark.parametrize("flag, value, says", [("--ray-actors", "0", "--ray_actors must be >= 1"),
                                               ("--ray-wait-s", "0", "--ray_wait_s must be > 0"),
                                               ("--ray-num-cpus", "-1", "--ray_num_cpus and --ray_num_gpus must be")])
def test_bad_ray_settings_are_one_line_before_anything_is_read(tmp_path, capsys, flag, value, says):
    """Refused before a lock is taken, a file read or a model hashed: the work dir stays absent."""
    from xqg_tevatron.job import main

    code = main(["--corpus", str(tmp_path / "absent.jsonl"), "--encoder", str(tmp_path / "no-model"), "--work-dir",
                 str(tmp_path / "store"), "--output", str(tmp_path / "idx"), "--executor", "ray", flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: ") and says in err[0], err
    assert not (tmp_path / "store").exists()
