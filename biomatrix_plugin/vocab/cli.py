"""``biomatrix vocab build|import|show``."""

from __future__ import annotations

import json
from pathlib import Path


def _vocab_build(args) -> int:
    from biomatrix_plugin.modalities.census import count_files
    from biomatrix_plugin.vocab.vocabulary import build_from_counts, write_counts

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
    from biomatrix_plugin.vocab.vocabulary import import_from_tokenizer

    vocab = import_from_tokenizer(args.tokenizer)
    vocab.save(args.out)
    print(json.dumps({c: len(v) for c, v in vocab.entries.items()}))
    return 0


def _vocab_show(args) -> int:
    from biomatrix_plugin.vocab.vocabulary import load_vocabulary

    vocab = load_vocabulary(args.vocab)
    summary = {c: len(v) for c, v in vocab.entries.items()}
    summary["total"] = len(vocab.ordered())
    print(json.dumps(summary))
    return 0


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
