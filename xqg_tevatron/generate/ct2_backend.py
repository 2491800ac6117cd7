"""CTranslate2 backend of the seq2seq query generator.

Why: on XOR-TyDi xQG samples 35 queries for each of 18M passages; generation, not indexing or
search, is the method's dominant cost, and CTranslate2's fused C++ kernels (int8 on CPU,
float16 on GPU) decode an mT5 several times faster than transformers' ``generate``.

The HF checkpoint is converted once with CTranslate2's own ``TransformersConverter`` into
``<model>.ct2`` (beside it; ``--ct2_dir`` elsewhere), weights kept in float32 so the compute
type is chosen when loading (``--compute_type``), and ``xqg_conversion.json`` records what was
converted with what.  A stale conversion (the checkpoint changed) is replaced; a folder the
plugin did not write is never touched.  Prompts, batching, per-batch seeding, top-k /
temperature sampling, n per language, sharding and resume are the shared ones
(``backend.BatchedGenerator`` and ``generate_units.py``), so the output format is identical; the
sampled texts differ from HF's because the random number generators differ, greedy decoding
does not.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from xqg_tevatron.runtime.atomic_io import atomic_write_text, new_tmp_dir, read_json, remove_tree, sha256_file, swap_dir
from xqg_tevatron.generate.backend import BatchedGenerator, SamplingConfig
from xqg_tevatron.runtime.workdir import model_fingerprint

CONVERSION_FILE = "xqg_conversion.json"


@dataclass
class Ct2Arguments:
    """CTranslate2 (converted once, cached beside the model; --compute_type sets its precision)"""

    compute_type: str = field(default="default", metadata={
        "help": "ct2 only: int8 | int8_float32 | int16 | float32 | float16 | int8_float16 | bfloat16 (what the device "
                "supports; 'default': float32 as converted)"})
    ct2_dir: Optional[str] = field(default=None, metadata={"help": "ct2 only: where the converted model lives "
                                                                   "(default <model>.ct2)"})
    ct2_threads: int = field(default=0, metadata={"help": "ct2 only: intra-op threads (0: all cores)",
                                                  "aliases": ["--threads"]})

    def check(self, sampling: SamplingConfig) -> None:
        """Before anything is converted: the weights' precision is ct2's compute type, not --dtype."""
        if sampling.dtype != "float32":
            raise ValueError(f"--dtype {sampling.dtype} applies to the encoder and the hf backend; "
                             "for ct2 give --compute_type (e.g. float16, int8_float16)")
        check_compute_type(self.compute_type, sampling.device)

    def recorded(self) -> dict:
        """A different sampler (its own RNG and kernels) and precision: what changes the queries."""
        return {"compute_type": self.compute_type}

    def build(self, model_dir: str, sampling: SamplingConfig) -> "Ct2QueryGenerator":
        return Ct2QueryGenerator(model_dir, sampling, self.compute_type, self.ct2_dir, self.ct2_threads)


def check_compute_type(compute_type: str, device: str) -> None:
    """Refuse a compute type the device cannot run, before anything is converted."""
    import ctranslate2

    ct2_device = "cuda" if device.startswith("cuda") else "cpu"
    supported = ctranslate2.get_supported_compute_types(ct2_device)
    if compute_type not in ("default", "auto") and compute_type not in supported:
        raise ValueError(f"--compute_type {compute_type} is not supported on {ct2_device}; "
                         f"supported: {' '.join(sorted(supported))}")


def conversion_record(model_dir: str) -> dict:
    import ctranslate2
    import transformers

    return {"model": str(Path(model_dir).resolve()), "model_sha256": model_fingerprint(model_dir),
            "converter": "ctranslate2.converters.TransformersConverter", "ctranslate2": ctranslate2.__version__,
            "transformers": transformers.__version__, "weights": "float32 (compute type chosen at load)"}


def _conversion_files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != CONVERSION_FILE}


def convert_checkpoint(model_dir: str, ct2_dir: Optional[str] = None) -> Path:
    """The CTranslate2 model of ``model_dir``, converted now or reused from an earlier run.  A
    conversion is reused only if its record names this checkpoint and converter and its files
    still have the recorded sha256; otherwise (ours) it is converted again."""
    from ctranslate2.converters import TransformersConverter

    out = Path(ct2_dir) if ct2_dir else Path(str(Path(model_dir).resolve()) + ".ct2")
    wanted = conversion_record(model_dir)
    marker = out / CONVERSION_FILE
    if out.exists():
        if not marker.is_file():
            raise FileExistsError(f"{out}: exists and was not written by xqg_tevatron's converter; pass --ct2_dir")
        recorded = read_json(marker, "CTranslate2 conversion record")
        if all(recorded.get(k) == v for k, v in wanted.items()) and recorded.get("files") == _conversion_files(out):
            return out
        remove_tree(out)  # ours, from another checkpoint or converter version, or changed since
    tmp = new_tmp_dir(out)
    try:
        TransformersConverter(str(model_dir)).convert(str(tmp), quantization=None, force=True)
        atomic_write_text(tmp / CONVERSION_FILE, json.dumps({**wanted, "files": _conversion_files(tmp)}, indent=2))
        swap_dir(tmp, out)
    finally:
        if tmp.exists():
            remove_tree(tmp)
    return out


class Ct2QueryGenerator(BatchedGenerator):
    """The seq2seq generator decoded by ``ctranslate2.Translator``."""

    def __init__(self, model_dir: str, config: Optional[SamplingConfig] = None, compute_type: str = "default",
                 ct2_dir: Optional[str] = None, threads: int = 0):
        import ctranslate2
        from transformers import AutoTokenizer

        self.config = config or SamplingConfig()
        check_compute_type(compute_type, self.config.device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.ct2_dir = convert_checkpoint(model_dir, ct2_dir)
        device = "cuda" if self.config.device.startswith("cuda") else "cpu"
        try:
            self.translator = ctranslate2.Translator(str(self.ct2_dir), device=device, compute_type=compute_type,
                                                     intra_threads=threads)
        except RuntimeError as exc:  # CTranslate2's message names no file
            raise ValueError(f"{self.ct2_dir}: CTranslate2 cannot load it ({str(exc)[:200]})") from None
        self._ct2 = ctranslate2

    def _generate(self, prompts: list[str], seed: int) -> list[list[str]]:
        self._ct2.set_random_seed(seed)
        # n samples per prompt: the prompt repeated n times, as HF's num_return_sequences does
        hypotheses = self._translate(prompts, repeat=self.config.n_per_lang)
        texts = [self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(h), skip_special_tokens=True)
                 for h in hypotheses]
        return self._split(texts, len(prompts))

    def token_ids(self, prompts: list[str]) -> list[list[int]]:
        """Token ids of one sample per prompt, end token included (for agreement checks)."""
        return [self.tokenizer.convert_tokens_to_ids(h)
                for h in self._translate(prompts, repeat=1, return_end_token=True)]

    def _translate(self, prompts: list[str], repeat: int, return_end_token: bool = False) -> list[list[str]]:
        """The first hypothesis (tokens) of each prompt, each prompt decoded ``repeat`` times."""
        cfg = self.config
        ids = self.tokenizer(prompts, max_length=cfg.max_input_length, truncation=True)["input_ids"]
        source = [tokens for x in ids for tokens in [self.tokenizer.convert_ids_to_tokens(x)] * repeat]
        results = self.translator.translate_batch(
            source, beam_size=1, num_hypotheses=1, max_batch_size=0,
            sampling_topk=1 if cfg.greedy else cfg.top_k, sampling_temperature=cfg.temperature,
            max_input_length=cfg.max_input_length, max_decoding_length=cfg.max_new_tokens,
            min_decoding_length=cfg.min_new_tokens, return_end_token=return_end_token)
        return [r.hypotheses[0] for r in results]
