"""PDBbind v2020 3D binding affinity on the TankBind/EquiBind time split (report Table 29).

Records are the PDB ids of EquiBind's split files (``timesplit_no_lig_overlap_train``, ``..._val``,
``timesplit_test``: one id per line, read with the ``smi`` line reader, whose first column is the id). Per id:

- the label: ``-logKd/Ki`` of ``INDEX_general_PL_data.2020`` (column 4, as TankBind's ``read_pdbbind_data``
  parses it; the raw ``Kd=``/``Ki=``/``IC50=`` text is kept as the row's raw answer), read once by ``prepare``;
- the ligand: ``<pdb>_ligand.sdf`` (``.mol2`` when RDKit cannot read the SDF, as TankBind does), hydrogens
  kept, its 3D pose encoded to MolStrucTok joint tokens (:func:`biomatrix_plugin.mol3d.encode_mol`; a missing
  checkpoint stops the build with the mol3d package's error);
- the protein: the chains of ``<pdb>_pocket.pdb`` (or ``_protein.pdb`` with ``protein_file: protein``) as
  GCP-VQVAE codes looked up in a precomputed ``vq_indices.csv`` (the ``precomputed`` protein3d backend, pid
  ``<file stem>_chain_id_<chain>``, sequence checked). A pocket spanning several chains is their codes
  concatenated in file order (ours: the report does not say). A chain without codes is a reject naming it.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.io import iter_lines, quiet_rdkit
from biomatrix_plugin.tasks import entities
from biomatrix_plugin.tasks.converters import Context, ConverterSpec, Example, PrepareContext, field

PROTEIN_FILES = ("pocket", "protein")


def parse_index(path: str) -> dict[str, list]:
    """``INDEX_general_PL_data.2020`` -> {pdb: [-logKd/Ki, raw "Kd=..." text]}; comment lines skipped, a
    malformed data line is an error naming it (the index is one file the whole task depends on)."""
    out: dict[str, list] = {}
    for number, line in iter_lines(path):
        if not isinstance(line, str):
            raise InputFileError(f"{path}:{number}: not UTF-8 text")
        text = line.split("//")[0].strip()
        if not text or text.startswith("#"):
            continue
        cells = text.split()
        try:
            value = float(cells[3])
        except (IndexError, ValueError):
            raise InputFileError(f"{path}:{number}: expected 'pdb resolution year -logKd/Ki Kd/Ki', got "
                                 f"{line.strip()[:60]!r}") from None
        out[cells[0].lower()] = [value, cells[4] if len(cells) > 4 else ""]
    return out


def prepare_pdbbind(pc: PrepareContext) -> dict:
    root = os.path.join(str(pc.raw_root), pc.options["root"])
    index = os.path.join(root, pc.options["index"])
    if not os.path.isfile(index):
        raise InputFileError(f"task {pc.task_id}: affinity index {index} not found (PDBbind v2020 index/ folder)")
    codes = os.path.join(root, pc.options["codes"])
    if not os.path.isfile(codes):
        raise InputFileError(f"task {pc.task_id}: precomputed structure codes {codes} not found; encode the "
                             f"pockets with `biomatrix protein3d encode` (GCP-VQVAE) first")
    return {"root": root, "labels": parse_index(index), "codes": codes,
            "complex_dirs": list(pc.options.get("complex_dirs") or ["v2020-other-PL", "refined-set"])}


def _complex_dir(prepared: Mapping[str, Any], pdb: str) -> str:
    for sub in prepared["complex_dirs"]:
        folder = os.path.join(prepared["root"], sub, pdb)
        if os.path.isdir(folder):
            return folder
    raise RecordRejected(f"{pdb}: no complex folder under {', '.join(prepared['complex_dirs'])}")


def _ligand(folder: str, pdb: str):
    from rdkit import Chem

    sdf, mol2 = os.path.join(folder, f"{pdb}_ligand.sdf"), os.path.join(folder, f"{pdb}_ligand.mol2")
    mol = None
    with quiet_rdkit():
        if os.path.isfile(sdf):
            mol = Chem.MolFromMolFile(sdf, removeHs=False)
        if mol is None and os.path.isfile(mol2):
            mol = Chem.MolFromMol2File(mol2, removeHs=False)
    if mol is None:
        raise RecordRejected(f"{pdb}: RDKit cannot read {pdb}_ligand.sdf or .mol2")
    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        raise RecordRejected(f"{pdb}: ligand has no 3D coordinates")
    return mol


def _ligand_tokens(mol, pdb: str) -> entities.Mol3D:
    from biomatrix_plugin.mol3d import Mol3DError, encode_mol

    try:
        struct_sfi = encode_mol(mol).struct_sfi
    except (Mol3DError, ValueError) as exc:  # too many atoms, missing hydrogens, fragments: named
        raise RecordRejected(f"{pdb}: ligand: MolStrucTok: {exc}") from None
    return entities.mol3d(struct_sfi, f"{pdb} ligand")


@lru_cache(maxsize=2)
def _table(path: str):
    from biomatrix_plugin.protein3d.tokenizer import PrecomputedTokenizer

    return PrecomputedTokenizer([path])


def _pocket_codes(path: str, table: str, pdb: str) -> entities.Structure:
    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.tokenizer import EncodeRequest

    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise RecordRejected(f"{pdb}: no {name}")
    try:
        result = extract_chains(path)
    except Exception as exc:  # StructureFileError or biotite's own parse errors: this complex only
        raise RecordRejected(f"{pdb}: structure {name}: {' '.join(str(exc).split())}") from None
    if not result.chains:
        raise RecordRejected(f"{pdb}: structure {name}: no protein chain with N, CA and C")
    tokenizer = _table(table)
    codes: list[int] = []
    sequence = ""
    for chain in result.chains:
        if chain.id not in tokenizer.by_pid:
            raise RecordRejected(f"{pdb}: structure {name} chain {chain.chain}: no precomputed codes for pid "
                                 f"{chain.id} in {os.path.basename(table)}")
        got = tokenizer.encode_batch([EncodeRequest(chain.id, chain.backbone, chain.sequence)])[0]
        if isinstance(got, str):
            raise RecordRejected(f"{pdb}: structure {name}: {got}")
        codes += got
        sequence += chain.sequence
    return entities.structure(codes, f"{pdb} {name}", sequence)


def convert_pdbbind(row: Mapping[str, Any], ctx: Context) -> list[Example]:
    pdb = str(field(row, "smiles", "pdb id")).strip().lower()  # the smi reader's first column: the id
    prepared = ctx.prepared
    folder = _complex_dir(prepared, pdb)
    if pdb not in prepared["labels"]:
        raise RecordRejected(f"{pdb}: not in the affinity index (INDEX_general_PL_data.2020)")
    value, raw = prepared["labels"][pdb]
    names = ctx.options["fields"]
    ligand = _ligand_tokens(_ligand(folder, pdb), pdb)
    pocket = _pocket_codes(os.path.join(folder, f"{pdb}_{ctx.options.get('protein_file', 'pocket')}.pdb"),
                           prepared["codes"], pdb)
    output = entities.read(ctx.output_kind, value, f"{pdb} affinity")
    raw_input = json.dumps({"pdb": pdb}, sort_keys=True)
    return [Example({names["ligand"]: ligand, names["protein"]: pocket}, output, raw_input,
                    f"{value} ({raw})" if raw else value)]


PDBBIND_OPTIONS = S.Spec(fields={
    "root": S.Str(nonempty=True),  # the PDBbind folder under --raw (index/, v2020-other-PL/, split files)
    "index": S.Str(nonempty=True),  # INDEX_general_PL_data.2020, relative to root
    "codes": S.Str(nonempty=True),  # precomputed vq_indices.csv of the pocket/protein chains, relative to root
    "complex_dirs": S.StrList(nonempty=True),  # folders holding <pdb>/ (general and refined sets)
    "protein_file": S.Enum(choices=PROTEIN_FILES),  # <pdb>_pocket.pdb (default) or <pdb>_protein.pdb
    "fields": S.Spec(fields={"ligand": S.Str(nonempty=True), "protein": S.Str(nonempty=True)},
                     required=("ligand", "protein")),  # input.fields names of the ligand and the protein
}, required=("root", "index", "codes", "fields"), what="option of converter 'pdbbind2020_3d'")

CONVERTERS: dict[str, ConverterSpec] = {
    "pdbbind2020_3d": ConverterSpec(convert_pdbbind, "smi", PDBBIND_OPTIONS,
                                    "PDBbind v2020 complexes on EquiBind's time split: ligand pose -> MolStrucTok, "
                                    "pocket -> precomputed GCP-VQVAE codes, -logKd/Ki", prepare=prepare_pdbbind),
}
