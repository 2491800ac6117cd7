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


def test_the_job_generator_is_a_registry_entry_and_any_other_value_a_model_directory(tmp_path):
    """``--generator dictionary`` builds the dictionary generator from its word lists and records
    them; any other value is a seq2seq model directory, checked before any work."""
    from xqg_tevatron.corpus import Passage
    from xqg_tevatron.generate.sources import GENERATORS, MODEL_DIRECTORY, generator_source
    from xqg_tevatron.job import build_parser

    words = tmp_path / "fi.txt"
    words.write_text("river joki\nbridge silta\n")
    args = build_parser().parse_args(["--corpus", "c.tsv", "--encoder", "e", "--work_dir", "w", "--output", "o",
                                      "--languages", "fi", "--n_per_lang", "2", "--word_lists", f"fi={words}"])
    source = generator_source(args.generator)
    assert source is GENERATORS["dictionary"]
    factory, settings = source.build(args)
    assert settings["kind"] == "dictionary" and settings["n_per_lang"] == 2 and len(settings["word_lists"]) == 1
    queries = factory()([Passage("d1", "The river runs under the old bridge by the river bank.", "")], "fi")
    assert 1 <= len(queries[0]) <= 2 and all("joki" in q or "silta" in q for q in queries[0])
    assert source.asked(args)["generator_sha256"] is None

    assert generator_source(str(tmp_path / "t5")) is MODEL_DIRECTORY
    args.generator = str(tmp_path / "no-such-model")
    with pytest.raises(Exception, match="no-such-model") as err:
        MODEL_DIRECTORY.check(args)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("spelling", ["--unit-size", "--unit_size", "--chunk-size", "--chunk_size"])
def test_a_unit_is_one_word_and_chunk_size_its_old_spelling_on_every_command(spelling):
    """The job, ``driver.encode`` and the generator CLIs take ``--unit-size``, and still take
    ``--chunk-size`` (either spelling) as an alias of it."""
    from xqg_tevatron.cli import FlagParser
    from xqg_tevatron.generate.generate_units import add_job_arguments
    from xqg_tevatron.indexing.encode_cli import parse_args
    from xqg_tevatron.job import build_parser

    job = build_parser().parse_args(["--corpus", "c", "--encoder", "e", "--work_dir", "w", "--output", "o",
                                     spelling, "7"])
    assert job.unit_size == 7
    generate = FlagParser()
    add_job_arguments(generate)
    assert generate.parse_args(["--corpus", "c", "--output", "o", spelling, "7"]).unit_size == 7
    *_, xqg_args = parse_args(["--model_name_or_path", "m", "--output_dir", "x", "--encoded_save_path", "o",
                               spelling, "7"])
    assert xqg_args.unit_size == 7
