"""``biomatrix vocab build|import|show``."""

from __future__ import annotations

import json
from pathlib import Path

from biomatrix_plugin.cli_types import unit_interval_float

REJECTS_FILE = "rejects.tsv"
REPORT_FILE = "build_report.json"


def _rejects_tsv(rejected: list[tuple[str, str]]) -> str:
    # reasons are one line already (census joins whitespace); a record id holds a file name, so flatten it
    rows = ("\t".join(" ".join(col.split()) for col in row) for row in rejected)
    return "record\treason\n" + "".join(f"{row}\n" for row in rows)


def _vocab_build(args) -> int:
    from biomatrix_plugin.io import atomic_write
    from biomatrix_plugin.modalities.census import count_files
    from biomatrix_plugin.vocab.vocabulary import build_from_counts, output_dir, write_counts

    out = output_dir(args.out, create=False)  # a wrong --out fails before minutes of counting
    counts = count_files(args.corpus, progress=not args.quiet)
    vocab, report = build_from_counts(counts.selfies, counts.joint, coverage=args.coverage)
    vocab.save(out)
    write_counts(counts.selfies, out / "selfies_counts.tsv")
    write_counts(counts.joint, out / "mol3d_joint_counts.tsv")
    report.update(records=counts.records, rejected=len(counts.rejected))
    # always written, even empty: a rebuild must not leave the previous build's rejects beside this report
    atomic_write(out / REJECTS_FILE, _rejects_tsv(counts.rejected))
    atomic_write(out / REPORT_FILE, json.dumps(report, indent=2) + "\n")  # last: the build is complete
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
    b.add_argument("--corpus", nargs="+", required=True, type=Path,
                   help="JSONL (text/struct_sfi/selfies/smiles) or .smi files, plain or .gz")
    b.add_argument("--out", required=True, type=Path, help="vocabulary directory to write (e.g. tokenizer_ext/)")
    b.add_argument("--coverage", type=unit_interval_float(open_low=True), default=0.99,
                   help="joint-token occurrence coverage, in (0, 1] (default 0.99)")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=_vocab_build)
    i = vsub.add_parser("import", help="take the added tokens of an existing BioMatrix tokenizer (id-compatible)")
    i.add_argument("--tokenizer", required=True, type=Path, help="folder with tokenizer.json or added_tokens.json")
    i.add_argument("--out", required=True, type=Path)
    i.set_defaults(func=_vocab_import)
    s = vsub.add_parser("show", help="count tokens per category")
    s.add_argument("--vocab", default=None, type=Path, help="vocabulary folder (default: the shipped one)")
    s.set_defaults(func=_vocab_show)
