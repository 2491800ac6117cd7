"""Bilingual English -> target word lists, shared by the offline query generator and code-switching.

Sources, all offline:
  * ``cldr``: the Unicode CLDR display names bundled with ``babel`` (territories, languages,
    currencies, scripts) in every XOR-TyDi query language;
  * MUSE-style text files, one ``english<space or tab>target`` pair per line;
  * FreeDict dictd dictionaries (``.index`` + ``.dict``/``.dict.dz``, as in Debian's
    ``freedict-eng-*`` packages): the first translation of each English headword.
Lookups are case-insensitive and match multi-word phrases longest-first.
"""
from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from xqg_tevatron.corpus import CorpusFormatError, text_lines

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)

# The one English stop list.  Code-switching counts content tokens with it; the dictionary
# generator never translates a lone function word (a full dictionary such as FreeDict translates
# them too, and a passage's most frequent "terms" would be "the", "of", "also").
ENGLISH_STOPWORDS = frozenset("""a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from further had has have
having he her here hers him his how i if in into is it its itself just me more most my no nor not now of off on once
only or other our out over own same she should so some such than that the their them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you
your one two three four five six seven eight nine ten many much may might must shall us via per within without
upon among across around along however although though""".split())


@dataclass
class Lexicon:
    """English phrase (lower-cased) -> translation, for one target language."""

    lang: str
    entries: dict[str, str] = field(default_factory=dict)
    max_words: int = 1

    def add(self, english: str, target: str) -> None:
        key = " ".join(english.lower().split())
        target = target.strip()
        if not key or not target or key in self.entries:
            return
        self.entries[key] = target
        self.max_words = max(self.max_words, len(key.split()))

    def update(self, pairs: Iterable[tuple[str, str]]) -> "Lexicon":
        for en, tgt in pairs:
            self.add(en, tgt)
        return self

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, phrase: str) -> bool:
        return " ".join(phrase.lower().split()) in self.entries

    def translate(self, phrase: str) -> Optional[str]:
        return self.entries.get(" ".join(phrase.lower().split()))

    def match(self, tokens: list[str]) -> Iterator[tuple[int, int, str]]:
        """Longest-first phrase matches over ``tokens``: ``(start, end, translation)``, non-overlapping."""
        i = 0
        lowered = [t.lower() for t in tokens]
        while i < len(tokens):
            for n in range(min(self.max_words, len(tokens) - i), 0, -1):
                hit = self.entries.get(" ".join(lowered[i:i + n]))
                if hit is not None:
                    yield i, i + n, hit
                    i += n
                    break
            else:
                i += 1


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def cldr_pairs(lang: str) -> Iterator[tuple[str, str]]:
    """English -> ``lang`` display names from CLDR (babel)."""
    from babel import Locale

    en, tgt = Locale("en"), Locale.parse(lang)
    for table in ("territories", "languages", "currencies", "scripts"):
        src, dst = getattr(en, table), getattr(tgt, table)
        for code, name in src.items():
            if code in dst:
                yield name, dst[code]


def muse_pairs(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Pairs from a MUSE-style file (``src tgt`` per line; tab separates multi-word entries)."""
    for _, line in text_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split(None, 1)
        if len(parts) == 2:
            yield parts[0], parts[1]


def _b64_int(s: str) -> int:
    n = 0
    for ch in s:
        n = n * 64 + _B64.index(ch)
    return n


def dictd_pairs(index_path: str | os.PathLike, dict_path: Optional[str | os.PathLike] = None) -> Iterator[tuple[str, str]]:
    """First translation of each headword of a dictd dictionary (FreeDict eng-xxx)."""
    index_path = Path(index_path)
    dict_path = Path(dict_path) if dict_path is not None else _dict_file(index_path)
    opener = gzip.open if dict_path.suffix == ".dz" else open
    with opener(dict_path, "rb") as fh:
        data = fh.read()
    for _, line in text_lines(index_path):
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith("00-database") or parts[0].startswith("00database"):
            continue
        try:
            head, off, length = parts[0], _b64_int(parts[1]), _b64_int(parts[2])
        except ValueError:
            continue  # not a dictd index line
        body = data[off:off + length].decode("utf-8", errors="replace").splitlines()
        for raw in body[1:]:
            cand = re.sub(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[^/]*/", "", raw).strip()
            cand = re.split(r"[;,]", cand)[0].strip().lstrip("0123456789. ").strip()
            if cand and not cand.lower().startswith(("see ", "synonym", "note")):
                yield head, cand
                break


def resolve_word_lists(items: Iterable[str], languages: Iterable[str],
                       cache_dir: Optional[str | Path] = None) -> dict[str, list[str]]:
    """``LANG=PATH`` items (and ``freedict``: FreeDict eng-xxx of ``languages``, Debian's installed
    packages or the pinned release fetched once into the cache, :mod:`xqg_tevatron.words.freedict`)
    as ``lang -> [paths]``."""
    out: dict[str, list[str]] = {}
    for item in items:
        if item == "freedict":
            from xqg_tevatron.words.freedict import freedict_word_lists

            for lang, path in freedict_word_lists(list(languages), cache_dir).index.items():
                out.setdefault(lang, []).append(str(path))
            continue
        lang, path = _lang_path(item)
        out.setdefault(lang, []).append(path)
    return out


def _lang_path(item: str) -> tuple[str, str]:
    lang, sep, path = item.partition("=")
    if not sep:
        raise ValueError(f"word lists are LANG=PATH or 'freedict', got {item!r}")
    check_word_list(path)
    return lang, path


def word_lists_asked(items: Iterable[str]) -> list:
    """``--word_lists`` as a command records what it was asked: each ``LANG=PATH`` checked (it
    must hold entries) and named with the sha256 of its files' content, so an edited list is a
    different request; ``freedict`` is a pinned release, named as is.  No fetching, no loading:
    called before anything is locked or loaded."""
    from xqg_tevatron.runtime.atomic_io import sha256_file

    asked = []
    for item in items:
        if item == "freedict":
            asked.append(item)
            continue
        lang, path = _lang_path(item)
        files = [Path(path)] + ([_dict_file(Path(path))] if str(path).endswith(".index") else [])
        asked.append([item, [sha256_file(f) for f in files]])
    return asked


def _dict_file(index_path: Path) -> Path:
    stem = str(index_path)[: -len(".index")]
    found = next((Path(stem + s) for s in (".dict.dz", ".dict") if Path(stem + s).exists()), None)
    if found is None:
        raise FileNotFoundError(f"no .dict or .dict.dz beside {index_path}")
    return found


def word_list_pairs(src: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """The ``(english, target)`` pairs of one word-list file: a dictd ``.index``, else MUSE-style."""
    if str(src).endswith(".index"):
        return dictd_pairs(src)
    if not Path(src).is_file():
        raise FileNotFoundError(f"word list not found: {src}")
    return muse_pairs(src)


def check_word_list(src: str | os.PathLike) -> None:
    """A word list given by the user must hold at least one usable entry (read up to the first):
    a file of anything else would give every passage an empty query list, silently."""
    if next(iter(word_list_pairs(src)), None) is None:
        raise CorpusFormatError(f"{src}: no usable word-list entries (expected 'english<TAB>translation' lines, "
                                "MUSE-style, or a dictd .index beside its .dict/.dict.dz)")


def load_lexicon(lang: str, sources: Iterable[str] = ("cldr",)) -> Lexicon:
    """A lexicon for ``lang`` from ``sources``: ``cldr``, a MUSE file path, or a dictd ``.index`` path.
    Earlier sources win on conflicts."""
    lex = Lexicon(lang)
    for src in sources:
        if src == "cldr":
            lex.update(cldr_pairs(lang))
        else:
            lex.update(word_list_pairs(src))
    return lex
