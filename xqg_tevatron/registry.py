"""Name -> implementation registries (executors, generator backends): the one shape they share.

An entry is the arguments dataclass of one implementation (its own flags, and a ``build`` that
makes it, importing its module only then) plus, when it needs a package the base install lacks,
that package and the pip extra that installs it.  :func:`flags_dataclass` declares a registry's
flags once for every command: the selector (``--executor``, ``--backend``) and each entry's own.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Optional


@dataclass(frozen=True)
class Registered:
    arguments: type
    requires: Optional[str] = None  # the importable package it needs
    extra: Optional[str] = None  # the pip extra that installs it

    def check_installed(self, flag: str, name: str) -> None:
        """A one-line error naming the extra, before any work, when the package is missing."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            raise ValueError(f"{flag} {name} needs the {self.requires} package: pip install 'xqg_tevatron[{self.extra}]'")

    @property
    def summary(self) -> str:
        return (self.arguments.__doc__ or "").strip().splitlines()[0]


def flags_dataclass(cls_name: str, module: str, selector: str, default: str, registry: dict[str, Registered]) -> type:
    """A dataclass with ``selector`` (one of the registry's names) and every entry's own fields."""
    import typing

    own = [(f, typing.get_type_hints(spec.arguments)[f.name]) for spec in registry.values() for f in fields(spec.arguments)]
    made = make_dataclass(cls_name, [
        (selector, str, field(default=default, metadata={"help": "; ".join(
            f"{name}: {spec.summary}" for name, spec in registry.items())})),
        *[(f.name, kind, field(default=f.default, metadata=f.metadata)) for f, kind in own]])
    made.__module__ = module
    made.__doc__ = f"``--{selector}`` and every registered {selector}'s own flags (declared once)."
    return made


def chosen(registry: dict[str, Registered], selector: str, args) -> object:
    """The arguments dataclass of the entry ``args.<selector>`` names, filled from ``args``; a
    one-line error for an unknown name or a missing extra."""
    name = getattr(args, selector)
    spec = registry.get(name)
    if spec is None:
        raise ValueError(f"--{selector} must be one of {', '.join(registry)}, got {name!r}")
    spec.check_installed(f"--{selector}", name)
    return spec.arguments(**{f.name: getattr(args, f.name) for f in fields(spec.arguments)})
