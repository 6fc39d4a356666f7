"""`biomatrix extend` at Qwen3-4B width: time and peak memory against a plain load + save of the same model.

The default builds a 4B-*width* model (151,936 x 2,560 bf16 embedding, the part extension touches) with 2
layers so the run takes about a minute; ``--layers 36`` builds the full 4B shape (8 GB on disk, several
minutes) to check that extension fits in CPU memory.

    python benchmarks/bench_extend.py [--layers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
mode, base, out = sys.argv[1:4]
if mode == "baseline":
    from transformers import AutoModelForCausalLM, AutoTokenizer
    m = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
    m.save_pretrained(out); AutoTokenizer.from_pretrained(base).save_pretrained(out)
else:
    from biomatrix_plugin.model.extend import extend_model
    extend_model(base, out)
peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_gb": peak_gb}))
"""


def build_4b_width(out: Path, layers: int) -> None:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from biomatrix_plugin.model.tiny_base import QWEN3_FIRST_SPECIAL_ID, QWEN3_VOCAB_ROWS, build_qwen3_tokenizer

    cfg = Qwen3Config(  # Qwen3-4B's published shape
        vocab_size=QWEN3_VOCAB_ROWS, hidden_size=2560, intermediate_size=9728, num_hidden_layers=layers,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
        bos_token_id=QWEN3_FIRST_SPECIAL_ID, eos_token_id=QWEN3_FIRST_SPECIAL_ID, dtype="bfloat16",
    )
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # build directly in bf16: a float32 4B model would need 16 GB
    try:
        model = Qwen3ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(torch.float32)
    model.save_pretrained(out)
    build_qwen3_tokenizer().save_pretrained(out)


def run(mode: str, base: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(base), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        build_4b_width(tmp / "base", args.layers)
        print(f"built Qwen3-4B-width model with {args.layers} layers in {time.perf_counter() - t0:.0f} s")
        base = run("baseline", tmp / "base", tmp / "copy")
        ext = run("extend", tmp / "base", tmp / "ext")
    print(f"| {'measure':<34} | {'load+save':>10} | {'extend':>10} | ratio |")
    print(f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|-------|")
    for key, label in (("seconds", "wall seconds"), ("peak_rss_gb", "peak RSS (GB)")):
        print(f"| {label:<34} | {base[key]:>10.2f} | {ext[key]:>10.2f} | {ext[key] / base[key]:5.2f} |")


if __name__ == "__main__":
    main()
