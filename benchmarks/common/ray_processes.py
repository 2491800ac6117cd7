"""Real Ray processes for tests and benchmarks: the README's cluster recipe run as written, nodes
killed by pid.

Why not ``ray.cluster_utils``: it simulates nodes inside one process tree, with none of what a
real cluster adds (token authentication between ``ray start`` processes, raylets that die on
their own, actors that lose their node).  Here every node is a ``ray start`` process tree, as on
a cluster, on one machine.

Everything runs inside the caller's own network namespace (only loopback), so every process in
that namespace is one the caller started: :func:`stop_all` kills exactly those, by pid (never
``ray stop``, which stops every Ray process on the machine).  Ray's files go to a temporary
``RAY_TMPDIR`` and ``HOME`` (its auth token, its "current cluster" file), never the user's.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common.scratch import scratch_dir

def recipe(readme: str) -> list[str]:
    """The README's cluster recipe: the commands of the bash block after ``<!-- ray-recipe -->``,
    continuation lines joined, comments dropped."""
    block = re.search(r"<!-- ray-recipe -->\s*```bash\n(.*?)```", readme, flags=re.S).group(1)
    lines = []
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def namespace_pids() -> list[int]:
    """Every process in this process's network namespace except this process and its ancestors."""
    mine = os.readlink("/proc/self/ns/net")
    keep, p = set(), os.getpid()
    while p > 1:
        keep.add(p)
        p = _ppid(p)
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in keep:
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == mine:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def kill_all(pids) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            children.setdefault(_ppid(int(entry)), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


@dataclass
class RayProcesses:
    """A cluster of ``ray start`` processes on this machine, started by the README's recipe."""

    lines: list[str]  # the recipe
    home: Path  # HOME and RAY_TMPDIR for every Ray process and the job
    env: dict = field(default_factory=dict)  # the recipe's variables (HEAD, CORPUS, ...)

    def __post_init__(self):
        self.home.mkdir(parents=True, exist_ok=True)
        self._scratch = contextlib.ExitStack()
        # a short name: Ray's socket paths under it (session folder, sockets/plasma_store.N) must fit 107 bytes
        self.ray_tmp = self._scratch.enter_context(scratch_dir(Path(tempfile.gettempdir()), "xr"))
        self.exports = [line for line in self.lines if line.startswith("export ")]
        # as a user with the environment activated: its python and ray first on PATH
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.environ = {**os.environ, "PATH": path, "HOME": str(self.home), "RAY_TMPDIR": str(self.ray_tmp),
                        **{k: str(v) for k, v in self.env.items()}}

    def line(self, starts: str) -> str:
        found = [line for line in self.lines if line.startswith(starts)]
        assert len(found) == 1, f"the recipe has {len(found)} lines starting {starts!r}: {self.lines}"
        return found[0]

    def shell(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess:
        script = "\n".join(self.exports + ["set -e", command])
        proc = subprocess.run(["bash", "-c", script], env=self.environ, capture_output=True, text=True,
                              timeout=timeout)
        assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        return proc

    def popen(self, command: str, log: Path) -> subprocess.Popen:
        script = "\n".join(self.exports + [f"exec {command}"])
        return subprocess.Popen(["bash", "-c", script], env=self.environ, stdout=log.open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_head(self) -> None:
        self.shell(self.line("ray get-auth-token"))
        self.shell(self.line("ray start --head"))

    def add_worker(self, *extra: str) -> str:
        """One more worker node (the recipe's worker line, ``extra`` appended); its node id."""
        before = set(self.raylets())
        self.shell(self.line("ray start --address") + " " + " ".join(map(shlex.quote, extra)))
        new = set(self.raylets()) - before
        assert len(new) == 1, new
        return new.pop()

    def raylets(self) -> dict[str, int]:
        """node id -> raylet pid, for every raylet of this namespace."""
        out = {}
        for pid in namespace_pids():
            cmd = _cmdline(pid)
            if cmd and cmd[0].endswith("/raylet"):
                node = next((a.split("=", 1)[1] for a in cmd if a.startswith("--node_id=")), None)
                if node and "--head" not in cmd:
                    out[node] = pid
        return out

    def kill_node(self, node_id: str) -> None:
        """A node lost at once: its raylet and everything under it (actors, agents), SIGKILL."""
        kill_all(descendants(self.raylets()[node_id]))

    def kill_head(self) -> None:
        """The head lost: its GCS server and its raylet (with everything under it), SIGKILL."""
        for pid in namespace_pids():
            cmd = _cmdline(pid)
            if cmd and (cmd[0].endswith("/gcs_server") or (cmd[0].endswith("/raylet") and "--head" in cmd)):
                kill_all(descendants(pid))

    def stop_all(self) -> None:
        for _ in range(3):
            pids = namespace_pids()
            if not pids:
                break
            kill_all(pids)
            time.sleep(0.5)
        self._scratch.close()
