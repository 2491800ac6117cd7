"""Index types at corpus scale: recall against exact search, MRR on real questions, latency, memory,
build time, bytes on disk, and a projection to XOR-TyDi's 18.2M passages.

    .venv/bin/python -m benchmarks.bench_index_scale [--n 1000000] [--types flat hnsw ivf-pq ...] [--quick]

What is measured, side by side in one run, for plain and for xQG-fused vectors:
* the 6,732 real XQuAD questions of the development half (11 languages) are searched over their
  120 real English paragraphs hidden among ``n - 120`` distractors;
* recall@10 / @100 of each index against exact flat search on the same questions (the
  ANN-benchmarks measure); MRR@100 of the questions' own paragraphs, beside flat's;
* p50 / p95 ms per query at 1 thread (search only: query vectors precomputed), build seconds,
  bytes on disk, and the resident memory the loaded index adds (measured in a fresh process).

Distractors look like real passage vectors of the same encoder: ``--real`` passages of real
English text (Debian's manual pages under /usr/share/man, section 1, stripped of roff markup and cut
into 100-word passages) are encoded by the demo encoder; a Gaussian mixture is fitted to those
vectors (64 spherical k-means topics plus the covariance of the residuals) and sampled, and each
sample is L2-normalised as e5's vectors are.  Fused
distractors are ``(1 - a) e + a q``, with ``e`` a plain distractor and ``q`` drawn from a Gaussian
fitted to the per-passage means of dictionary-generated query vectors of real passages (the XQuAD
paragraphs and the first 300 manual-page passages), as the recommended recipe fuses them (mean,
a = 0.2, 5 queries per language, 11 languages).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.corpora import man_page_passages
from benchmarks.common.e5_pack import build_pack, encode_ids, load_tokens, rebuild_model
from benchmarks.common.index_sweep import HEAD, Case, cheapest_meeting, sweep
from benchmarks.common.metrics import mrr_at_100, recall
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
ALPHA, N_PER_LANG = 0.2, 5
QUICK_CACHE = ROOT / ".cache" / "bench-index-scale-quick"  # never the real run's caches
# both parts, every index type, plain and fused: a pack of 400 passages, 10k mixture vectors, a
# sample of the questions; the shipped XQuAD dev half
# (ivf-pq trained on 2,000 rows: its 192 sub-quantisers took 50 s of the 2-minute quick run on 10k)
QUICK = {"n": 10_000, "real": 300, "timed": 20, "questions": 200, "real_passages": 300, "pack_passages": 400,
         "pq_train_sample": 2_000,
         "pack_held_out": 100, "cache": str(QUICK_CACHE), "pack": str(QUICK_CACHE / "e5-pack-400"),
         "xquad_dir": str(ROOT / "xqg_tevatron" / "resources" / "xquad_dev")}
TIMED_SCRIPT = r"""
import json, sys, time
import numpy as np, faiss
path, queries_file, out, timed, knob, values = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6:]
def rss():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmRSS"))
queries = np.load(queries_file)
before = rss()
index = faiss.read_index(path)
loaded = rss() - before
results = []
for value in values or [None]:
    if knob == "efSearch":
        faiss.downcast_index(index).hnsw.efSearch = int(value)
    elif knob == "nprobe":
        faiss.extract_index_ivf(index).nprobe = int(value)
    faiss.omp_set_num_threads(1)
    for q in queries[:5]:
        index.search(q[None, :], 100)
    ms = []
    for q in queries[:timed]:
        t = time.perf_counter(); index.search(q[None, :], 100); ms.append((time.perf_counter() - t) * 1000)
    faiss.omp_set_num_threads(2)
    _, ids = index.search(queries, 100)
    np.save(f"{out}-{value}.npy", ids)
    results.append({"setting": None if value is None else f"{knob} {value}", "ids": f"{out}-{value}.npy",
                    "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))})
print(json.dumps({"rss_bytes": loaded, "results": results}))
"""


def gaussian_sampler(vectors: np.ndarray, seed: int, shrink: float = 0.05):
    """Draws from N(mean, cov) of ``vectors`` (covariance shrunk toward its diagonal)."""
    mean = vectors.mean(axis=0)
    cov = np.cov(vectors, rowvar=False)
    cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov))
    chol = np.linalg.cholesky(cov + 1e-8 * np.eye(len(cov)))
    rng = np.random.default_rng(seed)

    def draw(n: int) -> np.ndarray:
        return (mean + rng.standard_normal((n, len(mean))) @ chol.T).astype(np.float32)

    return draw


def mixture_sampler(vectors: np.ndarray, components: int, seed: int):
    """Draws from a Gaussian mixture fitted to ``vectors``: spherical k-means centroids (topics),
    weighted by their share, plus the covariance of the residuals.  One Gaussian has no topic
    structure at all, which makes nearest neighbours unrealistically hard to find; the mixture
    keeps it (nearest-neighbour cosine 0.91 against 0.93 for the real passages, 0.88 for one
    Gaussian, measured on 1,000 manual-page passages)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], components, niter=20, seed=seed, spherical=True)
    km.train(x)
    _, assign = km.index.search(x, 1)
    assign = assign[:, 0]
    residual = gaussian_sampler(x - km.centroids[assign], seed)
    weights = np.bincount(assign, minlength=components) / len(assign)
    rng = np.random.default_rng(seed + 1)

    def draw(n: int) -> np.ndarray:
        return (km.centroids[rng.choice(components, size=n, p=weights)] + residual(n)).astype(np.float32)

    return draw


def encode_cached(cache: Path, name: str, fn) -> np.ndarray:
    path = cache / f"{name}.npy"
    if path.exists():
        return np.load(path)
    cache.mkdir(parents=True, exist_ok=True)
    arr = fn()
    np.save(path, arr)
    return arr


def spaced(n: int, k: int) -> np.ndarray:
    """About ``k`` of ``range(n)``, evenly spaced (all of them when ``k`` is 0)."""
    return np.arange(0, n, max(1, n // k) if k else 1)


def real_vectors(args, cache: Path) -> dict:
    """Encoded real text: background passages, XQuAD paragraphs (plain + fused), questions
    (``--questions`` of them, evenly spaced, when given)."""
    from xqg_tevatron.corpus import Passage
    from xqg_tevatron.data.xquad import XquadFiles
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.indexing.dense_encoder import DenseEncoder, EncodeConfig
    from xqg_tevatron.generate.dictionary import DictionaryGeneratorConfig, DictionaryQueryGenerator
    from xqg_tevatron.languages import XQUAD_LANGUAGES
    from xqg_tevatron.words.lexicon import resolve_word_lists
    from xqg_tevatron.xqg.fusion import fuse_grouped

    files = XquadFiles(Path(args.xquad_dir))
    paragraphs = files.passages()
    questions = files.questions()
    questions = [questions[i] for i in spaced(len(questions), args.questions)]
    encoder = DenseEncoder(str(build_demo_encoder()), config=EncodeConfig(batch_size=64, p_max_len=256,
                                                                         show_progress=True))
    langs = list(XQUAD_LANGUAGES)
    generator = DictionaryQueryGenerator(DictionaryGeneratorConfig(
        n_per_lang=N_PER_LANG, word_lists=resolve_word_lists(["freedict"], langs)))

    def query_means(passages: list) -> tuple[np.ndarray, np.ndarray, list[int]]:
        per = [[q for lang in langs for q in generator.queries(p, lang)] for p in passages]
        flat = [q for qs in per for q in qs]
        vecs = encoder.encode(flat, is_query=True, max_len=32, desc="generated queries")
        sizes = [len(qs) for qs in per]
        return vecs, np.repeat(np.arange(len(per)), sizes), sizes

    background = man_page_passages(args.real)
    bg = encode_cached(cache, f"man_{args.real}", lambda: encoder.encode(background, is_query=False,
                                                                         max_len=128, desc="man pages"))
    para = encode_cached(cache, "xquad_paragraphs", lambda: encoder.encode(
        [p.full_text() for p in paragraphs], is_query=False, desc="XQuAD paragraphs"))
    qv = encode_cached(cache, "xquad_questions" + (f"_{len(questions)}" if args.questions else ""),
                       lambda: encoder.encode([q.question for q in questions], is_query=True, max_len=512,
                                              desc="questions"))

    m = min(300, args.real // 10)  # manual-page passages whose query means are fitted

    def fused_and_means():
        sample = [Passage(f"m{i}", t) for i, t in enumerate(background[:m])] + paragraphs
        vecs, owner, sizes = query_means(sample)
        sums = np.zeros((len(sample), vecs.shape[1]), np.float32)
        np.add.at(sums, owner, vecs)
        means = sums / np.maximum(np.array(sizes), 1)[:, None]
        fused = fuse_grouped(para, vecs[owner >= m], [s for s in sizes[m:]], ALPHA, "mean")
        return np.concatenate([fused, means[np.array(sizes) > 0]])

    both = encode_cached(cache, "xquad_fused_and_query_means" + ("" if m == 300 else f"_{m}"), fused_and_means)
    row = {p.docid: i for i, p in enumerate(paragraphs)}
    return {"background": bg, "plain": para, "fused": both[:len(paragraphs)], "query_means": both[len(paragraphs):],
            "questions": qv, "gold": np.array([row[q.docid] for q in questions]),
            "langs": np.array([q.lang for q in questions])}


def pack_vectors(pack: Path, n: int, cache: Path, questions: int = 0) -> dict:
    """Real e5 vectors of the pack's first ``n`` manual-page passages, its in-domain queries and
    the XQuAD paragraphs and questions (``questions`` > 0: that many of each query set, evenly
    spaced), encoded once on this machine's CPU and cached (outside the repo).  The same pack and
    code give the GPU run's rows (``benchmarks.bench_gpu``)."""
    path = cache / (f"pack-vectors-{n}.npz" if not questions else f"pack-vectors-{n}-q{questions}.npz")
    tokens = load_tokens(pack)
    if questions:
        for name, keyed in (("in_domain_queries", ()), ("xquad_questions", ("xquad_gold", "xquad_langs"))):
            pick = spaced(len(tokens[name]), questions)
            tokens[name] = [tokens[name][i] for i in pick]
            for key in keyed:
                tokens[key] = tokens[key][pick]
    if not path.exists():
        info = json.loads((pack / "pack.json").read_text())
        with scratch_dir(cache, "e5-rebuilt") as tmp:
            model = rebuild_model(pack, tmp / "e5")
            out = {}
            for name, is_query in (("corpus", False), ("in_domain_queries", True), ("xquad_paragraphs", False),
                                   ("xquad_questions", True)):
                ids = tokens[name][:n] if name == "corpus" else tokens[name]
                started = time.perf_counter()
                out[name] = encode_ids(model, ids, is_query, "cpu", "float32", info["pad_id"], batch_size=64)
                print(f"  encoded {len(ids):,} {name} in {time.perf_counter() - started:.0f} s", flush=True)
        np.savez(path, **out)
    vectors = dict(np.load(path))
    vectors["xquad_gold"], vectors["xquad_langs"] = tokens["xquad_gold"], tokens["xquad_langs"]
    return vectors


def real_cases(vectors: dict) -> tuple[np.ndarray, list]:
    """The corpus (manual-page passages, then the 120 XQuAD paragraphs) and the two query cases."""
    n = len(vectors["corpus"])
    corpus = np.concatenate([vectors["corpus"], vectors["xquad_paragraphs"]])
    return corpus, [Case("in-domain", vectors["in_domain_queries"], note="20-word openings of held-out manual-page passages"),
                    Case("island", vectors["xquad_questions"], gold=vectors["xquad_gold"] + n,
                         langs=vectors["xquad_langs"], note="XQuAD questions over their 120 paragraphs among them")]


def recommend(rows: list[dict], targets=(0.90, 0.95, 0.99)) -> list[str]:
    """Per case and recall target, the fastest configuration reaching it (from measured rows);
    where the case has gold passages, also keeping MRR@100 within 0.01 of flat's."""
    lines = []
    for case in sorted({r["case"] for r in rows}):
        flat = next(r for r in rows if r["case"] == case and r["index"] == "Flat")
        for target in targets:
            best = cheapest_meeting(rows, case, target)
            kept = " and MRR within 0.01 of flat" if "mrr@100" in flat else ""
            lines.append(f"  {case:<10} recall@100 >= {target}{kept}: " + (
                f"{best['index']} {best['setting']} ({best['p50_ms']:.2f} ms against flat {flat['p50_ms']:.2f} ms, "
                f"{best['bytes'] / 2**20:.0f} MB)" if best else "none of the swept settings; use Flat"))
    return lines


def vector_set(real: dict, kind: str, n: int, seed: int) -> np.ndarray:
    """``n`` rows: distractors, then the 120 real paragraphs (plain or fused) as the last rows."""
    draw_e = mixture_sampler(real["background"], 64, seed)
    draw_q = gaussian_sampler(real["query_means"], seed + 1) if kind == "fused" else None
    own = real[kind]
    out = np.empty((n, own.shape[1]), np.float32)
    for start in range(0, n - len(own), 100_000):
        stop = min(start + 100_000, n - len(own))
        e = draw_e(stop - start)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        out[start:stop] = e if draw_q is None else (1 - ALPHA) * e + ALPHA * draw_q(stop - start)
    out[n - len(own):] = own
    return out


CONFIGS = {  # build settings; the search knob is swept at search time (stored in the file for Pyserini)
    "flat": ({}, None, []),
    "hnsw": ({"hnsw_m": 32}, "efSearch", [128, 512]),
    "hnsw-sq8": ({"hnsw_m": 32}, "efSearch", [128, 512]),
    "ivf-pq": ({"pq_m": 192}, "nprobe", [64, 256, 1024]),  # trained on --pq-train-sample rows
    "ivf-sq8": ({}, "nprobe", [32, 64, 256, 1024]),  # 32: the plugin's default --ivf-nprobe
}


def measure(kind: str, x: np.ndarray, real: dict, types: list[str], args, work: Path) -> list[dict]:
    from xqg_tevatron.indexing.faiss_index import IndexConfig, write_index

    n, dim = x.shape
    gold_rows = real["gold"] + (n - len(real[kind]))
    queries = work / "queries.npy"
    np.save(queries, real["questions"])
    rng = np.random.default_rng(7)
    sample = np.sort(rng.choice(n, size=min(n, 100_000), replace=False))
    rows, exact = [], None
    for index_type in types:
        build, knob, values = CONFIGS[index_type]
        if index_type == "ivf-pq":
            build = dict(build, train_sample=args.pq_train_sample)
        config = IndexConfig(index_type=index_type, hnsw_ef_construction=args.hnsw_ef_construction, **build)

        def chunks():
            for start in range(0, n, 50_000):
                yield x[start:start + 50_000], [str(i) for i in range(start, min(start + 50_000, n))]

        out = work / f"{kind}-{index_type}"
        started = time.perf_counter()
        write_index(out, config, dim, n, chunks(), {"vector_mode": "fused"}, training_rows=lambda k: x[sample[:k]])
        build_s = time.perf_counter() - started
        proc = subprocess.run([sys.executable, "-c", TIMED_SCRIPT, str(out / "index"), str(queries),
                               str(work / f"{kind}-{index_type}-ids"), str(args.timed), str(knob),
                               *map(str, values)], capture_output=True, text=True, check=True)
        measured = json.loads(proc.stdout.strip().splitlines()[-1])
        for result in measured["results"]:
            ids = np.load(result["ids"])
            if index_type == "flat":
                exact = ids
            row = {"vectors": kind, "index": index_type, "setting": result["setting"] or "-", "build_s": build_s,
                   "disk_bytes": (out / "index").stat().st_size, "rss_bytes": measured["rss_bytes"],
                   "p50_ms": result["p50_ms"], "p95_ms": result["p95_ms"],
                   "recall@10": recall(ids, exact, 10), "recall@100": recall(ids, exact, 100),
                   "mrr@100": mrr_at_100(ids, gold_rows, real["langs"])}
            rows.append(row)
            print(f"  {kind:<6}{index_type:<10}{row['setting']:<13} built in {build_s:7.1f} s, p50 "
                  f"{row['p50_ms']:.2f} ms, R@100 {row['recall@100']:.3f}, MRR@100 {row['mrr@100']:.4f}", flush=True)
        import shutil

        shutil.rmtree(out)  # inside the run's scratch folder: gone with it if the run stops first
    return rows


def project(rows: list[dict], n: int) -> list[str]:
    """Projection to 18.2M passages from per-vector costs measured here (labelled as such):
    bytes and memory scale with rows (the vector part x2 for 768 dims, graph links and ids not);
    flat latency scales with rows; IVF latency with the rows scanned at the same nprobe (nlist ~
    4 sqrt(N), so sqrt(N); keeping the recall measured here needs nprobe to grow with nlist, and
    then latency scales with N); HNSW latency with log(N)."""
    big = 18_200_000
    lines = [f"PROJECTION to {big:,} passages (not measured: per-vector costs above scaled)",
             f"{'index':<22}{'disk GB x384':>14}{'disk GB x768':>14}{'p50 ms x384':>13}{'build h x384':>14}"]
    for r in rows:
        if r["vectors"] != "plain":
            continue
        label = f"{r['index']} {r['setting']}".replace(" -", "")
        per_vec = r["disk_bytes"] / n
        code = {"flat": 4 * 384, "hnsw": 4 * 384, "hnsw-sq8": 384, "ivf-pq": 192, "ivf-sq8": 384}[r["index"]]
        per_vec_768 = per_vec + code  # the vector part doubles, links / ids do not
        scale = {"flat": big / n, "hnsw": np.log(big) / np.log(n)}.get(r["index"].split("-")[0],
                                                                           np.sqrt(big / n))
        if r["index"] == "hnsw-sq8":
            scale = np.log(big) / np.log(n)
        build = r["build_s"] * big / n * (np.log(big) / np.log(n) if r["index"].startswith("hnsw") else 1.0)
        lines.append(f"{label:<22}{per_vec * big / 1e9:>14.1f}{per_vec_768 * big / 1e9:>14.1f}"
                     f"{r['p50_ms'] * scale:>13.1f}{build / 3600:>14.2f}")
    return lines


def real_part(args) -> list[dict]:
    """Both query cases on real vectors only (no mixture rows): the sweep of ``index_sweep``."""
    pack = Path(args.pack)
    if not (pack / "pack.json").exists():
        build_pack(pack, args.pack_passages, args.pack_held_out, Path(args.xquad_dir),
                   reference=min(200, args.pack_passages // 8))
    cache = pack.parent
    vectors = pack_vectors(pack, args.real_passages, cache, args.questions)
    corpus, cases = real_cases(vectors)
    print(f"\nreal vectors (multilingual-e5-small, encoded here): {len(vectors['corpus']):,} manual-page passages + "
          f"{len(vectors['xquad_paragraphs'])} XQuAD paragraphs; cases: "
          + "; ".join(f"{c.name}: {len(c.queries):,} queries, {c.note}" for c in cases), flush=True)
    print(HEAD, flush=True)
    rows = sweep(corpus, cases, threads=os.cpu_count() or 1, timed=args.timed)
    print("\nfastest setting per case and recall target (real vectors, 1 thread):")
    print("\n".join(recommend(rows)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors per index (real paragraphs included)")
    parser.add_argument("--real", type=int, default=5_000, help="manual-page passages encoded to fit distractors")
    parser.add_argument("--types", nargs="+", default=list(CONFIGS))
    parser.add_argument("--timed", type=int, default=200, help="queries timed one at a time")
    parser.add_argument("--hnsw_ef_construction", type=int, default=64)
    parser.add_argument("--pq-train-sample", type=int, default=50_000,
                        help="rows ivf-pq's lists and 192 sub-quantisers are trained on")
    parser.add_argument("--xquad_dir", default=str(ROOT.parent / "shared" / "data" / "xquad-dev"))
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "bench-index-scale"))
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--parts", nargs="+", choices=["real", "mixture"], default=["real", "mixture"],
                        help="real: both query cases on real vectors; mixture: the island case at --n")
    parser.add_argument("--real-passages", type=int, default=50_000,
                        help="real: manual-page passages encoded (from the e5 pack; cached outside the repo)")
    parser.add_argument("--pack", default=str(Path.home() / ".cache" / "xqg-bench" / "e5-pack-200000"),
                        help="real: the e5 pack (built here if missing: benchmarks.common.e5_pack)")
    parser.add_argument("--pack-passages", type=int, default=200_000, help="real: corpus of a pack built here")
    parser.add_argument("--pack-held-out", type=int, default=10_000,
                        help="real: held-out passages (in-domain queries) of a pack built here")
    parser.add_argument("--questions", type=int, default=0,
                        help="search only this many of each query set, evenly spaced (0: all)")
    args = quick.parse_args(parser, argv, QUICK)
    if args.quick and args.json:
        parser.error("--quick writes no result file: drop --json")
    real_rows = []
    if "real" in args.parts:
        record = BenchmarkRecord(f"bench_index_scale_real_{args.real_passages}", argv, args.quick,
                                 module="bench_index_scale")
        real_rows = real_part(args)
        record.write({"part": "real", "passages": args.real_passages, "rows": real_rows})
        if args.json:
            Path(args.json).write_text(json.dumps({"real": real_rows}, indent=2))
    if "mixture" not in args.parts:
        return 0
    from xqg_tevatron.indexing.faiss_index import ivf_list_count

    record = BenchmarkRecord(f"bench_index_scale_mixture_{args.n}", argv, args.quick, module="bench_index_scale")
    if "flat" not in args.types:
        args.types = ["flat", *args.types]
    args.types = ["flat", *[t for t in args.types if t != "flat"]]
    started = time.perf_counter()
    real = real_vectors(args, Path(args.cache))
    print(f"real vectors: {len(real['background'])} manual-page passages, {len(real['plain'])} XQuAD paragraphs, "
          f"{len(real['questions'])} questions, {len(real['query_means'])} passages' query means", flush=True)
    rows = []
    with scratch_dir(Path(args.cache), "indexes") as tmp:
        for kind in ("plain", "fused"):
            x = vector_set(real, kind, args.n, seed=11)
            rows += measure(kind, x, real, args.types, args, tmp)
            del x
    flat = {r["vectors"]: r for r in rows if r["index"] == "flat"}
    print(f"\nindex scale: {args.n:,} x {real['questions'].shape[1]} vectors ({len(real['plain'])} real XQuAD paragraphs + "
          f"{args.n - len(real['plain']):,} distractors), {len(real['questions'])} real questions, k=100, "
          "search 1 thread")
    head = (f"{'vectors':<8}{'index':<10}{'search':<13}{'R@10':>7}{'R@100':>7}{'MRR@100':>9}{'dMRR':>8}{'p50 ms':>8}{'p95 ms':>8}"
            f"{'x flat':>8}{'disk MB':>9}{'RSS MB':>8}{'mem/flat':>9}{'build s':>9}")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        f = flat[r["vectors"]]
        print(f"{r['vectors']:<8}{r['index']:<10}{r['setting']:<13}{r['recall@10']:>7.3f}{r['recall@100']:>7.3f}{r['mrr@100']:>9.4f}"
              f"{r['mrr@100'] - f['mrr@100']:>+8.4f}{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}"
              f"{r['p50_ms'] / f['p50_ms']:>8.3f}{r['disk_bytes'] / 2**20:>9.0f}{r['rss_bytes'] / 2**20:>8.0f}"
              f"{r['rss_bytes'] / f['rss_bytes']:>9.3f}{r['build_s']:>9.1f}")
    def pick(kind: str, r: dict) -> dict:
        return next(x for x in rows if x["vectors"] == kind and x["index"] == r["index"] and x["setting"] == r["setting"])

    print("\nfused minus plain recall@100 under the same index and setting: " + ", ".join(
        f"{r['index']} {r['setting']} {pick('fused', r)['recall@100'] - r['recall@100']:+.3f}"
        for r in rows if r["vectors"] == "plain" and r["index"] != "flat"))
    print()
    print("\n".join(project(rows, args.n)))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    record.write({"part": "mixture", "vectors": args.n, "real_fitted": args.real, "timed_queries": args.timed,
                  "hnsw_ef_construction": args.hnsw_ef_construction, "seconds": time.perf_counter() - started,
                  "ivf_lists": ivf_list_count(args.n), "rows": rows})
    if args.json:
        Path(args.json).write_text(json.dumps({"real": real_rows, "mixture": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
