"""The Ray executor: disposable actors that commit units into a shared work dir.

Why disposable: on a real cluster a node is lost several times in a long job (preemption, a
crash, a GPU falling off the bus).  Ray can restart an actor in place, but a restarted actor
re-runs its constructor from arguments that may already be freed (ray-project/ray#53727), and a
restart that no node has room for waits forever.  So an actor is never restarted here
(``max_restarts=0``).  When one dies, its in-flight units go back to the front of the queue for
the surviving actors, and a fresh actor is asked for in its place (constructed anew from the
small picklable ``factory`` and ``plan``; it runs wherever room appears).  A unit is a pure
function of its passages and commits atomically, so a unit run twice writes the same bytes:
exactly-once output from at-least-once execution.

It never waits forever: when no actor is alive to take the remaining units for ``wait_s``
seconds (every worker node lost, or a demand no node can meet, e.g. a GPU per actor on a CPU
cluster), it stops with one line naming the resource it could not get.  The committed units
stay; the same command resumes, on this cluster, another or locally.

A unit that kills its actor ``max_unit_deaths`` times (a worker that runs out of memory on one
unit, say) stops the job with one line naming the unit, instead of killing actors forever.  A unit
that was in flight when an actor died is a suspect: it then runs alone on an actor, so a death is
blamed only on the unit that was running, never on an innocent unit queued behind it.
"""
from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from xqg_tevatron.runtime.engine import Task, UnitPlan, WorkerFactory, commit
from xqg_tevatron.runtime.units import existing_units

logger = logging.getLogger(__name__)
UNITS_PER_ACTOR = 2  # one computing, one queued behind it: no idle gap between units
POLL_S = 1.0  # how often the driver wakes to check for a stall while nothing completes


class WorkersUnavailable(RuntimeError):
    """No actor could run for the bounded wait: the one line names the resource it lacked."""


class UnitKillsWorkers(RuntimeError):
    """One unit's actor died ``max_unit_deaths`` times: the unit, not the node, is at fault."""


class ActorCannotStart(RuntimeError):
    """An actor's constructor failed (the plugin or its dependencies missing on a node, say):
    asking for another would fail the same way, so the job stops with Ray's last error line."""


def last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else str(text)


class UnitActor:
    """A Ray actor: builds its worker at the first unit (one model load), then processes and
    commits units into the work dir."""

    def __init__(self, factory: WorkerFactory, plan: UnitPlan):
        self.factory, self.plan, self.worker = factory, plan, None

    def ready(self) -> str:
        """Where this actor runs, ``node:pid``: returned once it is placed and constructed."""
        import ray

        return f"{ray.get_runtime_context().get_node_id()}:{os.getpid()}"

    def process(self, task: Task) -> int:
        self.worker = self.worker or self.factory()
        files, meta = self.worker.process(task.index, task.passages)
        commit(self.plan, task, files, meta)
        return task.index


@dataclass
class _Actor:
    handle: Any
    ready_ref: Any
    where: Optional[str] = None  # node:pid once ready
    units: set = field(default_factory=set)  # refs of its units in flight


def keep_sigterm_handler(start: Callable[[], None]) -> None:
    """Run ``start`` (``ray.init``) and put back the SIGTERM handler that was there before it.

    Why: ``ray.init`` replaces it twice, with a Python handler that exits with status 15 and, in
    the core worker, a native one that dumps a stack trace.  The job's own handler gives the one
    error line and exit 143, as with the local executor."""
    previous = signal.getsignal(signal.SIGTERM)
    start()
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except ValueError:  # not the main thread: nothing of ours to put back
            pass


@dataclass
class RayExecutor:
    """Ray Core actors, ``actors`` of them, each ``num_cpus`` CPUs (may be fractional) and
    ``num_gpus`` GPUs (None: one where the cluster has GPUs, else none).  With no ``address`` an
    embedded Ray starts and stops with the job; ``address`` joins a running cluster, whose nodes
    must all see the work dir (a shared file system)."""

    address: Optional[str] = None
    actors: int = 1
    num_cpus: float = 1.0
    num_gpus: Optional[float] = None
    threads: int = 0  # compute threads a worker uses in its actor (0: its CPUs, at least 1)
    wait_s: float = 600.0  # longest stretch with no live actor before stopping with one line
    max_unit_deaths: int = 3
    where: Optional[dict] = None  # unit -> "node:pid" that committed it (for tests and logs)

    def __post_init__(self):
        if self.actors < 1:
            raise ValueError(f"--ray_actors must be >= 1, got {self.actors}")
        if self.num_cpus < 0 or (self.num_gpus is not None and self.num_gpus < 0):
            raise ValueError("--ray_num_cpus and --ray_num_gpus must be >= 0")
        if self.wait_s <= 0:
            raise ValueError(f"--ray_wait_s must be > 0, got {self.wait_s}")

    ships_workers = True  # each actor builds its own worker (and loads its own model)

    @property
    def threads_per_worker(self) -> int:
        return self.threads or max(1, int(self.num_cpus))

    def run(self, plan: UnitPlan, tasks: Iterator[Task], factory: WorkerFactory,
            done: Callable[[int], None]) -> None:
        first = next(tasks, None)
        if first is None:  # every unit committed already: no Ray started, no actor, no model
            return
        tasks = itertools.chain([first], tasks)
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            # no address: a Ray of our own, even where RAY_ADDRESS is set or another cluster runs
            # on this machine (ray.init() with no address would join those)
            kwargs = {"address": self.address} if self.address else {
                "address": "local", "num_cpus": max(1, int(round(self.actors * self.num_cpus + 0.5))),
                "include_dashboard": False}
            keep_sigterm_handler(lambda: ray.init(**kwargs, log_to_driver=False, configure_logging=False,
                                                  runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}}))
        try:
            _Run(self, plan, tasks, factory, done).loop()
        finally:
            if started_here:
                ray.shutdown()


class _Run:
    """One run of the executor: the actor pool, the queue of units put back, the bounded wait."""

    def __init__(self, ex: RayExecutor, plan: UnitPlan, tasks: Iterator[Task], factory: WorkerFactory,
                 done: Callable[[int], None]):
        import ray

        self.ray, self.ex, self.plan, self.tasks, self.factory, self.done = ray, ex, plan, tasks, factory, done
        gpus = ex.num_gpus if ex.num_gpus is not None else (1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0)
        self.demand = {"CPU": ex.num_cpus, **({"GPU": gpus} if gpus else {})}
        # no restart in place, no task retry on a dead actor: a loss comes back here as an error
        self.actor_cls = ray.remote(num_cpus=ex.num_cpus, num_gpus=gpus, max_restarts=0, max_task_retries=0,
                                    scheduling_strategy="SPREAD")(UnitActor)
        self.actors: list[_Actor] = []
        self.units: dict = {}  # ref -> (task, actor)
        self.put_back: deque[Task] = deque()
        self.deaths: dict[int, int] = {}  # unit -> actors it was in when they died
        self.exhausted = False
        self.stalled_since: Optional[float] = None
        ex.where = ex.where if ex.where is not None else {}

    def spawn(self) -> None:
        handle = self.actor_cls.remote(self.factory, self.plan)
        self.actors.append(_Actor(handle, handle.ready.remote()))

    def next_task(self) -> Optional[Task]:
        if self.put_back:
            return self.put_back.popleft()
        if self.exhausted:
            return None
        task = next(self.tasks, None)
        self.exhausted = task is None
        return task

    def suspect(self, task: Task) -> bool:
        """In flight when an actor died: it may be the one that killed it."""
        return task.index in self.deaths

    def holds_suspect(self, actor: _Actor) -> bool:
        return any(self.suspect(self.units[ref][0]) for ref in actor.units)

    def dispatch(self) -> None:
        """Give each live actor units up to :data:`UNITS_PER_ACTOR` in flight; a suspect unit
        only alone, so the next death is attributable to one unit."""
        for actor in self.actors:
            while actor.where is not None and len(actor.units) < UNITS_PER_ACTOR and not self.holds_suspect(actor):
                if actor.units and self.put_back and self.suspect(self.put_back[0]):
                    break  # the suspect waits for an idle actor
                task = self.next_task()
                if task is None:
                    return
                ref = actor.handle.process.remote(task)
                actor.units.add(ref)
                self.units[ref] = (task, actor)
                logger.info("unit %d sent to node %s", task.index, actor.where)

    def lose(self, actor: _Actor, why: BaseException) -> None:
        """An actor died (its node lost, its process killed): its units go back to the front of
        the queue, in order, and a fresh actor is asked for in its place."""
        if getattr(why, "actor_init_failed", False):
            raise ActorCannotStart(f"a Ray actor could not be constructed on node {(actor.where or '?')[:12]}: "
                                   f"{last_line(why)}; is the plugin installed there, the same version?")
        if actor not in self.actors:
            return
        self.actors.remove(actor)
        lost = sorted((self.units.pop(ref)[0] for ref in list(actor.units)), key=lambda t: t.index)
        for task in reversed(lost):
            self.deaths[task.index] = self.deaths.get(task.index, 0) + 1
            if self.deaths[task.index] >= self.ex.max_unit_deaths:
                raise UnitKillsWorkers(f"unit {task.index} ({task.passages[0].where}) was in flight on "
                                       f"{self.deaths[task.index]} Ray actors when they died (last: "
                                       f"{' '.join(str(why).split())[:200]}); committed units are kept")
            self.put_back.appendleft(task)
        logger.warning("a Ray actor on node %s was lost (%s); unit(s) %s put back, a new actor asked for",
                       (actor.where or "?").split(":")[0][:12], type(why).__name__,
                       " ".join(str(t.index) for t in lost) or "none")
        try:
            self.ray.kill(actor.handle, no_restart=True)
        except Exception:
            pass
        self.spawn()

    def stall_check(self) -> None:
        if any(a.where is not None for a in self.actors):
            self.stalled_since = None
            return
        now = time.monotonic()
        self.stalled_since = self.stalled_since or now
        if now - self.stalled_since < self.ex.wait_s:
            return
        ray = self.ray
        free, total = ray.available_resources(), ray.cluster_resources()
        have = ", ".join(f"{k} {free.get(k, 0):g} free of {total.get(k, 0):g}" for k in self.demand)
        committed = sum(1 for u in existing_units(self.plan.work, self.plan.suffixes) if u.committed())
        raise WorkersUnavailable(
            f"no Ray actor could run for {self.ex.wait_s:g} s: each needs {self.demand} and no node has it "
            f"(cluster: {have}); {committed} committed units are kept: add a node with those resources and "
            f"rerun the same command (or run it with --executor local) to resume")

    def finish_ready(self, actor: _Actor) -> None:
        try:
            actor.where = self.ray.get(actor.ready_ref)
            logger.info("a Ray actor is ready on node %s", actor.where)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.ActorUnschedulableError) as exc:
            self.lose(actor, exc)

    def finish_unit(self, ref) -> None:
        task, actor = self.units[ref]
        try:
            self.ray.get(ref)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.ObjectLostError) as exc:
            self.lose(actor, exc)
            return
        except self.ray.exceptions.RayTaskError as exc:  # the worker raised: its own error, one line
            raise (exc.cause if exc.cause is not None else exc) from None
        del self.units[ref]
        actor.units.discard(ref)
        self.ex.where[task.index] = actor.where
        self.done(task.index)

    def loop(self) -> None:
        try:
            for _ in range(self.ex.actors):
                self.spawn()
            while True:
                self.dispatch()
                if not self.units and not self.put_back and self.exhausted:
                    return
                waiting = {a.ready_ref: a for a in self.actors if a.where is None}
                refs = list(self.units) + list(waiting)
                ready, _ = self.ray.wait(refs, num_returns=1, timeout=POLL_S) if refs else ([], [])
                for ref in ready:
                    if ref in waiting:
                        self.finish_ready(waiting[ref])
                    elif ref in self.units:  # (not a unit of an actor already given up)
                        self.finish_unit(ref)
                self.stall_check()
        finally:
            for actor in self.actors:  # placed or still pending: nothing of this run lingers
                try:
                    self.ray.kill(actor.handle, no_restart=True)
                except Exception:
                    pass


@dataclass
class RayArguments:
    """Ray actors (an embedded local Ray, or --ray_address)"""

    ray_address: Optional[str] = field(default=None, metadata={
        "help": "join this Ray cluster (e.g. auto, or HOST:6379; default: an embedded local Ray that starts and "
                "stops with the job)"})
    ray_actors: int = field(default=1, metadata={"help": "Ray actors (one model load each)"})
    ray_num_cpus: float = field(default=1.0, metadata={"help": "CPUs per Ray actor (fractions allowed)"})
    ray_num_gpus: Optional[float] = field(default=None, metadata={"help": "GPUs per Ray actor (default: 1 if any)"})
    ray_wait_s: float = field(default=600.0, metadata={
        "help": "seconds to wait while no Ray actor can run (nodes lost, a demand no node meets) before stopping "
                "with one line; committed units are kept and a rerun resumes"})

    def build(self, threads: int = 0) -> RayExecutor:
        return RayExecutor(address=self.ray_address, actors=self.ray_actors, num_cpus=self.ray_num_cpus,
                           num_gpus=self.ray_num_gpus, threads=threads, wait_s=self.ray_wait_s)
