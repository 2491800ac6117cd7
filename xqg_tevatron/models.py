"""Model names, one rule for every command: a local directory, or a Hugging Face id already in
the local Hugging Face cache.  The Hub is never asked.

Why: on a cluster node (and on these machines) a Hub request for a missing model retries the
network for a minute and then blames the connection; a job that runs for hours must not find
that out at its first unit.  So a name is resolved before anything loads, the same way by the
encode, train, generation, job and search commands, and a name that cannot be resolved is one
line that says what to do.
"""
from __future__ import annotations

import os
from pathlib import Path


def looks_local(name: str) -> bool:
    """A path rather than a Hub id (``owner/name`` or ``name``)."""
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1 or name.endswith("/")


def resolve_model(name: str | os.PathLike, what: str = "model") -> str:
    """The local directory of model ``name`` (see module doc), or a one-line error."""
    name = str(name)
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local)
    if looks_local(name) or local.exists():
        raise FileNotFoundError(f"{what} directory not found: {name} (a local path; the Hub was not asked)")
    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json")
    if isinstance(cached, str):
        return str(Path(cached).parent)
    raise FileNotFoundError(f"{what} {name!r} not found: not a local directory, and not in the Hugging Face cache "
                            f"({constants.HF_HUB_CACHE}); the Hub is not asked: download it first (hf download {name}) "
                            "or pass a local directory")
