"""The one job engine: local and Ray executors and hand-launched shards give identical outputs; a
simulated 2-node Ray cluster survives a killed actor and stops, in one line, a unit that kills
every actor and an actor that cannot be constructed; a killed driver resumes; a re-fuse of
the stored components equals a fresh encode.  Everything that starts Ray runs in its own network
namespace with only loopback (``unshare --net``), as these machines require."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helpers import (NETNS, ROOT, cli, encode_args, netns_available, run_cli, run_in_netns, run_killed_at,
                     word_corpus)

needs_netns = pytest.mark.skipif(not netns_available(), reason="needs a network namespace (unshare --net, root)")


def generate(corpus_file: Path, out: Path, *extra: str, ray: bool = False) -> None:
    args = ["-m", "xqg_tevatron.generate.dictionary", "--corpus", str(corpus_file), "--output", str(out),
            "--languages", "ja", "fi", "ru", "--n_per_lang", "3", "--unit_size", "4", *extra]
    (run_in_netns if ray else run_cli)(*args)


@pytest.mark.slow
@needs_netns
@pytest.mark.netns
def test_generation_is_identical_locally_on_ray_and_in_hand_launched_shards(tmp_path):
    c = word_corpus(tmp_path / "c.jsonl", 30)
    generate(c, tmp_path / "local.jsonl")
    generate(c, tmp_path / "ray1.jsonl", "--executor", "ray", "--ray_actors", "1", "--ray_num_cpus", "0.5", ray=True)
    generate(c, tmp_path / "ray2.jsonl", "--executor", "ray", "--ray_actors", "2", "--ray_num_cpus", "0.5", ray=True)
    for shard in (1, 0):
        generate(c, tmp_path / "shards.jsonl", "--num_shards", "2", "--shard_id", str(shard))
    reference = (tmp_path / "local.jsonl").read_bytes()
    assert len(reference.splitlines()) == 30
    for name in ("ray1", "ray2", "shards"):
        assert (tmp_path / f"{name}.jsonl").read_bytes() == reference, name


def encode_cmd(model: Path, corpus_file: Path, out: Path, *extra: str) -> list[str]:
    return ["-m", "xqg_tevatron.driver.encode", *encode_args(model, corpus_file, out, *extra, chunk=4)]


@pytest.mark.slow
@needs_netns
@pytest.mark.netns
def test_encoding_is_identical_locally_on_ray_and_in_hand_launched_shards(tmp_path, tiny_model):
    c = tmp_path / "g.jsonl"
    generate(word_corpus(tmp_path / "c.jsonl", 26), c)
    run_cli(*encode_cmd(tiny_model, c, tmp_path / "local"))
    # two actors (one actor on Ray: the generation test above and tests/test_ray_cluster.py)
    run_in_netns(*encode_cmd(tiny_model, c, tmp_path / "ray2", "--executor", "ray", "--ray_actors", "2",
                          "--ray_num_cpus", "0.5"))
    for shard in ("0", "1"):
        run_cli(*encode_cmd(tiny_model, c, tmp_path / "shards", "--num_shards", "2", "--shard_id", shard))
    run_cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(tmp_path / "shards.work"), "--output",
            str(tmp_path / "shards"))
    ref = tmp_path / "local"
    for name in ("ray2", "shards"):
        assert (tmp_path / name / "index").read_bytes() == (ref / "index").read_bytes(), name
        assert (tmp_path / name / "docid").read_text() == (ref / "docid").read_text(), name


CLUSTER_SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    from pathlib import Path
    import ray
    from ray.cluster_utils import Cluster
    from xqg_tevatron.runtime.engine import LocalExecutor
    from xqg_tevatron.runtime.ray_executor import RayExecutor
    from xqg_tevatron.generate.generate_units import GenerationJob, run_generation
    from xqg_tevatron.generate.dictionary import DictionaryQueryGenerator, DictionaryGeneratorConfig

    corpus, out, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    flag = out.parent / "killed-once"

    class FlakyGenerator:
        """Dictionary generation whose process dies, once, in the middle of unit 5 (a killed actor)."""
        def __init__(self):
            self.inner = DictionaryQueryGenerator(DictionaryGeneratorConfig(n_per_lang=2))
        def __call__(self, passages, lang):
            if mode == "kill" and passages[0].docid == "p20" and not flag.exists():
                flag.write_text("x")
                os._exit(1)
            if mode == "poison" and passages[0].docid == "p20":  # kills every actor that tries unit 5
                os._exit(1)
            time.sleep(0.05)
            return self.inner(passages, lang)

    def refuse_to_load(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    class NotOnThisNode:
        """A worker factory that cannot be unpickled where it lands (the plugin missing on a node)."""
        def __call__(self):
            return FlakyGenerator()
        def __reduce__(self):
            return refuse_to_load, ("xqg_tevatron",)

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    worker = cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    executor = RayExecutor(actors=4, num_cpus=0.5)  # all four fit on one node once the other is gone
    job = GenerationJob([corpus], str(out), ["ja", "fi"], unit_size=4, show_progress=False)
    try:
        stats = run_generation(job, NotOnThisNode() if mode == "unconstructible" else FlakyGenerator,
                               executor=executor, build=True)
    except Exception as exc:
        print("ERROR", type(exc).__name__, exc)
        sys.exit(3)
    print("RESULT", json.dumps({"stats": stats, "nodes": sorted({w.split(":")[0] for w in executor.where.values()}),
                      "where": executor.where}))
    ray.shutdown()
    cluster.shutdown()
''')


@pytest.mark.slow
@needs_netns
@pytest.mark.netns
@pytest.mark.parametrize("mode", ["plain", "kill", "poison", "unconstructible"])
def test_a_two_node_ray_cluster_ends_with_the_identical_output(tmp_path, mode):
    """Simulated nodes (``cluster_utils``): both nodes used, an actor process killed mid-unit,
    a unit that kills every actor it runs in (stopped after 3, not forever), and a worker factory
    that cannot be unpickled on the node (stopped at once, not asked for again).  Real
    ``ray start`` nodes lost at three points: tests/test_ray_cluster.py."""
    c = word_corpus(tmp_path / "c.jsonl", 64)  # 16 units
    out = tmp_path / "cluster.jsonl"
    if mode in ("poison", "unconstructible"):
        proc = subprocess.run(NETNS + [sys.executable, "-c", CLUSTER_SCRIPT, str(c), str(out), mode], cwd=ROOT,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-3000:]
        if mode == "poison":
            assert "ERROR UnitKillsWorkers unit 5 (" in proc.stdout and "on 3 Ray actors when they died" in proc.stdout
        else:
            assert "ERROR ActorCannotStart a Ray actor could not be constructed on node" in proc.stdout, proc.stdout
            assert "No module named 'xqg_tevatron'" in proc.stdout
        return
    local = tmp_path / "local.jsonl"
    run_cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(c), "--output", str(local), "--languages", "ja",
            "fi", "--n_per_lang", "2", "--unit_size", "4")
    proc = run_in_netns("-c", CLUSTER_SCRIPT, str(c), str(out), mode)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    print(mode, result["nodes"], result["stats"])
    assert out.read_bytes() == local.read_bytes()
    assert result["stats"]["generated"] == 16 and result["stats"]["complete"]
    if mode == "plain":
        assert len(result["nodes"]) == 2, result  # units ran on both nodes
    if mode == "kill":
        assert (tmp_path / "killed-once").exists()  # an actor died mid-unit and the unit was run again


@pytest.mark.slow
def test_a_killed_driver_redoes_only_uncommitted_units(tmp_path, tiny_model):
    c = word_corpus(tmp_path / "c.jsonl", 40)
    args = ["-m", "xqg_tevatron.job", "--corpus", str(c), "--encoder", str(tiny_model), "--work_dir",
            str(tmp_path / "store"), "--output", str(tmp_path / "idx"), "--languages", "ja", "fi", "--n_per_lang", "2",
            "--unit_size", "4", "--batch_size", "2", "--p_max_len", "32", "--q_max_len", "16", "--num_threads", "1",
            "--quiet"]
    ref = ["-m", "xqg_tevatron.job", *args[2:]]
    ref[ref.index(str(tmp_path / "store"))] = str(tmp_path / "ref_store")
    ref[ref.index(str(tmp_path / "idx"))] = str(tmp_path / "ref_idx")
    run_cli(*ref)
    assert run_killed_at(args, tmp_path / "store", "chunk-*.json", 4)
    done = len(list((tmp_path / "store").glob("chunk-*.json")))
    proc = run_cli(*args)
    assert f"'encoded': {10 - done}, 'skipped': {done}" in proc.stderr
    assert (tmp_path / "idx" / "index").read_bytes() == (tmp_path / "ref_idx" / "index").read_bytes()


def test_refuse_from_stored_components_equals_a_fresh_encode(tmp_path, tiny_model):
    import faiss

    c = tmp_path / "g.jsonl"
    generate(word_corpus(tmp_path / "c.jsonl", 18), c)
    # encode once (sum, alpha 0.1, all languages, 3 per language; 1 per language stored as well)
    run_cli(*encode_cmd(tiny_model, c, tmp_path / "first", "--alpha", "0.1", "--aggregation", "sum",
                         "--n_per_lang", "3", "--component_n_per_lang", "1", "--keep_work_dir"))
    # re-fuse: another alpha, aggregation, language subset and n per language; no model is loaded
    proc = run_cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(tmp_path / "first.work"), "--output",
                   str(tmp_path / "refused"), "--alpha", "0.6", "--aggregation", "mean", "--languages", "ja", "ru",
                   "--n_per_lang", "1", "--keep_work_dir", "--verbose")
    assert "Loading weights" not in proc.stderr  # --verbose shows it whenever a model loads (test_faults)
    fresh = tmp_path / "fresh"
    run_cli(*encode_cmd(tiny_model, c, fresh, "--alpha", "0.6", "--aggregation", "mean", "--languages", "ja", "ru",
                         "--n_per_lang", "1"))
    a = faiss.read_index(str(tmp_path / "refused" / "index")).reconstruct_n(0, 18)
    b = faiss.read_index(str(fresh / "index")).reconstruct_n(0, 18)
    assert np.allclose(a, b, atol=1e-6)
    manifest = json.loads((tmp_path / "refused" / "xqg_manifest.json").read_text())
    assert (manifest["alpha"], manifest["aggregation"], manifest["languages"], manifest["n_per_lang"]) == \
        (0.6, "mean", ["ja", "ru"], 1)
    # and the formula, computed independently from the encoder's own vectors
    from xqg_tevatron.corpus import iter_passages
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

    enc = DenseEncoder(str(tiny_model), config=EncodeConfig(batch_size=4, q_max_len=16, p_max_len=32,
                                                            show_progress=False))
    for i, p in enumerate(list(iter_passages([c]))[:5]):
        e_p = enc.encode([p.full_text()], is_query=False)[0]
        qs = [q for lang in ("ja", "ru") for q in p.generated_queries.get(lang, [])[:1]]
        want = e_p if not qs else 0.4 * e_p + 0.6 * enc.encode(qs, is_query=True, max_len=16).mean(axis=0)
        assert np.allclose(a[i], want, atol=1e-5)
    # a prefix that was not stored is refused with what was
    err = cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(tmp_path / "first.work"), "--output",
              str(tmp_path / "x"), "--n_per_lang", "2")
    assert err.returncode == 1 and "queries per language 2 were not stored (stored: [1, 3]" in err.stderr


def test_the_one_command_job_writes_the_index_and_the_published_queries(tmp_path, tiny_model):
    c = word_corpus(tmp_path / "c.jsonl", 10)
    published = tmp_path / "gen.jsonl"
    run_cli("-m", "xqg_tevatron.job", "--corpus", str(c), "--encoder", str(tiny_model), "--work_dir",
            str(tmp_path / "store"), "--output", str(tmp_path / "idx"), "--generated_output", str(published),
            "--languages", "ja", "fi", "--n_per_lang", "2", "--unit_size", "4", "--p_max_len", "32",
            "--q_max_len", "16", "--quiet")
    reference = tmp_path / "ref.jsonl"
    run_cli("-m", "xqg_tevatron.generate.dictionary", "--corpus", str(c), "--output", str(reference), "--languages",
            "ja", "fi", "--n_per_lang", "2", "--unit_size", "4")
    assert published.read_bytes() == reference.read_bytes()
    manifest = json.loads((tmp_path / "idx" / "xqg_manifest.json").read_text())
    assert manifest["passages"] == 10 and manifest["alpha"] == 0.2 and manifest["aggregation"] == "mean"
    assert (tmp_path / "store" / ".xqg_tevatron").exists()  # kept: the store to re-fuse from


def test_a_plain_index_encodes_no_generated_query_and_refuses_a_refuse(tmp_path, tiny_model):
    c = tmp_path / "g.jsonl"
    generate(word_corpus(tmp_path / "c.jsonl", 6), c)
    run_cli(*encode_cmd(tiny_model, c, tmp_path / "plain", "--alpha", "0", "--keep_work_dir"))
    import numpy as np

    qcount = np.load(tmp_path / "plain.work" / "chunk-000000.qcount.npy")
    assert qcount.sum() == 0  # nothing was encoded for the generated queries
    err = cli("-m", "xqg_tevatron.driver.merge", "--work_dir", str(tmp_path / "plain.work"), "--output",
              str(tmp_path / "x"), "--alpha", "0.5")
    assert err.returncode == 1 and "encoded for a plain index (alpha 0)" in err.stderr and not (tmp_path / "x").exists()


def test_ray_with_nothing_left_to_do_starts_no_ray(tmp_path):
    """A fully resumed job on the Ray executor starts neither Ray nor an actor (nor a model), as the
    local executor loads nothing."""
    from xqg_tevatron.runtime.engine import UnitPlan
    from xqg_tevatron.runtime.ray_executor import RayExecutor

    def factory():
        raise AssertionError("no worker may be built")

    RayExecutor(actors=2).run(UnitPlan(tmp_path, (".jsonl",), 4), iter([]), factory, lambda c: None)
    import ray

    assert not ray.is_initialized()
