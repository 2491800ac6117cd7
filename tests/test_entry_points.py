"""Every command's ``python -m`` entry: the ``if __name__ == "__main__"`` block of each module
that has one runs its ``main`` (with ``--help``: the usage, exit 0).  The other tests call
``main(argv)`` in process (``helpers.cli``) and so never run that line; here it runs, through
``runpy`` as the interpreter runs it."""
from __future__ import annotations

import pytest

from helpers import ROOT, run_as_main

PACKAGE = ROOT / "xqg_tevatron"


def command_modules() -> list[str]:
    """Dotted names of the modules with a ``__main__`` block (a package's ``__main__.py`` is run
    by the package's name), read from the files."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__main__" else parts))
    return names


@pytest.mark.process
@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import of package:RuntimeWarning")  # in process
@pytest.mark.parametrize("module", command_modules())
def test_every_command_runs_as_python_m(module):
    proc = run_as_main(module, "--help")
    text = proc.stdout + proc.stderr
    # --help: the usage and exit 0; the command with verbs (seq2seq) prints its verbs' usage and exits 2
    want = 2 if module == "xqg_tevatron.generate.seq2seq" else 0
    assert proc.returncode == want and "usage" in text.lower(), (proc.returncode, text[-2000:])
    assert "Traceback" not in text
