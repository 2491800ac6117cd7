"""Tevatron 0.1.0 on transformers 5: tokenisation without encode_plus, collator, loss with temperature.
(Every test here loads a model: torch, transformers and Tevatron are imported inside them, so the
fast tier, which collects this module too, does not pay for them.)"""
from __future__ import annotations

import pytest


def test_encode_one_adds_specials_and_truncates(tiny_model, demo_encoder):
    from transformers import AutoTokenizer

    from xqg_tevatron.tevatron_compat.data import encode_one

    bert = AutoTokenizer.from_pretrained(tiny_model)
    ids = encode_one(bert, "the official currency of finland", 5)["input_ids"]
    assert ids[0] == bert.cls_token_id and ids[-1] == bert.sep_token_id and len(ids) == 5
    assert encode_one(bert, [7, 8, 9], 10)["input_ids"] == [bert.cls_token_id, 7, 8, 9, bert.sep_token_id]
    xlmr = AutoTokenizer.from_pretrained(demo_encoder)
    full = encode_one(xlmr, "Helsinki", 32, prefix="passage: ")["input_ids"]
    assert full == xlmr("passage: Helsinki")["input_ids"]  # same as the tokenizer's own template


def test_collator_pads_dynamically(tiny_model):
    from transformers import AutoTokenizer

    from xqg_tevatron.tevatron_compat import QPCollator
    from xqg_tevatron.tevatron_compat.data import encode_one

    tok = AutoTokenizer.from_pretrained(tiny_model)
    feats = [(encode_one(tok, "a b c", 32), [encode_one(tok, "x", 64), encode_one(tok, "x y z w", 64)]),
             (encode_one(tok, "a", 32), [encode_one(tok, "y", 64), encode_one(tok, "q", 64)])]
    q, p = QPCollator(tok, max_q_len=32, max_p_len=64)(feats)
    assert q["input_ids"].shape[1] == len(feats[0][0]["input_ids"]) < 32
    assert p["input_ids"].shape == (4, 6) and p["attention_mask"].sum().item() == 6 + 3 + 3 + 3


def test_contrastive_loss_uses_temperature(tmp_path, tiny_model):
    import torch
    import torch.nn.functional as F
    from tevatron.arguments import DenseTrainingArguments
    from transformers import AutoTokenizer

    from xqg_tevatron.tevatron_compat import DenseModel, XqgDataArguments, XqgModelArguments

    tok = AutoTokenizer.from_pretrained(tiny_model)
    margs = XqgModelArguments(model_name_or_path=str(tiny_model), pooling="mean", normalize=True, temperature=0.05)
    dargs = XqgDataArguments(train_n_passages=2)
    targs = DenseTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2)
    model = DenseModel.build(margs, dargs, targs).train()
    q = tok(["currency of finland", "language of japan"], padding=True, return_tensors="pt")
    p = tok(["finland euro", "sweden krona", "japan japanese", "chile peso"], padding=True, return_tensors="pt")
    out = model(query=dict(q), passage=dict(p))
    qr, pr = out.q_reps.detach(), out.p_reps.detach()
    assert torch.allclose(qr.norm(dim=-1), torch.ones(2), atol=1e-5)  # normalised
    expected = F.cross_entropy(qr @ pr.T / 0.05, torch.tensor([0, 2]))
    assert torch.allclose(out.loss.detach(), expected, atol=1e-5)


def _scheduler_lrs(tmp_path, tiny_model, prepared, *extra: str, steps: int = 20) -> list[float]:
    """Learning rates the real driver's trainer schedules over its first steps."""
    from xqg_tevatron.training.train import build_trainer, parse_args

    model_args, data_args, training_args, cs_args, _ = parse_args([
        "--model_name_or_path", str(tiny_model), "--output_dir", str(tmp_path / "out"),
        "--train_dir", str(prepared.train_jsonl.parent), "--per_device_train_batch_size", "2",
        "--learning_rate", "1e-3", "--max_steps", str(steps), "--report_to", "none", *extra])
    trainer, _ = build_trainer(model_args, data_args, training_args, cs_args)
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    lrs = []
    for _ in range(6):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    return lrs


def test_warmup_ratio_is_honoured_as_tevatron_did_on_transformers_4(tmp_path, tiny_model, prepared):
    # Tevatron's default warmup_ratio 0.1 of 20 steps = 2 warmup steps, then linear decay
    lrs = _scheduler_lrs(tmp_path / "default", tiny_model, prepared)
    assert lrs[:4] == pytest.approx([0.0, 5e-4, 1e-3, 1e-3 * 17 / 18])
    # a user's ratio: ceil(0.25 * 20) = 5 warmup steps
    lrs = _scheduler_lrs(tmp_path / "ratio", tiny_model, prepared, "--warmup_ratio", "0.25")
    assert lrs == pytest.approx([0.0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3])
    # explicit warmup_steps win over the ratio, as on 4.x
    lrs = _scheduler_lrs(tmp_path / "steps", tiny_model, prepared, "--warmup_steps", "4", "--warmup_ratio", "0.5")
    assert lrs[:5] == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3])


def test_passage_field_separator_names_a_tokenizer_token_as_in_tevatron(tmp_path, tiny_model):
    from transformers import AutoTokenizer

    from xqg_tevatron.tevatron_compat import XqgDataArguments
    from xqg_tevatron.tevatron_compat.data import load_train_groups, resolve_separator

    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert resolve_separator(tok, "sep_token") == "[SEP]" == tok.sep_token
    assert resolve_separator(tok, " ") == " " and resolve_separator(tok, " | ") == " | "
    train = tmp_path / "train.jsonl"
    train.write_text('{"query": "q", "positive_passages": [{"title": "T", "text": "body"}], '
                     '"negative_passages": []}\n')
    groups = load_train_groups(XqgDataArguments(train_files=[str(train)], passage_field_separator="sep_token"),
                               tokenizer=tok)
    assert groups[0]["positives"] == ["T[SEP]body"]
