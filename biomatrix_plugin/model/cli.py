"""``biomatrix extend`` / ``biomatrix tiny-base``: add the vocabulary to a base model; build the tiny test model."""

from __future__ import annotations

import json


def _extend(args) -> int:
    from dataclasses import asdict

    from biomatrix_plugin.model.extend import extend_model
    from biomatrix_plugin.vocab.vocabulary import load_vocabulary

    report = extend_model(
        args.base, args.out, load_vocabulary(args.vocab), seed=args.seed, noise_scale=args.noise_scale
    )
    print(json.dumps(asdict(report)))
    return 0


def _tiny_base(args) -> int:
    from biomatrix_plugin.model.tiny_base import build_tiny_base

    out = build_tiny_base(args.out, num_layers=args.layers, hidden_size=args.hidden, tie_word_embeddings=not args.untied)
    print(out)
    return 0


def register(subparsers) -> None:
    e = subparsers.add_parser("extend", help="add the vocabulary to a base model with description-based init")
    e.add_argument("--base", required=True, help="base model directory (e.g. Qwen3-4B-Base)")
    e.add_argument("--out", required=True)
    e.add_argument("--vocab", default=None, help="vocabulary directory (default tokenizer_ext/)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--noise-scale", type=float, default=1.0, help="scale of the N(0, I/d) noise; 0 = exact means")
    e.set_defaults(func=_extend)

    t = subparsers.add_parser("tiny-base", help="real Qwen3 tokenizer + tiny random Qwen3 (the embedded default)")
    t.add_argument("--out", required=True)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--hidden", type=int, default=64)
    t.add_argument("--untied", action="store_true", help="separate output embeddings (like Qwen3-8B)")
    t.set_defaults(func=_tiny_base)
