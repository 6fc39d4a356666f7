"""``biomatrix protein3d ...`` (alias ``protein``): extract backbones, encode/decode structure tokens, write
structures, build three-view instances, compare structures. Heavy imports stay inside the handlers.

Every user mistake raises a BioMatrixError (``error: <message>``, exit 2 from ``biomatrix_plugin.cli.main``);
option values that cannot work are refused by argparse; bad records are rejects with reasons (exit 1 when
there were any). The group prints its help when called without an action (``cli.main`` does that).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Iterable

from biomatrix_plugin.errors import ConfigError

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif", ".pdb.gz", ".ent.gz", ".cif.gz",
                      ".mmcif.gz", ".bcif.gz")
# Below 1 decimal the geometry is gone (a C-N bond is 1.33 Å; `--decimals -3` rounded every coordinate
# to 0); above 8 is finer than any structure file or model output holds.
DECIMALS_RANGE = (1, 8)
ALIAS_NOTE = "old name kept as an alias for one release"


# ------------------------------------------------------------------ option types

def _decimals(text: str) -> int:
    low, high = DECIMALS_RANGE
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    value = int(text)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low} and {high} decimals, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _seed(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 (ASCII digits), got {text!r}")
    return int(text)


# ------------------------------------------------------------------ parser

def register(subparsers) -> None:
    protein = subparsers.add_parser(
        "protein3d", aliases=["protein"],
        help="protein structures: extract, encode, decode, instances (alias `protein`, kept for one release)")
    sub = protein.add_subparsers(dest="protein_command", metavar="SUBCOMMAND")
    _add_extract(sub)
    _add_encode(sub)
    _add_decode(sub)

    p = sub.add_parser("check-codes", help="validate vq_indices.csv files; rejects listed with reasons")
    p.add_argument("--vq-csv", nargs="+", required=True)
    p.add_argument("--rejects", help="JSONL for rejected rows (default: standard error)")
    p.set_defaults(func=_cmd_check_codes)

    p = sub.add_parser("instances", help="three-view pretraining rows {\"text\": ...} from sequences and codes")
    p.add_argument("--vq-csv", nargs="+", required=True, help="vq_indices.csv file(s) (sequence + codes)")
    p.add_argument("--annotations", help="JSONL {\"pid\": ..., \"annotations\": {field: text | number | list}} "
                                         "(Swiss-Prot style); a bad line is a reject")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", "--output", dest="output", required=True,
                   help=f"JSONL of {{\"text\": ...}} rows (--output: {ALIAS_NOTE})")
    p.add_argument("--rejects", help="JSONL for rejected rows (default: standard error)")
    p.set_defaults(func=_cmd_instances)

    p = sub.add_parser("compare", help="TM-score and Kabsch RMSD between two single-chain structures")
    p.add_argument("--pred", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--pred-chain")
    p.add_argument("--ref-chain")
    p.set_defaults(func=_cmd_compare)


def _add_extract(sub) -> None:
    p = sub.add_parser("extract", help="backbone (N/CA/C) and sequence per chain, one JSON object per line")
    p.add_argument("--in", "--structure", dest="structure", nargs="+", required=True,
                   help="PDB/mmCIF/BinaryCIF files (optionally .gz) or folders holding them "
                        f"(--structure: {ALIAS_NOTE})")
    p.add_argument("--chain", help="only this chain (author chain id); default: every protein chain")
    p.add_argument("--out", "--output", dest="output",
                   help=f"JSONL file (default: standard output; --output: {ALIAS_NOTE})")
    p.add_argument("--rejects", help="JSONL file for files/chains that give no record (default: standard error)")
    p.add_argument("--break-distance", type=_positive_float, default=2.0,
                   help="C-N distance (Å) above which a break is listed")
    p.add_argument("--decimals", type=_decimals, default=3,
                   help=f"coordinate decimals in the output ({DECIMALS_RANGE[0]}-{DECIMALS_RANGE[1]}, default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_extract)


def _add_encode(sub) -> None:
    p = sub.add_parser("encode", help="structure tokens for extracted chains (JSONL from `protein3d extract`)")
    p.add_argument("--in", "--input", dest="input", required=True,
                   help=f"JSONL from `biomatrix protein3d extract` (--input: {ALIAS_NOTE})")
    p.add_argument("--backend", choices=("precomputed", "gcp_vqvae"), default="precomputed")
    p.add_argument("--vq-csv", nargs="*", default=[], help="precomputed (required there): vq_indices.csv file(s)")
    p.add_argument("--config",
                   help="gcp_vqvae (required there): YAML with repo_dir, model_dir, python, batch_size, ...")
    p.add_argument("--out", "--output", dest="output", required=True,
                   help=f"vq_indices.csv to write (pid, indices, protein_sequence; --output: {ALIAS_NOTE})")
    p.add_argument("--rejects", help="JSONL of records that got no codes, with reasons (default: standard error)")
    p.set_defaults(func=_cmd_encode)


def _add_decode(sub) -> None:
    p = sub.add_parser("decode", help="backbones from structure codes (gcp_vqvae), written as PDB/mmCIF")
    p.add_argument("--vq-csv", required=True, help="vq_indices.csv with the codes to decode")
    p.add_argument("--config", required=True, help="gcp_vqvae configuration YAML")
    p.add_argument("--out", "--out-dir", dest="out_dir", required=True,
                   help=f"folder for one structure file per record (--out-dir: {ALIAS_NOTE})")
    p.add_argument("--format", choices=("pdb", "cif", "bcif"), default="pdb")
    p.set_defaults(func=_cmd_decode)


# ------------------------------------------------------------------ helpers

def expand_structure_paths(paths: Iterable[str]) -> list[Path]:
    """Files named, and the structure files under folders named. A path that does not exist, or a folder
    with no structure file, is a user mistake (InputFileError) found before any output is opened; a file
    that exists but cannot be read is a reject later, so one bad file does not stop a batch."""
    from biomatrix_plugin.errors import InputFileError

    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.name.lower().endswith(STRUCTURE_SUFFIXES))
            if not found:
                raise InputFileError(f"{path}: no structure file in this folder "
                                     f"(looked for {', '.join(STRUCTURE_SUFFIXES)})")
            out.extend(found)
        elif not path.exists():
            raise InputFileError(f"{path}: no such file or folder")
        else:
            out.append(path)
    return out


class _Sink:
    """A JSONL destination: a file (written whole or not at all, io.atomic_output) or a standard stream."""

    def __init__(self, stack: contextlib.ExitStack, path: str | None, default):
        from biomatrix_plugin.io import atomic_output

        self._handle = stack.enter_context(atomic_output(path)) if path else default
        self.count = 0

    def write(self, record: dict) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self.count += 1


def _distinct_outputs(**paths: str | None) -> None:
    """Two options naming one file would overwrite each other."""
    named = [(flag, os.path.abspath(path)) for flag, path in paths.items() if path]
    for i, (flag, path) in enumerate(named):
        for other, other_path in named[i + 1:]:
            if path == other_path:
                raise ConfigError(f"--{flag} and --{other} name the same file {path}")


def _gcp_tokenizer(config_path: str):
    from biomatrix_plugin.protein3d.gcp_vqvae import GCPVQVAEConfig, GCPVQVAETokenizer

    return GCPVQVAETokenizer(GCPVQVAEConfig.from_yaml(config_path))


# ------------------------------------------------------------------ handlers

def _cmd_extract(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.structure_io import StructureFileError

    _distinct_outputs(out=args.output, rejects=args.rejects)
    files = expand_structure_paths(args.structure)
    n_files_failed = 0
    with contextlib.ExitStack() as stack:
        out = _Sink(stack, args.output, sys.stdout)
        rejects = _Sink(stack, args.rejects, sys.stderr)
        quiet = args.no_progress or len(files) < 2 or not args.output
        for path in tqdm(files, desc="extract", unit="file", disable=quiet):
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
    print(f"protein extract: {len(files)} file(s), {out.count} chain(s) written, {rejects.count} rejected"
          f" ({n_files_failed} file(s) unreadable)", file=sys.stderr)
    return 1 if rejects.count or not out.count else 0


def _encode_requests(path: str, rejects: _Sink) -> list:
    import numpy as np

    from biomatrix_plugin.io import iter_jsonl
    from biomatrix_plugin.protein3d.tokenizer import EncodeRequest

    requests = []
    for lineno, record, error in iter_jsonl(path):
        if error:
            rejects.write({"source": path, "reason": f"line {lineno}: {error}"})
            continue
        try:
            requests.append(EncodeRequest(str(record["id"]), np.asarray(record["backbone"], dtype=float),
                                          str(record["sequence"])))
        except (KeyError, ValueError, TypeError) as exc:
            rejects.write({"source": path, "reason": f"line {lineno}: bad record ({type(exc).__name__}: {exc})"})
    return requests


def _encode_tokenizer(args: argparse.Namespace):
    from biomatrix_plugin.protein3d.tokenizer import get_structure_tokenizer

    if args.backend == "precomputed":
        if args.config:
            raise ConfigError("--config configures the gcp_vqvae backend; --backend precomputed reads --vq-csv")
        if not args.vq_csv:
            raise ConfigError("--backend precomputed needs --vq-csv FILE... "
                              "(the vq_indices.csv tables to look codes up in)")
        return get_structure_tokenizer("precomputed", csv_paths=args.vq_csv)
    if args.vq_csv:
        raise ConfigError("--vq-csv is read by the precomputed backend; --backend gcp_vqvae runs the model (--config)")
    if not args.config:
        raise ConfigError("--backend gcp_vqvae needs --config YAML (repo_dir, model_dir, python); "
                          "see `GCP-VQVAE setup` in docs/protein3d.md")
    return _gcp_tokenizer(args.config)


def _cmd_encode(args: argparse.Namespace) -> int:
    from biomatrix_plugin.protein3d.vq_csv import VQRecord, write_vq_csv

    _distinct_outputs(out=args.output, rejects=args.rejects)
    tokenizer = _encode_tokenizer(args)  # configuration errors before any input is read
    with contextlib.ExitStack() as stack:
        rejects = _Sink(stack, args.rejects, sys.stderr)
        requests = _encode_requests(args.input, rejects)
        results = tokenizer.encode_batch(requests)
        records = []
        for request, result in zip(requests, results):
            if isinstance(result, str):
                rejects.write({"pid": request.pid, "reason": result})
            else:
                records.append(VQRecord(request.pid, result, request.sequence))
        write_vq_csv(args.output, records)
    print(f"protein encode: {len(records)} written, {rejects.count} rejected", file=sys.stderr)
    return 1 if rejects.count else 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from biomatrix_plugin.protein3d.structure_io import write_backbone
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    tokenizer = _gcp_tokenizer(args.config)  # a missing or bad configuration fails before the table is read
    records, rejected = read_vq_csv(args.vq_csv)
    for rej in rejected:
        print(json.dumps(rej), file=sys.stderr)
    backbones = tokenizer.decode_batch([r.codes for r in records])
    out_dir = Path(args.out_dir)
    for record, backbone in zip(records, backbones):
        write_backbone(out_dir / f"{record.pid}.{args.format}", backbone, record.sequence)
    print(f"protein decode: {len(records)} written, {len(rejected)} rejected", file=sys.stderr)
    return 1 if rejected else 0


def _cmd_check_codes(args: argparse.Namespace) -> int:
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    total = 0
    with contextlib.ExitStack() as stack:
        rejects = _Sink(stack, args.rejects, sys.stderr)
        for path in args.vq_csv:
            records, rejected = read_vq_csv(path)
            total += len(records)
            for rej in rejected:
                rejects.write(rej)
    print(f"protein check-codes: {total} valid, {rejects.count} rejected", file=sys.stderr)
    return 1 if rejects.count else 0


def _annotation_entry(path: str, lineno: int, record: object) -> tuple[str, dict]:
    """(pid, cleaned annotations) of one JSONL line; SerializationError naming the line otherwise."""
    from biomatrix_plugin.modalities.serialization import SerializationError
    from biomatrix_plugin.protein3d.instances import clean_annotations

    where = f"{path} line {lineno}"
    if not isinstance(record, dict):
        raise SerializationError(f"{where}: expected an object {{\"pid\": ..., \"annotations\": {{...}}}}, "
                                 f"got {type(record).__name__}")
    pid = record.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or not str(pid).strip():
        raise SerializationError(f"{where}: needs a pid (text or integer), got {pid!r}")
    return str(pid), clean_annotations(record.get("annotations"), f"{where} (pid {pid}): annotations")


def _load_annotations(path: str, rejects: _Sink) -> dict[str, dict]:
    from biomatrix_plugin.io import iter_jsonl
    from biomatrix_plugin.modalities.serialization import SerializationError

    annotations: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    for lineno, record, error in iter_jsonl(path):
        try:
            if error:
                raise SerializationError(f"{path} line {lineno}: {error}")
            pid, fields = _annotation_entry(path, lineno, record)
        except SerializationError as exc:
            rejects.write({"source": path, "line": lineno, "reason": str(exc)})
            continue
        if pid in first_line:
            rejects.write({"source": path, "line": lineno, "pid": pid,
                           "reason": f"{path} line {lineno}: pid {pid} already annotated at line {first_line[pid]}"})
            continue
        first_line[pid] = lineno
        annotations[pid] = fields
    return annotations


def _cmd_instances(args: argparse.Namespace) -> int:
    import random

    from biomatrix_plugin.modalities.serialization import SerializationError
    from biomatrix_plugin.protein3d.instances import three_view_instances
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    _distinct_outputs(out=args.output, rejects=args.rejects, annotations=args.annotations)
    rng = random.Random(args.seed)
    used: set[str] = set()
    with contextlib.ExitStack() as stack:
        rejects = _Sink(stack, args.rejects, sys.stderr)
        annotations = _load_annotations(args.annotations, rejects) if args.annotations else {}
        out = _Sink(stack, args.output, sys.stdout)
        for path in args.vq_csv:
            records, rejected = read_vq_csv(path)
            for rej in rejected:
                rejects.write(rej)
            for record in records:
                fields = annotations.get(record.pid)
                used.add(record.pid)
                try:
                    rows = three_view_instances(record.sequence, record.codes, rng, fields)
                except SerializationError as exc:
                    rejects.write({"pid": record.pid, "source": path, "reason": str(exc)})
                    continue
                for row in rows:
                    out.write(row)
    unmatched = len(set(annotations) - used)
    print(f"protein instances: {out.count} rows written, {rejects.count} rejected"
          + (f", {unmatched} annotation record(s) matched no pid" if unmatched else ""), file=sys.stderr)
    return 1 if rejects.count else 0


def _one_chain(path: str, chain: str | None, flag: str):
    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.structure_io import StructureFileError

    result = extract_chains(path, chain=chain)  # StructureFileError names the file and the reason
    if not result.chains:
        raise StructureFileError(f"{path}: no usable protein chain ({result.rejected[0]['chain']}: "
                                 f"{result.rejected[0]['reason']})")
    if len(result.chains) != 1:
        raise ConfigError(f"{path}: {len(result.chains)} protein chains "
                          f"({', '.join(c.chain for c in result.chains)}); choose one with {flag}")
    return result.chains[0]


def _cmd_compare(args: argparse.Namespace) -> int:
    from biomatrix_plugin.protein3d.comparison import kabsch_rmsd, tm_score

    pred = _one_chain(args.pred, args.pred_chain, "--pred-chain")
    ref = _one_chain(args.ref, args.ref_chain, "--ref-chain")
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
