"""Tevatron 0.1.0 classes patched to run on transformers 5.x.

Tevatron's PyPI release (0.1.0) predates transformers 5, which removed
``tokenizer.encode_plus`` and changed the ``Trainer.compute_loss`` / ``Trainer._save``
signatures.  The subclasses here keep Tevatron's behaviour and argument names and only fix
those seams, plus add what e5-style encoders need (mean pooling, L2 norm, prefixes,
temperature).
"""
from xqg_tevatron.tevatron_compat.arguments import EncoderArguments, XqgDataArguments, XqgModelArguments
from xqg_tevatron.tevatron_compat.data import EncodeDataset, QPCollator, TrainDataset
from xqg_tevatron.tevatron_compat.modeling import DenseModel, DenseModelForInference, EncoderSettings
from xqg_tevatron.tevatron_compat.trainer import DenseTrainer

__all__ = [
    "DenseModel", "DenseModelForInference", "DenseTrainer", "EncodeDataset", "EncoderArguments",
    "EncoderSettings", "QPCollator", "TrainDataset", "XqgDataArguments", "XqgModelArguments",
]
