"""``python -m xqg_tevatron.training``: the training stage's command (``training/train.py``)."""
import sys

from xqg_tevatron.training.train import main

if __name__ == "__main__":
    sys.exit(main())
