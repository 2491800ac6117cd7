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

from unit_costs import print_rates

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
    """Passages/s and queries/s of multilingual-e5-small (the demo encoder) on this machine."""
    from bench_index_scale import man_page_passages
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.encoder import DenseEncoder, EncodeConfig

    texts = man_page_passages(n)
    enc = DenseEncoder(str(build_demo_encoder()), config=EncodeConfig(batch_size=64, p_max_len=256,
                                                                     show_progress=False))
    started = time.perf_counter()
    enc.encode(texts, is_query=False)
    p_rate = n / (time.perf_counter() - started)
    queries = [" ".join(t.split()[:12]) for t in texts] * 5
    started = time.perf_counter()
    enc.encode(queries, is_query=True, max_len=32)
    return {"passages_per_s": p_rate, "queries_per_s": len(queries) / (time.perf_counter() - started)}


def shaped_costs(cache: Path) -> list:
    """Per-unit costs of the real-shaped models (random weights) on this machine's CPU: mBERT-base
    passages at 256 tokens and queries at 32; mT5-base generation, HF float32 and CTranslate2
    int8 (5 samples of 32 forced new tokens per 256-token prompt)."""
    import torch

    from bench_index_scale import man_page_passages
    from shaped_models import build_shaped_model
    from unit_costs import encoder_rates, generator_rates

    texts = man_page_passages(5000)
    words = sorted({w for t in texts[:2000] for w in t.split() if w.isalpha()})
    enc = build_shaped_model("mbert-base", cache / "mbert-base", texts)
    gen = build_shaped_model("mt5-base", cache / "mt5-base", texts)
    threads = torch.get_num_threads()
    rates = encoder_rates(str(enc), "mbert-base", "cpu", "float32", words, [16], [64], batches_timed=3)
    rates += generator_rates(str(gen), "mt5-base", "cpu", words, [4], "hf", "float32", batches_timed=2)
    rates += generator_rates(str(gen), "mt5-base", "cpu", words, [4], "ct2", "int8", batches_timed=2, threads=threads)
    return rates


def gpu_record() -> dict | None:
    """The newest ``make bench-gpu`` record kept in docs/gpu (measured on a lent GPU machine)."""
    records = sorted((ROOT / "docs" / "gpu").glob("*.json"))
    return json.loads(records[-1].read_text()) if records else None


def best_gpu_rate(record: dict, what: str) -> dict:
    rows = [r for r in record["rates"] if r["what"] == what and r["precision"] != "float32"]
    return max(rows, key=lambda r: r["per_s"])


QUOTED = [  # rates quoted in this project's brief; not measured here
    ("generation", 460.0, "queries/s per RTX 3090: Doc2Query-- (Gospodinov et al., ECIR 2023), T5-base, 40 queries "
                          "for 8.84M passages in 214 GPU-hours"),
    ("passage encoding", 540.0, "passages/s per GPU, BERT-base encoder (figure quoted in the project brief; source "
                                "not named there, not verified)"),
    ("query encoding", 4000.0, "queries/s per GPU, BERT-base encoder (same quote, same caveat)"),
]


def projection(cpu: list, record: dict | None, e5: dict, passages: int = 18_200_000, per_passage: int = 35) -> list[str]:
    """Hours for ``passages`` x ``per_passage`` generated queries, rate by rate, each labelled."""
    queries = passages * per_passage
    by = {r.what: r for r in cpu if r.backend == "hf"}
    ct2 = next(r for r in cpu if r.backend == "ct2")
    threads = __import__("torch").get_num_threads()
    lines = [f"PROJECTION (not measured end to end): {passages:,} passages x {per_passage} generated queries "
             f"({queries / 1e6:.0f}M), per-unit seconds scaled; hours of one device",
             f"{'stage':<18}{'rate':>10}  {'hours':>10}  provenance"]

    def line(stage: str, rate: float, units: int, source: str) -> float:
        hours = units / rate / 3600
        lines.append(f"{stage:<18}{rate:>10,.1f}  {hours:>10,.0f}  {source}")
        return hours

    where = f"measured here: {threads} CPU threads"
    cpu_h = [line("generation", by["generated query"].per_s, queries, f"{where}, mT5-base shape, HF float32"),
             line("generation", ct2.per_s, queries, f"{where}, mT5-base shape, CTranslate2 int8"),
             line("passage encoding", by["passage"].per_s, passages, f"{where}, mBERT-base shape, 256 tokens"),
             line("query encoding", by["query"].per_s, queries, f"{where}, mBERT-base shape, 32 tokens"),
             line("passage encoding", e5["passages_per_s"], passages, f"{where}, multilingual-e5-small (demo), 256 tokens"),
             line("query encoding", e5["queries_per_s"], queries, f"{where}, multilingual-e5-small (demo), 32 tokens")]
    lines.append(f"  CPU total (CTranslate2 generation + mBERT-base encoding): "
                 f"{cpu_h[1] + cpu_h[2] + cpu_h[3]:,.0f} h on {threads} threads")
    if record:
        gen, pas, qry = (best_gpu_rate(record, w) for w in ("generated query", "passage", "query"))
        src = f"measured on {record['device']} ({record['date']}, docs/gpu)"
        gpu_h = [line("generation", gen["per_s"], queries, f"{src}, mT5-base shape, HF {gen['precision']}, batch {gen['batch']}"),
                 line("passage encoding", pas["per_s"], passages, f"{src}, mBERT-base shape, {pas['precision']}, batch {pas['batch']}"),
                 line("query encoding", qry["per_s"], queries, f"{src}, mBERT-base shape, {qry['precision']}, batch {qry['batch']}")]
        total = sum(gpu_h)
        lines.append(f"  GPU total: {total:,.0f} H200-hours; {total / 8:,.1f} h on 8, {total / 64:,.1f} h on 64 "
                     "(generation dominates; HF generate was still speeding up at the largest batch measured)")
    else:
        lines.append("  no GPU figure is measured (no docs/gpu record): run make bench-gpu on a GPU machine")
    quoted = [line(stage, rate, passages if stage == "passage encoding" else queries, "QUOTED: " + source)
              for stage, rate, source in QUOTED]
    lines.append(f"  quoted total: {sum(quoted):,.0f} GPU-hours (older GPUs and models; for comparison only)")
    return lines


def engine(args) -> None:
    """(a): the job engine, local vs Ray, memory, stored bytes, re-fuse."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--netns", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "xqg-bench"),
                        help="where the real-shaped random models are built once (outside the repo)")
    parser.add_argument("--parts", nargs="+", choices=["engine", "costs"], default=["engine", "costs"])
    args = parser.parse_args(argv)
    if "engine" in args.parts:
        engine(args)
    if "costs" in args.parts:
        cpu = shaped_costs(Path(args.cache) / "models")
        real = demo_encoder_costs()
        print()
        print_rates(cpu)
        print("\n".join(projection(cpu, gpu_record(), real)))
    big_n = 18_200_000
    store_gb = (4 * 384 * (1 + 7) + 4 * 7 + 10) * big_n / 1e9
    print(f"store (components, 384 dims, 7 languages): {store_gb:,.0f} GB; generated-query jsonl about "
          f"{35 * 60 * big_n / 1e9:,.0f} GB (60 bytes a query)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
