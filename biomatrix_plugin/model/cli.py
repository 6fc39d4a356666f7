"""``biomatrix extend`` / ``biomatrix tiny-base``: add the vocabulary to a base model; build the tiny test model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from biomatrix_plugin.cli_types import int_range, non_negative_float, positive_int

# torch.Generator.manual_seed takes [0, 2**64); a negative seed is folded onto that range, which no one means
_seed = int_range(0, 2**64 - 1)


def hidden_size(text: str) -> int:
    """A positive multiple of 8: the tiny model has 4 attention heads and RoPE needs an even head size."""
    value = positive_int(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"must be a multiple of 8 (4 heads x an even head size), got {value}")
    return value


def _extend(args) -> int:
    from dataclasses import asdict

    from biomatrix_plugin.model.extend import check_base_dir, extend_model
    from biomatrix_plugin.vocab.vocabulary import load_vocabulary

    check_base_dir(args.base)  # before the vocabulary and transformers load
    report = extend_model(
        args.base, args.out, load_vocabulary(args.vocab), seed=args.seed, noise_scale=args.noise_scale
    )
    print(json.dumps(asdict(report)))
    return 0


def _tiny_base(args) -> int:
    from biomatrix_plugin.model.tiny_base import build_tiny_base

    out = build_tiny_base(args.out, num_layers=args.layers, hidden_size=args.hidden,
                          tie_word_embeddings=not args.untied)
    print(out)
    return 0


def register(subparsers) -> None:
    e = subparsers.add_parser("extend", help="add the vocabulary to a base model with description-based init")
    e.add_argument("--base", required=True, type=Path, help="local base model folder (e.g. Qwen3-4B-Base)")
    e.add_argument("--out", required=True, type=Path)
    e.add_argument("--vocab", default=None, type=Path, help="vocabulary directory (default tokenizer_ext/)")
    e.add_argument("--seed", type=_seed, default=0, help="noise seed, in [0, 2**64)")
    e.add_argument("--noise-scale", type=non_negative_float, default=1.0,
                   help="scale of the N(0, I/d) noise, >= 0; 0 = exact means")
    e.set_defaults(func=_extend)

    t = subparsers.add_parser("tiny-base", help="real Qwen3 tokenizer + tiny random Qwen3 (the embedded default)")
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--layers", type=positive_int, default=2)
    t.add_argument("--hidden", type=hidden_size, default=64, help="hidden size, a multiple of 8 (default 64)")
    t.add_argument("--untied", action="store_true", help="separate output embeddings (like Qwen3-8B)")
    t.set_defaults(func=_tiny_base)
