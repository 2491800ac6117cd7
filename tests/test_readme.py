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


def test_first_table_is_the_demo_table_of_the_results_page_in_the_printers_format():
    first = re.search(r"```\n(system .*?)```", README, flags=re.S).group(1)
    assert first in RESULTS  # the same real output as docs/results.md records
    lines = first.splitlines()
    languages = [c.lower() for c in lines[0].split()[2:-1]]
    systems, name = {}, None
    for line in lines[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if not line.startswith(" "):
            name = cells[0]
            cells = cells[1:]
        metric, values = cells[0], [float(v) / 100 for v in cells[1:]]
        key = {"MRR@100": "recip_rank", "R@5": "recall_5"}[metric]
        for lang, v in zip(languages + ["Avg"], values):
            systems.setdefault(name, {}).setdefault(lang, {})[key] = v
    assert len(systems) == 3 and len(languages) == 11
    assert language_table(systems, {"recip_rank": "MRR@100", "recall_5": "R@5"}, languages) == first.rstrip("\n")


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
    existing = {p.name for p in modules} | {p.name for folder in ("benchmarks", "tests")
                                            for p in (ROOT / folder).glob("*.py")}
    named = set(re.findall(r"([a-z_0-9]+\.py)\b", doc))
    assert named <= existing, f"named but not in the tree: {sorted(named - existing)}"


def test_the_development_times_are_rendered_from_their_artifact():
    """The README's test and smoke-run times are the measured ones (scripts/time_test_suite.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("time_test_suite", ROOT / "scripts" / "time_test_suite.py")
    timer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timer)
    lines = README.splitlines()
    record = json.loads((ROOT / "docs" / "results" / "test_suite_times.json").read_text(encoding="utf-8"))
    assert lines[lines.index(timer.MARK) + 1] == timer.render(record)
    assert {"make test", "make test-fast"} <= set(record)
