"""The prepared GPU run's CPU dry run (``python -m benchmarks.bench_gpu --device cpu --tiny``):
every section runs through the plugin's real classes and CLIs, with toy models, and its report
holds what the GPU run would report."""
from __future__ import annotations

import json

import pytest

from helpers import run_cli_process

pytestmark = pytest.mark.slow


def test_bench_gpu_dry_run_reports_every_section(tmp_path, demo_encoder):
    run_cli_process("-m", "benchmarks.bench_gpu", "--device", "cpu", "--tiny", "--out", str(tmp_path / "out"),
                    "--carry", str(tmp_path / "no-carry"), "--pack", str(tmp_path / "pack"), "--budget-s", "900",
                    timeout=1200)
    report = json.loads((tmp_path / "out" / "bench_gpu.json").read_text())
    assert report["machine"]["device"] == "cpu" and report["tiny"]
    assert {k: v["status"] for k, v in report["sections"].items()} == dict.fromkeys(
        ["encode", "generate", "job", "index"], "ok")
    encode = report["sections"]["encode"]["rates"]
    assert {r["what"] for r in encode} == {"passage", "query"} and all(r["per_s"] > 0 for r in encode)
    generate = report["sections"]["generate"]["rates"]
    backends = {r["backend"] for r in generate}
    assert "hf" in backends and all(r["units"] == r["batch"] * 2 * 5 for r in generate)  # 2 timed batches x 5
    try:
        import ctranslate2  # noqa: F401

        assert "ct2" in backends
    except ImportError:
        assert any("ctranslate2" in n for n in report["sections"]["generate"]["notes"])
    job = report["sections"]["job"]
    assert job["indexed"] == job["passages"] == 100 and job["passages_per_s"] > 0
    index = report["sections"]["index"]
    # the pack rebuilds the demo encoder exactly: its vectors equal those made by the full model
    assert max(index["deviation_from_cpu"].values()) < 1e-5
    rows = index["rows"]
    assert {r["case"] for r in rows} == {"in-domain", "island"}
    for case in ("in-domain", "island"):
        flat = next(r for r in rows if r["case"] == case and r["index"] == "Flat")
        assert flat["recall@100"] == 1.0
        assert any(r["index"].startswith("HNSW32") for r in rows if r["case"] == case)
    assert next(r for r in rows if r["case"] == "island" and r["index"] == "Flat")["mrr@100"] > 0.3
