"""Every text reader, fuzzed (Hypothesis): corpus jsonl and tsv, generated-query jsonl, topics,
qrels, TREC runs and XQuAD JSON.

Two properties per reader:

* **round trip**: generated records written in every allowed encoding (UTF-8, with or without a
  byte-order mark, plain or gzip) and line ending (LF, CRLF, CR, with or without a final one)
  read back equal;
* **mutated files** (bytes flipped, inserted or cut, lines duplicated or dropped, the text
  re-encoded): the reader returns exactly what an independent oracle reads from the same bytes,
  or raises its one-line ``file:line`` error at the line the oracle names.  Never another
  exception (a traceback), never a record silently dropped, merged or split.

The oracle is the standard library applied by the documented text rule (``corpus.TEXT_RULE``):
the bytes split at LF, CRLF and CR, each line decoded as UTF-8, a leading byte-order mark
dropped, UTF-16/32 refused at line 1; then ``json``, ``csv`` or ``str.split`` as each format's
docstring says.  Where a file has both an undecodable line and a malformed line above it, either
is the right line to name (the reader's text layer decodes ahead of the line it parses, in
blocks).  Bounded in examples: this is the fast tier.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xqg_tevatron.corpus import CorpusFormatError, iter_passages, read_topics
from xqg_tevatron.data.xor_format import read_qrels
from xqg_tevatron.data.xquad import load_squad
from xqg_tevatron.trec_run import read_trec_run
from xqg_tevatron.xqg.generated import load_generated_queries

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True, database=None)
ENDINGS = ["\n", "\r\n", "\r"]


# ------------------------------------------------------------------ the oracle's text rule
@dataclass
class Refused:
    """The oracle's verdict on an invalid file: the lines either of which is right to name
    (empty: the file as a whole)."""

    lines: frozenset = frozenset()


class Text:
    """A file's lines under the documented text rule: those before its first undecodable line
    (``bad``, None when every line decodes)."""

    def __init__(self, data: bytes):
        self.lines: list[str] = []
        self.bad: int | None = None
        if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
            self.bad = 1
            return
        pieces = re.split(rb"\r\n|\r|\n", data)  # LF and CR never occur inside a UTF-8 multi-byte character
        if pieces and pieces[-1] == b"":
            pieces.pop()  # the final line end
        for lineno, piece in enumerate(pieces, start=1):
            try:
                self.lines.append(piece.decode("utf-8"))
            except UnicodeDecodeError:
                self.bad = lineno
                break
        if self.lines and self.lines[0].startswith("\ufeff"):
            self.lines[0] = self.lines[0][1:]

    def numbered(self):
        return enumerate(self.lines, start=1)

    def malformed(self, lineno: int) -> Refused:
        """A line breaks the format: it, or an undecodable line below it."""
        return Refused(frozenset({lineno} | ({self.bad} if self.bad else set())))

    def result(self, value):
        """Every decodable line was read: the value, unless a line did not decode."""
        return Refused(frozenset({self.bad})) if self.bad else value


def write_bytes(folder: Path, name: str, data: bytes, gz: bool) -> Path:
    path = folder / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def encode_lines(lines: list[str], ending: str, bom: bool, final: bool) -> bytes:
    text = ending.join(lines) + (ending if final and lines else "")
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def check(reader: Callable[[Path], object], oracle: Callable[[bytes], object], data: bytes, name: str,
          gz: bool) -> None:
    """The reader on ``data`` gives the oracle's result, or the one-line error at the oracle's line."""
    want = oracle(data)
    with tempfile.TemporaryDirectory() as folder:
        path = write_bytes(Path(folder), name, data, gz)
        try:
            got = reader(path)
        except CorpusFormatError as exc:
            message = str(exc)
            assert "\n" not in message, message
            assert isinstance(want, Refused), f"refused a file the oracle reads: {message}\n{data!r}"
            if not want.lines:  # the file as a whole: named anywhere in the line
                assert str(path) in message, f"{message!r} should name {path}\n{data!r}"
            else:
                named = re.match(re.escape(str(path)) + r":(\d+): ", message)
                assert named and int(named.group(1)) in want.lines, f"{message!r} should name line(s) " \
                                                                     f"{sorted(want.lines)}\n{data!r}"
            return
        assert not isinstance(want, Refused), f"read a file the oracle refuses ({want}): {got!r}\n{data!r}"
        assert got == want, f"{got!r} != {want!r}\n{data!r}"


# ------------------------------------------------------------------ mutations of valid bytes
@st.composite
def mutated(draw, valid: bytes) -> bytes:
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "cut", "duplicate", "drop", "reencode"]))
        if kind == "reencode":
            codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
            text = bytes(data).decode("utf-8", errors="replace")
            data = bytearray(text.encode(codec, errors="replace"))
            continue
        if kind in ("duplicate", "drop"):
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[i:i + 1] = [lines[i], lines[i]] if kind == "duplicate" else []
            data = bytearray(b"\n".join(lines))
            continue
        if not data and kind != "insert":
            continue
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        else:
            data = data[:at]
    return bytes(data)


layout = st.tuples(st.sampled_from(ENDINGS), st.booleans(), st.booleans(), st.booleans())  # ending, bom, final, gz

# one word of a whitespace-separated format, and a line of free text (no line end, no tab)
word = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=8).filter(
    lambda w: w.split() == [w])
# (no NUL either: a NUL in the first bytes reads as binary, by the rule)
free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\r\n\x00"), max_size=20)


# ------------------------------------------------------------------ topics (tsv)
def topics_oracle(data: bytes) -> list[tuple[str, str]] | Refused:
    """Pyserini topics: ``qid<TAB>query``, blank lines skipped, exactly two fields, a one-word id
    given once, a non-blank query."""
    text = Text(data)
    seen, out = set(), []
    for lineno, line in text.numbered():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or any(c.isspace() for c in parts[0]) or not parts[1].strip() \
                or parts[0] in seen:
            return text.malformed(lineno)
        seen.add(parts[0])
        out.append((parts[0], parts[1]))
    return text.result(out)


topics_records = st.lists(st.tuples(word, free_text.filter(str.strip)), max_size=12, unique_by=lambda r: r[0])


@FUZZ
@given(topics_records, layout)
def test_topics_round_trip(records, how):
    ending, bom, final, gz = how
    data = encode_lines([f"{q}\t{t}" for q, t in records], ending, bom, final)
    check(read_topics, topics_oracle, data, "t.tsv", gz)
    assert topics_oracle(data) == records


@FUZZ
@given(topics_records, layout, st.data())
def test_topics_mutated(records, how, draw):
    ending, bom, final, gz = how
    data = draw.draw(mutated(encode_lines([f"{q}\t{t}" for q, t in records], ending, bom, final)))
    check(read_topics, topics_oracle, data, "t.tsv", gz)


# ------------------------------------------------------------------ qrels and runs (whitespace-separated)
def fields_oracle(n: int, convert: Callable[[list[str]], object]):
    def oracle(data: bytes):
        text = Text(data)
        rows = []
        for lineno, line in text.numbered():
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) != n:
                    raise ValueError
                rows.append(convert(parts))
            except ValueError:
                return text.malformed(lineno)
        return text.result(rows)
    return oracle


def qrels_from_rows(rows):
    out: dict[str, dict[str, int]] = {}
    for qid, docid, rel in rows:
        out.setdefault(qid, {})[docid] = rel
    return out


def qrels_oracle(data: bytes):
    rows = fields_oracle(4, lambda p: (p[0], p[2], int(p[3])))(data)
    return rows if isinstance(rows, Refused) else qrels_from_rows(rows)


def run_oracle(data: bytes):
    rows = fields_oracle(6, lambda p: (p[0], int(p[3]), -float(p[4]), p[2]))(data)
    if isinstance(rows, Refused):
        return rows
    ranked: dict[str, list] = {}
    for qid, rank, neg_score, docid in rows:
        ranked.setdefault(qid, []).append((rank, neg_score, docid))
    return {q: [d for *_, d in sorted(v)] for q, v in ranked.items()}


qrels_records = st.lists(st.tuples(word, word, st.integers(-1, 3)), max_size=12)
run_records = st.lists(st.tuples(word, word, st.integers(1, 1000), st.floats(-100, 100, allow_nan=False), word),
                       max_size=12)


def qrels_lines(records):
    return [f"{q} 0 {d} {r}" for q, d, r in records]


def run_lines(records):
    return [f"{q} Q0 {d} {k} {s:.6f} {t}" for q, d, k, s, t in records]


@FUZZ
@given(qrels_records, layout)
def test_qrels_round_trip(records, how):
    ending, bom, final, gz = how
    data = encode_lines(qrels_lines(records), ending, bom, final)
    check(lambda p: read_qrels(p), qrels_oracle, data, "qrels.txt", gz)
    assert qrels_oracle(data) == qrels_from_rows(records)


@FUZZ
@given(qrels_records, layout, st.data())
def test_qrels_mutated(records, how, draw):
    ending, bom, final, gz = how
    data = draw.draw(mutated(encode_lines(qrels_lines(records), ending, bom, final)))
    check(lambda p: read_qrels(p), qrels_oracle, data, "qrels.txt", gz)


@FUZZ
@given(run_records, layout)
def test_run_round_trip(records, how):
    ending, bom, final, gz = how
    data = encode_lines(run_lines(records), ending, bom, final)
    check(lambda p: dict(read_trec_run(p)), run_oracle, data, "run.trec", gz)
    assert sum(len(v) for v in run_oracle(data).values()) == len(records)  # nothing dropped or merged


@FUZZ
@given(run_records, layout, st.data())
def test_run_mutated(records, how, draw):
    ending, bom, final, gz = how
    data = draw.draw(mutated(encode_lines(run_lines(records), ending, bom, final)))
    check(lambda p: dict(read_trec_run(p)), run_oracle, data, "run.trec", gz)


# ------------------------------------------------------------------ corpus and generated queries (jsonl)
def passage_tuple(p) -> tuple:
    return p.docid, p.text, p.title, p.generated_queries


def jsonl_oracle(data: bytes, generated: bool = False):
    """Tevatron/Pyserini jsonl: a JSON object per non-blank line with a non-blank ``docid`` (or
    ``id``), a string ``text`` (or ``contents``), optionally ``title`` and ``generated_queries``
    (language -> list of strings); generated-query files: each docid once, each with queries."""
    text = Text(data)
    out, seen = [], set()
    for lineno, line in text.numbered():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            return text.malformed(lineno)
        if not isinstance(rec, dict):
            return text.malformed(lineno)
        docid = rec.get("docid", rec.get("id"))
        body = rec.get("text", rec.get("contents"))
        gq = rec.get("generated_queries")
        if docid is None or not str(docid).strip() or not isinstance(body, str):
            return text.malformed(lineno)
        if gq is not None and not (isinstance(gq, dict) and all(
                isinstance(v, list) and all(isinstance(q, str) for q in v) for v in gq.values())):
            return text.malformed(lineno)
        if generated and (str(docid) in seen or gq is None):
            return text.malformed(lineno)
        seen.add(str(docid))
        out.append((str(docid), body, rec.get("title") or "", gq))
    if generated and not out and not text.bad:
        return Refused()
    return text.result(out)


any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)
passages = st.lists(st.fixed_dictionaries(
    {"docid": word, "text": any_text},
    optional={"title": any_text, "generated_queries": st.dictionaries(st.sampled_from(["ja", "ru", "fi"]),
                                                                      st.lists(any_text, max_size=3), max_size=2)}),
    max_size=8, unique_by=lambda r: r["docid"])


def jsonl_bytes(records, how, ascii_only: bool) -> bytes:
    ending, bom, final, _ = how
    return encode_lines([json.dumps(r, ensure_ascii=ascii_only) for r in records], ending, bom, final)


def read_corpus(path: Path) -> list[tuple]:
    return [passage_tuple(p) for p in iter_passages([path])]


def read_generated(path: Path) -> list[tuple]:
    table, _ = load_generated_queries([path])
    return table


def generated_oracle(data: bytes):
    got = jsonl_oracle(data, generated=True)
    return got if isinstance(got, Refused) else {docid: gq for docid, _, _, gq in got}


@FUZZ
@given(passages, layout, st.booleans())
def test_corpus_jsonl_round_trip(records, how, ascii_only):
    data = jsonl_bytes(records, how, ascii_only)
    check(read_corpus, jsonl_oracle, data, "c.jsonl", how[3])
    assert [r[0] for r in jsonl_oracle(data)] == [r["docid"] for r in records]


@FUZZ
@given(passages, layout, st.booleans(), st.data())
def test_corpus_jsonl_mutated(records, how, ascii_only, draw):
    data = draw.draw(mutated(jsonl_bytes(records, how, ascii_only)))
    check(read_corpus, jsonl_oracle, data, "c.jsonl", how[3])


with_queries = passages.map(lambda rs: [r | {"generated_queries": r.get("generated_queries", {})} for r in rs])


@FUZZ
@given(with_queries.filter(bool), layout, st.booleans())
def test_generated_queries_round_trip(records, how, ascii_only):
    data = jsonl_bytes(records, how, ascii_only)
    check(read_generated, generated_oracle, data, "gq.jsonl", how[3])
    assert generated_oracle(data) == {r["docid"]: r["generated_queries"] for r in records}


@FUZZ
@given(with_queries.filter(bool), layout, st.booleans(), st.data())
def test_generated_queries_mutated(records, how, ascii_only, draw):
    data = draw.draw(mutated(jsonl_bytes(records, how, ascii_only)))
    check(read_generated, generated_oracle, data, "gq.jsonl", how[3])


# ------------------------------------------------------------------ corpus (DPR tsv)
def tsv_oracle(data: bytes):
    """DPR/XOR-TyDi passages: ``id<TAB>text[<TAB>title]`` rows as the csv module reads them
    (default quoting), the ``id`` header line skipped, at least two fields."""
    text = Text(data)
    reader = csv.reader(io.StringIO("".join(line + "\n" for line in text.lines)), delimiter="\t")
    out = []
    for row in reader:
        if not row or (reader.line_num == 1 and row[:1] == ["id"]):
            continue
        if len(row) < 2:
            return text.malformed(reader.line_num)
        out.append((row[0], row[1], row[2] if len(row) > 2 else "", None))
    return text.result(out)


tsv_field = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=16)
tsv_rows = st.lists(st.tuples(word, tsv_field, tsv_field), max_size=8)


def tsv_bytes(rows, how) -> bytes:
    ending, bom, final, _ = how
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator=ending)
    writer.writerow(["id", "text", "title"])
    writer.writerows(rows)
    text = buffer.getvalue()
    if not final:
        text = text[:-len(ending)]
    return (("\ufeff" if bom else "") + text).encode("utf-8")


@FUZZ
@given(tsv_rows, layout)
def test_corpus_tsv_round_trip(rows, how):
    data = tsv_bytes(rows, how)
    check(read_corpus, tsv_oracle, data, "c.tsv", how[3])
    assert tsv_oracle(data) == [(i, t, ti, None) for i, t, ti in rows]


@FUZZ
@given(tsv_rows, layout, st.data())
def test_corpus_tsv_mutated(rows, how, draw):
    data = draw.draw(mutated(tsv_bytes(rows, how)))
    check(read_corpus, tsv_oracle, data, "c.tsv", how[3])


# ------------------------------------------------------------------ XQuAD (SQuAD-format JSON)
def squad_oracle(data: bytes):
    """A SQuAD-format file: UTF-8 JSON (a leading BOM dropped) holding a ``data`` list of
    articles with ``paragraphs``, each with a string ``context`` and a ``qas`` list of objects
    with string ``id`` and ``question``."""
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Refused()
    articles = raw.get("data") if isinstance(raw, dict) else None
    ok = isinstance(articles, list) and all(
        isinstance(a, dict) and isinstance(a.get("paragraphs"), list) and all(
            isinstance(p, dict) and isinstance(p.get("context"), str) and isinstance(p.get("qas"), list) and all(
                isinstance(q, dict) and isinstance(q.get("id"), str) and isinstance(q.get("question"), str)
                for q in p["qas"]) for p in a["paragraphs"]) for a in articles)
    return articles if ok else Refused()


squad = st.lists(st.fixed_dictionaries({
    "title": word,
    "paragraphs": st.lists(st.fixed_dictionaries({
        "context": any_text,
        "qas": st.lists(st.fixed_dictionaries({"id": word, "question": any_text,
                                               "answers": st.lists(st.fixed_dictionaries(
                                                   {"text": any_text, "answer_start": st.integers(0, 50)}),
                                                   max_size=2)}), max_size=3)}), max_size=3)}), max_size=3)


def squad_bytes(articles, ending: str, bom: bool, ascii_only: bool, indent: int | None) -> bytes:
    text = json.dumps({"version": "1.1", "data": articles}, ensure_ascii=ascii_only, indent=indent)
    return (("\ufeff" if bom else "") + text.replace("\n", ending)).encode("utf-8")


@FUZZ
@given(squad, layout, st.booleans(), st.sampled_from([None, 1]))
def test_xquad_round_trip(articles, how, ascii_only, indent):
    ending, bom, _, gz = how
    data = squad_bytes(articles, ending, bom, ascii_only, indent)
    check(load_squad, squad_oracle, data, "xquad.de.json", gz)
    assert squad_oracle(data) == articles


@FUZZ
@given(squad, layout, st.booleans(), st.sampled_from([None, 1]), st.data())
def test_xquad_mutated(articles, how, ascii_only, indent, draw):
    ending, bom, _, gz = how
    data = draw.draw(mutated(squad_bytes(articles, ending, bom, ascii_only, indent)))
    check(load_squad, squad_oracle, data, "xquad.de.json", gz)


@pytest.mark.parametrize("data,line", [(b"q1\tyen\r\nq2\tcaf\xe9\r\n", 2), (b"q1\tyen\rq2\tyen\rq3\tcaf\xe9\r", 3)])
def test_an_undecodable_line_is_named_by_the_same_line_ends_as_the_text(data, line):
    """A CR-only file (as old Mac editors write) names the bad line as its own lines count it."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_bytes(Path(folder), "t.tsv", data, gz=False)
        with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:{line}: not UTF-8")):
            read_topics(path)


# ------------------------------------------------------------------ damaged gzip; JSON lines that are not objects
@FUZZ
@given(topics_records.filter(bool), st.data())
def test_a_damaged_gzip_file_is_the_one_line_error(records, draw):
    """The compressed bytes cut or flipped: the lines the oracle reads from what still
    decompresses, or the one-line error naming the file; never a gzip or zlib traceback."""
    packed = bytearray(gzip.compress(encode_lines([f"{q}\t{t}" for q, t in records], "\n", False, True), mtime=0))
    at = draw.draw(st.integers(0, len(packed) - 1))
    damaged = bytes(packed[:at]) if draw.draw(st.booleans()) else bytes(packed[:at] + bytes([packed[at] ^ 0xFF]) +
                                                                        packed[at + 1:])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.tsv.gz"
        path.write_bytes(damaged)
        try:
            intact = gzip.decompress(damaged)
        except (EOFError, OSError, zlib.error):  # BadGzipFile is an OSError
            intact = None
        try:
            got = read_topics(path)
        except CorpusFormatError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            return
        assert intact is not None and got == topics_oracle(intact), (got, damaged)


@pytest.mark.parametrize("line", ['[1, 2]', '"a string"', '7', 'null'])
def test_json_lines_that_are_not_objects_are_the_one_line_error(line):
    """Topics and XOR-Retrieve questions as jsonl: a line holding JSON that is not an object is
    named by file and line, as malformed JSON is."""
    from xqg_tevatron.data.xor_format import read_questions

    good = json.dumps({"id": "q1", "question": "currency?", "answers": [], "lang": "ja"})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "q.jsonl"
        path.write_text(good + "\n" + line + "\n", encoding="utf-8")
        for reader in (read_topics, read_questions):
            with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:2: expected a JSON object")):
                reader(path)
