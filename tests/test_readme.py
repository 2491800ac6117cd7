"""The README is a manual that stays true: short, its first table printed by the one table
printer from the numbers docs/results.md records, and every command in it runnable as written:
each flag is one the command accepts (checked against the command's own --help), each make
target exists, and the data commands are run for real."""
from __future__ import annotations

import json
import re
import shlex
from functools import lru_cache

import pytest

from helpers import ROOT, cli
from xqg_tevatron.tables import language_table

README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")


def bash_commands(text: str) -> list[list[str]]:
    """Every command of the ```bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line.replace("$I", "0")))
    return commands


def module_of(cmd: list[str]) -> tuple[list[str], list[str]]:
    """(the command that prints its help, the rest of the arguments) of a ``python -m`` command."""
    module, rest = cmd[2], cmd[3:]
    if module == "xqg_tevatron.pyserini":
        return [module, rest[0]], rest[1:]
    if module == "xqg_tevatron.generate.seq2seq":
        return [module, rest[0]], rest[1:]
    return [module], rest


@lru_cache(maxsize=None)
def help_text(*head: str) -> str:
    proc = cli("-m", *head, "--help")
    assert proc.returncode == 0, f"{' '.join(head)} --help: {proc.stderr[-2000:]}"
    return proc.stdout


def test_readme_is_a_short_manual():
    assert len(README.splitlines()) <= 300
    for stale in ("XQG_XQUAD_DIR", "XQG_JAVA", "encode_is_qry", "encode_num_shard", "demo-xquad", "--k "):
        assert stale not in README, stale


def renderer():
    import runpy

    return runpy.run_path(str(ROOT / "scripts" / "render_docs.py"), run_name="render_docs")


def test_the_documents_are_their_rendering_from_the_committed_artifacts():
    """``make docs`` over docs/results/*.json gives the committed README.md and docs/results.md
    byte for byte (a figure edited by hand, or an artifact measured again without rendering,
    fails here), and the README's demo block is the one table printer's output."""
    render = renderer()["render"]
    for doc in (README, RESULTS):
        assert render(doc) == doc
    assert "<!-- render: demo-table -->" in README and "<!-- render: test-times -->" in README
    demo = json.loads((ROOT / "docs" / "results" / "demo.json").read_text(encoding="utf-8"))
    tables = demo["results"]["tables"]
    languages = [lang for lang in tables["plain"] if lang != "Avg"]
    assert language_table(tables, {"recip_rank": "MRR@100", "recall_5": "R@5"}, languages) in README
    assert set(demo) >= {"commit", "date", "command", "machine", "load", "results"}


def test_no_measured_figure_in_the_documents_is_typed():
    """Every decimal or figure with a unit in README.md and docs/results.md, in prose, tables and
    pasted output alike, is inside a rendered block (versions, dates, flags, commands and
    settings are exempt)."""
    lint = renderer()["unrendered_figures"]
    assert lint(README) == []
    assert lint(RESULTS) == []


def test_the_lint_finds_a_typed_figure():
    lint = renderer()["unrendered_figures"]
    assert [f for _, f, _ in lint("It runs at 7.3 s a step, 5-6x float32, 12.3 KB a passage, 8 queries x 4.\n")] == \
        ["7.3 s", "5-6x", "12.3 KB"]
    assert lint("Python 3.11, alpha 0.2, `--hits 100`, 2026-11-28, (default 600).\n") == []
    assert lint("<!-- render: demo-table -->\n0.84 MRR\n<!-- /render -->\n") == []
    # pasted output is linted; a fence of commands or settings is not
    assert [f for _, f, _ in lint("```\nplain  0.842  16.48 ms\n```\n")] == ["0.842", "16.48 ms"]
    assert lint("```bash\npython -m x --alpha 0.2 --hits 100\n```\n") == []


COMMANDS = bash_commands(README)


@pytest.mark.process
@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c[:2] == ["python", "-m"]], ids=lambda c: " ".join(c[2:4]))
def test_every_flag_of_a_readme_command_is_accepted_by_that_command(cmd):
    head, rest = module_of(cmd)
    helped = help_text(*head)
    flags = [a.split("=")[0] for a in rest if a.startswith("--")]
    unknown = [f for f in flags if not re.search(rf"(^|[\s,\[]){re.escape(f)}([\s,=\]]|$)", helped, flags=re.M)]
    assert not unknown, f"{' '.join(head)}: {unknown} not in its --help"


def test_every_make_target_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = {c[1] for c in COMMANDS if c[0] == "make"}
    assert {"demo", "test", "test-fast", "bench"} <= targets
    for target in targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), target


@pytest.mark.process
def test_the_data_commands_run_as_written(tmp_path):
    """The README's XQuAD data commands, run for real (the XOR-TyDi ones need the official files)."""
    ran = 0
    for cmd in COMMANDS:
        if cmd[:3] == ["python", "-m", "xqg_tevatron.data.convert"] and cmd[4].startswith("xquad-dev"):
            args = [a.replace("runs/data", str(tmp_path)) for a in cmd[3:]]
            proc = cli("-m", "xqg_tevatron.data.convert", *args)
            assert proc.returncode == 0, proc.stderr[-2000:]
            ran += 1
    assert ran == 4
    assert len((tmp_path / "topics.de.tsv").read_text().splitlines()) == 612
    assert len((tmp_path / "qrels.txt").read_text().splitlines()) == 612 * 11


def test_architecture_doc_matches_the_tree():
    """docs/architecture.md names every module of the package, and every module it names exists."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "xqg_tevatron"
    modules = [p for p in package.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
               and "__pycache__" not in p.parts]
    missing = [str(p.relative_to(package)) for p in modules if p.name not in doc]
    assert not missing, f"not in docs/architecture.md: {missing}"
    for folder in {p.parent for p in modules if p.parent != package}:
        assert f"`{folder.name}/`" in doc, folder.name
    existing = {p.name for p in modules} | {p.name for folder in ("benchmarks", "benchmarks/common", "tests", "scripts")
                                            for p in (ROOT / folder).glob("*.py")}
    named = set(re.findall(r"([a-z_0-9]+\.py)\b", doc))
    assert named <= existing, f"named but not in the tree: {sorted(named - existing)}"
