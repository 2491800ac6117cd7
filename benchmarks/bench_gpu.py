"""The prepared GPU run (``make bench-gpu``): what the plugin's per-unit work costs on one CUDA
device, measured in one script within a fixed time budget.

    python3 -m benchmarks.bench_gpu [--device cuda] [--out DIR] [--carry .gpu-carry] [--budget-s 420]
    python3 -m benchmarks.bench_gpu --device cpu --tiny          # the dry run CI executes

Sections (each in its own process with a time limit, so one that fails or overruns costs only
itself; every section prints its rows and writes ``<out>/bench_gpu.json``):
1. ``encode``: a BERT-base-shaped encoder (mBERT: 768 dims, 12 layers, 119,547 tokens), random
   weights, through the plugin's ``DenseEncoder``: passages at 256 tokens, queries at 32,
   float32 / float16 / bfloat16, batch sizes swept;
2. ``generate``: an mT5-base-shaped generator, random weights, through the plugin's
   ``Seq2SeqQueryGenerator`` (HF ``generate``): 5 samples of exactly 32 new tokens per prompt
   of 256 tokens, float16 / bfloat16 (float32 once), prompt batches swept; CTranslate2 when it
   is importable (its wheel is built for CUDA 12 and needs libcublas.so.12);
3. ``job``: the one-command job (``python -m xqg_tevatron.job --device cuda``) on 20k real
   manual-page passages with both shaped models, local executor;
4. ``index``: real multilingual-e5-small vectors of >= 200k manual-page passages, rebuilt from
   the e5 pack (``benchmarks.common.e5_pack``; checked against vectors made on the CPU), then the
   index sweep of ``benchmarks.common.index_sweep`` for both query cases (in-domain, island).

The GPU machine reaches no registry and takes 64 MiB per call: ``make bench-gpu-carry`` (here)
fills ``.gpu-carry/`` with the wheels this needs beyond torch/transformers (faiss-cpu, tevatron),
the e5 pack and the job's corpus; this script installs the wheels into a temporary folder
when their modules are missing.  It needs no ``.venv``.  Not run by ``run_all`` (it needs a GPU;
``--device cpu --tiny`` is its own small run).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
IN_RUN_ALL = False  # needs a CUDA device: make bench-gpu
SECTIONS = ("encode", "generate", "job", "index")
LIMITS = {"encode": 0.10, "generate": 0.20, "job": 0.22, "index": 0.48}  # shares of the budget


def quiet() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def ensure_wheels(carry: Path, work: Path) -> dict:
    """Install the carried wheels into ``work/site`` when faiss or tevatron is missing; returns
    the environment sections run with (the site folder on their ``PYTHONPATH``: the sections and
    the job they start are child processes, this one imports neither module)."""
    env = dict(os.environ)
    missing = []
    for module in ("faiss", "tevatron"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    wheels = sorted((carry / "wheels").glob("*.whl")) if carry.is_dir() else []
    if missing and wheels:
        site = work / "site"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--target", str(site), *map(str, wheels)], check=True)
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def corpus_words(args) -> list[str]:
    texts = job_texts(args, 2000)
    return sorted({w for t in texts for w in t.split() if w.isalpha()})


def job_texts(args, n: int) -> list[str]:
    """Real text: the carried manual-page corpus, else this machine's manual pages."""
    import gzip

    path = Path(args.carry) / "corpus-20k.jsonl.gz"
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return [json.loads(line)["text"] for _, line in zip(range(n), fh)]
    from benchmarks.common.corpora import english_passages

    return english_passages(n)


def model(args, work: Path, role: str) -> tuple[Path, str]:
    """The shaped generator (``role`` "gen") or encoder ("enc"), built once per run in ``work``."""
    from benchmarks.common.shaped_models import build_shaped_model

    name = {("gen", True): "tiny-t5", ("enc", True): "tiny-bert", ("gen", False): "mt5-base",
            ("enc", False): "mbert-base"}[role, args.tiny]
    return build_shaped_model(name, work / name, job_texts(args, 5000)), name


# ------------------------------------------------------------------------------------ sections
def section_encode(args, work: Path) -> dict:
    from benchmarks.common.unit_costs import encoder_rates, print_rates

    enc, enc_name = model(args, work, "enc")
    words = corpus_words(args)
    dtypes = ["float32"] if args.device == "cpu" else ["float32", "float16", "bfloat16"]
    p_batches, q_batches = ([8], [16]) if args.tiny else ([64, 256, 1024], [256, 1024, 4096])
    rates = []
    for dtype in dtypes:
        rates += encoder_rates(str(enc), enc_name, args.device, dtype, words, p_batches, q_batches)
        print_rates(rates[-len(p_batches) - len(q_batches):])
    return {"rates": [r.row() for r in rates]}


def section_generate(args, work: Path) -> dict:
    from benchmarks.common.unit_costs import generator_rates, print_rates

    gen, gen_name = model(args, work, "gen")
    words = corpus_words(args)
    batches = [4] if args.tiny else [32, 128, 512]
    rates, notes = [], []
    plans = [("hf", "float32", batches[:1])]
    if args.device != "cpu":
        plans += [("hf", "float16", batches), ("hf", "bfloat16", batches)]
    try:
        import ctranslate2

        ct2_types = ["int8"] if args.device == "cpu" else ["float16", "int8_float16"]
        if args.device != "cpu" and ctranslate2.get_cuda_device_count() == 0:
            notes.append("ctranslate2: imported, but it sees no CUDA device (its wheel needs CUDA 12 libraries)")
            ct2_types = []
        plans += [("ct2", t, batches) for t in ct2_types]
    except ImportError:
        notes.append("ctranslate2: not installed here, not run")
    for backend, precision, sizes in plans:
        try:
            got = generator_rates(str(gen), gen_name, args.device, words, sizes, backend, precision)
        except Exception as exc:  # one backend failing must not lose the others
            notes.append(f"{backend} {precision}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        rates += got
        print_rates(got)
    for note in notes:
        print("note:", note)
    return {"rates": [r.row() for r in rates], "notes": notes}


def section_job(args, work: Path) -> dict:
    import gzip

    gen, gen_name = model(args, work, "gen")
    enc, enc_name = model(args, work, "enc")
    n = 100 if args.tiny else args.job_passages
    corpus = work / "job-corpus.jsonl.gz"
    with gzip.open(corpus, "wt", encoding="utf-8") as fh:
        for i, text in enumerate(job_texts(args, n)):
            fh.write(json.dumps({"docid": f"m{i}", "title": "", "text": text}) + "\n")
    dtype = "float32" if args.device == "cpu" else "bfloat16"
    cmd = [sys.executable, "-m", "xqg_tevatron.job", "--corpus", str(corpus), "--encoder", str(enc),
           "--generator", str(gen), "--work_dir", str(work / "job-store"), "--output", str(work / "job-index"),
           "--languages", "ja", "--n_per_lang", "5", "--device", args.device, "--dtype", dtype,
           "--gen_batch_size", "8" if args.tiny else "256", "--batch_size", "8" if args.tiny else "512",
           "--unit_size", "50" if args.tiny else "5000", "--p_max_len", "256", "--quiet",
           # random weights: every query forced to the full length, so none comes back empty and each
           # costs what a trained model's does (the job refuses a generator that gives no queries)
           "--min_new_tokens", "31"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT)  # its own lines (shard stats) go to the log as they come
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"job failed (exit {proc.returncode})")
    manifest = json.loads((work / "job-index" / "xqg_manifest.json").read_text()) \
        if (work / "job-index" / "xqg_manifest.json").exists() else {}
    rows = sum(1 for _ in open(work / "job-index" / "docid", encoding="utf-8"))
    result = {"passages": n, "indexed": rows, "generated_queries": n * 5, "seconds": seconds,
              "passages_per_s": n / seconds, "dtype": dtype, "generator": gen_name, "encoder": enc_name,
              "command": " ".join(c if "/" not in c else Path(c).name for c in cmd[1:]),
              "manifest_keys": sorted(manifest)[:20]}
    print(f"job: {n:,} passages x (1 language x 5 queries) on {args.device} ({dtype}), local executor: "
          f"{seconds:.1f} s = {n / seconds:.1f} passages/s (generation + encoding + fusion + flat index), "
          f"{rows:,} rows indexed")
    return result


def section_index(args, work: Path) -> dict:
    import numpy as np

    from benchmarks.common.e5_pack import build_pack, encode_ids, load_tokens, rebuild_model
    from benchmarks.common.index_sweep import HEAD, Case, configs, format_row, sweep

    pack = Path(args.pack) if args.pack else Path(args.carry) / "e5-pack"
    if not (pack / "pack.json").exists():
        if not args.tiny:
            raise RuntimeError(f"no e5 pack at {pack} (make bench-gpu-carry builds one)")
        from xqg_tevatron.data.xquad import PACKAGED_DEV_HALF

        build_pack(pack, 400, 100, PACKAGED_DEV_HALF, reference=50)  # the dry run's own, small
    info = json.loads((pack / "pack.json").read_text())
    tokens = load_tokens(pack)
    model = rebuild_model(pack, work / "e5")
    ref = np.load(pack / "reference.npz")
    vectors, rates = {}, {}
    n_corpus = min(len(tokens["corpus"]), 120 if args.tiny else len(tokens["corpus"]))
    for name, is_query in (("corpus", False), ("in_domain_queries", True), ("xquad_paragraphs", False),
                           ("xquad_questions", True)):
        ids = tokens[name]
        if name == "corpus":
            ids = ids[:n_corpus]
        elif args.tiny and name != "xquad_paragraphs":
            ids = ids[:60]
        started = time.perf_counter()
        vectors[name] = encode_ids(model, ids, is_query, args.device, "float32", info["pad_id"])
        if args.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        rates[name] = len(ids) / (time.perf_counter() - started)
    deviation = {}
    for k in ref.files:
        m = min(len(ref[k]), len(vectors[k]))
        deviation[k] = float(np.abs(vectors[k][:m] - ref[k][:m]).max())
    print(f"e5 pack: {n_corpus:,} passages encoded at {rates['corpus']:.0f}/s (float32, {args.device}); max |v - v_cpu| "
          + ", ".join(f"{k} {v:.2e}" for k, v in deviation.items()))
    gold = tokens["xquad_gold"][:len(vectors["xquad_questions"])]
    corpus = np.concatenate([vectors["corpus"], vectors["xquad_paragraphs"]])
    cases = [Case("in-domain", vectors["in_domain_queries"],
                  note="20-word openings of held-out manual-page passages"),
             Case("island", vectors["xquad_questions"], gold=gold + n_corpus, langs=tokens["xquad_langs"][:len(gold)],
                  note="XQuAD questions (11 languages); their 120 paragraphs are the last corpus rows")]
    threads = os.cpu_count() or 1
    print(HEAD)
    config_list = configs(len(corpus), ef_search=(16, 64), nprobe=(1, 8)) if args.tiny else None
    partial = open(work / "index.rows.jsonl", "a", encoding="utf-8")

    def log(row: dict) -> None:  # each row kept as it comes: a section stopped at its limit keeps them
        print(format_row(row), flush=True)
        partial.write(json.dumps(row) + "\n")
        partial.flush()

    rows = sweep(corpus, cases, threads, timed=50 if args.tiny else 200, config_list=config_list, log=log)
    return {"encode_per_s": rates, "deviation_from_cpu": deviation, "rows": rows, "threads": threads,
            "texts": info["texts"], "cases": {c.name: c.note for c in cases}}


RUNNERS = {"encode": section_encode, "generate": section_generate, "job": section_job, "index": section_index}


def machine(device: str) -> dict:
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
           "device": device}
    try:
        import transformers

        out["transformers"] = transformers.__version__
    except ImportError:
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
        out["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        out["cuda"] = torch.version.cuda
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="toy models and sizes (the CPU dry run)")
    parser.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "runs" / "bench-gpu"),
                        help="folder for bench_gpu.json (default $OUT, else runs/bench-gpu)")
    parser.add_argument("--carry", default=str(ROOT / ".gpu-carry"), help="wheels, e5 pack, job corpus")
    parser.add_argument("--pack", help="e5 pack folder (default <carry>/e5-pack)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-clock budget of all sections")
    parser.add_argument("--job-passages", type=int, default=5_000,
                        help="the job's corpus (H200: 90 passages/s with 5 queries each, so 5k is about a minute)")
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)  # internal: run one
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but torch sees no CUDA device (use --device cpu --tiny for the dry run)",
                  file=sys.stderr)
            return 2
    if args.section:
        quiet()
        result = RUNNERS[args.section](args, Path(args.work))
        Path(args.work, f"{args.section}.json").write_text(json.dumps(result))
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {"machine": machine(args.device), "tiny": args.tiny, "sections": {}}
    print(json.dumps(report["machine"]), flush=True)
    with scratch_dir(Path(tempfile.gettempdir()), "bench-gpu") as work:
        env = ensure_wheels(Path(args.carry), work)
        forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
        for name in args.sections:
            left = args.budget_s - (time.perf_counter() - started)
            limit = max(30.0, min(left, LIMITS[name] * args.budget_s + max(0.0, left - sum(
                LIMITS[s] * args.budget_s for s in args.sections[args.sections.index(name):]))))
            print(f"\n=== {name} (limit {limit:.0f} s)", flush=True)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_gpu", *forwarded, "--section", name,
                                       "--work", str(work)], cwd=ROOT, env=env, timeout=limit)
                status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
            except subprocess.TimeoutExpired:
                status = f"stopped at its {limit:.0f} s limit"
            result_file = work / f"{name}.json"
            result = json.loads(result_file.read_text()) if status == "ok" and result_file.exists() else {}
            rows_file = work / f"{name}.rows.jsonl"
            if not result and rows_file.exists():
                result = {"partial_rows": [json.loads(line) for line in rows_file.read_text().splitlines()]}
            report["sections"][name] = {"status": status, "seconds": time.perf_counter() - t0, **result}
            print(f"--- {name}: {status} in {time.perf_counter() - t0:.0f} s", flush=True)
            (out / "bench_gpu.json").write_text(json.dumps(report, indent=1))
    report["seconds"] = time.perf_counter() - started
    (out / "bench_gpu.json").write_text(json.dumps(report, indent=1))
    print(f"\nbench-gpu: {report['seconds']:.0f} s; results in {out / 'bench_gpu.json'}")
    return 0 if all(s["status"] == "ok" for s in report["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
