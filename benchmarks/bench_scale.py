"""The corpus-scale job engine, measured: local vs Ray, memory vs corpus size, stored bytes, re-fuse
speed; then real per-unit costs and a projection to XOR-TyDi (18.2M passages x 35 queries).

    .venv/bin/python benchmarks/bench_scale.py [--passages 50000] [--netns auto|on|off]

(a) The engine itself, with a tiny random encoder (2 layers, 32 dims) so the model does not hide
    it, on ``--passages`` passages of real English text (Debian's section-1 manual pages, 100-word
    passages) with the dictionary generator (2 languages x 5 queries): passages/s of the one
    command (``python -m xqg_tevatron.job``) on the local executor and on Ray with 1 and 2 actors,
    peak RSS of the local job at 10k and at ``--passages`` passages, bytes stored per passage,
    and the seconds a re-fuse (``driver.merge --alpha ...``) takes, per 1M passages.
(b) Real per-unit costs of the demo encoder (multilingual-e5-small) on this machine, and the
    projection (labelled as such) for 18.2M passages on N GPUs from those costs and the published
    GPU figures (Doc2Query-- generation 460 queries/s, BERT-base encoding 540 passages/s and 4,000
    queries/s per GPU).
On these machines Ray may bind only loopback: ``--netns auto`` runs each Ray job inside
``unshare --net`` when that works.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
NETNS = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "netns"]
LAUNCH = ("import sys, json\nfrom xqg_tevatron.job import main\ncode = main(sys.argv[1:])\n"
          "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]\n"
          "print('HWM', hwm, file=sys.stderr)\nsys.exit(code)\n")
LANGS = ["ja", "fi"]


def write_corpus(path: Path, n: int) -> Path:
    from bench_index_scale import man_page_passages

    texts = man_page_passages(min(n, 20_000))
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"docid": f"m{i}", "title": "", "text": texts[i % len(texts)]}) + "\n")
    return path


def run_job(model: Path, corpus: Path, work: Path, out: Path, executor: list[str], netns: bool) -> dict:
    args = ["--corpus", str(corpus), "--encoder", str(model), "--work_dir", str(work), "--output", str(out),
            "--languages", *LANGS, "--n_per_lang", "5", "--chunk_size", "2000", "--batch_size", "256",
            "--p_max_len", "128", "--q_max_len", "32", "--quiet", "--overwrite", *executor]
    cmd = [sys.executable, "-c", LAUNCH, *args]
    started = time.perf_counter()
    proc = subprocess.run((NETNS if netns else []) + cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    hwm = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("HWM"))) * 1024
    return {"seconds": seconds, "rss": hwm}


def store_bytes(work: Path) -> int:
    return sum(p.stat().st_size for p in work.iterdir() if p.suffix in (".npy", ".ids") or p.name.endswith(".npy"))


def refuse_seconds(work: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "xqg_tevatron.driver.merge", "--work_dir", str(work), "--output", str(out),
                    "--alpha", "0.5", "--aggregation", "mean", "--languages", LANGS[0], "--keep_work_dir",
                    "--overwrite"], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def demo_encoder_costs(n: int = 200) -> dict:
    """Passages/s and queries/s of multilingual-e5-small on this machine (2 threads)."""
    from bench_index_scale import man_page_passages
    from xqg_tevatron.corpus import Passage
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.encoder import DenseEncoder, EncodeConfig
    from xqg_tevatron.generate.dictionary import DictionaryQueryGenerator
    from xqg_tevatron.languages import XOR_TYDI_LANGUAGES

    texts = man_page_passages(n)
    enc = DenseEncoder(str(build_demo_encoder()), config=EncodeConfig(batch_size=64, p_max_len=128,
                                                                     show_progress=False))
    started = time.perf_counter()
    enc.encode(texts, is_query=False)
    p_rate = n / (time.perf_counter() - started)
    gen = DictionaryQueryGenerator()
    queries = [q for i, t in enumerate(texts) for lang in XOR_TYDI_LANGUAGES
               for q in gen.queries(Passage(str(i), t), lang)] or ["what is the euro?"] * 1000
    started = time.perf_counter()
    enc.encode(queries, is_query=True, max_len=32)
    return {"passages_per_s": p_rate, "queries_per_s": len(queries) / (time.perf_counter() - started),
            "queries": len(queries)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--netns", choices=["auto", "on", "off"], default="auto")
    args = parser.parse_args(argv)
    netns = args.netns == "on" or (args.netns == "auto" and
                                   subprocess.run(NETNS + ["true"], capture_output=True).returncode == 0)
    from conftest import build_tiny_bert

    with tempfile.TemporaryDirectory(dir=ROOT / ".cache" if (ROOT / ".cache").is_dir() else None) as tmp:
        tmp = Path(tmp)
        small, big = write_corpus(tmp / "small.jsonl", 10_000), write_corpus(tmp / "big.jsonl", args.passages)
        model = build_tiny_bert(tmp / "tiny", [json.loads(l)["text"] for l in open(small, encoding="utf-8")][:2000])
        runs = {}
        runs["local 10k"] = run_job(model, small, tmp / "s10", tmp / "i10", [], False)
        for name, executor in [("local", []), ("ray 1 actor", ["--executor", "ray", "--ray_actors", "1"]),
                               ("ray 2 actors", ["--executor", "ray", "--ray_actors", "2", "--ray_num_cpus", "1"])]:
            runs[name] = run_job(model, big, tmp / f"store-{name[:5]}", tmp / f"idx-{name[:5]}", executor,
                                 netns and name.startswith("ray"))
            print(f"  {name:<14}{args.passages / runs[name]['seconds']:8.1f} passages/s", flush=True)
        bytes_per = store_bytes(tmp / "store-local") / args.passages
        refuse = refuse_seconds(tmp / "store-local", tmp / "refused")
    real = demo_encoder_costs()

    print(f"\nengine: {args.passages:,} manual-page passages, dictionary generator ({len(LANGS)} languages x 5), tiny "
          "random encoder, units of 2,000, 2 cores" + (" (Ray inside unshare --net)" if netns else ""))
    local = runs["local"]["seconds"]
    print(f"{'executor':<16}{'seconds':>9}{'passages/s':>12}{'x local':>9}")
    for name in ("local", "ray 1 actor", "ray 2 actors"):
        s = runs[name]["seconds"]
        print(f"{name:<16}{s:>9.1f}{args.passages / s:>12.1f}{local / s:>9.2f}")
    overhead = runs["ray 1 actor"]["seconds"] / local - 1
    print(f"Ray overhead at 1 actor: {100 * overhead:+.1f}% of local (target <= 10%: "
          f"{'met' if overhead <= 0.10 else 'MISSED'})")
    ratio = runs["local"]["rss"] / runs["local 10k"]["rss"]
    print(f"peak RSS, local: 10k passages {runs['local 10k']['rss'] / 2**20:.0f} MiB, {args.passages // 1000}k passages "
          f"{runs['local']['rss'] / 2**20:.0f} MiB, ratio {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})")
    print(f"stored per passage (32 dims, {len(LANGS)} languages, 1 prefix): {bytes_per:,.0f} bytes; "
          f"at 384 dims x 7 languages: {4 * 384 * (1 + 7) + 4 * 7 + 10:,} bytes (formula in xqg/components.py)")
    print(f"re-fuse (alpha, aggregation, language subset) + flat index: {refuse:.1f} s for {args.passages:,} "
          f"passages = {refuse * 1e6 / args.passages / 60:.1f} min per 1M passages at 32 dims")

    big_n, queries = 18_200_000, 18_200_000 * 35
    print(f"\nper-unit costs measured here (multilingual-e5-small, 2 CPU threads): {real['passages_per_s']:.1f} "
          f"passages/s (128 tokens), {real['queries_per_s']:.1f} generated queries/s (32 tokens)")
    cpu_h = (big_n / real["passages_per_s"] + queries / real["queries_per_s"]) / 3600
    gen_gpu_h, enc_gpu_h = queries / 460 / 3600, (big_n / 540 + queries / 4000) / 3600
    print(f"PROJECTION for {big_n:,} passages x 35 generated queries ({queries / 1e6:.0f}M) "
          "(not measured; per-unit costs scaled):")
    print(f"{'':<34}{'1 GPU':>10}{'8 GPUs':>10}{'64 GPUs':>10}")
    for label, hours in [("generation (460 q/s/GPU) h", gen_gpu_h), ("encoding (540 p/s, 4k q/s/GPU) h", enc_gpu_h),
                         ("total h", gen_gpu_h + enc_gpu_h)]:
        print(f"{label:<34}{hours:>10.0f}{hours / 8:>10.1f}{hours / 64:>10.1f}")
    print(f"encoding e5-small on 2 CPU cores instead: {cpu_h:,.0f} h ({cpu_h / 24 / 365:.1f} years)")
    store_gb = (4 * 384 * (1 + 7) + 4 * 7 + 10) * big_n / 1e9
    print(f"store (components, 384 dims, 7 languages): {store_gb:,.0f} GB; generated-query jsonl about "
          f"{35 * 60 * big_n / 1e9:,.0f} GB (60 bytes a query)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
