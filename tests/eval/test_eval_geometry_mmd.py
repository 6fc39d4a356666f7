"""Bond-length / bond-angle / dihedral MMDs on real 3D molecules (RDKit's CDK2 ligands, ETKDG embeddings)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from biomatrix_plugin.eval import compute
from biomatrix_plugin.eval.molecules3d import (
    gaussian_kernel,
    geometry_records,
    geometry_values,
    median_bandwidth,
    mmd2,
)
from biomatrix_plugin.eval.registry import EvalInputError

MMD_METRICS = ("bond_length_mmd", "bond_angle_mmd", "dihedral_mmd")


def _cdk2_path() -> Path:
    from rdkit import RDConfig

    path = Path(RDConfig.RDContribDir) / "Fastcluster" / "testdata" / "cdk2.sdf"
    if not path.is_file():
        pytest.skip(f"RDKit's bundled cdk2.sdf is not installed at {path}")
    return path


@pytest.fixture(scope="module")
def cdk2_mols():
    from rdkit import Chem

    mols = [m for m in Chem.SDMolSupplier(str(_cdk2_path()), removeHs=False, sanitize=False)]
    assert len(mols) == 47 and all(m is not None for m in mols)
    return mols


def molblocks(mols, scale: float = 1.0, noise: float = 0.0, seed: int = 0) -> list[str]:
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    rng = np.random.default_rng(seed)
    out = []
    for mol in mols:
        copy = Chem.Mol(mol)
        conf = copy.GetConformer()
        pos = conf.GetPositions() * scale + rng.normal(0.0, noise, size=(copy.GetNumAtoms(), 3))
        for i, (x, y, z) in enumerate(pos):
            conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
        out.append(Chem.MolToMolBlock(copy, kekulize=False))
    return out


def test_identical_sets_score_zero(cdk2_mols):
    blocks = molblocks(cdk2_mols)
    for name in MMD_METRICS:
        result = compute(name, blocks, list(blocks))
        assert result.status == "computed", name
        assert abs(result.value) < 1e-9, (name, result.value)
        assert result.n_items == 47 and result.n_invalid == 0
        assert len(result.details["top_types"]) == 5
        assert all(entry["mmd"] is not None for entry in result.details["per_type"].values())


def test_sdf_path_reads_every_record(cdk2_mols):
    path = str(_cdk2_path())
    result = compute("bond_length_mmd", [path], molblocks(cdk2_mols))
    assert result.n_items == 47 and result.n_invalid == 0
    assert abs(result.value) < 1e-9
    assert result.details["n_reference_molecules"] == 47


@pytest.mark.parametrize("bandwidth", ["0", "0.05"])
def test_bond_lengths_scaled_by_1_1_score_far_worse_than_jitter(cdk2_mols, bandwidth):
    ref = molblocks(cdk2_mols)
    jittered = compute("bond_length_mmd", molblocks(cdk2_mols, noise=0.003, seed=1), ref, bandwidth=bandwidth).value
    stretched = compute("bond_length_mmd", molblocks(cdk2_mols, scale=1.1), ref, bandwidth=bandwidth).value
    assert 0 < jittered and stretched > 10 * jittered, (jittered, stretched)


@pytest.mark.parametrize("name", ["bond_angle_mmd", "dihedral_mmd"])
def test_angles_degrade_with_more_noise_and_ignore_uniform_scaling(cdk2_mols, name):
    ref = molblocks(cdk2_mols)
    small = compute(name, molblocks(cdk2_mols, noise=0.01, seed=2), ref).value
    large = compute(name, molblocks(cdk2_mols, noise=0.15, seed=2), ref).value
    assert large > 3 * small > 0, (small, large)
    # angles do not change when the whole molecule is scaled (up to the MOL block's 4-decimal coordinates,
    # which can move a dihedral near 180 degrees across the seam to -180: periodic=true absorbs that)
    options = {"periodic": "true"} if name == "dihedral_mmd" else {}
    assert compute(name, molblocks(cdk2_mols, scale=1.1), ref, **options).value < small / 100


def test_hand_computed_mmd_on_tiny_1d_example():
    x, y, sigma = np.array([0.0, 1.0]), np.array([2.0]), 1.0
    k = lambda a, b: math.exp(-((a - b) ** 2) / (2 * sigma**2))
    kxx = (k(0, 0) + k(0, 1) + k(1, 0) + k(1, 1)) / 4
    kyy = k(2, 2)
    kxy = (k(0, 2) + k(1, 2)) / 2
    expected = kxx + kyy - 2 * kxy
    assert mmd2(x, y, sigma) == pytest.approx(expected, abs=1e-12)
    assert gaussian_kernel(x, y, sigma)[1, 0] == pytest.approx(math.exp(-0.5))
    # pooled distances |0-1|=1, |0-2|=2, |1-2|=1 -> median 1
    assert median_bandwidth(x, y, np.random.default_rng(0)) == 1.0
    with pytest.raises(ValueError):
        mmd2(x, y, 0.0)


def test_periodic_kernel_wraps_round_the_circle():
    # 179 and -179 degrees are 2 degrees apart on the circle, 358 on the line
    wrapped = gaussian_kernel(np.array([179.0]), np.array([-179.0]), 2.0, period=360.0)[0, 0]
    assert wrapped == pytest.approx(math.exp(-0.5))
    assert gaussian_kernel(np.array([179.0]), np.array([-179.0]), 2.0)[0, 0] < 1e-300
    x, y = np.array([179.0, 178.0]), np.array([-179.0])
    k = lambda d: math.exp(-(d**2) / 8)
    expected = (2 + 2 * k(1)) / 4 + 1 - (k(2) + k(3))
    assert mmd2(x, y, 2.0, period=360.0) == pytest.approx(expected, abs=1e-12)
    # pooled circular distances 1, 2, 3 -> median 2
    assert median_bandwidth(x, y, np.random.default_rng(0), period=360.0) == 2.0


def test_metric_matches_hand_value_on_two_hydrogen_molecules():
    # H-H bonds of 0.74 and 0.80 A (both bonded under EDM's 84 pm cutoff) against one of 0.74 A
    def h2(d):
        return {"atoms": ["H", "H"], "coords": [[0, 0, 0], [d, 0, 0]]}

    result = compute("bond_length_mmd", [h2(0.74), h2(0.80)], [h2(0.74)], bandwidth="0.1")
    expected = mmd2(np.array([0.74, 0.80]), np.array([0.74]), 0.1)
    k = lambda a, b: math.exp(-((a - b) ** 2) / 0.02)
    assert expected == pytest.approx((2 + 2 * k(0.74, 0.80)) / 4 + 1 - 2 * (1 + k(0.80, 0.74)) / 2)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.details["top_types"] == ["H-H:1"]


def test_angles_and_dihedrals_agree_with_rdkit(cdk2_mols):
    from rdkit import Chem
    from rdkit.Chem import rdMolTransforms as T

    block = molblocks([cdk2_mols[0]])[0]
    record = geometry_records(block)[0]
    mol = Chem.MolFromMolBlock(block, removeHs=False, sanitize=False)  # the same rounded coordinates
    conf = mol.GetConformer()
    angles = sorted(v for vs in geometry_values(record, "bond_angle").values() for v in vs)
    dihedrals = sorted(v for vs in geometry_values(record, "dihedral").values() for v in vs)
    rd_angles, rd_dihedrals = [], []
    for bond in mol.GetBonds():
        j, k = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        for i in (a.GetIdx() for a in mol.GetAtomWithIdx(j).GetNeighbors()):
            if i == k:
                continue
            for m in (a.GetIdx() for a in mol.GetAtomWithIdx(k).GetNeighbors()):
                if m not in (j, i):
                    rd_dihedrals.append(T.GetDihedralDeg(conf, i, j, k, m))
    for atom in mol.GetAtoms():
        nbrs = [a.GetIdx() for a in atom.GetNeighbors()]
        rd_angles += [T.GetAngleDeg(conf, nbrs[p], atom.GetIdx(), nbrs[q])
                      for p in range(len(nbrs)) for q in range(p + 1, len(nbrs))]
    assert len(angles) == len(rd_angles) > 20
    assert np.allclose(angles, sorted(rd_angles), atol=1e-6)
    assert len(dihedrals) == len(rd_dihedrals) > 20
    assert np.allclose(dihedrals, sorted(rd_dihedrals), atol=1e-6)


def test_coordinate_objects_and_their_molblocks_give_the_same_bond_types():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    objects, blocks = [], []
    for smi in ["CCO", "CC#N", "C=CC", "FC(F)F", "CN(C)C"]:
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        assert AllChem.EmbedMolecule(mol, randomSeed=7) == 0  # ETKDG, seeded
        AllChem.MMFFOptimizeMolecule(mol)
        objects.append({"atoms": [a.GetSymbol() for a in mol.GetAtoms()],
                        # the MOL block's 4 decimals: with the median heuristic even 1e-5 A differences
                        # count when a type has a single value on each side
                        "coords": np.round(mol.GetConformer().GetPositions(), 4).tolist()})
        blocks.append(Chem.MolToMolBlock(mol))
    for name in MMD_METRICS:
        result = compute(name, objects, blocks, top_k="50")
        assert result.details["types_without_generated"] == [], name
        assert abs(result.value) < 1e-9, name


def test_invalid_input_is_counted_or_rejected(cdk2_mols):
    ref = molblocks(cdk2_mols)
    preds = molblocks(cdk2_mols[:10]) + ["not a\nmol block\n", "", "/no/such/file.sdf"]
    result = compute("bond_angle_mmd", preds, ref)
    assert result.status == "computed"
    assert (result.n_items, result.n_invalid) == (13, 3)

    only_bad = compute("dihedral_mmd", ["garbage\nlines\n", ""], ref)
    assert only_bad.status == "not_computed" and only_bad.n_invalid == 2
    assert "no readable" in only_bad.reason

    empty = compute("bond_length_mmd", [], ref)
    assert empty.status == "not_computed" and empty.reason == "no predictions"

    with pytest.raises(EvalInputError, match="reference set has no readable 3D molecule"):
        compute("bond_length_mmd", ref, ["bad\nblock\n"])
    with pytest.raises(EvalInputError, match="reference set has no readable"):
        compute("bond_length_mmd", ref, [])
    partly_bad_ref = compute("bond_length_mmd", ref, ref + ["bad\nblock\n"])
    assert partly_bad_ref.details["n_invalid_references"] == 1
    with pytest.raises(EvalInputError, match="top_k"):
        compute("bond_length_mmd", ref, ref, top_k="0")


def test_generated_set_missing_a_reference_type_is_reported(cdk2_mols):
    ref = molblocks(cdk2_mols)
    methane = {"atoms": ["C", "H", "H", "H", "H"],
               "coords": [[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63],
                          [0.63, -0.63, -0.63]]}
    result = compute("bond_length_mmd", [methane], ref)
    assert result.status == "computed"
    assert result.details["types_without_generated"] == [t for t in result.details["top_types"] if t != "C-H:1"]
    assert result.value == pytest.approx(result.details["per_type"]["C-H:1"]["mmd"])


def test_a_reference_set_without_the_geometric_type_is_not_computed_not_an_error():
    """Water has bond lengths and an angle but no dihedral: the dihedral MMD of a generated set against it
    is "not computed" with the reason, so an `eval run` over small molecules goes on (it aborted the run)."""
    water = {"atoms": ["O", "H", "H"], "coords": [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]}
    result = compute("dihedral_mmd", [water], [water])
    assert result.status == "not_computed" and "no dihedral at all" in result.reason
    assert compute("bond_length_mmd", [water], [water]).status == "computed"
