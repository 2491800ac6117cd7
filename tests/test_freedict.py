"""FreeDict word lists without root: a pinned Debian package fetched once from a mirror, checked
by size + sha256, unpacked into the cache; refused when tampered; fetched again when the cache
is damaged.  The mirror is a local copy served over loopback inside a network namespace
(``../shared/tools/netns-run``'s recipe), so nothing leaves the machine."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import tarfile
import textwrap
from pathlib import Path

import pytest

from helpers import cli_in_netns, netns_available
from xqg_tevatron.words.freedict import PACKAGES, Package, unpack_deb

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(n: int) -> str:
    out = ""
    while True:
        out = B64[n % 64] + out
        n //= 64
        if not n:
            return out


def dictd(entries: dict[str, str]) -> tuple[bytes, bytes]:
    """A dictd dictionary (``.index``, ``.dict.dz``) with one translation per headword."""
    body, index = b"", []
    for head, target in entries.items():
        article = f"{head}\n{target}\n".encode()
        index.append(f"{head}\t{b64(len(body))}\t{b64(len(article))}\n")
        body += article
    return "".join(index).encode(), gzip.compress(body)


def deb(files: dict[str, bytes]) -> bytes:
    """A Debian package: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    def tar_xz(members: dict[str, bytes]) -> bytes:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return lzma.compress(raw.getvalue())

    out = b"!<arch>\n"
    for name, data in (("debian-binary", b"2.0\n"), ("control.tar.xz", tar_xz({"./control": b"Package: x\n"})),
                       ("data.tar.xz", tar_xz(files))):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    return out


@pytest.fixture
def mirror(tmp_path) -> tuple[Path, dict]:
    index, dict_dz = dictd({"water": "вода", "currency": "валюта", "capital": "столица"})
    package = deb({"./usr/share/dictd/freedict-eng-rus.index": index,
                   "./usr/share/dictd/freedict-eng-rus.dict.dz": dict_dz,
                   "./usr/share/doc/dict-freedict-eng-rus/copyright": b"GPL"})
    path = "pool/main/f/freedict/dict-freedict-eng-rus_2099.01.01-1_all.deb"
    root = tmp_path / "mirror"
    (root / path).parent.mkdir(parents=True)
    (root / path).write_bytes(package)
    return root, {"path": path, "size": len(package), "sha256": hashlib.sha256(package).hexdigest()}


SERVE_AND_FETCH = textwrap.dedent("""
    import functools, http.server, json, sys, threading
    from pathlib import Path
    from xqg_tevatron.words.freedict import Package, freedict_word_lists
    from xqg_tevatron.words.lexicon import load_lexicon
    root, pin, cache, empty, serve = sys.argv[1:6]
    pins = {"ru": Package(**json.loads(pin))}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=root))
    server.RequestHandlerClass.log_message = lambda *a: None
    if serve == "serve":
        threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        got = freedict_word_lists(["ru", "bn"], cache, mirror=mirror, packages=pins, debian_root=Path(empty))
        lex = load_lexicon("ru", [str(got.index["ru"])]) if "ru" in got.index else None
        print(json.dumps({"index": {k: str(v) for k, v in got.index.items()}, "missing": got.missing,
                          "source": got.source, "currency": lex.translate("currency") if lex else None}))
    except ValueError as exc:
        print(json.dumps({"refused": str(exc)}))
""")


def fetch(mirror_root: Path, pin: dict, cache: Path, tmp_path: Path, serve: bool = True) -> dict:
    script = SERVE_AND_FETCH + "\n"
    proc = cli_in_netns("-c", f"import sys; sys.argv = ['x', {str(mirror_root)!r}, {json.dumps(pin)!r}, "
                        f"{str(cache)!r}, {str(tmp_path / 'no-debian')!r}, {'serve' if serve else 'down'!r}]\n" + script,
                        timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def needs_netns():
    if not netns_available():
        pytest.skip("needs unshare --net (root)")


@pytest.mark.process
def test_fetched_once_verified_and_unpacked_into_the_cache(tmp_path, mirror):
    root, pin = mirror
    cache = tmp_path / "cache"
    first = fetch(root, pin, cache, tmp_path)
    assert first["currency"] == "валюта" and first["missing"] == ["bn"]  # FreeDict has no eng-ben
    assert "FreeDict 2099.01.01-1 release files" in first["source"] and "sha256-pinned" in first["source"]
    slot = cache / "freedict" / "2099.01.01-1"
    assert sorted(p.name for p in slot.iterdir()) == ["freedict-eng-rus.dict.dz", "freedict-eng-rus.index",
                                                      "freedict-eng-rus.json"]
    # the mirror is down now: the cached slot is used, nothing is fetched
    second = fetch(root, pin, cache, tmp_path, serve=False)
    assert second["index"] == first["index"] and second["currency"] == "валюта"
    # a damaged cached file is noticed (its sha256 differs from the record) and fetched again
    (slot / "freedict-eng-rus.index").write_text("water\tA\tB\n")
    third = fetch(root, pin, cache, tmp_path)
    assert third["currency"] == "валюта"
    # ... and with the mirror down, a damaged slot leaves the language to CLDR, said in `missing`
    (slot / "freedict-eng-rus.index").write_text("water\tA\tB\n")
    down = fetch(root, pin, cache, tmp_path, serve=False)
    assert "ru" in down["missing"] and down["source"] == "none (CLDR names only)"


@pytest.mark.process
def test_a_tampered_package_is_refused_and_nothing_is_cached(tmp_path, mirror):
    root, pin = mirror
    package = root / pin["path"]
    package.write_bytes(package.read_bytes()[:-1] + b"X")  # same size, other bytes
    got = fetch(root, pin, tmp_path / "cache", tmp_path)
    assert "not the pinned package" in got["refused"] and "refused" in got["refused"]
    assert not (tmp_path / "cache" / "freedict" / "2099.01.01-1" / "freedict-eng-rus.index").exists()


@pytest.mark.process
def test_unpack_reads_debian_packages_and_the_pins_name_real_releases():
    index, dict_dz = dictd({"a": "b"})
    files = unpack_deb(deb({"./usr/share/dictd/x.index": index, "./usr/share/dictd/x.dict.dz": dict_dz}),
                       "usr/share/dictd/")
    assert files == {"x.index": index, "x.dict.dz": dict_dz}
    with pytest.raises(ValueError, match="no ar header"):
        unpack_deb(b"PK\x03\x04 a zip", "usr/")
    # every pin is a Debian pool path of a dict-freedict-eng-* package with a full sha256
    for lang, p in PACKAGES.items():
        assert isinstance(p, Package) and p.path.startswith("pool/main/f/freedict")
        assert "dict-freedict-eng-" in p.path and len(p.sha256) == 64 and p.size > 0
