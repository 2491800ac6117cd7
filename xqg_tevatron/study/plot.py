"""The study's figure: effectiveness vs per-query latency (Pareto front), and effectiveness vs
the lexical-overlap ratio of the training queries."""
from __future__ import annotations

from pathlib import Path

MARKERS = {"fused": "o", "multi": "s", "translate": "^"}


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by any other (lower latency AND higher effectiveness is better)."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def plot(rows: list[dict], path: Path, metric: str = "MRR") -> Path:
    """Draw the two panels into ``path``.  A bare ``Figure`` (no pyplot): no backend is chosen for
    the process and nothing global is left behind; matplotlib is imported only here."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.8))
    ax1, ax2 = fig.subplots(1, 2)
    models = sorted({r["model"] for r in rows}, key=lambda m: (m != "base", m))
    colors = {m: colormaps["viridis"](i / max(1, len(models) - 1)) for i, m in enumerate(models)}
    for r in rows:
        label = f"{r['model']} {r['mode']}" + (f" a={r['alpha']:g}" if r["mode"] == "fused" and r["alpha"] else "")
        ax1.scatter(r["p50_ms"], r[metric], marker=MARKERS.get(r["mode"], "x"), color=colors[r["model"]], s=50)
        ax1.annotate(label, (r["p50_ms"], r[metric]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    front = pareto_front([(r["p50_ms"], r[metric]) for r in rows])
    ax1.plot([p[0] for p in front], [p[1] for p in front], "--", color="crimson", label="Pareto front")
    ax1.set_xlabel("per-query latency p50 (ms): encode + FAISS search via Pyserini")
    ax1.set_ylabel(metric)
    ax1.set_title("effectiveness vs inference latency")
    ax1.legend(loc="lower right", fontsize=8)
    for m in models:
        pts = [r for r in rows if r["model"] == m and r["lexical_overlap"] is not None]
        for mode, marker in MARKERS.items():
            sel = [r for r in pts if r["mode"] == mode]
            if sel:
                ax2.scatter([r["lexical_overlap"] for r in sel], [r[metric] for r in sel], marker=marker,
                            color=colors[m], s=50, label=f"{m} {mode}")
    ax2.set_xlabel("lexical overlap of training queries with their positives (achieved)")
    ax2.set_ylabel(metric)
    ax2.set_title("effectiveness vs lexical-overlap ratio")
    ax2.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
