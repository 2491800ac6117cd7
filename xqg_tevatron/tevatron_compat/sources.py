"""Where training groups come from, checked before ``datasets``, Tevatron's data module or torch
is imported: a missing file, a Hub loading script (which datasets 5 refuses) or no data at all is
a one-line error that costs nothing."""
from __future__ import annotations

import os

# Tevatron's Hub data sets are loading scripts (datasets 5 refuses them), as is the authors' xQG set
SCRIPT_DATASETS = frozenset({"Tevatron/xor-tydi", "Tevatron/msmarco-passage", "Tevatron/msmarco-passage-corpus",
                             "Tevatron/wikipedia-nq", "Tevatron/wikipedia-nq-corpus", "Tevatron/xor-tydi-corpus",
                             "ielab/xor-tydi-xqg-augmented"})


def check_train_source(data_args) -> None:
    """Raise the one-line error for training data that cannot be read; return when it can."""
    if data_args.train_path:
        missing = [p for p in data_args.train_path if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f"training files not found: {missing}")
    elif data_args.dataset_name and data_args.dataset_name != "json":
        if data_args.dataset_name in SCRIPT_DATASETS:
            from xqg_tevatron.corpus import hub_dataset_hint

            raise ValueError(hub_dataset_hint(data_args.dataset_name).replace(
                "then use the", "then pass --train_files with the"))
    else:
        raise ValueError("no training data: pass --train_dir DIR or --train_files F1 [F2 ...]")
