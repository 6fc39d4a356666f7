"""``biomatrix mol3d encode|decode|train|fetch-checkpoint``. Heavy imports stay inside the handlers.

User mistakes raise BioMatrixError subclasses, which ``biomatrix_plugin.cli.main`` prints as one
``error:`` line with exit code 2; option values that cannot work are refused by argparse.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from biomatrix_plugin.cli_types import non_negative_int, positive_float, positive_int

ISOTOPE_CHOICES = ("warn", "reject")


def sha256_hex(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a sha256 hex digest (64 hex digits)")
    return text.lower()


def _run_options(args):
    from biomatrix_plugin.mol3d.batch import RunOptions

    return RunOptions(workers=args.workers, chunk_size=args.chunk_size, progress=not args.no_progress)


def _encode(args) -> int:
    from biomatrix_plugin.mol3d.batch import EncodeOptions, encode_sdf

    options = EncodeOptions(checkpoint=args.checkpoint, max_atoms=args.max_atoms, embed=args.embed,
                            seed=args.seed, max_smiles_chars=args.max_smiles_chars,
                            max_embed_atoms=args.max_embed_atoms, isotopes=args.isotopes)
    summary = encode_sdf(args.input, args.out, options, _run_options(args))
    if summary.isotope_warnings:
        print(f"warning: {summary.isotope_warnings} molecule(s) were encoded without their isotope labels "
              "(MolStrucTok's atom order is non-isomeric: [2H] becomes [H]); see their 'warnings' field, "
              "or pass --isotopes reject", file=sys.stderr)
    print(json.dumps({"out": args.out, **summary.as_dict()}))
    return 0 if summary.written or not summary.rejected else 1


def _decode(args) -> int:
    from biomatrix_plugin.mol3d.batch import DecodeOptions, decode_jsonl

    options = DecodeOptions(checkpoint=args.checkpoint, mmff=args.mmff, rejects=args.rejects)
    summary = decode_jsonl(args.input, args.out, options, _run_options(args))
    rejects = args.rejects or args.out + ".rejects.jsonl"
    print(json.dumps({"out": args.out, "rejects": rejects, **summary.as_dict()}))
    return 0 if summary.written or not summary.rejected else 1


def _read_training_mols(args) -> list:
    from rdkit import Chem

    from biomatrix_plugin.io import quiet_rdkit, sdf_blocks
    from biomatrix_plugin.mol3d.errors import Mol3DError
    from biomatrix_plugin.mol3d.tokenizer import embed_3d

    mols: list = []
    with quiet_rdkit():
        for path in args.input:
            for text in sdf_blocks(path):
                if args.max_molecules and len(mols) >= args.max_molecules:
                    return mols  # the limit holds across all --in files, not per file
                mol = Chem.MolFromMolBlock(text, removeHs=False)
                if mol is not None and args.embed and not (mol.GetNumConformers() and mol.GetConformer().Is3D()):
                    try:
                        mol = embed_3d(mol, seed=args.seed, max_atoms=args.max_atoms)
                    except Mol3DError:
                        mol = None  # counted as rejected by train_from_mols
                mols.append(mol)
    return mols


def _train(args) -> int:
    from biomatrix_plugin.mol3d.model import VQVAEConfig
    from biomatrix_plugin.mol3d.train import TrainConfig, train_from_mols

    mols = _read_training_mols(args)
    model = VQVAEConfig(hidden_dim=args.hidden_dim, latent_dim=args.latent_dim, n_codes=args.codes,
                        decoder_hidden_dim=args.hidden_dim)
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, model=model)
    report = train_from_mols(mols, args.out, cfg, progress=not args.no_progress)
    print(json.dumps({"out": args.out, "molecules": report["molecules"], "rejected": report["rejected"],
                      "atoms": report["atoms"], "final": report["final"]}))
    return 0


def _fetch(args) -> int:
    from biomatrix_plugin.mol3d.checkpoint import fetch_checkpoint

    path = fetch_checkpoint(args.url, args.sha256, args.out)
    print(json.dumps({"out": str(path), "sha256": args.sha256, "url": args.url}))
    return 0


def _progress_flag(q) -> None:
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)  # old name


def _common(q, workers: bool = True) -> None:
    q.add_argument("--checkpoint", default=None,
                   help="VQ-VAE checkpoint (default: $BIOMATRIX_MOLSTRUCTOK_CKPT, "
                        "~/.cache/biomatrix/molstructok_vqvae.bin (see fetch-checkpoint), or the reference folder)")
    if workers:
        q.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
        q.add_argument("--chunk-size", type=positive_int, default=64, help="molecules per work unit")
    _progress_flag(q)


def _register_encode(sub) -> None:
    from biomatrix_plugin.modalities.serialization import DEFAULT_MAX_SMILES_CHARS

    e = sub.add_parser("encode", help="SDF/MOL2 (.gz) with 3D conformers -> JSONL of joint tokens and codes")
    e.add_argument("--in", dest="input", required=True,
                   help="input .sdf/.mol/.mol2 (3D), or .smi with --embed; any of them .gz")
    e.add_argument("--out", required=True, help="output .jsonl (one line per input record, input order)")
    e.add_argument("--max-atoms", type=positive_int, default=256,
                   help="reject molecules with more atoms (H included; checked before embedding too)")
    e.add_argument("--embed", action="store_true",
                   help="embed a conformer (ETKDG + MMFF) for records without 3D coordinates (needed for .smi)")
    e.add_argument("--max-embed-atoms", type=positive_int, default=None,
                   help="reject a SMILES or 2D record with more heavy atoms before RDKit/ETKDG see it "
                        "(default: --max-atoms)")
    e.add_argument("--max-smiles-chars", type=positive_int, default=DEFAULT_MAX_SMILES_CHARS,
                   help="reject a SMILES line longer than this before RDKit reads it "
                        f"(default {DEFAULT_MAX_SMILES_CHARS})")
    e.add_argument("--isotopes", choices=ISOTOPE_CHOICES, default="warn",
                   help="isotope labels ([2H], [13C]) cannot be kept by the non-isomeric token order: 'warn' "
                        "encodes without them and counts them (default), 'reject' rejects the molecule")
    e.add_argument("--seed", type=non_negative_int, default=42, help="ETKDG seed for --embed")
    _common(e)
    e.set_defaults(func=_encode)


def _register_decode(sub) -> None:
    d = sub.add_parser("decode", help="JSONL with struct_sfi -> SDF with 3D coordinates and stereo")
    d.add_argument("--in", dest="input", required=True, help="input .jsonl (a struct_sfi field per line)")
    d.add_argument("--out", required=True, help="output .sdf")
    d.add_argument("--mmff", action=argparse.BooleanOptionalAction, default=True,
                   help="MMFF refinement after decoding (default on, as the SFT model card recommends)")
    d.add_argument("--rejects", default=None, help="rejects file (default OUT.rejects.jsonl)")
    _common(d)
    d.set_defaults(func=_decode)


def _register_train(sub) -> None:
    t = sub.add_parser("train", help="train a MolStrucTok VQ-VAE on 3D conformers")
    t.add_argument("--in", dest="input", required=True, nargs="+", help="training .sdf/.sdf.gz file(s)")
    t.add_argument("--out", required=True, help="checkpoint path (.bin); also writes .json and .png")
    t.add_argument("--steps", type=positive_int, default=2000)
    t.add_argument("--batch-size", type=positive_int, default=1024, help="atoms per step")
    t.add_argument("--lr", type=positive_float, default=1e-3)
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--hidden-dim", type=positive_int, default=64)
    t.add_argument("--latent-dim", type=positive_int, default=64)
    t.add_argument("--codes", type=positive_int, default=512, help="codebook size (BioMatrix uses 512)")
    t.add_argument("--max-molecules", type=non_negative_int, default=0, help="stop reading after this many (0: all)")
    t.add_argument("--max-atoms", type=positive_int, default=256, help="with --embed: skip larger molecules")
    t.add_argument("--embed", action="store_true", help="embed conformers for 2D/0D records")
    _progress_flag(t)
    t.set_defaults(func=_train)


def _register_fetch(sub) -> None:
    from biomatrix_plugin.mol3d.checkpoint import DEFAULT_SHA256, DEFAULT_URL

    f = sub.add_parser("fetch-checkpoint",
                       help="download the released MolStrucTok checkpoint (BioMatrix repository, Apache-2.0) "
                            "into ~/.cache/biomatrix/ and check its sha256")
    f.add_argument("--url", default=DEFAULT_URL, help=f"where to download from (default {DEFAULT_URL}; file:// works)")
    f.add_argument("--sha256", type=sha256_hex, default=DEFAULT_SHA256,
                   help="expected sha256 (default: the released file's); a mismatch leaves nothing written")
    f.add_argument("--out", default=None,
                   help="destination (default ~/.cache/biomatrix/molstructok_vqvae.bin, where it is searched)")
    f.set_defaults(func=_fetch)


def register(subparsers) -> None:
    p = subparsers.add_parser("mol3d", help="MolStrucTok molecule 3D tokens: encode, decode, train, fetch-checkpoint")
    sub = p.add_subparsers(dest="mol3d_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    _register_encode(sub)
    _register_decode(sub)
    _register_train(sub)
    _register_fetch(sub)
