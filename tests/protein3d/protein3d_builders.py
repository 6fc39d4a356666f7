"""Hand-written structure files for the protein3d tests: atoms listed explicitly, formatted as PDB lines or
an mmCIF atom_site loop, so that every edit (a missing CA, an MSE HETATM, altlocs, waters) is visible."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from biomatrix_plugin.protein3d.geometry import ALPHA_HELIX, BETA_STRAND, build_backbone

THREE = {"A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS", "I": "ILE",
         "K": "LYS", "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN", "R": "ARG", "S": "SER",
         "T": "THR", "V": "VAL", "W": "TRP", "Y": "TYR"}


@dataclass
class Atom:
    record: str  # ATOM / HETATM
    name: str
    res_name: str
    chain: str
    res_id: int
    xyz: tuple[float, float, float]
    element: str
    altloc: str = ""
    occupancy: float = 1.0
    ins_code: str = ""


def helix(length: int = 12) -> np.ndarray:
    return build_backbone(length, *ALPHA_HELIX)


def strand(length: int = 8) -> np.ndarray:
    return build_backbone(length, *BETA_STRAND) + np.array([20.0, 0.0, 0.0])


def chain_atoms(backbone: np.ndarray, sequence: str, chain: str = "A", start: int = 1) -> list[Atom]:
    atoms = []
    for i, (coords, letter) in enumerate(zip(backbone, sequence)):
        for name, xyz, element in zip(("N", "CA", "C"), coords, ("N", "C", "C")):
            atoms.append(Atom("ATOM", name, THREE[letter], chain, start + i, tuple(map(float, xyz)), element))
    return atoms


def pdb_text(atoms: list[Atom]) -> str:
    lines = []
    for serial, a in enumerate(atoms, start=1):
        name = a.name if len(a.name) == 4 else f" {a.name:<3}"
        x, y, z = a.xyz
        coords = "".join(f"{v:8.3f}" if np.isfinite(v) else f"{'nan':>8}" for v in (x, y, z))
        lines.append(
            f"{a.record:<6}{serial:>5} {name}{a.altloc or ' ':1}{a.res_name:>3} {a.chain:1}{a.res_id:>4}"
            f"{a.ins_code or ' ':1}   {coords}{a.occupancy:6.2f}{0.0:6.2f}          {a.element:>2}"
        )
    lines.append("END")
    return "\n".join(lines) + "\n"


def cif_text(atoms: list[Atom], block: str = "test") -> str:
    header = ["group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id", "label_comp_id",
              "label_asym_id", "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code", "Cartn_x", "Cartn_y",
              "Cartn_z", "occupancy", "B_iso_or_equiv", "auth_seq_id", "auth_comp_id", "auth_asym_id",
              "auth_atom_id", "pdbx_PDB_model_num"]
    lines = [f"data_{block}", "#", "loop_"] + [f"_atom_site.{h}" for h in header]
    for serial, a in enumerate(atoms, start=1):
        x, y, z = a.xyz
        lines.append(" ".join([
            a.record, str(serial), a.element, a.name, a.altloc or ".", a.res_name, a.chain, "1",
            str(a.res_id), a.ins_code or "?", f"{x:.3f}", f"{y:.3f}", f"{z:.3f}", f"{a.occupancy:.2f}", "0.00",
            str(a.res_id), a.res_name, a.chain, a.name, "1",
        ]))
    lines.append("#")
    return "\n".join(lines) + "\n"


def write(path: Path, atoms: list[Atom]) -> Path:
    text = cif_text(atoms) if path.suffix == ".cif" else pdb_text(atoms)
    path.write_text(text)
    return path


def edit(atoms: list[Atom], res_id: int, chain: str = "A", **changes) -> list[Atom]:
    """Apply ``changes`` to every atom of one residue."""
    return [replace(a, **changes) if (a.res_id == res_id and a.chain == chain) else a for a in atoms]
