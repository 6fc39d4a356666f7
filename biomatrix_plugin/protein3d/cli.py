"""``biomatrix protein ...``: extract backbones, encode/decode structure tokens, write structures, build
three-view instances, compare structures. Heavy imports stay inside the handlers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable, Iterator

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif", ".pdb.gz", ".ent.gz", ".cif.gz",
                      ".mmcif.gz", ".bcif.gz")


def register(subparsers) -> None:
    protein = subparsers.add_parser("protein3d", aliases=["protein"], help="protein structures: extract, encode, decode, instances (alias `protein`, kept for one release)")
    sub = protein.add_subparsers(dest="protein_command", metavar="SUBCOMMAND")

    p = sub.add_parser("extract", help="backbone (N/CA/C) and sequence per chain, one JSON object per line")
    p.add_argument("--structure", nargs="+", required=True,
                   help="PDB/mmCIF/BinaryCIF files (optionally .gz) or folders holding them")
    p.add_argument("--chain", help="only this chain (author chain id); default: every protein chain")
    p.add_argument("--output", help="JSONL file (default: standard output)")
    p.add_argument("--rejects", help="JSONL file for files/chains that give no record (default: standard error)")
    p.add_argument("--break-distance", type=float, default=2.0, help="C-N distance (Å) above which a break is listed")
    p.add_argument("--decimals", type=int, default=3, help="coordinate decimals in the output")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("encode", help="structure tokens for extracted chains (JSONL from `protein extract`)")
    p.add_argument("--input", required=True, help="JSONL from `biomatrix protein extract`")
    p.add_argument("--backend", choices=("precomputed", "gcp_vqvae"), default="precomputed")
    p.add_argument("--vq-csv", nargs="*", default=[], help="precomputed: vq_indices.csv file(s)")
    p.add_argument("--config", help="gcp_vqvae: YAML with repo_dir, model_dir, python, batch_size, ...")
    p.add_argument("--output", required=True, help="vq_indices.csv to write (pid, indices, protein_sequence)")
    p.add_argument("--rejects", help="JSONL of records that got no codes, with reasons")
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser("decode", help="backbones from structure codes (gcp_vqvae), written as PDB/mmCIF")
    p.add_argument("--vq-csv", required=True, help="vq_indices.csv with the codes to decode")
    p.add_argument("--config", required=True, help="gcp_vqvae configuration YAML")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--format", choices=("pdb", "cif", "bcif"), default="pdb")
    p.set_defaults(func=_cmd_decode)

    p = sub.add_parser("check-codes", help="validate vq_indices.csv files; rejects listed with reasons")
    p.add_argument("--vq-csv", nargs="+", required=True)
    p.add_argument("--rejects", help="JSONL for rejected rows (default: standard error)")
    p.set_defaults(func=_cmd_check_codes)

    p = sub.add_parser("instances", help="three-view pretraining rows {\"text\": ...} from sequences and codes")
    p.add_argument("--vq-csv", nargs="+", required=True, help="vq_indices.csv file(s) (sequence + codes)")
    p.add_argument("--annotations", help="JSONL {\"pid\": ..., \"annotations\": {field: value}} (Swiss-Prot style)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True, help="JSONL of {\"text\": ...} rows")
    p.add_argument("--rejects", help="JSONL for rejected rows")
    p.set_defaults(func=_cmd_instances)

    p = sub.add_parser("compare", help="TM-score and Kabsch RMSD between two single-chain structures")
    p.add_argument("--pred", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--pred-chain")
    p.add_argument("--ref-chain")
    p.set_defaults(func=_cmd_compare)

    protein.set_defaults(func=lambda args: (protein.print_help(), 2)[1])


# ------------------------------------------------------------------ helpers

def expand_structure_paths(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(STRUCTURE_SUFFIXES)))
        else:
            out.append(path)
    return out


class _Sink:
    """A JSONL destination: a file, or a standard stream."""

    def __init__(self, path: str | None, default):
        self._handle = open(path, "w") if path else default
        self._close = bool(path)
        self.count = 0

    def write(self, record: dict) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._close:
            self._handle.close()


def _iter_jsonl(path: str) -> Iterator[tuple[int, dict | None, str | None]]:
    with open(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield lineno, None, f"line {lineno}: not JSON ({exc.msg})"


# ------------------------------------------------------------------ handlers

def _cmd_extract(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.structure_io import StructureFileError

    files = expand_structure_paths(args.structure)
    out = _Sink(args.output, sys.stdout)
    rejects = _Sink(args.rejects, sys.stderr)
    n_files_failed = 0
    for path in tqdm(files, desc="extract", unit="file", disable=len(files) < 2 or not args.output):
        try:
            result = extract_chains(path, chain=args.chain, break_distance=args.break_distance)
        except StructureFileError as exc:
            rejects.write({"source": str(path), "chain": args.chain, "reason": str(exc)})
            n_files_failed += 1
            continue
        for chain in result.chains:
            out.write(chain.to_json(args.decimals))
        for rej in result.rejected:
            rejects.write(rej)
        for skipped in result.skipped:
            print(f"{skipped['source']}: chain {skipped['chain']} skipped: {skipped['reason']}", file=sys.stderr)
    out.close()
    rejects.close()
    print(f"protein extract: {len(files)} file(s), {out.count} chain(s) written, {rejects.count} rejected"
          f" ({n_files_failed} file(s) unreadable)", file=sys.stderr)
    return 1 if rejects.count or not out.count else 0


def _load_config(path: str | None) -> dict:
    import yaml

    if not path:
        return {}
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def _cmd_encode(args: argparse.Namespace) -> int:
    import numpy as np

    from biomatrix_plugin.protein3d.tokenizer import EncodeRequest, get_structure_tokenizer
    from biomatrix_plugin.protein3d.vq_csv import VQRecord, write_vq_csv

    rejects = _Sink(args.rejects, sys.stderr)
    requests: list[EncodeRequest] = []
    for lineno, record, error in _iter_jsonl(args.input):
        if error:
            rejects.write({"source": args.input, "reason": error})
            continue
        try:
            requests.append(EncodeRequest(str(record["id"]), np.asarray(record["backbone"], dtype=float),
                                          str(record["sequence"])))
        except (KeyError, ValueError, TypeError) as exc:
            rejects.write({"source": args.input, "reason": f"line {lineno}: bad record ({exc})"})
    if args.backend == "precomputed":
        tokenizer = get_structure_tokenizer("precomputed", csv_paths=args.vq_csv)
    else:
        tokenizer = get_structure_tokenizer("gcp_vqvae", **_load_config(args.config))
    results = tokenizer.encode_batch(requests)
    records = []
    for request, result in zip(requests, results):
        if isinstance(result, str):
            rejects.write({"pid": request.pid, "reason": result})
        else:
            records.append(VQRecord(request.pid, result, request.sequence))
    write_vq_csv(args.output, records)
    rejects.close()
    print(f"protein encode: {len(records)} written, {rejects.count} rejected", file=sys.stderr)
    return 1 if rejects.count else 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from biomatrix_plugin.protein3d.structure_io import write_backbone
    from biomatrix_plugin.protein3d.tokenizer import get_structure_tokenizer
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    records, rejected = read_vq_csv(args.vq_csv)
    for rej in rejected:
        print(json.dumps(rej), file=sys.stderr)
    tokenizer = get_structure_tokenizer("gcp_vqvae", **_load_config(args.config))
    backbones = tokenizer.decode_batch([r.codes for r in records])
    out_dir = Path(args.out_dir)
    for record, backbone in zip(records, backbones):
        write_backbone(out_dir / f"{record.pid}.{args.format}", backbone, record.sequence)
    print(f"protein decode: {len(records)} written, {len(rejected)} rejected", file=sys.stderr)
    return 1 if rejected else 0


def _cmd_check_codes(args: argparse.Namespace) -> int:
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    rejects = _Sink(args.rejects, sys.stderr)
    total = 0
    for path in args.vq_csv:
        records, rejected = read_vq_csv(path)
        total += len(records)
        for rej in rejected:
            rejects.write(rej)
    rejects.close()
    print(f"protein check-codes: {total} valid, {rejects.count} rejected", file=sys.stderr)
    return 1 if rejects.count else 0


def _cmd_instances(args: argparse.Namespace) -> int:
    import random

    from biomatrix_plugin.modalities.serialization import SerializationError
    from biomatrix_plugin.protein3d.instances import three_view_instances
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    annotations: dict[str, dict] = {}
    rejects = _Sink(args.rejects, sys.stderr)
    if args.annotations:
        for lineno, record, error in _iter_jsonl(args.annotations):
            if error or not isinstance(record, dict) or "pid" not in record:
                rejects.write({"source": args.annotations, "reason": error or f"line {lineno}: needs pid"})
                continue
            annotations[str(record["pid"])] = record.get("annotations") or {}
    rng = random.Random(args.seed)
    out = _Sink(args.output, sys.stdout)
    for path in args.vq_csv:
        records, rejected = read_vq_csv(path)
        for rej in rejected:
            rejects.write(rej)
        for record in records:
            try:
                rows = three_view_instances(record.sequence, record.codes, rng, annotations.get(record.pid))
            except SerializationError as exc:
                rejects.write({"pid": record.pid, "source": path, "reason": str(exc)})
                continue
            for row in rows:
                out.write(row)
    out.close()
    rejects.close()
    print(f"protein instances: {out.count} rows written, {rejects.count} rejected", file=sys.stderr)
    return 1 if rejects.count else 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.comparison import kabsch_rmsd, tm_score

    def one_chain(path: str, chain: str | None):
        result = extract_chains(path, chain=chain)
        if len(result.chains) != 1:
            raise SystemExit(f"{path}: {len(result.chains)} protein chains; choose one with --pred-chain/--ref-chain")
        return result.chains[0]

    pred, ref = one_chain(args.pred, args.pred_chain), one_chain(args.ref, args.ref_chain)
    if len(pred.sequence) != len(ref.sequence):
        print(f"compare: lengths differ ({len(pred.sequence)} vs {len(ref.sequence)}); "
              "TM-score and RMSD need residue-matched backbones", file=sys.stderr)
        return 1
    print(json.dumps({
        "length": len(ref.sequence),
        "tm_score": tm_score(pred.backbone, ref.backbone),
        "rmsd_ca": kabsch_rmsd(pred.backbone[:, 1], ref.backbone[:, 1]),
        "rmsd_backbone": kabsch_rmsd(pred.backbone, ref.backbone),
    }))
    return 0
