"""Tevatron 0.1.0 classes patched to run on transformers 5.x.

Tevatron's PyPI release (0.1.0) predates transformers 5, which removed
``tokenizer.encode_plus`` and changed the ``Trainer.compute_loss`` / ``Trainer._save``
signatures.  The subclasses here keep Tevatron's behaviour and argument names and only fix
those seams, plus add what e5-style encoders need (mean pooling, L2 norm, prefixes,
temperature).
"""
import importlib

# name -> submodule; imported on first use (PEP 562), so encoding and search, which need only
# ``modeling`` and ``tokens``, never import Tevatron's data module, the trainer or ``datasets``
_HOME = {
    "EncoderArguments": "arguments", "XqgDataArguments": "arguments", "XqgModelArguments": "arguments",
    "EncodeDataset": "data", "QPCollator": "data", "TrainDataset": "data",
    "DenseModel": "modeling", "DenseModelForInference": "modeling", "EncoderSettings": "settings",
    "DenseTrainer": "trainer",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
