"""Spine sub-commands: vocab, extend, tiny-base, wrap, unwrap, install-hook, doctor."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _vocab_build(args) -> int:
    from .vocab_build import count_files
    from .vocabulary import build_from_counts, write_counts

    counts = count_files(args.corpus, progress=not args.quiet)
    vocab, report = build_from_counts(counts.selfies, counts.joint, coverage=args.coverage)
    out = Path(args.out)
    vocab.save(out)
    write_counts(counts.selfies, out / "selfies_counts.tsv")
    write_counts(counts.joint, out / "mol3d_joint_counts.tsv")
    report.update(records=counts.records, rejected=len(counts.rejected))
    if counts.rejected:
        with open(out / "rejects.tsv", "w", encoding="utf-8") as fh:
            fh.write("record\treason\n")
            for rid, reason in counts.rejected:
                fh.write(f"{rid}\t{reason}\n")
    (out / "build_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


def _vocab_import(args) -> int:
    from .vocabulary import import_from_tokenizer

    vocab = import_from_tokenizer(args.tokenizer)
    vocab.save(args.out)
    print(json.dumps({c: len(v) for c, v in vocab.entries.items()}))
    return 0


def _vocab_show(args) -> int:
    from .vocabulary import load_vocabulary

    vocab = load_vocabulary(args.vocab)
    summary = {c: len(v) for c, v in vocab.entries.items()}
    summary["total"] = len(vocab.ordered())
    print(json.dumps(summary))
    return 0


def _extend(args) -> int:
    from dataclasses import asdict

    from .extend import extend_model
    from .vocabulary import load_vocabulary

    report = extend_model(
        args.base, args.out, load_vocabulary(args.vocab), seed=args.seed, noise_scale=args.noise_scale
    )
    print(json.dumps(asdict(report)))
    return 0


def _tiny_base(args) -> int:
    from .tiny_base import build_tiny_base

    out = build_tiny_base(args.out, num_layers=args.layers, hidden_size=args.hidden, tie_word_embeddings=not args.untied)
    print(out)
    return 0


def _wrap(args) -> int:
    from .serialization import SerializationError, wrap

    try:
        print(wrap(args.modality, args.value))
    except SerializationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _unwrap(args) -> int:
    from .serialization import unwrap

    text = args.text if args.text != "-" else sys.stdin.read()
    res = unwrap(text)
    for seg in res.segments:
        print(json.dumps({"modality": seg.modality, "span": [seg.start, seg.end], "value": seg.value,
                          "error": seg.error}))
    return 1 if res.errors else 0


def _install_hook(args) -> int:
    from .hook import install_pth

    path = install_pth(remove=args.remove)
    print(f"removed {path}" if args.remove else path)
    return 0


def _doctor(args) -> int:
    from .hook import doctor

    report = doctor()
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def register(subparsers) -> None:
    p = subparsers.add_parser("vocab", help="build, import or show the extended vocabulary")
    vsub = p.add_subparsers(dest="vocab_command", metavar="ACTION")
    b = vsub.add_parser("build", help="count SELFIES / joint tokens over a corpus; keep joint tokens to a coverage")
    b.add_argument("--corpus", nargs="+", required=True, help="JSONL (text/struct_sfi/selfies/smiles) or .smi files")
    b.add_argument("--out", required=True, help="vocabulary directory to write (e.g. tokenizer_ext/)")
    b.add_argument("--coverage", type=float, default=0.99, help="joint-token occurrence coverage (default 0.99)")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=_vocab_build)
    i = vsub.add_parser("import", help="take the added tokens of an existing BioMatrix tokenizer (id-compatible)")
    i.add_argument("--tokenizer", required=True)
    i.add_argument("--out", required=True)
    i.set_defaults(func=_vocab_import)
    s = vsub.add_parser("show", help="count tokens per category")
    s.add_argument("--vocab", default=None)
    s.set_defaults(func=_vocab_show)

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

    w = subparsers.add_parser("wrap", help="serialize an entity into its wrapped token string")
    w.add_argument("--modality", required=True, choices=["smiles", "selfies", "protein", "prot3d", "mol3d"])
    w.add_argument("value", help="SMILES / SELFIES / sequence / structure codes (space or comma separated)")
    w.set_defaults(func=_wrap)

    u = subparsers.add_parser("unwrap", help="find wrapped segments in text (one JSON line per segment)")
    u.add_argument("text", help="the text, or - for stdin")
    u.set_defaults(func=_unwrap)

    h = subparsers.add_parser("install-hook", help="install the .pth hook that registers the plugin with LLaMA-Factory")
    h.add_argument("--remove", action="store_true", help="delete the hook (pip uninstall does not)")
    h.set_defaults(func=_install_hook)
    d = subparsers.add_parser("doctor", help="check the LLaMA-Factory registration in a fresh interpreter")
    d.set_defaults(func=_doctor)
