"""Molecule metrics on hand-checked cases; expected values come from chemistry facts or from RDKit APIs
other than the ones the metric code uses."""

from __future__ import annotations

import math

import pytest

from biomatrix_plugin.eval import EvalInputError, compute
from biomatrix_plugin.eval.molecules import parse_formula, to_mol


def test_validity_counts_invalid_and_empty():
    # unclosed ring, empty line and a pentavalent carbon are invalid; ethanol and benzene are valid
    r = compute("validity", ["CCO", "C1CC", "", "c1ccccc1", "C(C)(C)(C)(C)C"])
    assert r.value == pytest.approx(2 / 5)
    assert (r.n_items, r.n_invalid) == (5, 3)


def test_validity_reads_selfies_and_wrapped_output():
    items = ["[C][C][O]", "<|mol_smi_start|>CCO<|mol_smi_end|>", "<|mol_sfi_start|>[C][=C]<|mol_sfi_end|>",
             "<|mol_3d_start|>[C 12][C 3][O 5]<|mol_3d_end|>", "<|mol_smi_start|>CCO"]
    r = compute("validity", items)
    assert r.n_invalid == 1  # the unclosed wrapper
    assert to_mol(items[3]).GetNumAtoms() == 3
    # forcing SMILES reading: "[C][C][O]" is three radical atoms, still parseable, but not ethanol
    assert to_mol("[C][C][O]", "smiles").GetAtomWithIdx(0).GetNumRadicalElectrons() > 0


def test_auto_notation_bracket_only_smiles_and_selfies_with_fragments():
    from rdkit import Chem

    # [Na+], [Cl-], [NH4+] are SMILES (SELFIES writes charges as +1/-1 and rejects these symbols)
    for smiles, atom, charge in (("[Na+]", 11, 1), ("[Cl-]", 17, -1), ("[NH4+]", 7, 1)):
        mol = to_mol(smiles)
        assert mol is not None and mol.GetNumAtoms() == 1
        assert (mol.GetAtomWithIdx(0).GetAtomicNum(), mol.GetAtomWithIdx(0).GetFormalCharge()) == (atom, charge)
    assert to_mol("[NH4+]").GetAtomWithIdx(0).GetTotalNumHs() == 4
    # sodium ethoxide in SELFIES: two fragments joined by '.', read as SELFIES, not as radical atoms
    salt = to_mol("[C][C][O-1].[Na+1]")
    assert Chem.MolToSmiles(salt) == Chem.MolToSmiles(Chem.MolFromSmiles("CC[O-].[Na+]"))
    assert all(a.GetNumRadicalElectrons() == 0 for a in salt.GetAtoms())
    # a salt as reference no longer aborts the run
    r = compute("exact_match", ["[Na+]", "[Na+1]", "[K+]"], ["[Na+]", "[Na+]", "[Na+]"])
    assert (r.value, r.n_invalid) == (pytest.approx(2 / 3), 0)
    # notation=selfies stays strict: [Na+] is no SELFIES symbol
    assert to_mol("[Na+]", "selfies") is None


def test_uniqueness_uses_canonical_forms():
    r = compute("uniqueness", ["CCO", "OCC", "C(O)C", "c1ccccc1", "C1=CC=CC=C1", "bad("])
    assert r.value == pytest.approx(2 / 5)
    assert r.n_invalid == 1


def test_uniqueness_without_valid_molecules_is_not_computed():
    r = compute("uniqueness", ["bad(", ""])
    assert r.status == "not_computed" and r.value is None and r.n_invalid == 2


def test_novelty_against_training_set():
    r = compute("novelty", ["CCO", "c1ccccc1", "CCN", "OCC"], train=["OCC", "CCC"])
    assert r.value == pytest.approx(2 / 3)  # unique valid: ethanol, benzene, ethylamine; ethanol is known
    with pytest.raises(EvalInputError, match="training set"):
        compute("novelty", ["CCO"])


def _tanimoto_rdkit(a: str, b: str) -> float:
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    fa, fb = (gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in (a, b))
    return DataStructs.TanimotoSimilarity(fa, fb)


def test_internal_diversity_two_molecules_closed_form():
    a, b = "CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1"
    t = _tanimoto_rdkit(a, b)
    # self pairs included: mean similarity = (1 + t) / 2 for each molecule
    assert compute("intdiv1", [a, b]).value == pytest.approx(1 - (1 + t) / 2, abs=1e-6)
    assert compute("intdiv2", [a, b]).value == pytest.approx(1 - math.sqrt((1 + t * t) / 2), abs=1e-6)
    assert compute("intdiv1", ["CCO", "OCC", "C(C)O"]).value == pytest.approx(0.0, abs=1e-9)


def test_snn_frag_scaf_identical_sets_are_one():
    mols = ["c1ccc2ccccc2c1", "CC(=O)Nc1ccc(O)cc1", "O=C(O)c1ccccc1C(=O)c1ccccc1"]
    for name in ("snn", "frag", "scaf"):
        r = compute(name, mols, mols)
        assert r.value == pytest.approx(1.0), name


def test_frag_disjoint_fragments_is_zero_and_scaf_needs_two_rings():
    assert compute("frag", ["c1ccccc1"], ["CC"]).value == pytest.approx(0.0)
    r = compute("scaf", ["c1ccccc1"], ["c1ccccc1"])  # one ring only: MOSES keeps scaffolds with >= 2 rings
    assert r.status == "not_computed"
    assert compute("scaf", ["c1ccccc1"], ["c1ccccc1"], min_rings="1").value == pytest.approx(1.0)


def test_snn_nearest_neighbour_matches_pairwise_tanimoto():
    gen, ref = ["CCOc1ccccc1"], ["CC(=O)Nc1ccc(O)cc1", "CCOc1ccccc1C"]
    expected = max(_tanimoto_rdkit(gen[0], r) for r in ref)
    assert compute("snn", gen, ref).value == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_fcd_identical_sets_near_zero_and_different_sets_positive():
    pytest.importorskip("fcd")
    mols = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "c1ccncc1", "CC(C)O", "OCCO", "CCOC", "NCCN"]
    same = compute("fcd", mols, list(reversed(mols)))
    assert same.status == "computed" and abs(same.value) < 1e-3
    other = compute("fcd", mols, ["CCCCCCCCCC", "c1ccc2ccccc2c1", "ClCCl", "FC(F)F", "O=C=O", "CCCCCCCCO"])
    assert other.value > 1.0


def test_exact_match_canonical_and_stereo():
    preds = ["OCC", "C1=CC=CC=C1", "C[C@H](O)CC", "not a molecule", ""]
    refs = ["CCO", "c1ccccc1", "C[C@@H](O)CC", "CCO", "CCO"]
    r = compute("exact_match", preds, refs)
    assert r.value == pytest.approx(2 / 5)
    assert r.n_invalid == 2


def test_exact_match_accepts_alternatives_and_rejects_bad_reference():
    assert compute("exact_match", ["CCN"], [["CCO", "NCC"]]).value == 1.0
    with pytest.raises(EvalInputError, match="reference item 2"):
        compute("exact_match", ["CCO", "CCO"], ["CCO", "C1CC"])
    with pytest.raises(EvalInputError, match="2 predictions but 1 references"):
        compute("exact_match", ["CCO", "CCO"], ["CCO"])


def test_inchi_match_follows_smolinstruct_identity():
    # 2-hydroxypyridine / 2-pyridone share a standard InChI (mobile H) but not a canonical SMILES
    assert compute("exact_match", ["Oc1ccccn1"], ["O=c1cccc[nH]1"]).value == 0.0
    assert compute("inchi_match", ["Oc1ccccn1"], ["O=c1cccc[nH]1"]).value == 1.0
    # component sets: duplicates collapse, order does not matter
    assert compute("inchi_match", ["CC(=O)O.CC(=O)O.CCO"], ["OCC.CC(=O)O"]).value == 1.0
    assert compute("inchi_match", ["CC(=O)O"], ["OCC.CC(=O)O"]).value == 0.0


def test_fts_over_valid_predictions_and_fingerprint_kinds():
    from rdkit import Chem, DataStructs
    from rdkit.Chem import MACCSkeys

    r = compute("fts", ["CCO", "bad(("], ["CCO", "CCC"])
    assert r.value == pytest.approx(1.0) and r.n_invalid == 1
    assert compute("fts", ["CCO", "bad(("], ["CCO", "CCC"], invalid_as_zero="true").value == pytest.approx(0.5)
    a, b = Chem.MolFromSmiles("c1ccccc1O"), Chem.MolFromSmiles("c1ccccc1N")
    maccs = DataStructs.TanimotoSimilarity(MACCSkeys.GenMACCSKeys(a), MACCSkeys.GenMACCSKeys(b))
    assert compute("fts", ["c1ccccc1O"], ["c1ccccc1N"], fp="maccs").value == pytest.approx(maccs)
    with pytest.raises(EvalInputError, match="fp="):
        compute("fts", ["CCO"], ["CCO"], fp="ecfp")


def test_formula_parsing_and_match():
    assert parse_formula("C7H15Cl2N2OPS") == {"C": 7, "H": 15, "Cl": 2, "N": 2, "O": 1, "P": 1, "S": 1}
    assert parse_formula("Ca(OH)2") == {"Ca": 1, "O": 2, "H": 2}
    assert parse_formula("NH4+") == {"N": 1, "H": 4, "+": 1}
    r = compute("formula_match", ["H6C2O", "C2H5O", "hello", "CaO2H2"], ["C2H6O", "C2H6O", "C2H6O", "Ca(OH)2"])
    assert r.value == pytest.approx(2 / 4) and r.n_invalid == 1


def test_iupac_match_string_rule():
    r = compute("iupac_match", [" ethanol ", "propan-2-ol", "b; a", ""], ["ethanol", "propan-1-ol", "a;b", "x"])
    assert r.value == pytest.approx(2 / 4) and r.n_invalid == 1


def test_a_mol_block_is_read_with_its_conformer():
    """A decoded 3D answer (eval.readout_mol3d gives a MOL block): to_mol keeps its hydrogens and coordinates,
    so the 2D metrics and a 3D property oracle score the generated geometry; a broken block is not parsable."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from biomatrix_plugin.eval.molecules import mol_or_reason, to_mol

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    block = Chem.MolToMolBlock(mol)
    read = to_mol(block)
    assert read.GetNumAtoms() == 9 and read.GetNumConformers() == 1
    assert read.GetConformer().GetPositions().tolist() == mol.GetConformer().GetPositions().round(4).tolist()
    assert mol_or_reason(block.replace("V2000", "V9999"))[1] == "not parsable"
