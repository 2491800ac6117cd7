"""The corpus-scale job engine, measured: local vs Ray, memory vs corpus size, stored bytes, re-fuse
speed; then real per-unit costs and a projection to XOR-TyDi (18.2M passages x 35 queries).

    .venv/bin/python -m benchmarks.bench_scale [--passages 50000] [--netns auto|on|off] [--quick]

(a) The engine itself, with a tiny random encoder (2 layers, 32 dims) so the model does not hide
    it, on ``--passages`` passages of real English text (Debian's section-1 manual pages, 100-word
    passages) with the dictionary generator (2 languages x 5 queries, CLDR + FreeDict word lists): passages/s of the one
    command (``python -m xqg_tevatron.job``), peak RSS at 10k and at ``--passages`` passages,
    bytes stored per passage, and the seconds a re-fuse (``driver.merge --alpha ...``) takes.
(ray) Ray's cost and scaling on the same job: local vs Ray with 1 actor (the same 2 cores) vs Ray
    with 2 actors of 1 thread each, each run ``--repeats`` times, median and spread, with the
    machine's load average before each run (run it on an idle machine).
(recovery) A worker node lost on real ``ray start`` processes and a new one joining: seconds until
    the job sees the loss, until the new actor is ready, until it runs at full speed again.
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
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import quick
from benchmarks.common.corpora import man_page_passages
from benchmarks.common.netns import NETNS, netns_available
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, run_child, scratch_dir
from benchmarks.common.shaped_models import build_shaped_model
from benchmarks.common.tiny_models import build_tiny_bert
from benchmarks.common.unit_costs import encoder_rates, generator_rates, print_rates

ROOT = Path(__file__).resolve().parent.parent
# every part: the engine in units of 100, each Ray configuration once, the per-unit costs on the
# toy shapes; the node-loss part keeps its full 60-unit job (with 10 units the job ended before the
# node that joins got a unit, and the part has nothing to time)
QUICK = {"passages": 1_000, "small_passages": 200, "chunk": 100, "ray_passages": 600, "repeats": 1,
         "recovery_passages": 1_200, "shapes": ["tiny-bert", "tiny-t5"], "demo_texts": 20}
SHAPE_LABELS = {"mbert-base": "mBERT-base", "mt5-base": "mT5-base"}
LAUNCH = ("import sys, json\nfrom xqg_tevatron.job import main\ncode = main(sys.argv[1:])\n"
          "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]\n"
          "print('HWM', hwm, file=sys.stderr)\nsys.exit(code)\n")
# languages whose FreeDict word lists the plugin has (CLDR names alone give most manual-page
# passages no query, and the job stops on that: its query-coverage check)
LANGS = ["de", "ru"]
WORDS = ["--word_lists", "freedict"]


def write_corpus(path: Path, n: int) -> Path:
    texts = man_page_passages(min(n, 20_000))
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"docid": f"m{i}", "title": "", "text": texts[i % len(texts)]}) + "\n")
    return path


def run_job(model: Path, corpus: Path, work: Path, out: Path, executor: list[str], netns: bool,
            chunk: int = 2000) -> dict:
    args = ["--corpus", str(corpus), "--encoder", str(model), "--work_dir", str(work), "--output", str(out),
            "--languages", *LANGS, *WORDS, "--n_per_lang", "5", "--unit_size", str(chunk), "--batch_size", "256",
            "--p_max_len", "128", "--q_max_len", "32", "--quiet", "--overwrite", *executor]
    cmd = [sys.executable, "-c", LAUNCH, *args]
    started = time.perf_counter()
    proc = subprocess.run((NETNS if netns else []) + cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    hwm = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("HWM"))) * 1024
    commits = sorted(p.stat().st_mtime for p in work.glob("chunk-*.json"))
    # units/s between the first and the last commit: the job at speed, without start-up and merge
    steady = (len(commits) - 1) / (commits[-1] - commits[0]) if len(commits) > 2 else float("nan")
    return {"seconds": seconds, "rss": hwm, "steady_units_per_s": steady}


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
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig

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


def shaped_costs(cache: Path, enc_name: str = "mbert-base", gen_name: str = "mt5-base") -> list:
    """Per-unit costs of the real-shaped models (random weights) on this machine's CPU: mBERT-base
    passages at 256 tokens and queries at 32; mT5-base generation, HF float32 and CTranslate2
    int8 (5 samples of 32 forced new tokens per 256-token prompt)."""
    import torch

    texts = man_page_passages(5000)
    words = sorted({w for t in texts[:2000] for w in t.split() if w.isalpha()})
    enc = build_shaped_model(enc_name, cache / enc_name, texts)
    gen = build_shaped_model(gen_name, cache / gen_name, texts)
    threads = torch.get_num_threads()
    rates = encoder_rates(str(enc), enc_name, "cpu", "float32", words, [16], [64], batches_timed=3)
    rates += generator_rates(str(gen), gen_name, "cpu", words, [4], "hf", "float32", batches_timed=2)
    rates += generator_rates(str(gen), gen_name, "cpu", words, [4], "ct2", "int8", batches_timed=2, threads=threads)
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
    gen_shape, enc_shape = (SHAPE_LABELS.get(by[w].model, by[w].model) for w in ("generated query", "passage"))
    cpu_h = [line("generation", by["generated query"].per_s, queries, f"{where}, {gen_shape} shape, HF float32"),
             line("generation", ct2.per_s, queries, f"{where}, {gen_shape} shape, CTranslate2 int8"),
             line("passage encoding", by["passage"].per_s, passages, f"{where}, {enc_shape} shape, 256 tokens"),
             line("query encoding", by["query"].per_s, queries, f"{where}, {enc_shape} shape, 32 tokens"),
             line("passage encoding", e5["passages_per_s"], passages, f"{where}, multilingual-e5-small (demo), 256 tokens"),
             line("query encoding", e5["queries_per_s"], queries, f"{where}, multilingual-e5-small (demo), 32 tokens")]
    lines.append(f"  CPU total (CTranslate2 generation + {enc_shape} encoding): "
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


def scratch_parent() -> Path:
    """The checkout's .cache where there is one (a fast disk), else the system's temporary folder."""
    return ROOT / ".cache" if (ROOT / ".cache").is_dir() else Path(tempfile.gettempdir())


def engine(args) -> dict:
    """(a): the job engine on the local executor: memory against corpus size, stored bytes,
    re-fuse (Ray's cost and scaling: :func:`ray_cost`)."""
    with scratch_dir(scratch_parent(), "bench-scale-engine") as tmp:
        small = write_corpus(tmp / "small.jsonl", args.small_passages)
        big = write_corpus(tmp / "big.jsonl", args.passages)
        model = build_tiny_bert(tmp / "tiny", [json.loads(l)["text"] for l in open(small, encoding="utf-8")][:2000])
        runs = {"local small": run_job(model, small, tmp / "s10", tmp / "i10", [], False, args.chunk),
                "local": run_job(model, big, tmp / "store-local", tmp / "idx-local", [], False, args.chunk)}
        bytes_per = store_bytes(tmp / "store-local") / args.passages
        refuse = refuse_seconds(tmp / "store-local", tmp / "refused")

    print(f"\nengine: {args.passages:,} manual-page passages, dictionary generator ({len(LANGS)} languages x 5), tiny "
          f"random encoder, units of {args.chunk:,}, local executor: "
          f"{args.passages / runs['local']['seconds']:.1f} passages/s")
    ratio = runs["local"]["rss"] / runs["local small"]["rss"]
    print(f"peak RSS, local: {args.small_passages / 1000:g}k passages {runs['local small']['rss'] / 2**20:.0f} MiB, "
          f"{args.passages / 1000:g}k passages "
          f"{runs['local']['rss'] / 2**20:.0f} MiB, ratio {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})")
    print(f"stored per passage (32 dims, {len(LANGS)} languages, 1 prefix): {bytes_per:,.0f} bytes; "
          f"at 384 dims x 7 languages: {4 * 384 * (1 + 7) + 4 * 7 + 10:,} bytes (formula in xqg/components.py)")
    print(f"re-fuse (alpha, aggregation, language subset) + flat index: {refuse:.1f} s for {args.passages:,} "
          f"passages = {refuse * 1e6 / args.passages / 60:.1f} min per 1M passages at 32 dims")
    return {"passages": args.passages, "small_passages": args.small_passages, "unit_size": args.chunk,
            "languages": LANGS, "n_per_lang": 5, "encoder": "tiny random BERT (2 layers, 32 dims)",
            "passages_per_s": args.passages / runs["local"]["seconds"], "seconds": runs["local"]["seconds"],
            "peak_rss_bytes": {"small": runs["local small"]["rss"], "large": runs["local"]["rss"]},
            "rss_ratio": ratio, "store_bytes_per_passage": bytes_per, "refuse_seconds": refuse}


def load_1min() -> float:
    return round(os.getloadavg()[0], 2)


def busy_percent(seconds: float = 2.0) -> float:
    """The machine's CPU use over ``seconds`` (all cores, from /proc/stat), sampled right before a
    run: near 0 on an idle machine, whatever the load average still remembers of the last run."""
    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    (t0, i0), _ = sample(), time.sleep(seconds)
    t1, i1 = sample()
    return round(100 * (1 - (i1 - i0) / max(1, t1 - t0)), 1)


RAY_CONFIGS = [("local", []),
               # the same two cores as local: one actor with both (its worker uses 2 threads)
               ("ray 1 actor", ["--executor", "ray", "--ray_actors", "1", "--ray_num_cpus", "2"]),
               ("ray 2 actors", ["--executor", "ray", "--ray_actors", "2", "--ray_num_cpus", "1"])]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def ray_cost(args) -> dict:
    """Ray's cost and scaling, each configuration run ``--repeats`` times, interleaved (so a drift
    in the machine's state hits all alike), with the 1-minute load average before each run."""
    netns = args.netns == "on" or (args.netns == "auto" and netns_available())

    n = args.ray_passages
    with scratch_dir(scratch_parent(), "bench-scale-ray") as tmp:
        corpus = write_corpus(tmp / "c.jsonl", n)
        model = build_tiny_bert(tmp / "tiny", [json.loads(l)["text"] for l in open(corpus, encoding="utf-8")][:2000])
        idle = load_1min()
        seconds: dict[str, list[float]] = {name: [] for name, _ in RAY_CONFIGS}
        steady: dict[str, list[float]] = {name: [] for name, _ in RAY_CONFIGS}
        loads, busy = [], []
        for rep in range(args.repeats):
            for name, executor in RAY_CONFIGS:
                loads.append(load_1min())
                busy.append(busy_percent())
                run = run_job(model, corpus, tmp / f"s{rep}{name[:5]}", tmp / f"i{rep}{name[:5]}", executor,
                              netns and name.startswith("ray"), args.chunk)
                seconds[name].append(run["seconds"])
                steady[name].append(run["steady_units_per_s"])
                print(f"  run {rep + 1} {name:<14}{run['seconds']:7.1f} s  {run['steady_units_per_s']:.3f} units/s "
                      f"between first and last commit  (before: load {loads[-1]}, CPU {busy[-1]}% busy)", flush=True)
    print(f"\nRay's cost: {n:,} manual-page passages, dictionary generator ({len(LANGS)} languages x 5), tiny random "
          f"encoder, units of {args.chunk:,}, {os.cpu_count()} cores, {args.repeats} runs each (median [min-max]); 1-min load "
          f"average {idle} before the first run, {min(loads)}-{max(loads)} before each; CPU busy in the 2 s before each "
          f"run {min(busy)}-{max(busy)}%"
          + (" (Ray inside unshare --net)" if netns else ""))
    print(f"{'executor':<14}{'end-to-end s':>22}{'x local':>20}{'units/s at speed':>24}{'x local':>20}")
    local, local_steady = seconds["local"], steady["local"]
    for name, _ in RAY_CONFIGS:
        ratios = [lo / s for lo, s in zip(local, seconds[name])]
        steady_ratios = [s / lo for lo, s in zip(local_steady, steady[name])]
        print(f"{name:<14}{spread(seconds[name]):>22}{spread(ratios):>20}{spread(steady[name]):>24}"
              f"{spread(steady_ratios):>20}")
    fixed = [r - lo for r, lo in zip(seconds["ray 1 actor"], local)]
    at_speed = [100 * (lo / r - 1) for r, lo in zip(steady["ray 1 actor"], local_steady)]
    print(f"Ray at 1 actor, at speed (first to last commit): {statistics.median(at_speed):+.1f}% time per unit "
          f"against local, runs {min(at_speed):+.1f}% to {max(at_speed):+.1f}% (target <= 10%: "
          f"{'met' if statistics.median(at_speed) <= 10 else 'MISSED'}); end to end it adds "
          f"{statistics.median(fixed):.1f} s [{min(fixed):.1f}-{max(fixed):.1f}] (Ray and actor start-up, paid once)")
    return {"passages": n, "unit_size": args.chunk, "languages": LANGS, "n_per_lang": 5,
            "encoder": "tiny random BERT (2 layers, 32 dims)", "repeats": args.repeats, "cores": os.cpu_count(),
            "netns": netns, "load_1min_before_each": loads, "cpu_busy_percent_before_each": busy,
            "configs": {name: {"flags": flags, "seconds": seconds[name], "steady_units_per_s": steady[name]}
                        for name, flags in RAY_CONFIGS},
            "at_speed_percent": at_speed, "fixed_seconds": fixed}


def recovery(args) -> dict | None:
    """From a lost worker node to the job at full speed again, on real ``ray start`` processes
    (the README's recipe, as tests/test_ray_cluster.py runs it): a head and two 1-CPU worker
    nodes, two actors; once the job is steady, one worker node is killed (its raylet and all
    under it) and a fresh one joins at once, as a replacement node would.  Runs itself inside a
    loopback-only network namespace."""
    if not args.in_netns:
        # stopped meanwhile, the run inside gets SIGTERM and stops its cluster and removes its folder first
        run_child(NETNS + [sys.executable, "-m", "benchmarks.bench_scale", "--parts", "recovery", "--recovery-passages",
                           str(args.recovery_passages), "--in-netns", *(["--quick"] if args.quick else [])],
                  cwd=ROOT, check=True)
        return None  # the run inside wrote the artifact
    import re
    from datetime import datetime

    from benchmarks.common.ray_processes import RayProcesses, recipe
    from xqg_tevatron.demo_encoder import build_demo_encoder

    def stamp(line: str) -> float:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()

    with scratch_dir(Path(tempfile.gettempdir()), "bench-scale-recovery") as tmp:
        n, chunk = args.recovery_passages, 20
        corpus = write_corpus(tmp / "c.jsonl", n)
        model = build_demo_encoder()  # a real model: the new actor's load time is part of its recovery
        shared = tmp / "shared"
        # the cluster's processes get their own HOME: give it this user's plugin cache, where the
        # FreeDict word lists are (the namespace cannot fetch them)
        from xqg_tevatron.runtime.workdir import default_cache_dir

        (tmp / "home" / ".cache").mkdir(parents=True, exist_ok=True)
        (tmp / "home" / ".cache" / "xqg_tevatron").symlink_to(default_cache_dir().resolve(), target_is_directory=True)
        cluster = RayProcesses(recipe((ROOT / "README.md").read_text()), tmp / "home",
                               {"HEAD": "127.0.0.1", "CORPUS": corpus, "MODEL": model, "GENERATOR": "dictionary",
                                "ACTORS": 2, "SHARED": shared})
        log = tmp / "job.log"
        try:
            cluster.start_head()
            for _ in range(2):
                cluster.add_worker("--num-cpus", "1")
            job = " ".join([cluster.line("python -m xqg_tevatron.job"), "--languages", *LANGS, *WORDS, "--n-per-lang", "5",
                            "--chunk-size", str(chunk), "--batch-size", "32", "--p-max-len", "128", "--q-max-len",
                            "32", "--ray-num-cpus", "1", "--verbose"])
            proc = cluster.popen(job, log)
            records = shared / "store"
            units = -(-n // chunk)
            while len(list(records.glob("chunk-*.json"))) < units // 3 and proc.poll() is None:
                time.sleep(0.01)
            sent = re.findall(r"unit (\d+) sent to node ([0-9a-f]+):", log.read_text(errors="replace"))
            done = {int(p.stem.split("-")[1]) for p in records.glob("chunk-*.json")}
            victim = next(node for u, node in sent if int(u) not in done)
            killed_at = time.time()
            cluster.kill_node(victim)
            joined = cluster.add_worker("--num-cpus", "1")
            joined_at = time.time()
            assert proc.wait(timeout=1800) == 0, log.read_text()[-3000:]
        finally:
            cluster.stop_all()
        text = log.read_text(errors="replace")
        lines = re.findall(r"\d{4}-\d\d-\d\d [^\n\r]*", text)
        lost = next(stamp(l) for l in lines if "was lost" in l)
        ready = next(stamp(l) for l in lines if "actor is ready on node " + joined in l)
        first_new = min(int(u) for u, node in re.findall(r"unit (\d+) sent to node ([0-9a-f]+):", text)
                        if node == joined)
        mtimes = sorted(p.stat().st_mtime for p in records.glob("chunk-*.json"))
        full_at = (records / f"chunk-{first_new:06d}.json").stat().st_mtime

        def rate(a: float, b: float) -> float:
            return sum(a <= t < b for t in mtimes) / (b - a)

        print(f"\nnode loss on real ray start processes: {n:,} passages in {units} units of {chunk}, multilingual-e5-"
              "small (the demo encoder), 2 actors on two "
              "1-CPU worker nodes; one node killed (raylet and all under it) at a third of the job, a new node joined "
              f"at once ({joined_at - killed_at:.1f} s for ray start)")
        print(f"  loss seen by the job      {lost - killed_at:6.1f} s after the kill (its units put back)")
        print(f"  new actor ready           {ready - killed_at:6.1f} s after the kill")
        print(f"  full speed again          {full_at - killed_at:6.1f} s after the kill (the new actor's first unit "
              "committed)")
        print(f"  units/s: {rate(mtimes[0], killed_at):.2f} before the kill, {rate(killed_at, full_at):.2f} while "
              f"recovering, {rate(full_at, mtimes[-1] + 1e-3):.2f} after")
        return {"passages": n, "units": units, "unit_size": chunk, "encoder": "the demo encoder", "actors": 2,
                "join_seconds": joined_at - killed_at, "loss_seen_s": lost - killed_at,
                "new_actor_ready_s": ready - killed_at, "full_speed_s": full_at - killed_at,
                "units_per_s": {"before": rate(mtimes[0], killed_at), "recovering": rate(killed_at, full_at),
                                "after": rate(full_at, mtimes[-1] + 1e-3)}}


def costs(args) -> dict:
    """(b): per-unit costs of the real-shaped models and of the demo encoder, ``--repeats`` rounds
    interleaved (each round times every unit in turn), and the projection from the median round."""
    rounds = []
    for rnd in range(args.repeats):
        rounds.append(shaped_costs(Path(args.cache) / "models", *args.shapes))
        print(f"  costs: round {rnd + 1}/{args.repeats} done", flush=True)
    cpu = [min(same, key=lambda r: abs(r.per_s - statistics.median(x.per_s for x in same)))
           for same in zip(*rounds)]  # per unit, the round with the median rate
    real = demo_encoder_costs(args.demo_texts)
    print()
    print_rates(cpu)
    hf = [next(r for r in rnd if r.what == "generated query" and r.backend == "hf") for rnd in rounds]
    ct2 = [next(r for r in rnd if r.what == "generated query" and r.backend == "ct2") for rnd in rounds]
    ratios = [c.per_s / h.per_s for c, h in zip(ct2, hf)]
    print(f"CTranslate2 int8 / HF float32 generation, per round: {spread(ratios)}")
    print("\n".join(projection(cpu, gpu_record(), real)))
    return {"rounds": [[r.row() for r in rnd] for rnd in rounds], "median": [r.row() for r in cpu],
            "ct2_over_hf_per_round": ratios, "threads": __import__("torch").get_num_threads(),
            "demo_encoder": {**real, "texts": args.demo_texts, "p_max_len": 256, "q_max_len": 32, "batch": 64}}


PARTS = {"engine": engine, "ray": ray_cost, "recovery": recovery, "costs": costs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--small-passages", type=int, default=10_000,
                        help="engine: the smaller corpus whose peak RSS the --passages run is compared with")
    parser.add_argument("--chunk", type=int, default=2_000, help="engine and ray: passages per unit")
    parser.add_argument("--netns", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "xqg-bench"),
                        help="where the real-shaped random models are built once (outside the repo)")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--ray-passages", type=int, default=20_000, help="corpus of the ray part")
    parser.add_argument("--repeats", type=int, default=3, help="ray and costs: interleaved runs of each configuration")
    parser.add_argument("--recovery-passages", type=int, default=1_200, help="corpus of the recovery part")
    parser.add_argument("--shapes", nargs=2, default=["mbert-base", "mt5-base"], metavar=("ENCODER", "GENERATOR"),
                        help="costs: the shaped models measured (benchmarks.common.shaped_models.SHAPES)")
    parser.add_argument("--demo-texts", type=int, default=200, help="costs: passages the demo encoder is timed on")
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)  # the recovery part, re-run inside
    args = quick.parse_args(parser, argv, QUICK)
    # one artifact per part (docs/results/bench_scale_PART.json), its provenance taken around the part
    for part in PARTS:
        if part not in args.parts:
            continue
        record = BenchmarkRecord(f"bench_scale_{part}", argv, args.quick, module="bench_scale")
        results = PARTS[part](args)
        if results is not None:
            record.write(results)
        if part == "recovery" and args.in_netns:
            return 0
    big_n = 18_200_000
    store_gb = (4 * 384 * (1 + 7) + 4 * 7 + 10) * big_n / 1e9
    print(f"store (components, 384 dims, 7 languages): {store_gb:,.0f} GB; generated-query jsonl about "
          f"{35 * 60 * big_n / 1e9:,.0f} GB (60 bytes a query)")
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
