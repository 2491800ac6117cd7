"""A fresh network namespace with only loopback: how every test or benchmark that starts Ray or a
server runs on these machines (they may not bind the machine's address)."""
from __future__ import annotations

import subprocess

NETNS = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "netns"]


def netns_available() -> bool:
    return subprocess.run(NETNS + ["true"], capture_output=True).returncode == 0
