"""3D-grounded interaction builders (report §3.1.4): protein–ligand complexes (CrossDocked2020) and
protein–protein complexes (PPIRef).

Both read structure files, not sequences: the protein's 1D view is the sequence extracted from the
structure by :func:`biomatrix_plugin.protein3d.extract_chains` (residues with N, CA and C), so it is
aligned one to one with the backbone; its 3D view comes from precomputed structure codes (a
``vq_indices.csv`` read through the ``precomputed`` backend of :mod:`biomatrix_plugin.protein3d`) when
the card names one, keyed by the protein3d pid ``<file stem>_chain_id_<chain>`` or, failing that, by a
unique sequence match. Without codes for a chain its 3D view is simply absent. The ligand's 3D view
is MolStrucTok's joint tokens (:func:`biomatrix_plugin.mol3d.mol_to_wrapped_3d`) of the docked pose.

CrossDocked2020 layout (gnina ``.types`` files)::

    <label> <pK> <rmsd> <pocket>/<pdb>_<chain>_rec_0.gninatypes <pocket>/<...>_lig_tt_docked_<pose>.gninatypes # <vina>

A ``.gninatypes`` path names the structure it was typed from: the receptor ``<...>_rec.pdb`` and pose
``<pose>`` (0-based entry) of the ligand SDF ``<...>_lig_tt_docked.sdf(.gz)``. Other layouts (the pocket
files ``*_pocket10.pdb`` + ``*.sdf`` of the TargetDiff/Pocket2Mol split, or any CSV/JSONL index) give the
two paths in columns. Relative paths are resolved under the ``structure_root`` parameter.
"""

from __future__ import annotations

import math
import os
import random
import re
from functools import lru_cache
from typing import Any, Mapping

from biomatrix_plugin.corpus.compose import Component, compose, format_sig, include, sample_views
from biomatrix_plugin.corpus.records import RecordRejected, free_text
from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.io import quiet_rdkit, sdf_blocks

DEFAULT_LIGAND_VIEWS = {"smiles": 0.6, "selfies": 0.6}
TYPES_LABELS = ("label", "affinity", "rmsd")  # numeric columns of a CrossDocked2020 .types line
_GNINATYPES = re.compile(r"^(?P<base>.*)_(?P<pose>\d+)\.gninatypes$")
_RECEPTOR_SUFFIXES = (".pdb", ".pdb.gz", ".cif", ".cif.gz")
_LIGAND_SUFFIXES = (".sdf", ".sdf.gz")


# ---------------------------------------------------------------- parsing the index

def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def parse_types_line(line: str) -> dict:
    """One line of a gnina/CrossDocked ``.types`` file -> ``{label, affinity, rmsd, receptor, ligand,
    vina_score}`` (numeric columns first, then the two structure paths, then an optional ``# comment``
    that CrossDocked2020 uses for the Vina score)."""
    body, _, comment = line.partition("#")
    tokens = body.split()
    n_numeric = 0
    while n_numeric < len(tokens) and _is_number(tokens[n_numeric]):
        n_numeric += 1
    paths = tokens[n_numeric:]
    if len(paths) != 2:
        raise RecordRejected(f"types line needs numeric columns then a receptor and a ligand path, got "
                             f"{len(paths)} path(s): {line.strip()[:80]!r}")
    record: dict[str, Any] = {"receptor": paths[0], "ligand": paths[1]}
    for i, token in enumerate(tokens[:n_numeric]):
        record[TYPES_LABELS[i] if i < len(TYPES_LABELS) else f"column_{i}"] = float(token)
    comment = comment.strip()
    if comment and _is_number(comment.split()[0]):
        record["vina_score"] = float(comment.split()[0])
    return record


def _resolve(path: str, root: str | None, what: str) -> str:
    path = os.path.expandvars(os.path.expanduser(path))
    if os.path.isabs(path):
        return path
    if not root:
        raise RecordRejected(f"{what} path {path!r} is relative but the card sets no structure_root")
    return os.path.join(root, path)


def _first_existing(candidates: list[str], what: str, shown: str) -> str:
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    names = ", ".join(os.path.basename(c) for c in candidates)
    raise RecordRejected(f"{what} file for {shown!r} not found (looked for {names})")


def receptor_file(path: str, root: str | None) -> str:
    full = _resolve(path, root, "receptor")
    m = _GNINATYPES.match(full)
    if m:  # <...>_rec_0.gninatypes was typed from <...>_rec.pdb
        return _first_existing([m.group("base") + s for s in _RECEPTOR_SUFFIXES], "receptor", path)
    return _first_existing([full], "receptor", path)


def ligand_file(path: str, root: str | None, pose: int | None) -> tuple[str, int]:
    """(SDF path, 0-based entry); a ``.gninatypes`` name carries the pose index itself."""
    full = _resolve(path, root, "ligand")
    m = _GNINATYPES.match(full)
    if m:
        return (_first_existing([m.group("base") + s for s in _LIGAND_SUFFIXES], "ligand", path),
                int(m.group("pose")))
    if not full.endswith(_LIGAND_SUFFIXES):
        raise RecordRejected(f"ligand {path!r} is not an SDF file (.sdf or .sdf.gz)")
    return _first_existing([full], "ligand", path), int(pose or 0)


# ---------------------------------------------------------------- reading structures (cached per worker)

@lru_cache(maxsize=64)
def _sdf_entries(path: str) -> tuple[str, ...]:
    """The entries of an SDF file as text; docked poses of one ligand come on consecutive index lines,
    so caching a few files avoids re-reading a multi-pose file once per pose."""
    try:
        return tuple(entry for entry in sdf_blocks(path) if entry.strip())
    except InputFileError as exc:  # truncated gzip, not UTF-8, missing: this record's ligand is unusable
        reason = str(exc)
        if reason.startswith(path + ":"):
            reason = reason[len(path) + 1:].strip()
        raise RecordRejected(f"ligand file {os.path.basename(path)}: cannot read it ({reason})") from None


def ligand_pose(path: str, pose: int, limits: tuple[int | None, int | None] = (None, None)):
    """The RDKit molecule (hydrogens kept, 3D conformer) of entry ``pose`` of an SDF file."""
    from rdkit import Chem

    from biomatrix_plugin.corpus.molecules import check_molblock

    entries = _sdf_entries(path)
    name = os.path.basename(path)
    if pose >= len(entries):
        raise RecordRejected(f"ligand {name}: pose {pose} requested but the file has {len(entries)} entr"
                             f"{'y' if len(entries) == 1 else 'ies'}")
    check_molblock(entries[pose], limits, f"ligand {name} pose {pose}")
    with quiet_rdkit():
        mol = Chem.MolFromMolBlock(entries[pose], removeHs=False)
    if mol is None:
        raise RecordRejected(f"ligand {name} pose {pose}: RDKit cannot parse the SDF entry")
    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        raise RecordRejected(f"ligand {name} pose {pose}: no 3D coordinates")
    return mol


@lru_cache(maxsize=32)
def _chains(path: str) -> tuple:
    """Protein chains of a structure file (first model), in file order; receptors repeat on
    consecutive index lines, so a small cache parses each one once."""
    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.structure_io import StructureFileError

    try:
        result = extract_chains(path)
    except StructureFileError as exc:
        reason = str(exc)
        if reason.startswith(path + ":"):  # the message starts with the full path; the name is enough
            reason = reason[len(path) + 1:].strip()
        raise RecordRejected(f"structure {os.path.basename(path)}: {reason}") from None
    except Exception as exc:  # biotite's own parse errors on malformed files
        raise RecordRejected(f"structure {os.path.basename(path)}: cannot parse it "
                             f"({type(exc).__name__}: {exc})") from None
    if result.rejected:
        bad = result.rejected[0]
        raise RecordRejected(f"structure {os.path.basename(path)}: chain {bad['chain']}: {bad['reason']}")
    return tuple(result.chains)


@lru_cache(maxsize=2)
def _precomputed(path: str):
    from biomatrix_plugin.protein3d.tokenizer import PrecomputedTokenizer
    from biomatrix_plugin.protein3d.vq_csv import VQCsvError

    try:
        tokenizer = PrecomputedTokenizer([path])
    except VQCsvError as exc:
        raise ValueError(str(exc)) from None  # a broken table is a card problem, not a record problem
    if tokenizer.rejected:
        first = tokenizer.rejected[0]
        raise ValueError(f"{path}: {len(tokenizer.rejected)} invalid row(s), e.g. row {first.get('row')}: "
                         f"{first.get('reason')}")
    return tokenizer


def chain_codes(chain, table: str | None) -> list[int] | None:
    """Precomputed structure codes of one extracted chain, or None when the table has none for it.
    Codes whose stored sequence differs from the extracted chain are rejected (they would misalign)."""
    if not table:
        return None
    from biomatrix_plugin.protein3d.tokenizer import EncodeRequest, model_alphabet

    tokenizer = _precomputed(table)
    if chain.id not in tokenizer.by_pid and len(tokenizer.by_sequence.get(model_alphabet(chain.sequence), [])) != 1:
        return None
    result = tokenizer.encode_batch([EncodeRequest(chain.id, chain.backbone, chain.sequence)])[0]
    if isinstance(result, str):
        raise RecordRejected(result)
    return result


def _protein_components(chain, label: str, table: str | None, max_length: int, rng: random.Random,
                        structure_probability: float) -> list[Component]:
    from biomatrix_plugin.modalities.serialization import SerializationError, wrap_prot3d, wrap_protein

    if len(chain.sequence) > max_length:
        raise RecordRejected(f"{chain.id}: {len(chain.sequence)} residues, more than max_protein_length={max_length}")
    try:
        parts = [Component(f"{chain.chain}:1d", f"{label}: {wrap_protein(chain.sequence)}")]
        codes = chain_codes(chain, table)
        if codes is not None and include(rng, {"s": structure_probability}, "s", 1.0):
            parts.append(Component(f"{chain.chain}:3d", f"{label} 3D structure: {wrap_prot3d(codes, chain.sequence)}"))
    except SerializationError as exc:
        raise RecordRejected(f"{chain.id}: {exc}") from None
    return parts


# ---------------------------------------------------------------- protein–ligand complexes

def _number(record: Mapping[str, Any], key: str, column: str) -> float | None:
    value = record.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecordRejected(f"{key} {value!r} (column {column!r}) is not a number") from None
    if not math.isfinite(number):
        raise RecordRejected(f"{key} {value!r} (column {column!r}) is not finite")
    return number


def _ligand_components(mol, rng: random.Random, params: Mapping[str, Any], where: str) -> list[Component]:
    from rdkit import Chem

    from biomatrix_plugin.corpus.molecules import MoleculeViews, _mol3d_encoder, render_view, selfies_vocabulary
    from biomatrix_plugin.modalities.serialization import SerializationError

    encoder = _mol3d_encoder()
    if encoder is None:
        raise RecordRejected("ligand 3D view needs biomatrix_plugin.mol3d (MolStrucTok), which is not installed")
    try:
        wrapped_3d = encoder(mol)
    except (SerializationError, ValueError) as exc:  # Mol3DError names the problem (fragments, atoms, ...)
        raise RecordRejected(f"{where}: MolStrucTok: {exc}") from None
    try:
        canonical = Chem.MolToSmiles(Chem.RemoveHs(mol))
    except Exception as exc:
        raise RecordRejected(f"{where}: no SMILES for the pose ({exc})") from None
    views = sample_views(rng, ["smiles", "selfies"], params.get("ligand_views", {}), DEFAULT_LIGAND_VIEWS)
    mv = MoleculeViews(canonical)
    vocab = selfies_vocabulary(params.get("selfies_vocabulary"))
    parts = [Component(v, "Ligand " + render_view(v, mv, vocab)) for v in views]
    parts.append(Component("mol3d", f"Ligand 3D structure: {wrapped_3d}"))
    return parts


def build_protein_ligand_complex(record: Mapping[str, Any], rng: random.Random,
                                 params: Mapping[str, Any]) -> list[dict]:
    """A receptor (or pocket) structure file + a ligand pose in an SDF -> one instance with the protein's
    1D (and, with ``structure_codes``, 3D) view, the ligand's SMILES/SELFIES and MolStrucTok 3D views, in
    random order, and a binding statement (pose quality, affinity with its unit).

    params: ``structure_root`` (directory relative paths are under), ``structure_codes`` (vq_indices.csv),
    ``columns`` {receptor, ligand, ligand_pose, label, affinity, rmsd: column name} for CSV/JSONL indexes,
    ``ligand_views`` {smiles, selfies: probability}, ``structure_probability`` (1.0),
    ``max_rmsd`` (2.0 Å: poses farther from the crystal pose are rejected; null keeps all),
    ``keep_decoys`` (false: label-0 poses are rejected), ``affinity_name`` ("pK"),
    ``affinity_unit`` (""), ``receptor_label`` ("Receptor"), ``max_protein_length`` (2000), ``shuffle``."""
    columns = {"receptor": "receptor", "ligand": "ligand", "ligand_pose": "ligand_pose", "label": "label",
               "affinity": "affinity", "rmsd": "rmsd", **params.get("columns", {})}
    receptor_raw = str(record.get(columns["receptor"]) or "").strip()
    ligand_raw = str(record.get(columns["ligand"]) or "").strip()
    if not receptor_raw:
        raise RecordRejected(f"no receptor path (column {columns['receptor']!r})")
    if not ligand_raw:
        raise RecordRejected(f"no ligand path (column {columns['ligand']!r})")
    label = _number(record, "label", columns["label"])
    affinity = _number(record, "affinity", columns["affinity"])
    rmsd = _number(record, "rmsd", columns["rmsd"])
    pose_value = _number(record, "ligand_pose", columns["ligand_pose"])
    if label is not None and label <= 0 and not params.get("keep_decoys", False):
        raise RecordRejected(f"decoy pose (label {format_sig(label)}"
                             + (f", RMSD {format_sig(rmsd)} Å" if rmsd is not None else "") + "); keep_decoys is false")
    max_rmsd = params.get("max_rmsd", 2.0)
    if max_rmsd is not None and rmsd is not None and rmsd > float(max_rmsd):
        raise RecordRejected(f"pose RMSD {format_sig(rmsd)} Å to the crystal pose is above max_rmsd={max_rmsd}")

    root = params.get("structure_root")
    rec_path = receptor_file(receptor_raw, root)
    lig_path, pose = ligand_file(ligand_raw, root, int(pose_value) if pose_value is not None else None)
    chains = _chains(rec_path)
    if not chains:
        raise RecordRejected(f"receptor {os.path.basename(rec_path)}: no protein chain")
    mol = ligand_pose(lig_path, pose, (params.get("max_smiles_chars"), params.get("max_smiles_atoms")))

    receptor_label = params.get("receptor_label", "Receptor")
    components: list[Component] = []
    for chain in chains:
        label_text = f"{receptor_label} chain {chain.chain}" if len(chains) > 1 else receptor_label
        components.extend(_protein_components(chain, label_text, params.get("structure_codes"),
                                              int(params.get("max_protein_length", 2000)), rng,
                                              float(params.get("structure_probability", 1.0))))
    components.extend(_ligand_components(mol, rng, params, f"ligand {os.path.basename(lig_path)} pose {pose}"))
    body = compose(rng, components, shuffle=bool(params.get("shuffle", True)))

    statement = "The ligand is bound to the receptor in this 3D pose"
    if rmsd is not None:
        statement += f" (RMSD {format_sig(rmsd)} Å to the crystal pose)"
    statement += "."
    if label is not None and label <= 0:
        statement = "This 3D pose of the ligand is a decoy, not the binding mode" + (
            f" (RMSD {format_sig(rmsd)} Å to the crystal pose)." if rmsd is not None else ".")
    # gnina .types files carry the affinity with a negative sign on label-0 poses (hinge-loss
    # convention) and 0 when none is known: the magnitude is the measured value.
    if affinity is not None and affinity != 0:
        name = params.get("affinity_name", "pK")
        unit = params.get("affinity_unit", "")
        statement += f" Binding affinity: {name} = {format_sig(abs(affinity))} {unit}".rstrip() + "."
    return [{"text": f"{body}\n{statement}"}]


# ---------------------------------------------------------------- protein–protein complexes

def _interface_residues(a, b, cutoff: float) -> tuple[int, int]:
    from scipy.spatial.distance import cdist

    d = cdist(a.backbone[:, 1], b.backbone[:, 1])
    close = d < cutoff
    return int(close.any(axis=1).sum()), int(close.any(axis=0).sum())


def build_protein_complex(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """A two-chain structure file (PPIRef: one PDB file per interacting pair) -> both chains' 1D views
    (and 3D views with ``structure_codes``) in random order and an interaction statement with the
    number of interface residues (CA–CA below ``interface_cutoff``, 8 Å).

    params: ``structure_root`` (for relative paths in a CSV/JSONL index), ``structure_codes``,
    ``columns`` {path: column} for an index, ``use_first_two`` (default false: a file must hold exactly
    two protein chains), ``interface_cutoff`` (8.0), ``max_protein_length`` (2000), ``structure_probability`` (1.0),
    ``shuffle``."""
    column = params.get("columns", {}).get("path", "path")
    raw = str(record.get(column) or "").strip()
    if not raw:
        raise RecordRejected(f"no structure path (column {column!r})")
    path = _first_existing([_resolve(raw, params.get("structure_root"), "structure")], "structure", raw)
    chains = _chains(path)
    name = os.path.basename(path)
    if len(chains) != 2 and not (params.get("use_first_two") and len(chains) > 2):
        raise RecordRejected(f"structure {name}: {len(chains)} protein chain(s) "
                             f"({', '.join(c.chain for c in chains) or 'none'}); a protein–protein complex needs two")
    a, b = chains[:2]
    table = params.get("structure_codes")
    max_len = int(params.get("max_protein_length", 2000))
    p3d = float(params.get("structure_probability", 1.0))
    pair = [(a, _protein_components(a, f"Protein chain {a.chain}", table, max_len, rng, p3d)),
            (b, _protein_components(b, f"Protein chain {b.chain}", table, max_len, rng, p3d))]
    if bool(params.get("shuffle", True)):
        rng.shuffle(pair)
    # a chain's own views stay together (1D then 3D in random order) so the text reads chain by chain
    blocks = [compose(rng, parts, shuffle=bool(params.get("shuffle", True))) for _, parts in pair]
    entry = free_text(re.sub(r"\.(pdb|cif|ent|mmcif)(\.gz)?$", "", name, flags=re.I), "structure file name")
    statement = f"Chains {pair[0][0].chain} and {pair[1][0].chain} form a protein–protein complex ({entry})."
    cutoff = float(params.get("interface_cutoff", 8.0))
    n_first, n_second = _interface_residues(pair[0][0], pair[1][0], cutoff)
    if n_first or n_second:
        statement += (f" The interface involves {n_first} residues of chain {pair[0][0].chain} and {n_second} of "
                      f"chain {pair[1][0].chain} (CA–CA distance below {format_sig(cutoff)} Å).")
    return [{"text": "\n".join(blocks) + "\n" + statement}]
