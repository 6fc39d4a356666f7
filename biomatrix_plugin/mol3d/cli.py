"""``biomatrix mol3d encode|decode|train``. Heavy imports stay inside the handlers."""

from __future__ import annotations

import argparse
import json
import sys


def _encode(args) -> int:
    from biomatrix_plugin.mol3d.batch import encode_sdf

    try:
        summary = encode_sdf(args.input, args.out, workers=args.workers, checkpoint=args.checkpoint,
                             max_atoms=args.max_atoms, embed=args.embed, seed=args.seed,
                             chunk_size=args.chunk_size, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as exc:  # Mol3DError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, **summary.as_dict()}))
    return 0 if summary.written or not summary.rejected else 1


def _decode(args) -> int:
    from biomatrix_plugin.mol3d.batch import decode_jsonl
    from biomatrix_plugin.mol3d.errors import Mol3DError

    try:
        summary = decode_jsonl(args.input, args.out, workers=args.workers, mmff=args.mmff,
                               checkpoint=args.checkpoint, rejects_path=args.rejects,
                               chunk_size=args.chunk_size, progress=not args.quiet)
    except (Mol3DError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rejects = args.rejects or args.out + ".rejects.jsonl"
    print(json.dumps({"out": args.out, "rejects": rejects, **summary.as_dict()}))
    return 0 if summary.written or not summary.rejected else 1


def _train(args) -> int:
    from rdkit import Chem, RDLogger

    from biomatrix_plugin.mol3d.batch import iter_sdf_records
    from biomatrix_plugin.mol3d.errors import Mol3DError
    from biomatrix_plugin.mol3d.model import VQVAEConfig
    from biomatrix_plugin.mol3d.tokenizer import embed_3d
    from biomatrix_plugin.mol3d.train import TrainConfig, train_from_mols

    RDLogger.DisableLog("rdApp.*")
    mols = []
    try:
        for path in args.input:
            if args.max_molecules and len(mols) >= args.max_molecules:
                break  # the limit holds across all --in files, not per file
            for text in iter_sdf_records(path):
                mol = Chem.MolFromMolBlock(text, removeHs=False)
                if mol is not None and args.embed and not (mol.GetNumConformers() and mol.GetConformer().Is3D()):
                    try:
                        mol = embed_3d(mol, seed=args.seed)
                    except Mol3DError:
                        pass  # counted as rejected by train_from_mols
                mols.append(mol)
                if args.max_molecules and len(mols) >= args.max_molecules:
                    break
        model = VQVAEConfig(hidden_dim=args.hidden_dim, latent_dim=args.latent_dim, n_codes=args.codes,
                            decoder_hidden_dim=args.hidden_dim)
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, model=model)
        report = train_from_mols(mols, args.out, cfg, progress=not args.quiet)
    except (Mol3DError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, "molecules": report["molecules"], "rejected": report["rejected"],
                      "atoms": report["atoms"], "final": report["final"]}))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("mol3d", help="MolStrucTok molecule 3D tokens: encode, decode, train")
    sub = p.add_subparsers(dest="mol3d_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    def common(q, workers: bool = True):
        q.add_argument("--checkpoint", default=None,
                       help="VQ-VAE checkpoint (default: $BIOMATRIX_MOLSTRUCTOK_CKPT, "
                            "~/.cache/biomatrix/molstructok_vqvae.bin, or ../shared/reference/)")
        if workers:
            q.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
            q.add_argument("--chunk-size", type=int, default=64, help="molecules per work unit")
        q.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("encode", help="SDF/MOL2 (.gz) with 3D conformers -> JSONL of joint tokens and codes")
    e.add_argument("--in", dest="input", required=True,
                   help="input .sdf/.mol/.mol2 (3D), or .smi with --embed; any of them .gz")
    e.add_argument("--out", required=True, help="output .jsonl (one line per input record, input order)")
    e.add_argument("--max-atoms", type=int, default=256, help="reject molecules with more atoms (H included)")
    e.add_argument("--embed", action="store_true",
                   help="embed a conformer (ETKDG + MMFF) for records without 3D coordinates (needed for .smi)")
    e.add_argument("--seed", type=int, default=42, help="ETKDG seed for --embed")
    common(e)
    e.set_defaults(func=_encode)

    d = sub.add_parser("decode", help="JSONL with struct_sfi -> SDF with 3D coordinates and stereo")
    d.add_argument("--in", dest="input", required=True, help="input .jsonl (a struct_sfi field per line)")
    d.add_argument("--out", required=True, help="output .sdf")
    d.add_argument("--mmff", action=argparse.BooleanOptionalAction, default=True,
                   help="MMFF refinement after decoding (default on, as the SFT model card recommends)")
    d.add_argument("--rejects", default=None, help="rejects file (default OUT.rejects.jsonl)")
    common(d)
    d.set_defaults(func=_decode)

    t = sub.add_parser("train", help="train a MolStrucTok VQ-VAE on 3D conformers")
    t.add_argument("--in", dest="input", required=True, nargs="+", help="training .sdf/.sdf.gz file(s)")
    t.add_argument("--out", required=True, help="checkpoint path (.bin); also writes .json and .png")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=1024, help="atoms per step")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--hidden-dim", type=int, default=64)
    t.add_argument("--latent-dim", type=int, default=64)
    t.add_argument("--codes", type=int, default=512, help="codebook size (BioMatrix uses 512)")
    t.add_argument("--max-molecules", type=int, default=0, help="stop reading after this many (0: all)")
    t.add_argument("--embed", action="store_true", help="embed conformers for 2D/0D records")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train)
