"""Choosing an executor: ``--executor local|ray`` and the Ray options, declared once.

Why its own module: the engine (``LocalExecutor``) and the Ray executor both import the engine's
unit protocol; choosing between them is a third thing, so neither imports the other (the Ray
executor, and Ray, are imported only when asked for).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from xqg_tevatron.runtime.engine import Executor, LocalExecutor

EXECUTORS = ("local", "ray")


def make_executor(name: str, ray_address: Optional[str] = None, ray_actors: int = 1, ray_num_cpus: float = 1.0,
                  ray_num_gpus: Optional[float] = None, threads: int = 0, ray_wait_s: float = 600.0) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from xqg_tevatron.runtime.ray_executor import RayExecutor  # Ray is imported only when asked for

        return RayExecutor(address=ray_address, actors=ray_actors, num_cpus=ray_num_cpus, num_gpus=ray_num_gpus,
                           threads=threads, wait_s=ray_wait_s)
    raise ValueError(f"executor must be one of {EXECUTORS}, got {name!r}")


@dataclass
class ExecutorArguments:
    """``--executor local|ray`` and the Ray options: one declaration for every command (the
    HfArgumentParser ones inherit it, the argparse ones add it with :func:`add_executor_arguments`)."""

    executor: str = field(default="local", metadata={
        "help": "local: in this process; ray: Ray actors (an embedded local Ray, or --ray_address)"})
    ray_address: Optional[str] = field(default=None, metadata={
        "help": "join this Ray cluster (e.g. auto, or HOST:6379; default: an embedded local Ray that starts and "
                "stops with the job)"})
    ray_actors: int = field(default=1, metadata={"help": "Ray actors (one model load each)"})
    ray_num_cpus: float = field(default=1.0, metadata={"help": "CPUs per Ray actor (fractions allowed)"})
    ray_num_gpus: Optional[float] = field(default=None, metadata={"help": "GPUs per Ray actor (default: 1 if any)"})
    ray_wait_s: float = field(default=600.0, metadata={
        "help": "seconds to wait while no Ray actor can run (nodes lost, a demand no node meets) before stopping "
                "with one line; committed units are kept and a rerun resumes"})


def add_executor_arguments(parser) -> None:
    from xqg_tevatron.cli import add_dataclass_arguments

    add_dataclass_arguments(parser, ExecutorArguments)


def executor_from_args(args, threads: int = 0) -> Executor:
    return make_executor(args.executor, args.ray_address, args.ray_actors, args.ray_num_cpus, args.ray_num_gpus,
                         threads, args.ray_wait_s)
