"""The seq2seq generator backends by name (``--backend``), and the one way to build a generator
and the one record of what it was built with, shared by the generation CLI (``generate.seq2seq
generate``) and the one-command job.  A backend's heavy package (transformers' model code,
CTranslate2) is imported only when a generator is made; one the base install lacks names its pip
extra.  Adding a backend: its module (a ``BatchedGenerator`` and its arguments dataclass with
``check``, ``recorded`` and ``build``) plus one line in :data:`BACKENDS`."""
from __future__ import annotations

from typing import Optional

from xqg_tevatron.generate.backend import BatchedGenerator, SamplingConfig
from xqg_tevatron.generate.ct2_backend import Ct2Arguments
from xqg_tevatron.generate.hf_backend import HfArguments
from xqg_tevatron.registry import Registered, chosen, flags_dataclass

BACKENDS: dict[str, Registered] = {
    "hf": Registered(HfArguments),
    "ct2": Registered(Ct2Arguments, requires="ctranslate2", extra="ct2"),
}

# --backend and every backend's own flags, declared once for every command that generates
BackendArguments = flags_dataclass("BackendArguments", __name__, "backend", "hf", BACKENDS)


def add_backend_arguments(parser) -> None:
    from xqg_tevatron.cli import add_dataclass_arguments

    add_dataclass_arguments(parser, BackendArguments)


def backend_of(args, sampling: SamplingConfig):
    """The chosen backend's arguments, checked against the sampling settings (one line, before
    anything is loaded or converted)."""
    backend = chosen(BACKENDS, "backend", args)
    backend.check(sampling)
    return backend


def make_generator(model_dir: str, sampling: SamplingConfig, backend: Optional[object] = None) -> BatchedGenerator:
    """The generator of ``backend`` (an arguments dataclass of :data:`BACKENDS`; default: hf)."""
    return (backend or HfArguments()).build(model_dir, sampling)


def generator_settings(model_dir: str, sampling: SamplingConfig, backend: object) -> dict:
    """What a seq2seq generator's output is a function of: the one record both commands keep in
    their units (a unit made with other settings is never mixed in)."""
    from xqg_tevatron.runtime.workdir import model_fingerprint

    name = next(n for n, spec in BACKENDS.items() if isinstance(backend, spec.arguments))
    return {"kind": "seq2seq", "backend": name, **backend.recorded(), "model_sha256": model_fingerprint(model_dir),
            **sampling.recorded()}
