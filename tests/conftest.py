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


# The test tiers, from explicit markers: `slow` (end-to-end CLI runs) and `process` (starts a
# process or a JVM, or loads a model), both left out by `make test-fast`.  A test that uses one of
# these fixtures loads a model, so it is in `process` by its declared fixtures; any other test that
# starts a process says so with @pytest.mark.process, and the guard below fails a fast-tier test
# that starts one without it (so the tier cannot drift from what the tests do).
MODEL_FIXTURES = {"tiny_model", "demo_encoder", "indexes", "encoder_dir", "tiny_mt5", "mt5_dir"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.get_closest_marker("slow") and MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_process(request, monkeypatch):
    """In the fast tier (no `slow`, no `process` marker) starting a process or the JVM is a test error."""
    if request.node.get_closest_marker("slow") or request.node.get_closest_marker("process"):
        yield
        return
    import subprocess

    def refuse(self, args, *rest, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process ({str(args)[:80]}): mark it "
                             "@pytest.mark.process")

    # the class stays (libraries subclass it at import); only starting one is refused, for this test
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    jvm_before = _jvm_running()
    yield
    if not jvm_before and _jvm_running():
        pytest.fail(f"{request.node.nodeid} starts the JVM (Pyserini): mark it @pytest.mark.process")


def _jvm_running() -> bool:
    """Whether this process's JVM runs (jnius's own state; nothing imported to ask)."""
    config = sys.modules.get("jnius_config")
    return bool(config is not None and config.vm_running)
