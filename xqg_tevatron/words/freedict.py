"""FreeDict English->X word lists wherever the plugin runs: Debian's installed packages when
present, else the same release fetched once into the cache, pinned and checked by sha256.

Why: the recommended offline recipe was chosen with FreeDict + CLDR; with CLDR names alone it
scores below plain on XQuAD, so a user without root, on macOS or in a plain ``pip install``
must still get the dictionaries.  FreeDict's own release host (download.freedict.org) is not
reachable from every network, Debian's archive mirrors are (they serve the package
registries), and Debian's ``dict-freedict-eng-*`` packages hold FreeDict's dictd files
unchanged.  So the pinned release is FreeDict 2022.04.21 (2022.12.07 WikDict for fi, ja) as
Debian bookworm ships it: each ``.deb`` is fetched from a Debian mirror, checked against its
size and sha256 (the values of Debian's signed package index), and its
``usr/share/dictd/freedict-eng-XXX.{index,dict.dz}`` are unpacked into
``<cache>/freedict/<release>/`` with a record written last.  A damaged or foreign download is
refused; a cache slot whose files no longer match its record is fetched again.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import lzma
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional

from xqg_tevatron.runtime.atomic_io import atomic_write_bytes, atomic_write_text, sha256_file

logger = logging.getLogger(__name__)
DEBIAN_DICTD = Path("/usr/share/dictd")
DEFAULT_MIRROR = "https://deb.debian.org/debian/"
ISO639_3 = {"ar": "ara", "de": "deu", "el": "ell", "es": "spa", "fi": "fin", "hi": "hin", "ja": "jpn",
            "ru": "rus", "tr": "tur"}  # FreeDict has no eng->bn, ko, ro, te, th, vi, zh


@dataclass(frozen=True)
class Package:
    """One pinned Debian package of a FreeDict dictionary (from bookworm's Packages index)."""

    path: str  # below the mirror root
    size: int
    sha256: str

    @property
    def release(self) -> str:
        return self.path.rsplit("_", 2)[1]


PACKAGES: dict[str, Package] = {
    "ar": Package("pool/main/f/freedict/dict-freedict-eng-ara_2022.04.21-1_all.deb", 1632568,
                  "a4528bf4f3a340f71d229526cd7e1853f1bc0477da4c0b7944bdb9595c7f23d3"),
    "de": Package("pool/main/f/freedict/dict-freedict-eng-deu_2022.04.21-1_all.deb", 19171420,
                  "e85da1519a4d5efdbd7a5a169e828b97920f91e899f45d56fd5b2266a05b5906"),
    "el": Package("pool/main/f/freedict/dict-freedict-eng-ell_2022.04.21-1_all.deb", 597404,
                  "b6a7d3154f93fc26554d2e3fd2529b98bfc67d17020a4ff8b2fe804373c83ecc"),
    "es": Package("pool/main/f/freedict/dict-freedict-eng-spa_2022.04.21-1_all.deb", 136204,
                  "1b6a624048eddad805dcf0473a74e53420fbe391e7f2638090bddf625e9ad2b6"),
    "hi": Package("pool/main/f/freedict/dict-freedict-eng-hin_2022.04.21-1_all.deb", 1420520,
                  "15b21e02e94b1a3a31a0b7a298687bee518797586a70745655cf5cefd3721c67"),
    "ru": Package("pool/main/f/freedict/dict-freedict-eng-rus_2022.04.21-1_all.deb", 59552,
                  "0683c8eda017ff1082815c3bd918a7c9f1516b18621fcdf0ef46a9a1b9d61ea3"),
    "tr": Package("pool/main/f/freedict/dict-freedict-eng-tur_2022.04.21-1_all.deb", 2205568,
                  "dd18d6682827301cb7131fda95728dd4c5ec3d73da6dab1f98619310608fbd99"),
    "fi": Package("pool/main/f/freedict-wikdict/dict-freedict-eng-fin_2022.12.07-2_all.deb", 3626152,
                  "037351c22b6f803358517d0293bab9619f6bef964e22cab68f63a174b5d22ebe"),
    "ja": Package("pool/main/f/freedict-wikdict/dict-freedict-eng-jpn_2022.12.07-2_all.deb", 1742968,
                  "3d06a55a8fa16a529b9f95b8d2fe3f7163700cea03aa7ee5b53c40dcdd6c6868"),
}


@dataclass
class WordLists:
    """``index[lang]``: the dictd ``.index`` of each language found; ``source``: where they came
    from, in words, for the demo and the logs."""

    index: dict[str, Path]
    source: str
    missing: list[str]


def debian_installed(lang: str, root: Path = DEBIAN_DICTD) -> Optional[Path]:
    code = ISO639_3.get(lang)
    path = root / f"freedict-eng-{code}.index"
    return path if code and path.is_file() and path.with_suffix(".dict.dz").is_file() else None


def unpack_deb(data: bytes, member_prefix: str) -> dict[str, bytes]:
    """Files of a ``.deb`` (an ``ar`` archive holding ``data.tar.{xz,gz,zst}``) whose names
    start with ``member_prefix``: ``{file name: bytes}``."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package (no ar header)")
    pos, payload = 8, None
    while pos + 60 <= len(data):
        name = data[pos:pos + 16].decode("ascii").strip().rstrip("/")
        size = int(data[pos + 48:pos + 58].decode("ascii").strip())
        body = data[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            payload = (name, body)
        pos += 60 + size + (size % 2)
    if payload is None:
        raise ValueError("Debian package without data.tar")
    name, body = payload
    if name.endswith(".xz"):
        body = lzma.decompress(body)
    elif name.endswith(".gz"):
        import gzip

        body = gzip.decompress(body)
    elif not name.endswith(".tar"):
        raise ValueError(f"unsupported payload {name}")
    out = {}
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        for member in tar.getmembers():
            clean = member.name.lstrip("./")
            if member.isfile() and clean.startswith(member_prefix):
                out[Path(clean).name] = tar.extractfile(member).read()
    return out


def fetch_package(lang: str, folder: Path, mirror: str = DEFAULT_MIRROR,
                  packages: Mapping[str, Package] = PACKAGES, timeout: float = 30.0, fetch: bool = True) -> Path:
    """The ``.index`` of ``lang``'s pinned package, unpacked into ``folder`` (fetched only when
    ``folder`` lacks a slot whose files match its record; without ``fetch`` such a slot raises
    ``ConnectionError`` and the mirror is not asked)."""
    package = packages[lang]
    code = ISO639_3[lang]
    index, dictionary = folder / f"freedict-eng-{code}.index", folder / f"freedict-eng-{code}.dict.dz"
    record = folder / f"freedict-eng-{code}.json"
    if _slot_is_valid(record, package, [index, dictionary]):
        return index
    url = mirror.rstrip("/") + "/" + package.path
    if not fetch:
        raise ConnectionError(f"{url}: not asked")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except OSError as exc:
        raise ConnectionError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != package.size or digest != package.sha256:
        raise ValueError(f"{url}: {len(data)} bytes with sha256 {digest[:12]}..., not the pinned package "
                         f"({package.size} bytes, {package.sha256[:12]}...); refused")
    files = unpack_deb(data, "usr/share/dictd/")
    for target in (index, dictionary):
        if target.name not in files:
            raise ValueError(f"{url}: the package lacks {target.name}")
    folder.mkdir(parents=True, exist_ok=True)
    record.unlink(missing_ok=True)  # written last: a slot without it is fetched again
    for target in (index, dictionary):
        atomic_write_bytes(target, files[target.name])
    atomic_write_text(record, json.dumps({"package": package.path, "sha256": package.sha256,
                                          "files": {t.name: sha256_file(t) for t in (index, dictionary)}}, indent=2))
    return index


def _slot_is_valid(record: Path, package: Package, files: list[Path]) -> bool:
    if not record.is_file() or not all(f.is_file() for f in files):
        return False
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded.get("sha256") == package.sha256 and all(
        recorded.get("files", {}).get(f.name) == sha256_file(f) for f in files)


def freedict_word_lists(languages: Iterable[str], cache_dir: Optional[str | Path] = None,
                        mirror: str = DEFAULT_MIRROR, fetch: bool = True,
                        packages: Mapping[str, Package] = PACKAGES, debian_root: Path = DEBIAN_DICTD) -> WordLists:
    """FreeDict English->X dictionaries for ``languages``: Debian's installed ones first, else
    the pinned release in the cache (fetched when ``fetch``).  Languages FreeDict lacks, or that
    could not be fetched, are listed in ``missing`` (they keep CLDR names only)."""
    from xqg_tevatron.runtime.workdir import default_cache_dir

    found, sources, missing = {}, set(), []
    reachable = fetch  # after one failed connection the mirror is not asked again
    for lang in languages:
        installed = debian_installed(lang, debian_root)
        if installed:
            found[lang] = installed
            sources.add(f"Debian packages ({debian_root})")
            continue
        if lang not in packages:
            missing.append(lang)
            continue
        release = packages[lang].release
        folder = default_cache_dir(cache_dir) / "freedict" / release
        try:
            found[lang] = fetch_package(lang, folder, mirror, packages, fetch=reachable)
            sources.add(f"FreeDict {release} release files (Debian's packages, sha256-pinned) in {folder.parent}")
        except ConnectionError as exc:
            if reachable:
                logger.warning("FreeDict not fetched (%s); %s keeps CLDR names only", exc, lang)
            reachable = False
            missing.append(lang)
    source = "; ".join(sorted(sources)) if sources else "none (CLDR names only)"
    return WordLists(found, source, missing)
