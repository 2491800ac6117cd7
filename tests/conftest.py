"""Shared fixtures: tiny models built in-process, the embedded data set converted once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# a fresh network namespace with only loopback: how every test or benchmark that starts Ray or a
# server runs on these machines (they may not bind the machine's address)
NETNS = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "netns"]


def netns_available() -> bool:
    return subprocess.run(NETNS + ["true"], capture_output=True).returncode == 0


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m ...`` like a user would; fail the test with its output on error."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\n"
                             f"STDERR:\n{proc.stderr[-6000:]}")
    return proc


def build_tiny_bert(out: Path, texts: list[str], hidden: int = 32, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece vocab learnt from ``texts``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=3000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=256)
    BertModel(config).save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    from xqg_tevatron.data.xor_format import prepare_default

    return prepare_default(tmp_path_factory.mktemp("xor_default"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, prepared) -> Path:
    from xqg_tevatron.corpus import iter_passages
    from xqg_tevatron.data.xor_format import read_questions

    texts = [p.full_text() for p in iter_passages([prepared.corpus_file])]
    texts += [q.question for q in read_questions(prepared.questions_train)]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), texts)


@pytest.fixture(scope="session")
def demo_encoder() -> Path:
    from xqg_tevatron.demo_encoder import build_demo_encoder

    return build_demo_encoder()


# What `make test-fast` leaves out besides `slow`: a test that starts a process or loads a model
# (any of these fixtures, or a CLI / subprocess / searcher / encoder call in its body) takes
# seconds to minutes on 2 cores; the rest take milliseconds to a few seconds.
MODEL_FIXTURES = {"tiny_model", "demo_encoder", "indexes", "encoder_dir", "tiny_mt5", "mt5_dir"}
PROCESS_CALLS = ("run_cli(", "subprocess.", "cli(", "encode(", "IndexSearcher(", "DenseEncoder(", "in_netns(",
                 "fetch(", "generate(", "run_py(", "encode_cli(", "dictionary(")


def pytest_collection_modifyitems(config, items):
    import inspect

    for item in items:
        if item.get_closest_marker("slow"):
            continue
        try:
            source = inspect.getsource(item.function)
        except (OSError, TypeError):
            source = ""
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())) or any(c in source for c in PROCESS_CALLS):
            item.add_marker(pytest.mark.process)
