"""DPLM-2 protein tasks (tech report Tables 26-27): folding, inverse folding, sequence-structure co-generation,
unconditional backbone and unconditional sequence generation, with BioMatrix's own structure tokens.

DPLM-2 (bytedance/dplm) ships structure tokens of its own LFQ tokenizer (8,192 codes, ``struct_seq`` /
``struct.fasta``). They are a different code book: BioMatrix's structure vocabulary is GCP-VQVAE's 4,096
codes, so those ids are never read here. The codes come from GCP-VQVAE run over the same structures
(``biomatrix protein3d`` or GCP-VQVAE's encode script), as ``vq_indices.csv`` (columns ``pid``, ``indices``,
``protein_sequence``; :mod:`biomatrix_plugin.protein3d.vq_csv`) beside DPLM-2's listings.

Two converters:

``dplm2_listing`` (folding, inverse folding): one record = one entry of a DPLM-2 FASTA listing
(``data-bin/<split>/aatype.fasta``: header = ``pdb_name``, sequence = the chain's residues; the PDB date split
is published so). Its structure codes are looked up in the split's ``vq_indices.csv`` (option ``codes``) by
pid (``<pdb>_chain_id_<chain>`` for a name ``<pdb>_<chain>``, BioMatrix's pid rule, or the name itself) or,
failing that, by a unique equal sequence. A listing entry without codes is a reject naming the structure; a
sequence that differs from the one the codes were computed on is a reject too (codes and residues must align
one to one). With option ``structures`` the test rows also carry the native CA trace, read from the chain's
structure file (PDB/mmCIF through protein3d), as the reference TM-score / RMSD / scTM compare with.

``dplm2_unconditional`` (co-generation in both orders, unconditional backbone / sequence generation): train
rows are the ``vq_indices.csv`` rows of the training structures (no input; the response is the chain); the
test split is the report's protocol table (§7.2.4: one row per target length 100..500 with the number of
samples kept, 100), a CSV ``length,keep`` written for this project. Every test row has the same prompt, so
``eval run`` samples the task's ``n`` generations once and every row sees all of them.

Both converters resolve their side files in ``prepare`` (paths and sizes are part of the build fingerprint)
and read each ``vq_indices.csv`` once per worker process.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.modalities.serialization import (
    SerializationError,
    validate_structure_codes,
    wrap_prot3d,
    wrap_protein,
)
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, PrepareContext, field
from biomatrix_plugin.tasks.entities import Protein, Structure

LISTING_TASKS = ("folding", "inverse_folding")
UNCONDITIONAL_TASKS = ("cogeneration_seq_to_struct", "cogeneration_struct_to_seq", "backbone", "sequence")
# the report's length protocol (§7.2.4): 5,000 samples, the 100 closest in length to each target kept
REPORT_LENGTHS = (100, 200, 300, 400, 500)
_NAME_WITH_CHAIN = re.compile(r"(?P<pdb>[A-Za-z0-9]+)_(?P<chain>[A-Za-z0-9]{1,4})")
_MODEL_LETTERS = str.maketrans({"U": "X", "O": "X", "B": "X", "Z": "X", "J": "X"})
CA_DECIMALS = 3


def model_alphabet(sequence: str) -> str:
    """GCP-VQVAE reads 20 letters + X (protein3d.tokenizer_base.model_alphabet; kept here so the task layer
    compares sequences the way the tokenizer does without importing a tokenizer backend)."""
    return sequence.upper().translate(_MODEL_LETTERS)


# ---------------------------------------------------------------- entities that also carry the native structure

@dataclass(frozen=True)
class NativeStructure(Structure):
    """Structure codes rendered as usual; the test reference is ``{"codes", "sequence", "ca"}`` (``ca``: the
    native CA trace, when the structure file was read), which the CA-trace metrics accept."""

    ca: tuple[tuple[float, float, float], ...] | None = None

    def payload(self, notation: str = "default") -> Any:
        if self.ca is None:
            return list(self.codes)
        return {"codes": list(self.codes), "sequence": self.sequence, "ca": [list(p) for p in self.ca]}


@dataclass(frozen=True)
class NativeProtein(Protein):
    """A sequence rendered as usual; the test reference adds the native CA trace (for scTM)."""

    ca: tuple[tuple[float, float, float], ...] | None = None

    def payload(self, notation: str = "default") -> Any:
        if self.ca is None:
            return self.sequence
        return {"sequence": self.sequence, "ca": [list(p) for p in self.ca]}


@dataclass(frozen=True)
class CoDesign(Structure):
    """A generated chain written as both of its views, in the decoding order of the task:
    ``seq_to_struct`` = ``<|prot_aa_start|>...<|prot_aa_end|><|prot_3d_start|>...<|prot_3d_end|>``."""

    order: str = "seq_to_struct"

    def wrapped(self, notation: str = "default", vocabulary=None) -> str:
        seq = wrap_protein(self.sequence)
        struct = wrap_prot3d(self.codes, self.sequence)
        return seq + struct if self.order == "seq_to_struct" else struct + seq

    def payload(self, notation: str = "default") -> Any:
        return {"codes": list(self.codes), "sequence": self.sequence}


# ---------------------------------------------------------------- side files: GCP-VQVAE codes, native structures

@dataclass(frozen=True)
class CodeTable:
    by_pid: Mapping[str, tuple[tuple[int, ...], str]]
    by_sequence: Mapping[str, tuple[str, ...]]
    rejected: int
    path: str


@functools.lru_cache(maxsize=8)
def load_codes(path: str, size: int, mtime_ns: int) -> CodeTable:
    """A ``vq_indices.csv`` read once per process (size and mtime in the key: a rewritten file is reread)."""
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    records, rejected = read_vq_csv(path)
    by_pid: dict[str, tuple[tuple[int, ...], str]] = {}
    by_sequence: dict[str, list[str]] = {}
    for record in records:
        by_pid[record.pid] = (tuple(record.codes), record.sequence)
        by_sequence.setdefault(model_alphabet(record.sequence), []).append(record.pid)
    return CodeTable(by_pid, {k: tuple(v) for k, v in by_sequence.items()}, len(rejected), path)


def _file_key(path: str) -> dict:
    stat = os.stat(path)
    return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _table(prepared_entry: Mapping[str, Any]) -> CodeTable:
    return load_codes(prepared_entry["path"], prepared_entry["size"], prepared_entry["mtime_ns"])


def pid_candidates(name: str) -> list[str]:
    """The vq_indices pids a DPLM-2 name may be written as: itself, and ``<pdb>_chain_id_<chain>`` for
    ``<pdb>_<chain>`` (BioMatrix's record id of chain <chain> of file <pdb>.*)."""
    out = [name]
    m = _NAME_WITH_CHAIN.fullmatch(name)
    if m:
        out += [f"{m['pdb']}_chain_id_{m['chain']}", f"{m['pdb'].lower()}_chain_id_{m['chain']}",
                f"{m['pdb'].upper()}_chain_id_{m['chain']}"]
    return list(dict.fromkeys(out))


def lookup_codes(table: CodeTable, name: str, sequence: str) -> tuple[str, tuple[int, ...], str]:
    """(pid, codes, stored sequence) of one structure, or a reject naming it."""
    for pid in pid_candidates(name):
        if pid in table.by_pid:
            return (pid, *table.by_pid[pid])
    matches = table.by_sequence.get(model_alphabet(sequence), ())
    if len(matches) == 1:
        return (matches[0], *table.by_pid[matches[0]])
    why = f"{len(matches)} rows share its sequence" if matches else "no row with its pid or sequence"
    raise RecordRejected(f"structure {name!r}: no GCP-VQVAE codes in {table.path} ({why}; tried pid "
                         f"{', '.join(pid_candidates(name))}); encode it with GCP-VQVAE (biomatrix protein3d)")


def _chain_of(pid: str, name: str) -> tuple[str, str | None]:
    """(file stem, chain id) of a structure, from its vq pid or its DPLM-2 name."""
    if "_chain_id_" in pid:
        stem, _, chain = pid.rpartition("_chain_id_")
        return stem, chain
    m = _NAME_WITH_CHAIN.fullmatch(name)
    return (m["pdb"], m["chain"]) if m else (name, None)


@functools.lru_cache(maxsize=4096)
def native_ca(path: str, chain: str | None) -> tuple[tuple[tuple[float, float, float], ...], str]:
    """(CA trace, sequence) of one chain of a structure file, through the protein3d extractor (the residues
    GCP-VQVAE's codes were computed on: those with N, CA and C)."""
    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.structure_io import StructureFileError

    try:
        result = extract_chains(path, chain=chain)
    except StructureFileError as exc:
        raise RecordRejected(f"native structure: {exc}") from None
    if not result.chains:
        raise RecordRejected(f"native structure {path}: chain {chain!r} has no usable residue "
                             f"({result.rejected[0]['reason'] if result.rejected else 'none'})")
    backbone = result.chains[0]
    ca = tuple(tuple(round(float(x), CA_DECIMALS) for x in atom) for atom in backbone.backbone[:, 1, :])
    return ca, backbone.sequence


def find_structure(pattern: str, stem: str, name: str) -> str:
    """The native structure file of ``stem`` under ``pattern`` (absolute, ``{pdb}`` / ``{name}`` filled);
    a glob when the pattern holds ``*`` (e.g. ``{pdb}.*`` for .pdb, .cif, .pdb.gz alike)."""
    import glob

    filled = pattern.replace("{pdb}", stem).replace("{name}", name)
    found = sorted(glob.glob(filled)) if any(c in filled for c in "*?[") else ([filled] if os.path.isfile(filled)
                                                                               else [])
    if not found:
        raise RecordRejected(f"structure {name!r}: no native structure file {filled} (option structures)")
    return found[0]


# ---------------------------------------------------------------- prepare: resolve the side files per raw split

def _resolve(pc: PrepareContext, option: str, raw_split: str) -> str | None:
    pattern = pc.options.get(option)
    if not pattern:
        return None
    return str((pc.raw_root / pattern.replace("{split}", raw_split)).resolve())


def prepare_listing(pc: PrepareContext) -> dict:
    """Per raw split: the vq_indices.csv to read (path, size, mtime: a new tokenisation rebuilds) and the
    native-structure pattern of the test split."""
    out: dict[str, Any] = {"codes": {}, "structures": {}}
    test_split = (pc.task.get("splits") or {}).get("test")
    for raw_split in pc.all_files():
        codes = _resolve(pc, "codes", raw_split)
        if codes is None or not os.path.isfile(codes):
            raise InputFileError(
                f"task {pc.task_id}: raw split {raw_split!r}: no GCP-VQVAE codes file {codes} (source.options.codes)."
                " DPLM-2's own struct_seq / struct.fasta ids are another tokenizer (8,192 codes) and are never "
                "used: encode the split's structures with GCP-VQVAE (biomatrix protein3d) into vq_indices.csv")
        out["codes"][raw_split] = _file_key(codes)
        structures = _resolve(pc, "structures", raw_split)
        if structures is not None and raw_split == test_split:  # references are for the test rows only
            out["structures"][raw_split] = structures
    return out


def prepare_unconditional(pc: PrepareContext) -> dict:
    return {}


# ---------------------------------------------------------------- converters

def _checked_sequence(raw: Any, where: str) -> str:
    return entities.protein(raw, where).sequence


def checked_chain(codes: tuple[int, ...], sequence: str, name: str) -> tuple[tuple[int, ...], str]:
    """Codes and residues as the serializer will write them (checked now, so a bad pair is a reject of this
    record and not an error while rendering)."""
    seq = _checked_sequence(sequence, f"structure {name!r} sequence")
    try:
        return tuple(validate_structure_codes(list(codes), seq)), seq
    except SerializationError as exc:
        raise RecordRejected(f"structure {name!r}: {exc}") from None


def _length_ok(n: int, ctx: Context, name: str) -> None:
    lo, hi = ctx.options.get("min_length", 1), ctx.options.get("max_length", 1024)
    if not lo <= n <= hi:
        raise RecordRejected(f"structure {name!r}: {n} residues, outside {lo}-{hi} (options min_length/max_length; "
                             "DPLM-2 keeps chains of at most 1,024)")


def convert_listing(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """One DPLM-2 FASTA entry (``id`` = pdb_name, ``sequence``) -> one folding or inverse-folding example."""
    name = str(field(row, "id")).strip()
    sequence = _checked_sequence(field(row, "sequence"), f"structure {name!r} sequence")
    prepared = ctx.prepared.get("codes", {}).get(ctx.split)
    if prepared is None:  # prepare resolves every split; this is a guard for a direct call
        raise RecordRejected(f"no GCP-VQVAE codes file for raw split {ctx.split!r}")
    pid, codes, stored = lookup_codes(_table(prepared), name, sequence)
    if model_alphabet(stored) != model_alphabet(sequence):
        raise RecordRejected(f"structure {name!r}: the listing's sequence ({len(sequence)} residues) differs from "
                             f"the one its codes were computed on (pid {pid}, {len(stored)} residues); codes and "
                             "residues would not align")
    _length_ok(len(codes), ctx, name)
    ca = None
    pattern = ctx.prepared.get("structures", {}).get(ctx.split)
    if pattern is not None:
        stem, chain = _chain_of(pid, name)
        ca, native_seq = native_ca(find_structure(pattern, stem, name), chain)
        if model_alphabet(native_seq) != model_alphabet(stored):
            raise RecordRejected(f"structure {name!r}: the structure file's chain has {len(native_seq)} residues "
                                 f"with N/CA/C, its codes {len(stored)}; they must be the same residues")
    codes, stored = checked_chain(codes, stored, name)
    raw_input = json.dumps({"name": name, "pid": pid})
    if ctx.options["task"] == "folding":
        return [Example(Protein(stored), NativeStructure(codes, stored, ca), raw_input, pid)]
    return [Example(Structure(codes, stored), NativeProtein(stored, ca), raw_input, pid)]


def _length_target(row: Mapping[str, Any]) -> Example:
    try:
        length, keep = int(str(row["length"]).strip()), int(str(row.get("keep") or 0).strip())
    except ValueError:
        raise RecordRejected(f"length / keep {row.get('length')!r} / {row.get('keep')!r}: not integers") from None
    if length < 1 or keep < 1:
        raise RecordRejected(f"length {length} / keep {keep}: both must be >= 1")
    target = {"length": length, "keep": keep}
    # each target is its own group (raw_input), so the build keeps one row per target length
    return Example(None, LengthTarget("", length, keep), json.dumps(target, sort_keys=True), json.dumps(target))


@dataclass(frozen=True)
class LengthTarget(Protein):
    """A test row of an unconditional task: no gold chain, only the target length and how many of the
    samples closest to it are kept. Its answer is that description; its reference ``{"length", "keep"}``."""

    length: int = 0
    keep: int = 0

    def wrapped(self, notation: str = "default", vocabulary=None) -> str:
        return f"(unconditional sample; scored among the {self.keep} samples closest to length {self.length})"

    def payload(self, notation: str = "default") -> Any:
        return {"length": self.length, "keep": self.keep}


def convert_unconditional(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """A ``vq_indices.csv`` row (train) or a protocol row ``length,keep`` (test)."""
    if "length" in row:
        if ctx.split != ctx.options.get("test_split", "protocol/unconditional_lengths"):
            raise RecordRejected("a length-target row outside the test split")
        return [_length_target(row)]
    from biomatrix_plugin.protein3d.vq_csv import validate_row

    pid = (row.get("pid") or "").strip()
    if not (row.get("indices") or "").strip():
        raise RecordRejected(f"structure {pid or '(no pid)'!r}: no GCP-VQVAE codes (empty indices)")
    record, reason = validate_row(pid, field(row, "indices"), field(row, "protein_sequence"))
    if record is None:
        raise RecordRejected(f"structure {pid or '(no pid)'!r}: {reason}")
    _length_ok(len(record.codes), ctx, pid)
    codes, seq = checked_chain(tuple(record.codes), record.sequence, pid)
    task = ctx.options["task"]
    if task == "sequence":
        out: Any = Protein(seq)
    elif task == "backbone":
        out = Structure(codes, seq)
    else:
        out = CoDesign(codes, seq, order=task.removeprefix("cogeneration_"))
    return [Example(None, out, pid, pid)]


LISTING_OPTIONS = S.Spec(fields={
    "task": S.Enum(choices=LISTING_TASKS),
    "codes": S.Str(nonempty=True),  # vq_indices.csv of the split, relative to --raw; {split} = the raw split
    "structures": S.Str(nonempty=True),  # native structure files: {split}, {pdb} (file stem), {name}; globs ok
    "min_length": S.Int(min=1),
    "max_length": S.Int(min=1),
}, required=("task", "codes"), what="option of converter 'dplm2_listing'")

UNCONDITIONAL_OPTIONS = S.Spec(fields={
    "task": S.Enum(choices=UNCONDITIONAL_TASKS),
    "test_split": S.Str(nonempty=True),  # the raw split that holds the length,keep protocol table
    "min_length": S.Int(min=1),
    "max_length": S.Int(min=1),
}, required=("task",), what="option of converter 'dplm2_unconditional'")

CONVERTERS: dict[str, ConverterSpec] = {
    "dplm2_listing": ConverterSpec(
        convert_listing, "fasta", LISTING_OPTIONS,
        "DPLM-2 data-bin/<split>/aatype.fasta + GCP-VQVAE vq_indices.csv (+ native structures): folding / inverse "
        "folding", prepare=prepare_listing),
    "dplm2_unconditional": ConverterSpec(
        convert_unconditional, "csv", UNCONDITIONAL_OPTIONS,
        "GCP-VQVAE vq_indices.csv of DPLM-2's training structures (train) + the report's length,keep protocol "
        "table (test): co-generation / unconditional generation", prepare=prepare_unconditional),
}


def report_length_protocol() -> list[dict]:
    """The rows of the protocol table the report describes (§7.2.4), for docs and tests."""
    return [{"length": n, "keep": 100} for n in REPORT_LENGTHS]


