"""How the encoder runs (batch, lengths, device, dtype): a plain dataclass, no torch.

Kept apart from :mod:`encoder` so that commands and tests can build and check it before any
model (and torch) is loaded: a bad ``--dtype`` is a one-line error before the import.
"""
from __future__ import annotations

from dataclasses import dataclass

from xqg_tevatron.batching import DTYPES


@dataclass
class EncodeConfig:
    batch_size: int = 64
    q_max_len: int = 32
    p_max_len: int = 128
    device: str = "cpu"
    show_progress: bool = True
    # weights and activations on the device: float16 / bfloat16 halve memory and run on GPU tensor
    # cores (vectors still come back as float32; recorded in the manifest, since they differ)
    dtype: str = "float32"

    def __post_init__(self):
        check_dtype(self.dtype)


def check_dtype(name: str) -> str:
    """``name`` when it is a dtype the encoder runs in; a one-line error otherwise."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return name
