"""The executor registry: ``--executor NAME`` maps to the arguments dataclass of one executor,
whose ``build`` makes it.  Every executor's flags are declared once, from here, for every command.

Why its own module: the engine (``LocalExecutor``) and the Ray executor both import the engine's
unit protocol; choosing between them is a third thing, so neither imports the other.  An
executor's package is imported only when it is chosen, and one that needs an optional package
names the pip extra that installs it.  Adding an executor: its module (an executor class and its
arguments dataclass with ``build(threads)``) plus one line in :data:`EXECUTORS`.
"""
from __future__ import annotations

from dataclasses import fields

from xqg_tevatron.registry import Registered, chosen, flags_dataclass
from xqg_tevatron.runtime.engine import Executor, LocalArguments
from xqg_tevatron.runtime.ray_executor import RayArguments

EXECUTORS: dict[str, Registered] = {
    "local": Registered(LocalArguments),
    "ray": Registered(RayArguments, requires="ray", extra="ray"),
}

# the flags every command that runs units takes: --executor plus each executor's own
ExecutorArguments = flags_dataclass("ExecutorArguments", __name__, "executor", "local", EXECUTORS)

# what an executor's flags change: how a job runs, never what it writes (commands leave them out
# of the request they record)
EXECUTOR_FLAGS = frozenset(f.name for f in fields(ExecutorArguments))


def add_executor_arguments(parser) -> None:
    from xqg_tevatron.cli import add_dataclass_arguments

    add_dataclass_arguments(parser, ExecutorArguments)


def executor_from_args(args, threads: int = 0) -> Executor:
    """The executor ``args.executor`` names, built from its own flags; a one-line error, before
    any work, for an unknown name, a missing extra or a bad value."""
    return chosen(EXECUTORS, "executor", args).build(threads)
