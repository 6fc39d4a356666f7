"""Bad input: every case gives Mol3DError naming the record and the reason."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Geometry import Point3D

from biomatrix_plugin.mol3d import Mol3DError, MolStrucTok, embed_3d
from mol3d_shared import tokenizer


def _with_random_3d(mol, seed=0):
    rng = np.random.default_rng(seed)
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i in range(mol.GetNumAtoms()):
        conf.SetAtomPosition(i, Point3D(*rng.normal(size=3)))
    conf.Set3D(True)
    mol.AddConformer(conf)
    return mol


def test_no_conformer():
    with pytest.raises(Mol3DError, match="record 5: no conformer"):
        tokenizer().encode_mols([Chem.AddHs(Chem.MolFromSmiles("CCO"))], records=[5])


def test_2d_conformer():
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.Compute2DCoords(mol)
    with pytest.raises(Mol3DError, match="2D"):
        tokenizer().encode_mol(mol, record="x")


def test_salt_with_several_fragments():
    mol = _with_random_3d(Chem.AddHs(Chem.MolFromSmiles("C[NH3+].[Cl-]")))
    with pytest.raises(Mol3DError, match="2 disconnected fragments"):
        tokenizer().encode_mol(mol, record="salt")


def test_element_selfies_cannot_express():
    mol = _with_random_3d(Chem.AddHs(Chem.MolFromSmiles("C[Og]C")))
    with pytest.raises(Mol3DError, match="record oganesson: SELFIES cannot express"):
        tokenizer().encode_mol(mol, record="oganesson")


def test_too_many_atoms_is_configurable():
    mol = embed_3d("CCCCCCCCCC")
    small = MolStrucTok(model=tokenizer().model, max_atoms=20)
    with pytest.raises(Mol3DError, match="32 atoms .* limit of 20"):
        small.encode_mol(mol, record=1)
    assert MolStrucTok(model=tokenizer().model, max_atoms=40).encode_mol(mol).ok


def test_record_mode_keeps_every_position():
    good = embed_3d("CC(=O)O")
    res = tokenizer().encode_mols([good, None, Chem.AddHs(Chem.MolFromSmiles("CC")), good], on_error="record")
    assert [r.ok for r in res] == [True, False, False, True]
    assert res[1].error.startswith("record 1:") and "no conformer" in res[2].error
    assert res[0].struct_sfi == res[3].struct_sfi


def test_implicit_hydrogens_are_added_with_coordinates():
    heavy_only = Chem.RemoveHs(embed_3d("CC(=O)Nc1ccccc1"))
    res = tokenizer().encode_mol(heavy_only)
    assert len(res.codes) == Chem.AddHs(heavy_only).GetNumAtoms()


@pytest.mark.parametrize("text, reason", [
    ("[C 3][C 600]", "outside 0-511"),
    ("[C 3][O 2", "joint tokens"),
    ("[C 3][Branch1 -1][C -1][O -1]", "no code"),
    ("[F 1][F 2][F 3]", "3 atom codes but the tokens decode to 2 atoms"),
])
def test_decode_rejects_bad_strings(text, reason):
    with pytest.raises(Mol3DError, match=reason):
        tokenizer().decode(text)


def test_decode_record_mode_names_record():
    out = tokenizer().decode_many(["[C 1][O 2]", "[C 1][O 999]"], records=["a", "b"], on_error="record")
    assert out[0].GetNumAtoms() == 2
    assert isinstance(out[1], str) and out[1].startswith("record b:")


def test_wrapped_3d_for_corpus_builders():
    from biomatrix_plugin.modalities.serialization import SerializationError, unwrap
    from biomatrix_plugin.mol3d import mol_to_wrapped_3d

    wrapped = mol_to_wrapped_3d(embed_3d("OCC(=O)N"), checkpoint=str(tokenizer().checkpoint))
    assert wrapped.startswith("<|mol_3d_start|>[") and wrapped.endswith("]<|mol_3d_end|>")
    assert unwrap(wrapped).first("mol3d") is not None
    with pytest.raises(SerializationError, match="no conformer"):
        mol_to_wrapped_3d(Chem.MolFromSmiles("CCO"), checkpoint=str(tokenizer().checkpoint))
