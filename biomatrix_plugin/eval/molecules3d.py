"""QM9-style metrics of generated 3D molecules: atom / molecule stability and validity from coordinates.

Bond orders are inferred from inter-atomic distances exactly as EDM (Hoogeboom et al. 2022) does and as the
NExT-Mol protocol used by the report inherits: a pair is bonded when its distance (pm) is below the typical
single-bond length + 10 pm, double below the double-bond length + 5 pm, triple below the triple-bond length
+ 3 pm (lengths for H, C, N, O, F below). An atom is stable when its summed bond order equals its valence
(H 1, C 4, N 3, O 2, F 1); a molecule when all its atoms are. Validity builds an RDKit molecule from those
bonds and sanitises it; ``complete=true`` also requires one connected fragment (V&C).

An item is a 3D molecule: ``{"atoms": ["C", "H", ...], "coords": [[x, y, z], ...]}`` (Angstrom; also
``symbols``/``positions``), a MOL block string, or the path of a ``.mol``/``.sdf``/``.xyz`` file. An SDF
(path or text) contributes every record it holds as one molecule, so ``n_items`` counts molecules, not
lines: ``biomatrix mol3d decode`` writes all generated molecules into one SDF. A molecule with an atom
symbol that is no element (``X``, lowercase ``c``) is unreadable and counted in ``n_invalid``.

The bond-length / bond-angle / dihedral MMDs (bottom of this module) compare a generated set with a
reference set per geometric type; there an SDF path or text contributes every record it holds.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from biomatrix_plugin.eval.spec import EvalInputError, MetricResult
from biomatrix_plugin.io import quiet_rdkit

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
    """(element symbols, N x 3 coordinates) of ONE molecule, or None when the item is not a usable 3D molecule.

    An SDF holding several records gives its first one here; the metrics use :func:`read_3d_all`."""
    return read_3d_all(item)[0]


def read_3d_all(item: Any) -> list[tuple[list[str], np.ndarray] | None]:
    """Every molecule of an item (several for a multi-record SDF path or text); None marks an unreadable one."""
    if isinstance(item, dict):
        atoms = item.get("atoms", item.get("symbols"))
        coords = item.get("coords", item.get("positions"))
        try:
            arr = np.asarray(coords, dtype=np.float64)
        except (TypeError, ValueError):
            return [None]
        if not isinstance(atoms, list) or arr.ndim != 2 or arr.shape != (len(atoms), 3) or not len(atoms):
            return [None]
        return [_checked([str(a) for a in atoms], arr)]
    if not isinstance(item, str) or not item.strip():
        return [None]
    text = item
    if "\n" not in item:
        path = Path(item.strip())
        if not path.is_file():
            return [None]
        text = path.read_text()
        if path.suffix.lower() == ".xyz":
            return [_read_xyz(text)]
    return [_read_molblock(chunk) for chunk in _sdf_records(text)] or [None]


def _sdf_records(text: str) -> list[str]:
    # the newline after each $$$$ belongs to the delimiter; a record's own first (name) line may be blank
    return [c for c in re.split(r"\$\$\$\$[^\n]*\n?", text) if c.strip()]


@lru_cache(maxsize=1)
def _element_symbols() -> frozenset[str]:
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return frozenset(table.GetElementSymbol(z) for z in range(1, 119))


def _checked(symbols: list[str], coords: np.ndarray):
    # RDKit raises on an unknown symbol ("X", aromatic-style "c") when the molecule is built for validity
    if not all(s in _element_symbols() for s in symbols) or not np.all(np.isfinite(coords)):
        return None
    return symbols, coords


def _read_xyz(text: str):
    lines = text.strip().splitlines()
    try:
        n = int(lines[0].split()[0])
        rows = [lines[2 + i].split() for i in range(n)]
        return _checked([r[0] for r in rows], np.array([[float(v) for v in r[1:4]] for r in rows]))
    except (IndexError, ValueError):
        return None


def _read_molblock(text: str):
    from rdkit import Chem

    with quiet_rdkit():
        mol = Chem.MolFromMolBlock(text, removeHs=False, sanitize=False)
    if mol is None or mol.GetNumConformers() == 0:
        return None
    return _checked([a.GetSymbol() for a in mol.GetAtoms()], np.asarray(mol.GetConformer().GetPositions()))


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

    if any(s not in _element_symbols() for s in symbols):
        return None  # not an element: no molecule (RDKit would raise)
    orders = bond_matrix(symbols, coords)
    rw = Chem.RWMol()
    for s in symbols:
        rw.AddAtom(Chem.Atom(s))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for i, j in zip(*np.nonzero(np.triu(orders))):
        rw.AddBond(int(i), int(j), kinds[int(orders[i, j])])
    mol = rw.GetMol()
    try:
        with quiet_rdkit():  # an invalid generated molecule is counted, not logged line by line
            Chem.SanitizeMol(mol)
    except Chem.rdchem.MolSanitizeException:  # valence, kekulisation, ... (all derive from it)
        return None
    if complete and len(Chem.GetMolFrags(mol)) != 1:
        return None
    return mol


def _parse_all(predictions: list):
    """One entry per molecule (an SDF item expands to its records) and the number unreadable."""
    parsed = [mol for p in predictions for mol in read_3d_all(p)]
    return parsed, sum(p is None for p in parsed)


def atom_stability(predictions: list) -> MetricResult:
    parsed, bad = _parse_all(predictions)
    stable = total = 0
    for p in parsed:
        if p is not None:
            n_stable, _ = stability(*p)
            stable += n_stable
            total += len(p[0])
    if total == 0:
        return MetricResult.not_computed("atom_stability", "no readable 3D molecule", len(parsed), bad)
    return MetricResult("atom_stability", stable / total, len(parsed), bad, details={"n_atoms": total})


def mol_stability(predictions: list) -> MetricResult:
    parsed, bad = _parse_all(predictions)
    if not predictions:
        return MetricResult.not_computed("mol_stability", "no predictions")
    stable = sum(stability(*p)[1] for p in parsed if p is not None)
    return MetricResult("mol_stability", stable / len(parsed), len(parsed), bad)


def validity_3d(predictions: list, complete: bool = False) -> MetricResult:
    parsed, bad = _parse_all(predictions)
    if not predictions:
        return MetricResult.not_computed("validity_3d", "no predictions")
    valid = sum(molecule_from_3d(*p, complete=complete) is not None for p in parsed if p is not None)
    return MetricResult("validity_3d", valid / len(parsed), len(parsed), bad,
                        details={"complete": complete})


# ---------------------------------------------------------------------------------------------------------
# Geometry MMDs (bond length / bond angle / dihedral), as reported for QM9 3D generation (JODO, NExT-Mol).
#
# Per geometric type (a bond keyed by its sorted element pair + bond order, an angle by its element triple
# with the central atom in the middle and the ends sorted, a dihedral by its 4-element path read in the
# lexicographically smaller direction) the generated and reference values are compared with the squared
# MMD under a Gaussian RBF kernel; the metric is the mean over the ``top_k`` types most frequent in the
# reference. Lengths are in Angstrom, angles and dihedrals in degrees (signed, RDKit's convention).

GeometryRecord = tuple[list[str], np.ndarray, list[tuple[int, int, float]]]
GEOMETRY_KINDS = ("bond_length", "bond_angle", "dihedral")


def _difference(x: np.ndarray, y: np.ndarray, period: float | None) -> np.ndarray:
    diff = np.asarray(x, dtype=np.float64)[:, None] - np.asarray(y, dtype=np.float64)[None, :]
    if period:  # shortest way round the circle, so -179 and 179 degrees are 2 apart
        diff = (diff + period / 2) % period - period / 2
    return diff


def gaussian_kernel(x: np.ndarray, y: np.ndarray, sigma: float, period: float | None = None) -> np.ndarray:
    """k(x_i, y_j) = exp(-(x_i - y_j)^2 / (2 sigma^2)) for 1-D samples, as an len(x) x len(y) matrix.

    With ``period`` the difference is taken round the circle (wrapped to [-period/2, period/2))."""
    diff = _difference(x, y, period)
    return np.exp(-(diff * diff) / (2.0 * sigma * sigma))


def _kernel_mean(x: np.ndarray, y: np.ndarray, sigma: float, period: float | None, block: int = 2048) -> float:
    # blocks keep memory at block x len(y) doubles for 10^4-sample sets
    total = 0.0
    for start in range(0, len(x), block):
        total += float(gaussian_kernel(x[start:start + block], y, sigma, period).sum())
    return total / (len(x) * len(y))


def mmd2(x: np.ndarray, y: np.ndarray, sigma: float, period: float | None = None) -> float:
    """Biased (V-statistic) squared MMD: mean K(x,x) + mean K(y,y) - 2 mean K(x,y).

    The biased form is exactly 0 for identical samples, which the unbiased U-statistic is not."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if sigma <= 0:
        raise ValueError(f"kernel bandwidth must be positive, got {sigma}")
    value = (_kernel_mean(x, x, sigma, period) + _kernel_mean(y, y, sigma, period)
             - 2.0 * _kernel_mean(x, y, sigma, period))
    return max(value, 0.0)  # rounding can make a true 0 slightly negative


def median_bandwidth(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, max_points: int = 1000,
                     period: float | None = None) -> float:
    """Median heuristic: sigma = median |a - b| over distinct pairs of the pooled samples.

    At most ``max_points`` pooled values (seeded subsample) enter, so the cost stays bounded. Zero distances
    (repeated values) are left out when others exist; an all-equal pool gets sigma = 1 (the MMD is 0 then)."""
    pooled = np.concatenate([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    if len(pooled) > max_points:
        pooled = rng.choice(pooled, size=max_points, replace=False)
    i, j = np.triu_indices(len(pooled), k=1)
    dist = np.abs(pooled[i] - pooled[j])
    if period:
        dist = np.minimum(dist % period, period - dist % period)
    nonzero = dist[dist > 0]
    return float(np.median(nonzero)) if len(nonzero) else 1.0


def _records_from_molblocks(text: str) -> list[GeometryRecord | None]:
    from rdkit import Chem

    chunks = _sdf_records(text)
    records: list[GeometryRecord | None] = []
    for chunk in chunks:
        # bonds as written in the file: no sanitisation, so aromatic bonds stay 1.5 and nothing is re-perceived
        with quiet_rdkit():
            mol = Chem.MolFromMolBlock(chunk, removeHs=False, sanitize=False)
        if mol is None or mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
            records.append(None)
            continue
        bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), float(b.GetBondTypeAsDouble())) for b in mol.GetBonds()]
        records.append(([a.GetSymbol() for a in mol.GetAtoms()], np.asarray(mol.GetConformer().GetPositions()), bonds))
    return records or [None]


def geometry_records(item: Any) -> list[GeometryRecord | None]:
    """Molecules with bonds in one item; None marks an unreadable molecule.

    A MOL block / SDF text or a ``.mol``/``.sdf`` path keeps the bonds written in it (an SDF contributes
    every record); ``{"atoms", "coords"}`` objects and ``.xyz`` files get EDM's distance-inferred bonds."""
    if isinstance(item, str) and "\n" in item:
        return _records_from_molblocks(item)
    if isinstance(item, str) and item.strip():
        path = Path(item.strip())
        if path.is_file() and path.suffix.lower() in (".mol", ".sdf", ".sd"):
            return _records_from_molblocks(path.read_text())
    parsed = read_3d(item)
    if parsed is None:
        return [None]
    symbols, coords = parsed
    orders = bond_matrix(symbols, coords)
    bonds = [(int(i), int(j), float(orders[i, j])) for i, j in zip(*np.nonzero(np.triu(orders)))]
    return [(symbols, coords, bonds)]


def _order_label(order: float) -> str:
    return str(int(order)) if float(order).is_integer() else f"{order:g}"


def geometry_values(record: GeometryRecord, kind: str) -> dict[str, list[float]]:
    """Type key -> values of one molecule: bond lengths (A), bond angles or dihedrals (degrees)."""
    symbols, coords, bonds = record
    out: dict[str, list[float]] = {}
    if kind == "bond_length":
        for i, j, order in bonds:
            a, b = sorted((symbols[i], symbols[j]))
            out.setdefault(f"{a}-{b}:{_order_label(order)}", []).append(float(np.linalg.norm(coords[i] - coords[j])))
        return out
    neighbours: dict[int, list[int]] = {}
    for i, j, _ in bonds:
        neighbours.setdefault(i, []).append(j)
        neighbours.setdefault(j, []).append(i)
    if kind == "bond_angle":
        for centre, nbrs in neighbours.items():
            for p in range(len(nbrs)):
                for q in range(p + 1, len(nbrs)):
                    i, k = nbrs[p], nbrs[q]
                    u, v = coords[i] - coords[centre], coords[k] - coords[centre]
                    cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
                    ends = sorted((symbols[i], symbols[k]))
                    key = f"{ends[0]}-{symbols[centre]}-{ends[1]}"
                    out.setdefault(key, []).append(float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))))
        return out
    if kind == "dihedral":
        for j, k, _ in bonds:  # each central bond once; a dihedral reads the same in both directions
            for i in neighbours.get(j, []):
                if i == k:
                    continue
                for m in neighbours.get(k, []):
                    if m in (j, i):  # i == m is a 3-membered ring: no dihedral
                        continue
                    path = (symbols[i], symbols[j], symbols[k], symbols[m])
                    key = "-".join(min(path, path[::-1]))
                    out.setdefault(key, []).append(_dihedral_deg(coords[i], coords[j], coords[k], coords[m]))
        return out
    raise ValueError(f"unknown geometry kind {kind!r} (one of {', '.join(GEOMETRY_KINDS)})")


def _dihedral_deg(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> float:
    # IUPAC sign convention (clockwise looking along p1 -> p2 is positive), as RDKit's GetDihedralDeg
    b0, b1, b2 = p1 - p0, p2 - p1, p3 - p2
    n1, n2 = np.cross(b0, b1), np.cross(b1, b2)
    y = np.linalg.norm(b1) * np.dot(b0, n2)
    return float(np.degrees(np.arctan2(y, np.dot(n1, n2))))


def _collect(items: list, kind: str) -> tuple[dict[str, list[float]], int, int]:
    """Pooled values per type, number of molecules, number unreadable."""
    pooled: dict[str, list[float]] = {}
    n_mols = n_bad = 0
    for item in items:
        for record in geometry_records(item):
            n_mols += 1
            if record is None:
                n_bad += 1
                continue
            for key, values in geometry_values(record, kind).items():
                pooled.setdefault(key, []).extend(values)
    return pooled, n_mols, n_bad


def geometry_mmd(kind: str, predictions: list, references: list, top_k: int = 5, bandwidth: float = 0.0,
                 max_samples: int = 5000, seed: int = 0, periodic: bool = False) -> MetricResult:
    name = f"{kind}_mmd"
    if top_k < 1 or max_samples < 2 or bandwidth < 0:
        raise EvalInputError(f"{name}: need top_k >= 1, max_samples >= 2 and bandwidth >= 0")
    ref_values, n_ref, n_ref_bad = _collect(references, kind)
    if n_ref == n_ref_bad:
        raise EvalInputError(f"{name}: the reference set has no readable 3D molecule "
                             f"({n_ref_bad} unreadable of {len(references)} items)")
    if not ref_values:  # a property of the data (a few small molecules), not a mistake: the run goes on
        return MetricResult.not_computed(name, f"the reference molecules have no {kind.replace('_', ' ')} at all "
                                               f"({n_ref} molecules)")
    gen_values, n_gen, n_gen_bad = _collect(predictions, kind)
    if n_gen == 0:
        return MetricResult.not_computed(name, "no predictions")
    if n_gen == n_gen_bad:
        return MetricResult.not_computed(name, "no readable 3D molecule", n_gen, n_gen_bad)
    # most frequent reference types first; ties by key so the choice is deterministic
    top = sorted(ref_values, key=lambda key: (-len(ref_values[key]), key))[:top_k]
    rng = np.random.default_rng(seed)
    period = 360.0 if periodic else None
    per_type: dict[str, dict[str, Any]] = {}
    scores = []
    for key in top:
        ref = np.asarray(ref_values[key])
        gen = np.asarray(gen_values.get(key, []))
        entry: dict[str, Any] = {"n_generated": len(gen), "n_reference": len(ref), "mmd": None}
        if len(gen):
            # seeded subsamples bound the O(n m) kernel sums, as the published evaluations do
            if len(ref) > max_samples:
                ref = rng.choice(ref, size=max_samples, replace=False)
            if len(gen) > max_samples:
                gen = rng.choice(gen, size=max_samples, replace=False)
            sigma = bandwidth if bandwidth > 0 else median_bandwidth(gen, ref, rng, period=period)
            entry["sigma"] = sigma
            entry["mmd"] = mmd2(gen, ref, sigma, period)
            scores.append(entry["mmd"])
        per_type[key] = entry
    missing = [key for key in top if per_type[key]["mmd"] is None]
    details = {"top_types": top, "per_type": per_type, "types_without_generated": missing,
               "n_reference_molecules": n_ref, "n_invalid_references": n_ref_bad,
               "bandwidth": "median" if bandwidth == 0 else bandwidth, "periodic": periodic}
    if not scores:
        what = f"no generated {kind.replace('_', ' ')} of the reference's top {len(top)} types"
        return MetricResult.not_computed(name, what, n_gen, n_gen_bad, **details)
    return MetricResult(name, float(np.mean(scores)), n_gen, n_gen_bad, details=details)




def bond_length_mmd(predictions: list, references: list, **options) -> MetricResult:
    return geometry_mmd("bond_length", predictions, references, **options)


def bond_angle_mmd(predictions: list, references: list, **options) -> MetricResult:
    return geometry_mmd("bond_angle", predictions, references, **options)


def dihedral_mmd(predictions: list, references: list, **options) -> MetricResult:
    return geometry_mmd("dihedral", predictions, references, **options)
