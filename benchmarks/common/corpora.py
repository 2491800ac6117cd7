"""Real English passages for the benchmarks: Debian's manual pages under /usr/share/man, roff
markup stripped, cut into fixed-length passages in a fixed order; on a machine without them, the
packaged XQuAD dev half's English paragraphs cut the same way."""
from __future__ import annotations

import gzip
import re
from pathlib import Path


def man_page_passages(limit: int, words: int = 100, sections: tuple[str, ...] = ("man1",)) -> list[str]:
    """Real English prose: Debian's manual pages (section 1 unless told), roff markup stripped,
    cut into ``words``-word passages, in a fixed order."""
    out: list[str] = []
    paths = [p for section in sections for p in sorted(Path("/usr/share/man", section).glob("*.gz"))]
    for path in paths:
        try:
            raw = gzip.open(path, "rt", encoding="utf-8", errors="ignore").read()
        except (OSError, EOFError):
            continue
        lines = [ln for ln in raw.splitlines() if ln and not ln.startswith((".", "'", '\\"'))]
        text = re.sub(r"\\f[BIRP]|\\\(..|\\[-&e|^]|\\s[-+]?\d", "", " ".join(lines))
        tokens = [t for t in text.split() if re.search(r"[A-Za-z]", t)]
        for start in range(0, len(tokens) - words + 1, words):
            out.append(" ".join(tokens[start:start + words]))
            if len(out) >= limit:
                return out
    if len(out) < limit:
        raise SystemExit(f"only {len(out)} manual-page passages found (need {limit}); lower --real")
    return out


def english_passages(limit: int, words: int = 100, sections: tuple[str, ...] = ("man1",)) -> list[str]:
    """Manual-page passages where the machine has them; else the packaged XQuAD dev half's English
    paragraphs cut the same way (fewer, repeated in order up to ``limit``): the dry runs work on a
    machine without manual pages."""
    if any(Path("/usr/share/man", s).glob("*.gz") for s in sections):
        return man_page_passages(limit, words, sections)
    from xqg_tevatron.data.xquad import PACKAGED_DEV_HALF, XquadFiles

    tokens = " ".join(p.full_text() for p in XquadFiles(PACKAGED_DEV_HALF).passages()).split()
    cut = [" ".join(tokens[i:i + words]) for i in range(0, len(tokens) - words + 1, words)]
    return [cut[i % len(cut)] for i in range(limit)]
