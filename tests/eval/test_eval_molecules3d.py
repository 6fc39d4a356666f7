"""QM9-style stability / validity from 3D coordinates on force-field geometries and broken variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

from biomatrix_plugin.eval import compute
from biomatrix_plugin.eval.molecules3d import bond_order, molecule_from_3d, read_3d

SMILES = ["C", "CCO", "C=C", "CC#N", "OC=O", "CN(C)C", "FC(F)F", "C1CC1", "O=C1CCC1"]


@pytest.fixture(scope="module")
def embedded():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    out = []
    for smi in SMILES:
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(mol, randomSeed=7)
        AllChem.MMFFOptimizeMolecule(mol)
        out.append((smi, mol))
    return out


def as_item(mol, scale: float = 1.0, drop: int | None = None) -> dict:
    atoms = [a.GetSymbol() for a in mol.GetAtoms()]
    coords = mol.GetConformer().GetPositions() * scale
    if drop is not None:
        atoms.pop(drop)
        coords = np.delete(coords, drop, axis=0)
    return {"atoms": atoms, "coords": coords.tolist()}


def test_bond_order_thresholds():
    # C-C single 1.54 A, double 1.34 A, triple 1.20 A (+10/+5/+3 pm margins)
    assert bond_order("C", "C", 1.63) == 1   # < 164 pm
    assert bond_order("C", "C", 1.40) == 1   # >= 139 pm
    assert bond_order("C", "C", 1.38) == 2
    assert bond_order("C", "C", 1.24) == 2   # >= 123 pm
    assert bond_order("C", "C", 1.22) == 3
    assert bond_order("C", "C", 1.65) == 0
    assert bond_order("C", "Cl", 1.70) == 0  # not a QM9 pair


def test_force_field_geometries_are_stable_and_round_trip(embedded):
    from rdkit import Chem

    items = [as_item(m) for _, m in embedded]
    assert compute("atom_stability", items).value == 1.0
    assert compute("mol_stability", items).value == 1.0
    assert compute("validity_3d", items, complete="true").value == 1.0
    for (smi, _), item in zip(embedded, items):
        rebuilt = molecule_from_3d(item["atoms"], np.asarray(item["coords"]))
        assert Chem.MolToSmiles(Chem.RemoveHs(rebuilt)) == Chem.MolToSmiles(Chem.MolFromSmiles(smi))


def test_broken_geometries(embedded):
    _, methane = embedded[0]
    _, ethanol = embedded[1]
    missing_h = as_item(methane, drop=4)         # CH3: carbon has 3 bonds
    stretched = as_item(ethanol, scale=1.5)      # nothing is bonded any more
    r = compute("atom_stability", [missing_h, stretched])
    # CH3: 3 stable H + unstable C; stretched ethanol: no atom stable (9 atoms)
    assert r.value == pytest.approx(3 / 13)
    assert compute("mol_stability", [missing_h, stretched, as_item(ethanol)]).value == pytest.approx(1 / 3)
    assert compute("validity_3d", [stretched], complete="true").value == 0.0


def test_inputs_molblock_xyz_and_bad_items(embedded, tmp_path):
    from rdkit import Chem

    _, ethanol = embedded[1]
    block = Chem.MolToMolBlock(ethanol)
    xyz = tmp_path / "ethanol.xyz"
    xyz.write_text(Chem.MolToXYZBlock(ethanol))
    sdf = tmp_path / "ethanol.sdf"
    sdf.write_text(block + "$$$$\n")
    symbols, coords = read_3d(str(xyz))
    assert symbols.count("C") == 2 and coords.shape == (9, 3)
    r = compute("mol_stability", [block, str(xyz), str(sdf), "missing.sdf", {"atoms": ["C"], "coords": [[0, 0]]}])
    assert r.value == pytest.approx(3 / 5) and r.n_invalid == 2


def test_cli_with_jsonl(embedded, tmp_path, capsys):
    from biomatrix_plugin.cli import main

    path = tmp_path / "gen.jsonl"
    path.write_text("\n".join(json.dumps(as_item(m)) for _, m in embedded) + "\n")
    assert main(["eval", "metric", "atom_stability", "--pred", str(path), "--field", "*"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == 1.0


def test_every_sdf_record_is_one_molecule(embedded, tmp_path):
    # `biomatrix mol3d decode` writes all generated molecules into one SDF: each record must be scored
    from rdkit import Chem

    _, methane = embedded[0]
    _, ethanol = embedded[1]
    stretched = Chem.Mol(ethanol)
    conf = stretched.GetConformer()
    for i in range(stretched.GetNumAtoms()):
        conf.SetAtomPosition(i, conf.GetAtomPosition(i) * 1.5)  # no bond survives: 9 unstable atoms
    path = tmp_path / "decoded.sdf"
    with Chem.SDWriter(str(path)) as writer:
        for mol in (ethanol, stretched, methane):
            writer.write(mol)
    for item in (str(path), path.read_text()):
        r = compute("mol_stability", [item])
        assert (r.value, r.n_items, r.n_invalid) == (pytest.approx(2 / 3), 3, 0)
        r = compute("atom_stability", [item])
        assert r.value == pytest.approx((9 + 5) / (9 + 9 + 5)) and r.n_items == 3
        assert compute("validity_3d", [item], complete="true").value == pytest.approx(2 / 3)
    # a broken record in the middle is one invalid molecule, not the loss of the whole file
    blocks = path.read_text().split("$$$$\n")
    path.write_text(blocks[0] + "$$$$\nbroken\n\nnot a mol block\n$$$$\n" + blocks[2] + "$$$$\n")
    r = compute("mol_stability", [str(path)])
    assert (r.value, r.n_items, r.n_invalid) == (pytest.approx(2 / 3), 3, 1)


def test_unknown_element_symbols_count_invalid(embedded):
    _, ethanol = embedded[1]
    good = as_item(ethanol)
    for symbol in ("X", "c"):
        bad = {"atoms": [symbol if a == "C" else a for a in good["atoms"]], "coords": good["coords"]}
        r = compute("validity_3d", [good, bad])
        assert (r.value, r.n_items, r.n_invalid) == (0.5, 2, 1)
        assert compute("mol_stability", [good, bad]).n_invalid == 1
        assert molecule_from_3d(bad["atoms"], np.asarray(bad["coords"])) is None
