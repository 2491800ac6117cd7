"""Streaming readers for passages and queries, with ``file:line`` errors.

Passages come as Tevatron/Pyserini jsonl (``docid``/``id``, ``title``, ``text``, optionally
the xQG field ``generated_queries: {lang: [q, ...]}``), as jsonl.gz, as a DPR/XOR-TyDi tsv
(``id<TAB>text<TAB>title`` with a header), or as an HF dataset directory saved with
``save_to_disk``.  Everything is a generator so memory never scales with corpus size.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional



class CorpusFormatError(ValueError):
    """Malformed input, reported with the file and line where it happened."""


@dataclass
class Passage:
    docid: str
    text: str
    title: str = ""
    generated_queries: Optional[dict[str, list[str]]] = None
    where: str = field(default="", compare=False)

    def full_text(self, separator: str = " ") -> str:
        return f"{self.title}{separator}{self.text}" if self.title else self.text


TEXT_RULE = ("UTF-8; a leading byte-order mark is dropped; lines end in LF, CRLF or CR (all read as one line "
             "end); any other encoding is an error naming the file and line")


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """The one way the plugin opens a text input (corpus, topics, queries, qrels, runs, word
    lists), plain or ``.gz``, under :data:`TEXT_RULE`.  Why one rule: editors and spreadsheets
    write byte-order marks, CR line ends and UTF-16; read differently by different readers, those
    bytes end up inside query ids that then never match the qrels.  UTF-16/32 (their byte-order
    marks, or NUL bytes at the start) is refused here, before a line is read."""
    path = Path(path)
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    try:
        try:
            head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
        except GZIP_DAMAGE as exc:
            raise CorpusFormatError(damaged_gzip(path, exc)) from None
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
            kind = "UTF-16 or UTF-32" if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(b"\x00") else "binary"
            raise CorpusFormatError(f"{path}:1: not UTF-8 ({kind} text, as some editors and spreadsheets save it); "
                                    "save it as UTF-8")
        if 0 < len(head) < 3 and b"\xef\xbb\xbf".startswith(head):  # the utf-8-sig decoder would read it as empty
            raise CorpusFormatError(f"{path}:1: not UTF-8 (the file is {len(head)} byte(s) of a cut byte-order mark)")
    except BaseException:
        raw.close()
        raise
    # utf-8-sig drops a leading BOM only; newline=None reads LF, CRLF and CR as one line end
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline=None)


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number, line without its end)`` of a text input, read under :data:`TEXT_RULE`;
    bytes that are not UTF-8 are a ``file:line`` error."""
    path = Path(path)
    with open_text(path) as fh:
        for lineno, line in enumerate(_decoded(fh, path), start=1):
            yield lineno, line.rstrip("\n")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, dict]]:
    """``(where, record)`` for each non-blank line of a jsonl(.gz) file; malformed JSON is
    reported as ``file:line``."""
    path = Path(path)
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusFormatError(f"{where}: malformed JSON ({exc.msg})") from None


def json_objects(path: str | os.PathLike) -> Iterator[tuple[str, dict]]:
    """:func:`iter_jsonl`, each record a JSON object (a ``file:line`` error otherwise)."""
    for where, rec in iter_jsonl(path):
        if not isinstance(rec, dict):
            raise CorpusFormatError(f"{where}: expected a JSON object, got {type(rec).__name__}")
        yield where, rec


def _first_undecodable(path: Path, exc: UnicodeDecodeError) -> str:
    """``file:line: not UTF-8 ...`` for the first line that does not decode (text readers decode
    in blocks, so the error itself does not know its line; read the bytes again to find it)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            # counted by the text layer's own line ends (LF, CRLF and CR): latin-1 maps each byte to one character
            for lineno, line in enumerate(io.TextIOWrapper(fh, encoding="latin-1", newline=None), start=1):
                try:
                    line.encode("latin-1").decode("utf-8")
                except UnicodeDecodeError as bad:
                    return f"{path}:{lineno}: not UTF-8 ({bad.reason} at byte {bad.start} of the line)"
    except GZIP_DAMAGE as damage:  # a damaged .gz decompresses to bytes that are not UTF-8, then fails
        return damaged_gzip(path, damage)
    return f"{path}: not UTF-8 ({exc.reason})"


GZIP_DAMAGE = (EOFError, gzip.BadGzipFile, zlib.error)  # what a cut or damaged .gz raises while read


def damaged_gzip(path: Path, exc: BaseException) -> str:
    return f"{path}: damaged gzip file ({type(exc).__name__}: {exc})".rstrip(": ()")


def _decoded(lines: Iterable[str], path: Path) -> Iterator[str]:
    """Lines of a text file; bytes that are not UTF-8 are reported with file and line, a damaged
    gzip file with the file."""
    it = iter(lines)
    while True:
        try:
            line = next(it)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise CorpusFormatError(_first_undecodable(path, exc)) from None
        except GZIP_DAMAGE as exc:
            raise CorpusFormatError(damaged_gzip(path, exc)) from None
        yield line


def iter_dpr_tsv(fh: Iterable[str], name: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, [id, text, title])`` rows of a DPR-style passage tsv, read as DPR and XORQA
    read them: the csv module's default quoting, so a field written as ``"..."`` with ``""``
    escapes comes back without the quotes.  The ``id`` header line is skipped."""
    previous = csv.field_size_limit(1 << 30)  # passages with generated queries outgrow csv's 128 KiB default
    try:
        yield from _dpr_rows(csv.reader(fh, delimiter="\t"), name)
    finally:
        csv.field_size_limit(previous)  # csv's limit is process-wide: give it back


def _dpr_rows(reader, name: str) -> Iterator[tuple[int, list[str]]]:
    for row in reader:
        lineno = reader.line_num
        if not row or (lineno == 1 and row[:1] == ["id"]):
            continue
        if len(row) < 2:
            raise CorpusFormatError(f"{name}:{lineno}: expected 'id<TAB>text[<TAB>title]', got {len(row)} field(s)")
        yield lineno, row


def _passage_from_record(rec: dict, where: str) -> Passage:
    if not isinstance(rec, dict):
        raise CorpusFormatError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    docid = rec.get("docid", rec.get("id"))
    if docid is None or str(docid).strip() == "":
        raise CorpusFormatError(f"{where}: record has no 'docid' (or 'id')")
    text = rec.get("text", rec.get("contents"))
    if not isinstance(text, str):
        raise CorpusFormatError(f"{where}: record {docid!r} has no string 'text'")
    gq = rec.get("generated_queries")
    if gq is not None:
        if not isinstance(gq, dict) or not all(isinstance(v, list) and all(isinstance(q, str) for q in v)
                                               for v in gq.values()):
            raise CorpusFormatError(f"{where}: 'generated_queries' of {docid!r} must map language -> list of strings")
    return Passage(str(docid), text, rec.get("title") or "", gq, where)


def _iter_file(path: Path) -> Iterator[Passage]:
    name = path.name.lower()
    if name.endswith((".tsv", ".tsv.gz")):
        for lineno, row in iter_dpr_tsv((line + "\n" for _, line in text_lines(path)), str(path)):
            yield Passage(row[0], row[1], row[2] if len(row) > 2 else "", None, f"{path}:{lineno}")
        return
    for where, rec in iter_jsonl(path):
        yield _passage_from_record(rec, where)


def _iter_hf_dir(path: Path) -> Iterator[Passage]:
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["train"] if "train" in ds else ds[next(iter(ds))]
    for i, rec in enumerate(ds):
        yield _passage_from_record(rec, f"{path}[{i}]")


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` (no leading ``.``, ``/``, ``~``, no further slashes, no file suffix)."""
    parts = name.split("/")
    return (len(parts) == 2 and all(parts) and not name.startswith((".", "~"))
            and not parts[1].endswith((".jsonl", ".json", ".gz", ".tsv", ".parquet")))


def hub_dataset_hint(name: str) -> str:
    """Why a Hub dataset id is not read directly, and exactly what to run instead.  Tevatron's
    and the authors' data sets (``Tevatron/xor-tydi``, ``ielab/xor-tydi-xqg-augmented``) are
    loading-script data sets, which ``datasets`` 5 no longer runs; their data files are jsonl."""
    return (f"{name!r} is a Hugging Face Hub data set id, not a local file; datasets 5 cannot run loading "
            f"scripts, so download its data files and pass them: hf download {name} --repo-type dataset "
            f"--local-dir data/{name.split('/')[1]}  then use the jsonl(.gz) files under data/{name.split('/')[1]}/")


def corpus_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories to their data files (sorted) and check everything exists."""
    files: list[Path] = []
    for p in paths:
        if not Path(p).exists() and looks_like_hub_id(str(p)):
            raise FileNotFoundError(hub_dataset_hint(str(p)))
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"input not found: {p}")
        if p.is_dir() and not (p / "dataset_info.json").exists() and not (p / "dataset_dict.json").exists():
            files.extend(sorted(x for x in p.iterdir() if x.name.endswith((".jsonl", ".json", ".jsonl.gz", ".tsv", ".tsv.gz"))))
        else:
            files.append(p)
    if not files:
        raise FileNotFoundError(f"no corpus files under {[str(p) for p in paths]}")
    return files


def iter_passages(paths: Iterable[str | os.PathLike]) -> Iterator[Passage]:
    """Stream passages from every input in order."""
    for path in corpus_files(paths):
        if path.is_dir():
            yield from _iter_hf_dir(path)
        else:
            yield from _iter_file(path)


def select_passages(passages: Iterable[Passage], docids: Iterable[str], what: str = "run") -> dict[str, Passage]:
    """The passages with the given ids, picked from a stream (memory bounded by ``docids``,
    not by the corpus); every id must be found."""
    needed = set(docids)
    found = {p.docid: p for p in passages if p.docid in needed}
    missing = needed - set(found)
    if missing:
        raise CorpusFormatError(f"{len(missing)} docid(s) of the {what} are not in the corpus, e.g. {sorted(missing)[:5]}")
    return found


def read_topics(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Queries as ``(qid, text)``: Pyserini topics tsv (``qid<TAB>text``) or jsonl with
    ``query_id``/``id`` and ``query``/``question``.

    Strict, because a query silently cut or dropped changes every number computed from it: a
    query id is one non-empty word, each id occurs once, a query is non-empty, a tsv line has
    exactly two tab-separated fields (a tab inside a query would be cut, as Pyserini's reader
    cuts it), and the file is UTF-8.  Each violation is a one-line ``file:line`` error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"topics file not found: {path}")
    if path.name.endswith((".jsonl", ".jsonl.gz", ".json")):
        rows = ((where, rec.get("query_id", rec.get("id")), rec.get("query", rec.get("question")))
                for where, rec in json_objects(path))
    else:
        rows = _tsv_topics(path)
    topics = []
    first: dict[str, str] = {}
    for where, qid, text in rows:
        if qid is None or text is None:
            raise CorpusFormatError(f"{where}: expected a query id and text")
        qid = str(qid)
        if not qid or any(ch.isspace() for ch in qid):
            raise CorpusFormatError(f"{where}: query id {qid!r} is empty or contains whitespace (TREC runs are "
                                    "whitespace-separated)")
        if not isinstance(text, str) or not text.strip():
            raise CorpusFormatError(f"{where}: query {qid!r} has no text")
        if qid in first:
            raise CorpusFormatError(f"{where}: duplicated query id {qid!r} (first at {first[qid]})")
        first[qid] = where
        topics.append((qid, text))
    return topics


def _tsv_topics(path: Path) -> Iterator[tuple[str, Optional[str], Optional[str]]]:
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        where = f"{path}:{lineno}"
        if len(parts) != 2:
            raise CorpusFormatError(f"{where}: {len(parts)} tab-separated field(s); a topics line is "
                                    "'qid<TAB>query' (a tab inside a query would cut it)")
        yield where, parts[0], parts[1]


def iter_fields(path: str | os.PathLike, n_fields: int, layout: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of a whitespace-separated file (TREC qrels and runs), blank lines
    skipped; a line with another number of fields is a one-line error naming the layout."""
    for lineno, line in text_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != n_fields:
            raise CorpusFormatError(f"{path}:{lineno}: expected '{layout}' ({n_fields} fields), got {len(parts)}")
        yield lineno, parts


def number_field(convert: type, value: str, path: str | os.PathLike, lineno: int, what: str):
    """``convert(value)`` (``int`` or ``float``) of one field of a qrels or run line; a field that
    is not a number is a one-line ``file:line`` error, as a wrong field count is."""
    try:
        return convert(value)
    except ValueError:
        raise CorpusFormatError(f"{path}:{lineno}: {what} {value!r} is not a{'n integer' if convert is int else ' number'}"
                                ) from None
