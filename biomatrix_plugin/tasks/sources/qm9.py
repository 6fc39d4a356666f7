"""QM9-2014 as NExT-Mol reads it (PyG layout ``raw/gdb9.sdf``, ``raw/gdb9.sdf.csv``, ``raw/uncharacterized.txt``):
unconditional 3D generation and property-conditioned generation, answers as MolStrucTok joint tokens.

The split is NExT-Mol's ``qm9_dataset_v6.get_idx_split`` (JODO / EDM): the molecules listed in
``uncharacterized.txt`` are left out (133,885 - 3,054 = 130,831), the rest are numbered in SDF order (the
"split id"), and ``np.random.seed(0); np.random.permutation(N)`` gives train = the first 100,000, test = the
last ``int(0.1 N)`` = 13,083, valid = the 17,748 between. The split id does not depend on whether RDKit can
sanitise a molecule (NExT-Mol counts those too and drops them afterwards), so one that fails is a reject
here and its slot stays empty, as there.

The conditional tasks train on the half of the training set that the property classifier was not trained
on. NExT-Mol ships that split as ``processed/split_dict_cond_qm9.pt`` (not readable here); this module uses
EDM's rule (``qm9/data/utils.py``: ``np.random.seed(42)``, a permutation of the training positions,
``qm9_second_half`` = its second half), applied to the 100,000 training positions in permutation order.
That this reproduces the shipped file is NOT verified (an open choice, marked ``ours`` in the task files).

Everything whole-dataset (the uncharacterized ids, the record count, where the property table is) is read
once by :func:`prepare_qm9`; the workers recompute the permutation from it (milliseconds) and read the
property table once per process.

Units (one convention, the one of report Table 17): mu in D, alpha in Bohr^3 (a0^3), Cv in cal/(mol K) as
the csv gives them, HOMO / LUMO / gap in meV (the csv's Hartree x 27,211.386246). The prompt states the value
in that unit, the test row's reference is that number, and ``property_mae`` compares it with the registered
oracle, which must answer in the same unit (``biomatrix_plugin.eval.readout_mol3d.register_qm9_oracle``).
Cv is the plain heat capacity: EDM's classifiers predict it minus 2.981 per atom (NExT-Mol ``sub_Cv_thermo``);
an oracle trained that way must add it back.
"""

from __future__ import annotations

import bisect
import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import ConfigError, InputFileError
from biomatrix_plugin.io import file_sha256, open_text, quiet_rdkit
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, OtherSubtask, PrepareContext
from biomatrix_plugin.tasks.entities import Mol3D

HARTREE_TO_MEV = 27211.386246  # PyG / NExT-Mol HAR2EV = 27.211386246, x 1000


@dataclass(frozen=True)
class Property:
    column: str  # gdb9.sdf.csv header
    unit: str  # as the prompt writes it
    scale: float  # csv value x scale = value in ``unit``
    decimals: int  # as the csv gives it, after scaling (meV: 0.0001 Ha = 2.7 meV, so whole meV)


PROPERTIES: dict[str, Property] = {
    "mu": Property("mu", "D", 1.0, 4),
    "alpha": Property("alpha", "Bohr^3", 1.0, 2),
    "cv": Property("cv", "cal/(mol K)", 1.0, 3),
    "homo": Property("homo", "meV", HARTREE_TO_MEV, 0),
    "lumo": Property("lumo", "meV", HARTREE_TO_MEV, 0),
    "gap": Property("gap", "meV", HARTREE_TO_MEV, 0),
}
SPLIT_NAMES = ("train", "valid", "test")

# defaults = NExT-Mol / EDM; the task files restate them
DEFAULTS: dict[str, Any] = {
    "property": "none", "train_half": "all", "train_size": 100_000, "test_fraction": 0.1, "split_seed": 0,
    "half_seed": 42, "test_rows": 10_000, "properties_file": "gdb9.sdf.csv",
    "uncharacterized_file": "uncharacterized.txt",
}

OPTIONS = S.Spec(fields={
    "property": S.Enum(choices=("none", *PROPERTIES), doc="conditioning property; none = unconditional"),
    "train_half": S.Enum(choices=("all", "second"),
                         doc="all: the whole train split; second: EDM's qm9_second_half (the classifier's "
                             "complement)"),
    "train_size": S.Int(min=1, doc="molecules in the train split (NExT-Mol: 100,000)"),
    "test_fraction": S.Float(min=0.0, min_open=True, max=1.0, doc="test split = int(fraction x N) (0.1)"),
    "split_seed": S.Int(min=0, doc="np.random.seed of the split permutation (0)"),
    "half_seed": S.Int(min=0, doc="np.random.seed of the train-half permutation (EDM: 42)"),
    "test_rows": S.Int(min=1, nullable=True,
                       doc="test rows: the first N test molecules in permutation order (report: 10,000 samples)"),
    "properties_file": S.Str(nonempty=True, doc="property table next to the SDF (gdb9.sdf.csv)"),
    "uncharacterized_file": S.Str(nonempty=True, doc="excluded ids next to the SDF (uncharacterized.txt)"),
})

_NAME = re.compile(r"gdb_(\d+)")


def option(options: Mapping[str, Any], name: str) -> Any:
    """A converter option as the task file gives it, else NExT-Mol's value (``test_rows: null`` = no cap)."""
    return options.get(name, DEFAULTS[name])


# ---------------------------------------------------------------- the split (pure functions of N and seeds)

def split_sizes(n: int, train_size: int = 100_000, test_fraction: float = 0.1) -> tuple[int, int, int]:
    """(train, valid, test) as NExT-Mol's get_idx_split computes them; valid may not be negative."""
    test = int(test_fraction * n)
    valid = n - (train_size + test)
    if valid < 0:
        raise ConfigError(f"QM9 split: {n} characterized molecules cannot hold train {train_size} + test {test}; "
                          "set source.options.train_size")
    return train_size, valid, test


@lru_cache(maxsize=4)
def split_table(n: int, train_size: int, test_fraction: float, seed: int, half_seed: int):
    """Per split id: split (0 train, 1 valid, 2 test), rank inside its split (permutation order) and, for
    train, whether it is in EDM's second half."""
    n_train, n_valid, _ = split_sizes(n, train_size, test_fraction)
    np.random.seed(seed)  # NExT-Mol's exact call: the global seed, then np.random.permutation
    perm = np.random.permutation(n)
    which = np.empty(n, dtype=np.int8)
    rank = np.empty(n, dtype=np.int64)
    bounds = (0, n_train, n_train + n_valid, n)
    for split in range(3):
        ids = perm[bounds[split]:bounds[split + 1]]
        which[ids] = split
        rank[ids] = np.arange(len(ids))
    np.random.seed(half_seed)  # EDM: np.random.seed(42); permutation over the training positions
    half_perm = np.random.permutation(n_train)
    second = np.zeros(n, dtype=bool)
    second[perm[half_perm[n_train // 2:]]] = True
    return which, rank, second


# ---------------------------------------------------------------- prepare: whole-dataset facts, read once

def read_uncharacterized(path: Path) -> list[int]:
    """The 1-based gdb indices of ``uncharacterized.txt`` (figshare 3195404), read as PyG does:
    ``text.split('\\n')[9:-2]``, first column."""
    with open_text(path) as fh:
        lines = fh.read().split("\n")[9:-2]
    ids = []
    for number, line in enumerate(lines, start=10):
        token = line.split()[0] if line.split() else ""
        if not token.isdigit():
            raise InputFileError(f"{path}:{number}: expected a gdb index in the first column, got {line[:60]!r} "
                                 "(PyG reads lines 10 to the second-to-last; is this the figshare file?)")
        ids.append(int(token))
    return sorted(set(ids))


def scan_sdf_names(path: Path) -> int:
    """Number of records of ``gdb9.sdf``; each record's name line must be gdb_<its 1-based position>, since
    the converter finds a record's split id from its name."""
    count = 0
    expect_name = True
    with open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            if expect_name:
                name = line.strip()
                count += 1
                if name != f"gdb_{count}":
                    raise InputFileError(f"{path}:{number}: record {count} is named {name[:40]!r}, expected "
                                         f"'gdb_{count}' (QM9 records are numbered in file order)")
                expect_name = False
            elif line.rstrip("\r\n") == "$$$$":
                expect_name = True
    return count


def prepare_qm9(pc: PrepareContext) -> dict:
    from biomatrix_plugin.mol3d.checkpoint import require_checkpoint

    require_checkpoint()  # one configuration error before any record, not one reject per molecule
    files = sorted({f for split in pc.all_files().values() for f in split})
    if len(files) != 1:
        raise InputFileError(f"task {pc.task_id}: expected one gdb9.sdf, the path matches {len(files)} files "
                             f"({', '.join(map(str, files[:3]))})")
    sdf = files[0]
    properties = sdf.parent / option(pc.options, "properties_file")
    uncharacterized = sdf.parent / option(pc.options, "uncharacterized_file")
    for path in (properties, uncharacterized):
        if not path.is_file():
            raise InputFileError(f"task {pc.task_id}: {path} not found next to {sdf.name} (PyG's raw/ holds "
                                 "gdb9.sdf, gdb9.sdf.csv and uncharacterized.txt)")
    records = scan_sdf_names(sdf)
    skipped = [i for i in read_uncharacterized(uncharacterized) if i <= records]
    n = records - len(skipped)
    split_sizes(n, option(pc.options, "train_size"), option(pc.options, "test_fraction"))  # fail early
    return {"records": records, "n_characterized": n, "uncharacterized": skipped,
            "properties_file": str(properties.resolve()), "properties_sha256": file_sha256(properties)}


# ---------------------------------------------------------------- per-record conversion

@lru_cache(maxsize=2)
def property_table(path: str, sha256: str) -> dict[str, dict[str, str]]:
    """mol_id -> {column: text} of gdb9.sdf.csv, read once per worker (``sha256`` keys the cache)."""
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("mol_id", *(p.column for p in PROPERTIES.values())) if c not in (reader.fieldnames
                                                                                              or ())]
        if missing:
            raise InputFileError(f"{path}: no column {', '.join(missing)} (header: {reader.fieldnames})")
        return {row["mol_id"].strip(): row for row in reader}


def property_value(row: Mapping[str, str] | None, name: str, mol_id: str) -> tuple[float, str]:
    """(value in the task's unit, rounded; the same as the prompt writes it)."""
    prop = PROPERTIES[name]
    if row is None:
        raise RecordRejected(f"{prop.column}: {mol_id} has no row in gdb9.sdf.csv")
    raw = (row.get(prop.column) or "").strip()
    try:
        value = float(raw) * prop.scale
    except ValueError:
        raise RecordRejected(f"{prop.column}: {raw[:30]!r} of {mol_id} is not a number") from None
    if not math.isfinite(value):
        raise RecordRejected(f"{prop.column}: {raw!r} of {mol_id} is not finite")
    text = f"{value:.{prop.decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")  # a symmetric molecule's mu is 0.0000, not -0.0000
    return float(text), text


def read_molecule(molblock: str, mol_id: str):
    from rdkit import Chem

    with quiet_rdkit():
        mol = Chem.MolFromMolBlock(molblock, removeHs=False, sanitize=False)
    if mol is None:
        raise RecordRejected(f"molblock: RDKit cannot read the record of {mol_id}")
    try:
        with quiet_rdkit():
            Chem.SanitizeMol(mol)
    except Exception as exc:  # MolSanitizeException and its kinds (valence, kekulisation)
        raise RecordRejected(f"molblock: {mol_id} fails RDKit sanitisation ({' '.join(str(exc).split())[:80]}); "
                             "NExT-Mol drops these too") from None
    return mol


def encode(mol, mol_id: str) -> str:
    from biomatrix_plugin.mol3d.tokenizer import get_tokenizer  # cached per checkpoint

    encoded = get_tokenizer(None).encode_mols([mol], records=[mol_id], on_error="record")[0]
    if not encoded.ok:
        raise RecordRejected(f"molstructok: {encoded.error}")
    return encoded.struct_sfi


def convert_qm9(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    """One gdb9.sdf record (``{"molblock", "props"}``) -> one example if it belongs to the raw split read."""
    from rdkit import Chem

    options, prepared = ctx.options, ctx.prepared
    molblock = row.get("molblock") if isinstance(row, Mapping) else None
    if not isinstance(molblock, str):
        raise RecordRejected("record: not an SDF entry")
    mol_id = molblock.split("\n", 1)[0].strip()
    match = _NAME.fullmatch(mol_id)
    if not match:
        raise RecordRejected(f"name: {mol_id[:40]!r} is not a QM9 name gdb_<n>")
    index = int(match.group(1))
    skipped = prepared["uncharacterized"]
    at = bisect.bisect_left(skipped, index)
    if at < len(skipped) and skipped[at] == index:
        raise RecordRejected(f"uncharacterized: {mol_id} failed QM9's geometry consistency check "
                             "(uncharacterized.txt); left out as PyG and NExT-Mol do")
    split_id = index - 1 - at  # position among the characterized molecules, in SDF order
    which, rank, second = split_table(prepared["n_characterized"], option(options, "train_size"),
                                      float(option(options, "test_fraction")), option(options, "split_seed"),
                                      option(options, "half_seed"))
    if not 0 <= split_id < len(which):
        raise RecordRejected(f"name: {mol_id} is beyond the {prepared['records']} records prepare() counted")
    own = SPLIT_NAMES[which[split_id]]
    if own != ctx.split:
        raise OtherSubtask(f"split: {mol_id} is in NExT-Mol's {own} split, not {ctx.split}")
    if own == "train" and option(options, "train_half") == "second" and not second[split_id]:
        raise OtherSubtask(f"split: {mol_id} is in the first train half (the property classifier's)")
    test_rows = option(options, "test_rows")
    if own == "test" and test_rows is not None and rank[split_id] >= test_rows:
        raise OtherSubtask(f"split: {mol_id} is test molecule {rank[split_id] + 1}, beyond the {test_rows} "
                             "evaluated")
    mol = read_molecule(molblock, mol_id)
    struct_sfi = encode(mol, mol_id)
    name = option(options, "property")
    if name == "none":
        reference = Chem.MolToMolBlock(mol)  # the DFT geometry: the reference set of the 3D metrics
        return [Example(None, Mol3D(struct_sfi), mol_id, struct_sfi, reference=reference)]
    table = property_table(prepared["properties_file"], prepared["properties_sha256"])
    value, text = property_value(table.get(mol_id), name, mol_id)
    # the reference is the conditioning value: property_mae compares the generated molecule's property with it
    return [Example(text, Mol3D(struct_sfi), mol_id, struct_sfi, reference=text)]


CONVERTERS: dict[str, ConverterSpec] = {
    "qm9_nextmol": ConverterSpec(
        convert_qm9, "sdf", OPTIONS,
        "QM9-2014 raw/gdb9.sdf (+ gdb9.sdf.csv, uncharacterized.txt), NExT-Mol's seed-0 split, MolStrucTok "
        "joint-token answers; unconditional or conditioned on one property",
        prepare=prepare_qm9, routes_splits=True),
}
