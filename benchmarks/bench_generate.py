"""Query generation throughput: Hugging Face ``generate`` vs the CTranslate2 backend, side by side.

Same randomly initialised MT5 with mT5-small's shapes (d_model 512, 8+8 layers, 6 heads, d_ff
1024, gated-gelu, untied head; the vocabulary is the XLM-R tokenizer's 250,002 entries instead of
mT5's 250,112: mT5's sentencepiece model is not available offline, and 0.04% of the output
layer does not change speed).  Weights do not change speed; shapes do.  Same inputs: w100-like
passages of the embedded corpus in the generation prompt, padded out to 256 tokens (the
generation input length).  Output length is forced (min = max new tokens), so both backends
produce the same number of tokens; top-k 10 sampling as in generation.  Each configuration
times the whole generator call (tokenise, generate, decode) through the plugin's own
generator classes, and prints tokens/s and the ratio to HF.  Then greedy agreement: identical
token ids of HF and CTranslate2 (float32) on a tiny random MT5.

    python -m benchmarks.bench_generate [--prompts 64 --new_tokens 32 --batch_sizes 8 32 --rounds 3] [--quick]
"""
import argparse
import sys
import time
from pathlib import Path

from statistics import median

from benchmarks.common import quick
from benchmarks.common.record import BenchmarkRecord
from benchmarks.common.scratch import run_benchmark, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
# both backends and compute types, the greedy agreement; the timed model at the tiny shapes
QUICK = {"prompts": 4, "new_tokens": 4, "batch_sizes": [2], "shapes": "tiny", "rounds": 1}


def build_mt5(out: Path, tokenizer_dir: Path, small_shapes: bool) -> Path:
    import torch
    from transformers import AutoTokenizer, MT5Config, MT5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    dims = dict(d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_decoder_layers=8, num_heads=6) if small_shapes \
        else dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4)
    cfg = MT5Config(vocab_size=len(tok), feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                    decoder_start_token_id=tok.pad_token_id, **dims)
    MT5ForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def passages(n: int, tokenizer) -> list:
    """``n`` passages built from consecutive embedded passages until the generation prompt
    reaches 256 tokens (the generation input length; longer ones are truncated there)."""
    from xqg_tevatron.corpus import Passage, iter_passages
    from xqg_tevatron.data.xor_format import DEFAULT_DIR
    from xqg_tevatron.generate.backend import make_prompt

    pool = list(iter_passages([DEFAULT_DIR / "psgs_w100.tsv"]))
    out, j = [], 0
    for i in range(n):
        words = []
        while len(tokenizer(make_prompt("ja", pool[i % len(pool)].title, " ".join(words)))["input_ids"]) < 256:
            words += pool[j % len(pool)].text.split()
            j += 1
        out.append(Passage(f"p{i}", " ".join(words), pool[i % len(pool)].title))
    return out


def timed(generator, batch, lang: str = "ja") -> float:
    started = time.perf_counter()
    generator(batch, lang)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--new_tokens", type=int, default=32)
    ap.add_argument("--batch_sizes", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--compute_types", nargs="+", default=["int8", "float32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", choices=["mt5-small", "tiny"], default="mt5-small",
                    help="the timed model's shapes (tiny: the agreement check's toy MT5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median and spread)")
    args = quick.parse_args(ap, argv, QUICK)
    record = BenchmarkRecord("bench_generate", argv, args.quick)
    import torch

    torch.set_num_threads(args.threads)
    from xqg_tevatron.demo_encoder import build_demo_encoder
    from xqg_tevatron.generate.ct2_backend import Ct2QueryGenerator
    from xqg_tevatron.generate.backend import SamplingConfig, make_prompt
    from xqg_tevatron.generate.hf_backend import Seq2SeqQueryGenerator

    from transformers import AutoTokenizer

    tokenizer_dir = build_demo_encoder()  # XLM-R's tokenizer.json (offline)
    data = passages(args.prompts, AutoTokenizer.from_pretrained(tokenizer_dir))
    with scratch_dir(ROOT / ".cache", "bench-generate") as tmp:
        model = build_mt5(tmp / f"mt5-{args.shapes}-shapes", tokenizer_dir, small_shapes=args.shapes == "mt5-small")
        # every generator built once (ct2 converts once per compute type); then --rounds rounds,
        # each timing every (batch, backend) in turn, so a drift of the machine hits all alike
        names = ["hf float32"] + [f"ct2 {ct}" for ct in args.compute_types]
        generators, lengths = {}, []
        for bs in args.batch_sizes:
            cfg = SamplingConfig(n_per_lang=1, top_k=10, max_length=args.new_tokens + 1, batch_size=bs,
                                 min_new_tokens=args.new_tokens)
            generators[bs, "hf float32"] = hf = Seq2SeqQueryGenerator(str(model), cfg)
            lengths = [len(x) for x in hf.tokenizer([make_prompt("ja", p.title, p.text) for p in data],
                                                    max_length=256, truncation=True)["input_ids"]]
            for ct in args.compute_types:
                gen = Ct2QueryGenerator(str(model), cfg, ct, str(tmp / "ct2"), threads=args.threads)
                produced = sum(len(t) for t in gen.token_ids([make_prompt("ja", p.title, p.text) for p in data[:bs]]))
                assert produced == bs * args.new_tokens, (produced, bs * args.new_tokens)  # equal token counts
                generators[bs, f"ct2 {ct}"] = gen
            for name in names:
                timed(generators[bs, name], data[:bs])  # warm-up
        seconds: dict = {key: [] for key in generators}
        for rnd in range(args.rounds):
            for key, gen in generators.items():
                seconds[key].append(timed(gen, data))
            print(f"  round {rnd + 1}/{args.rounds} done", flush=True)
        del generators
        tokens = args.prompts * args.new_tokens
        print(f"generation, {args.prompts} prompts of {min(lengths)}-{max(lengths)} tokens (read), {args.new_tokens} new "
              f"tokens each (forced), top-k 10 sampling, {args.threads} threads, random MT5 with {args.shapes} shapes; "
              f"median of {args.rounds} interleaved rounds, [min-max] of the per-round ratio")
        print(f"{'batch':>6}  {'backend':<18}{'tokens/s':>10}  {'x HF':<18}")
        rows = []
        for bs, name in seconds:
            per_s = [tokens / s for s in seconds[bs, name]]
            ratios = [hf_s / s for hf_s, s in zip(seconds[bs, "hf float32"], seconds[bs, name])]
            rows.append({"batch": bs, "backend": name, "seconds": seconds[bs, name], "tokens_per_s": median(per_s),
                         "x_hf": median(ratios), "x_hf_min": min(ratios), "x_hf_max": max(ratios)})
            print(f"{bs:>6}  {name:<18}{median(per_s):>10.1f}  {median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")

        tiny = build_mt5(tmp / "mt5-tiny", tokenizer_dir, small_shapes=False)
        greedy = SamplingConfig(n_per_lang=1, max_length=17, batch_size=8, greedy=True)
        prompts = [make_prompt("ja", p.title, p.text) for p in data[:32]]
        hf = Seq2SeqQueryGenerator(str(tiny), greedy)
        enc = hf.tokenizer(prompts, max_length=256, truncation=True, padding=True, return_tensors="pt")
        with torch.inference_mode():
            out = hf.model.generate(**enc, do_sample=False, num_beams=1, max_new_tokens=16)
        hf_ids = [until_eos(row.tolist()[1:], hf.tokenizer.eos_token_id) for row in out]
        ct_ids = Ct2QueryGenerator(str(tiny), greedy, "float32", str(tmp / "tiny-ct2")).token_ids(prompts)
        same = sum(a == b for a, b in zip(hf_ids, ct_ids))
        print(f"greedy agreement (tiny random MT5, float32, 16 new tokens): {same}/{len(prompts)} sequences "
              "with identical token ids")
    record.write({"prompts": args.prompts, "prompt_tokens": [min(lengths), max(lengths)], "new_tokens": args.new_tokens,
                  "sampling": "top-k 10", "threads": args.threads, "shapes": args.shapes, "rounds": args.rounds,
                  "model": f"random MT5 with {args.shapes} shapes", "rows": rows,
                  "greedy_agreement": {"identical": same, "sequences": len(prompts)}})


def until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[:ids.index(eos) + 1] if eos in ids else ids


if __name__ == "__main__":
    sys.exit(run_benchmark(main))
