"""QM9-style metrics of generated 3D molecules: atom / molecule stability and validity from coordinates.

Bond orders are inferred from inter-atomic distances exactly as EDM (Hoogeboom et al. 2022) does and as the
NExT-Mol protocol used by the report inherits: a pair is bonded when its distance (pm) is below the typical
single-bond length + 10 pm, double below the double-bond length + 5 pm, triple below the triple-bond length
+ 3 pm (lengths for H, C, N, O, F below). An atom is stable when its summed bond order equals its valence
(H 1, C 4, N 3, O 2, F 1); a molecule when all its atoms are. Validity builds an RDKit molecule from those
bonds and sanitises it; ``complete=true`` also requires one connected fragment (V&C).

An item is a 3D molecule: ``{"atoms": ["C", "H", ...], "coords": [[x, y, z], ...]}`` (Angstrom; also
``symbols``/``positions``), a MOL block string, or the path of a ``.mol``/``.sdf``/``.xyz`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .registry import MetricResult, OptionSpec, register

# typical bond lengths in pm (EDM's tables, restricted to QM9's elements)
_SINGLE = {
    ("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92,
    ("C", "C"): 154, ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135,
    ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136,
    ("O", "O"): 148, ("O", "F"): 142, ("F", "F"): 142,
}
_DOUBLE = {("C", "C"): 134, ("C", "N"): 129, ("C", "O"): 120, ("N", "N"): 125, ("N", "O"): 121, ("O", "O"): 121}
_TRIPLE = {("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113, ("N", "N"): 110}
MARGINS = (10, 5, 3)
VALENCE = {"H": 1, "C": 4, "N": 3, "O": 2, "F": 1}


def _pair(table: dict, a: str, b: str) -> float | None:
    return table.get((a, b), table.get((b, a)))


def bond_order(a: str, b: str, distance_angstrom: float) -> int:
    d = 100.0 * distance_angstrom
    single = _pair(_SINGLE, a, b)
    if single is None or d >= single + MARGINS[0]:
        return 0
    double = _pair(_DOUBLE, a, b)
    if double is None or d >= double + MARGINS[1]:
        return 1
    triple = _pair(_TRIPLE, a, b)
    if triple is None or d >= triple + MARGINS[2]:
        return 2
    return 3


def read_3d(item: Any) -> tuple[list[str], np.ndarray] | None:
    """(element symbols, N x 3 coordinates) or None when the item is not a usable 3D molecule."""
    if isinstance(item, dict):
        atoms = item.get("atoms", item.get("symbols"))
        coords = item.get("coords", item.get("positions"))
        try:
            arr = np.asarray(coords, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if not isinstance(atoms, list) or arr.ndim != 2 or arr.shape != (len(atoms), 3) or not len(atoms):
            return None
        return [str(a) for a in atoms], arr
    if not isinstance(item, str) or not item.strip():
        return None
    text = item
    if "\n" not in item:
        path = Path(item.strip())
        if not path.is_file():
            return None
        text = path.read_text()
        if path.suffix.lower() == ".xyz":
            return _read_xyz(text)
    return _read_molblock(text)


def _read_xyz(text: str):
    lines = text.strip().splitlines()
    try:
        n = int(lines[0].split()[0])
        rows = [lines[2 + i].split() for i in range(n)]
        return [r[0] for r in rows], np.array([[float(v) for v in r[1:4]] for r in rows])
    except (IndexError, ValueError):
        return None


def _read_molblock(text: str):
    from rdkit import Chem

    mol = Chem.MolFromMolBlock(text.split("$$$$")[0], removeHs=False, sanitize=False)
    if mol is None or mol.GetNumConformers() == 0:
        return None
    return [a.GetSymbol() for a in mol.GetAtoms()], np.asarray(mol.GetConformer().GetPositions())


def bond_matrix(symbols: list[str], coords: np.ndarray) -> np.ndarray:
    n = len(symbols)
    dist = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)
    orders = np.zeros((n, n), dtype=int)
    for i in range(n):
        for j in range(i + 1, n):
            orders[i, j] = orders[j, i] = bond_order(symbols[i], symbols[j], dist[i, j])
    return orders


def stability(symbols: list[str], coords: np.ndarray) -> tuple[int, bool]:
    """(number of stable atoms, molecule stable). Elements outside H/C/N/O/F are unstable."""
    valence = bond_matrix(symbols, coords).sum(axis=1)
    stable = [VALENCE.get(s) == int(v) for s, v in zip(symbols, valence)]
    return sum(stable), all(stable)


def molecule_from_3d(symbols: list[str], coords: np.ndarray, complete: bool = False):
    """RDKit Mol built from the inferred bonds, sanitised; None when RDKit rejects it."""
    from rdkit import Chem

    orders = bond_matrix(symbols, coords)
    rw = Chem.RWMol()
    for s in symbols:
        rw.AddAtom(Chem.Atom(s))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for i, j in zip(*np.nonzero(np.triu(orders))):
        rw.AddBond(int(i), int(j), kinds[int(orders[i, j])])
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # RDKit raises several sanitisation error types
        return None
    if complete and len(Chem.GetMolFrags(mol)) != 1:
        return None
    return mol


def _parse_all(predictions: list):
    parsed = [read_3d(p) for p in predictions]
    return parsed, sum(p is None for p in parsed)


@register("atom_stability", family="molecules", inputs="set",
          definition="fraction of atoms (over all valid 3D molecules) whose distance-inferred bond orders sum to their valence (EDM / QM9)")
def atom_stability(predictions: list) -> MetricResult:
    parsed, bad = _parse_all(predictions)
    stable = total = 0
    for p in parsed:
        if p is not None:
            n_stable, _ = stability(*p)
            stable += n_stable
            total += len(p[0])
    if total == 0:
        return MetricResult.not_computed("atom_stability", "no readable 3D molecule", len(predictions), bad)
    return MetricResult("atom_stability", stable / total, len(predictions), bad, details={"n_atoms": total})


@register("mol_stability", family="molecules", inputs="set",
          definition="fraction of 3D molecules whose atoms are all stable (EDM / QM9); unreadable items count as unstable")
def mol_stability(predictions: list) -> MetricResult:
    parsed, bad = _parse_all(predictions)
    if not predictions:
        return MetricResult.not_computed("mol_stability", "no predictions")
    stable = sum(stability(*p)[1] for p in parsed if p is not None)
    return MetricResult("mol_stability", stable / len(predictions), len(predictions), bad)


@register("validity_3d", family="molecules", inputs="set",
          options={"complete": OptionSpec(bool, False, "also require a single connected fragment (V&C)")},
          definition="fraction of 3D molecules whose distance-inferred bond graph RDKit sanitises (EDM validity; complete=true: V&C)")
def validity_3d(predictions: list, complete: bool = False) -> MetricResult:
    parsed, bad = _parse_all(predictions)
    if not predictions:
        return MetricResult.not_computed("validity_3d", "no predictions")
    valid = sum(molecule_from_3d(*p, complete=complete) is not None for p in parsed if p is not None)
    return MetricResult("validity_3d", valid / len(predictions), len(predictions), bad,
                        details={"complete": complete})
