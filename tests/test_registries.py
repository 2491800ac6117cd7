"""The name -> implementation registries (executors, seq2seq generator backends): each entry is
built from the flags the registry declares for it, and an optional engine that is not installed
is a one-line error naming its pip extra."""
from __future__ import annotations

import pytest


def test_an_optional_engine_that_is_not_installed_is_one_line_naming_its_extra():
    """The registries' own check (``--executor ray`` without Ray, ``--backend ct2`` without
    CTranslate2 say the same): here with a package that exists nowhere."""
    from xqg_tevatron.registry import Registered
    from xqg_tevatron.runtime.engine import LocalArguments

    with pytest.raises(ValueError, match=r"^--executor far needs the xqg_no_such_package package: "
                                         r"pip install 'xqg_tevatron\[far\]'$"):
        Registered(LocalArguments, requires="xqg_no_such_package", extra="far").check_installed("--executor", "far")
    Registered(LocalArguments, requires="faiss", extra="x").check_installed("--executor", "local")


def test_every_registry_entry_builds_from_its_own_flags():
    """Each executor and generator backend is made from the flags the registry declares for it."""
    import dataclasses

    from xqg_tevatron.generate.factory import BACKENDS, BackendArguments
    from xqg_tevatron.runtime.executors import EXECUTORS, ExecutorArguments, executor_from_args

    for name in EXECUTORS:
        executor = executor_from_args(ExecutorArguments(executor=name))
        assert executor.ships_workers == (name != "local")
    declared = {f.name for f in dataclasses.fields(BackendArguments)}
    for name, spec in BACKENDS.items():
        assert {f.name for f in dataclasses.fields(spec.arguments)} <= declared
        assert callable(spec.arguments().build) and isinstance(spec.arguments().recorded(), dict)
