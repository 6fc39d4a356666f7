"""Per-chain backbone extraction: N/CA/C coordinates (L×3×3) and the residue letters, aligned one to one.

A residue that lacks N, CA or C (or has a non-finite coordinate in one of them) is dropped from both the
sequence and the backbone and listed in ``dropped`` with its reason; a C(i)–N(i+1) distance above the
break threshold is listed in ``breaks``. Residue letters come from the Chemical Component Dictionary
shipped with biotite, so modified residues map to their parent (MSE -> M, SEP -> S), SEC -> U, PYL -> O,
and anything without a one-letter parent becomes X (listed in ``nonstandard``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from biomatrix_plugin.protein3d.structure_io import BACKBONE_ATOMS, StructureFileError, read_first_model
from biomatrix_plugin.vocab.tokens import RESIDUE_LETTERS

DEFAULT_BREAK_DISTANCE = 2.0  # Å; a peptide C–N bond is 1.33 Å
_WATER = {"HOH", "WAT", "DOD", "H2O", "SOL", "TIP3", "TIP"}
_STANDARD_NAMES = {
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
}


@dataclass
class DroppedResidue:
    residue: str  # "MSE 5" or "ALA 12A" (name, author number, insertion code)
    reason: str

    def to_json(self) -> dict:
        return {"residue": self.residue, "reason": self.reason}


@dataclass
class ChainBreak:
    after: int  # index in the extracted sequence; the break lies between `after` and `after + 1`
    distance: float  # C(after)–N(after+1) in Å
    from_residue: str
    to_residue: str

    def to_json(self) -> dict:
        return {"after": self.after, "distance": round(self.distance, 3),
                "from": self.from_residue, "to": self.to_residue}


@dataclass
class ChainBackbone:
    id: str  # "<file stem>_chain_id_<chain>", BioMatrix's pid convention, joins with vq_indices.csv
    chain: str
    source: str
    sequence: str
    backbone: np.ndarray  # L×3×3 float, atoms N, CA, C
    residues: list[str] = field(default_factory=list)  # "ALA 5" per kept residue
    dropped: list[DroppedResidue] = field(default_factory=list)
    breaks: list[ChainBreak] = field(default_factory=list)
    nonstandard: list[dict] = field(default_factory=list)  # {"residue": "MSE 1", "letter": "M"}

    def to_json(self, decimals: int = 3) -> dict:
        return {
            "id": self.id,
            "chain": self.chain,
            "source": self.source,
            "sequence": self.sequence,
            "backbone": np.round(self.backbone, decimals).tolist(),
            "dropped": [d.to_json() for d in self.dropped],
            "breaks": [b.to_json() for b in self.breaks],
            "nonstandard": self.nonstandard,
        }


@dataclass
class ExtractionResult:
    chains: list[ChainBackbone]
    rejected: list[dict]  # {"id", "source", "chain", "reason"}: protein chains that yield no residue
    skipped: list[dict]  # {"source", "chain", "reason"}: chains without amino acids (DNA, ligands, water)


@lru_cache(maxsize=4096)
def residue_letter(res_name: str) -> str:
    """One letter of the 26-letter alphabet for a residue name, through biotite's CCD."""
    import biotite.structure.info as info

    try:
        letter = info.one_letter_code(res_name)
    except Exception:  # names absent from the CCD
        letter = None
    if not letter or len(letter) != 1 or letter not in RESIDUE_LETTERS:
        return "X"
    return letter


@lru_cache(maxsize=4096)
def _is_ccd_amino_acid(res_name: str) -> bool | None:
    """True/False from the CCD; None when the CCD does not know the name."""
    import biotite.structure.info as info

    if res_name in _STANDARD_NAMES:
        return True
    names = _amino_acid_names()
    if res_name in names:
        return True
    try:
        known = info.get_from_ccd("chem_comp", res_name) is not None
    except Exception:
        known = False
    return False if known else None


@lru_cache(maxsize=1)
def _amino_acid_names() -> frozenset[str]:
    import biotite.structure.info as info

    return frozenset(info.amino_acid_names())


def record_id(source: str | os.PathLike, chain: str) -> str:
    name = Path(source).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}_chain_id_{chain}"


def _residue_label(res_name: str, res_id: int, ins_code: str) -> str:
    return f"{res_name} {res_id}{ins_code or ''}"


def extract_chains(
    source: str | os.PathLike,
    chain: str | None = None,
    break_distance: float = DEFAULT_BREAK_DISTANCE,
    atoms=None,
) -> ExtractionResult:
    """Every protein chain of the first model of ``source`` (or only ``chain``).

    ``atoms``: an already-read ``AtomArray`` (then ``source`` only names it). Raises
    :class:`StructureFileError` when the file cannot be read, has no protein chain, or lacks ``chain``.
    """
    import biotite.structure as struc

    source = str(source)
    if atoms is None:
        atoms = read_first_model(source)
    chain_ids = list(dict.fromkeys(atoms.chain_id.tolist()))
    if chain is not None:
        if chain not in chain_ids:
            raise StructureFileError(
                f"{source}: no chain {chain!r} in the first model (chains: {', '.join(chain_ids) or 'none'})"
            )
        chain_ids = [chain]

    result = ExtractionResult([], [], [])
    for cid in chain_ids:
        chain_atoms = atoms[atoms.chain_id == cid]
        extracted = _extract_one_chain(chain_atoms, source, cid, break_distance, struc)
        if isinstance(extracted, ChainBackbone):
            result.chains.append(extracted)
        elif extracted[0] == "skip":
            result.skipped.append({"source": source, "chain": cid, "reason": extracted[1]})
        else:
            result.rejected.append({"id": record_id(source, cid), "source": source, "chain": cid,
                                    "reason": extracted[1]})
    if chain is not None and result.skipped:
        raise StructureFileError(f"{source}: chain {chain!r} is not a protein chain ({result.skipped[0]['reason']})")
    if not result.chains and not result.rejected:
        raise StructureFileError(f"{source}: no protein chain in the first model")
    return result


def _extract_one_chain(chain_atoms, source: str, cid: str, break_distance: float, struc):
    starts = struc.get_residue_starts(chain_atoms)
    res_names = chain_atoms.res_name[starts]
    res_ids = chain_atoms.res_id[starts]
    ins_codes = chain_atoms.ins_code[starts]
    hetero = chain_atoms.hetero[starts]
    n_res = len(starts)

    # Residue-level backbone gathering, vectorised over atoms.
    residue_of_atom = np.repeat(np.arange(n_res), np.diff(np.append(starts, chain_atoms.array_length())))
    coords = np.full((n_res, 3, 3), np.nan)
    present = np.zeros((n_res, 3), dtype=bool)
    for k, name in enumerate(BACKBONE_ATOMS):
        mask = chain_atoms.atom_name == name
        idx = residue_of_atom[mask]
        coords[idx, k] = chain_atoms.coord[mask]
        present[idx, k] = True

    # Which residues belong to the polymer: CCD amino acids (ATOM or HETATM records such as MSE), and
    # ATOM records the CCD does not call amino acids but that have a CA or an unknown name (renamed or
    # private residues, kept as X); never water.
    kind = np.zeros(n_res, dtype=np.int8)  # 0 no, 1 polymer (ATOM), 2 amino-acid HETATM to check
    unique_names, name_index = np.unique(res_names, return_inverse=True)
    status = [None if name in _WATER else _is_ccd_amino_acid(name) for name in unique_names]
    is_water = np.array([name in _WATER for name in unique_names])[name_index]
    is_aa = np.array([st is True for st in status])[name_index]
    is_unknown = np.array([st is None for st in status])[name_index] & ~is_water
    kind[is_aa & hetero] = 2
    kind[is_aa & ~hetero] = 1
    kind[~is_aa & ~hetero & ~is_water & (is_unknown | present[:, 1])] = 1
    if not kind.any():
        return ("skip", "no amino-acid residues")
    polymer_rows = np.flatnonzero(kind == 1)
    if polymer_rows.size:
        first, last = polymer_rows[0], polymer_rows[-1]
    else:
        first, last = 0, n_res - 1  # a chain made only of HETATM amino acids
    candidate_mask = kind == 1
    for i in np.flatnonzero(kind == 2):
        # An amino-acid HETATM belongs to the chain when it lies between polymer residues or is
        # peptide-bonded to a neighbour (an N-terminal MSE); a free amino-acid ligand does not.
        inside = first <= i <= last
        bonded = _bonded(coords, i, i - 1, break_distance) or _bonded(coords, i + 1, i, break_distance)
        candidate_mask[i] = inside or bonded or not polymer_rows.size
    candidates = np.flatnonzero(candidate_mask)
    repeated = _repeated_residue(res_ids[candidates], ins_codes[candidates])
    if repeated is not None:
        j = candidates[repeated]
        label = _residue_label(res_names[j], int(res_ids[j]), ins_codes[j])
        return ("reject", f"chain {cid}: residue number {label.split(' ', 1)[1]} occurs twice ({label} is a second "
                          "time in the chain): the chain appears more than once in the first model, and its copies "
                          "would be joined into one sequence; give each copy its own chain id")

    usable = present[candidates].all(axis=1) & np.isfinite(coords[candidates]).all(axis=(1, 2))
    kept = candidates[usable]
    dropped: list[DroppedResidue] = []
    for i in candidates[~usable]:
        label = _residue_label(res_names[i], int(res_ids[i]), ins_codes[i])
        missing = [BACKBONE_ATOMS[k] for k in range(3) if not present[i, k]]
        if missing:
            dropped.append(DroppedResidue(label, "missing " + ", ".join(missing)))
        else:
            nonfinite = [BACKBONE_ATOMS[k] for k in range(3) if not np.isfinite(coords[i, k]).all()]
            dropped.append(DroppedResidue(label, "non-finite coordinates in " + ", ".join(nonfinite)))
    labels = [_residue_label(res_names[i], int(res_ids[i]), ins_codes[i]) for i in kept]
    letters = [residue_letter(res_names[i]) for i in kept]
    nonstandard = [{"residue": labels[j], "letter": letters[j]}
                   for j, i in enumerate(kept) if res_names[i] not in _STANDARD_NAMES]

    rid = record_id(source, cid)
    if not len(kept):
        reason = "no residue with N, CA and C"
        if dropped:
            reason += f" ({len(dropped)} dropped, first: {dropped[0].residue}: {dropped[0].reason})"
        return ("reject", reason)
    backbone = coords[kept]
    c_n = np.linalg.norm(backbone[1:, 0] - backbone[:-1, 2], axis=-1)
    breaks = [
        ChainBreak(int(j), float(c_n[j]), labels[j], labels[j + 1])
        for j in np.flatnonzero(c_n > break_distance)
    ]
    return ChainBackbone(
        id=rid, chain=cid, source=source, sequence="".join(letters), backbone=backbone,
        residues=labels, dropped=dropped, breaks=breaks, nonstandard=nonstandard,
    )


def _repeated_residue(res_ids: np.ndarray, ins_codes: np.ndarray) -> int | None:
    """Index of the first residue whose (number, insertion code) occurred earlier in the chain, or None.
    A chain listed twice in one model (A, B, then A again) shares its residue numbers with itself."""
    if np.unique(res_ids).size == len(res_ids):  # fast path: no repeated number, so no repeated pair
        return None
    seen: set[tuple[int, str]] = set()
    for i, key in enumerate(zip(res_ids.tolist(), ins_codes.tolist())):
        if key in seen:
            return i
        seen.add(key)
    return None


def _bonded(coords: np.ndarray, n_res: int, c_res: int, cutoff: float) -> bool:
    """Whether C of residue ``c_res`` is within ``cutoff`` of N of residue ``n_res``."""
    if c_res < 0 or n_res >= len(coords) or n_res < 0:
        return False
    d = np.linalg.norm(coords[n_res, 0] - coords[c_res, 2])
    return bool(np.isfinite(d) and d <= cutoff)
