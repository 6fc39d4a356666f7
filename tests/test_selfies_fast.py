"""modalities.selfies_fast.encoder is byte-identical to selfies.encoder(strict=True) where it answers, and
declines (None) where selfies would fail or where it does not model the input; selfies_fast.decoder is
byte-identical to selfies.decoder likewise (on encoder output and on random symbol strings, since a model's
generations are arbitrary).

Real data: MOSES' test set (molsets wheel, read with gzip/csv; the full 176k SMILES in the slow test, every
50th in the fast one), RDKit's bundled NCI set and its ligand files (cMet, CDK2, EGFR, ChEMBL actives, PAINS
test molecules), each in the forms RDKit writes: canonical (aromatic, isomeric, as the task build writes
it) and canonical kekulé non-isomeric (as MolStrucTok writes it).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import random
from pathlib import Path

import pytest
import selfies as sf
from rdkit import Chem, RDConfig

from biomatrix_plugin.io import quiet_rdkit
from biomatrix_plugin.modalities.selfies_fast import decoder, encoder

RDKIT_SITE = Path(RDConfig.RDDataDir).parent
LIGAND_SDF = ("Contrib/FreeWilson/data/cmet_ligands.sdf", "Contrib/Fastcluster/testdata/cdk2.sdf",
              "Contrib/PBF/testData/egfr.sdf")
LIGAND_SMI = ("Contrib/fraggle/data/ChEMBL_11265_actives.smi", "Contrib/FreeWilson/data/CHEMBL2321810.smi",
              "Contrib/Fastcluster/cdk2.smi")


def reference(smiles: str) -> str | None:
    try:
        return sf.encoder(smiles, strict=True)
    except Exception:  # EncoderError, or the odd assertion selfies raises on input it cannot handle
        return None


def moses_test_smiles() -> list[str]:
    spec = importlib.util.find_spec("moses")  # locates the molsets wheel without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("molsets (moses) is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "dataset" / "data" / "test.csv.gz"
    if not path.exists():
        pytest.skip(f"no MOSES test set at {path}")
    with gzip.open(path, "rt", newline="") as fh:
        return [row["SMILES"] for row in csv.DictReader(fh)]


def rdkit_bundled_smiles() -> list[str]:
    out = []
    nci = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    out += [line.split()[0] for line in nci.read_text().splitlines() if line.strip()]
    for rel in LIGAND_SMI:
        path = RDKIT_SITE / rel
        if path.exists():
            out += [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    with quiet_rdkit():
        for rel in LIGAND_SDF:
            path = RDKIT_SITE / rel
            if path.exists():
                out += [Chem.MolToSmiles(m) for m in Chem.SDMolSupplier(str(path)) if m is not None]
    pains = Path(RDConfig.RDDataDir) / "Pains" / "test_data" / "wehi_mols.csv"
    if pains.exists():
        with open(pains, newline="") as fh:
            out += [row[0] for row in csv.reader(fh) if row]
    return out


def rdkit_forms(smiles_list: list[str]) -> list[str]:
    """Each parsable molecule's components as RDKit writes them: canonical, and canonical kekulé
    non-isomeric."""
    forms = []
    with quiet_rdkit():
        for smi in smiles_list:
            mol = Chem.MolFromSmiles(smi)
            if mol is None:
                continue
            forms += Chem.MolToSmiles(mol).split(".")
            forms += Chem.MolToSmiles(mol, kekuleSmiles=True, isomericSmiles=False).split(".")
    return forms


def check(smiles_list: list[str]) -> tuple[int, int]:
    """(answered, declined); asserts equality wherever it answers and no decline where selfies answers."""
    answered = declined = 0
    differ, missed = [], []
    for smi in smiles_list:
        fast, ref = encoder(smi), reference(smi)
        if fast is None:
            declined += 1
            if ref is not None:
                missed.append(smi)
        else:
            answered += 1
            if fast != ref:
                differ.append((smi, fast, ref))
    assert not differ, f"{len(differ)} differ, first: {differ[:3]}"
    # RDKit's canonical output is inside what the fast path models: a decline there is lost speed
    assert not missed, f"{len(missed)} declined that selfies encodes, first: {missed[:5]}"
    return answered, declined


def test_equal_on_moses_sample_both_rdkit_forms():
    sample = moses_test_smiles()[::50]
    answered, declined = check(rdkit_forms(sample))
    assert answered >= 2 * len(sample) * 0.99


def test_equal_on_rdkit_nci_and_ligand_sets():
    mols = rdkit_bundled_smiles()
    assert len(mols) > 15000
    answered, _ = check(rdkit_forms(mols))
    assert answered > 30000


@pytest.mark.slow
def test_equal_on_all_moses_test_smiles():
    smiles = moses_test_smiles()
    assert len(smiles) > 170000
    with quiet_rdkit():
        canonical = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles]
    answered, declined = check(canonical)
    assert answered == len(canonical) and declined == 0


@pytest.mark.parametrize("smiles", [
    "C(C1)C1",  # ring closed on an atom whose branch opened it
    "c1ccccc1-c1ccccc1",  # explicit single bond between aromatic atoms
    "F/C=C\\F", "C/1=C/CCCCCC1", "C/C=C/1CCCCC\\1",  # stereo bonds on chains and ring closures
    "C[C@H](N)C(=O)O", "[C@@]12(C)CC1C2", "C[C@@H]1CC[C@H](C)CC1", "N[C@@H]1CC[C@H]1O",  # chirality inversion
    "[2H]C([2H])([2H])[13CH3]", "[NH4+]", "[O-][n+]1ccccc1", "c1cc[nH]c1", "[se]1cccc1", "[cH-]1cccc1",
    "c1ccc2ccccc2c1", "C%10CC%10", "C=1CCCC1", "OB(O)c1ccccc1", "[Fe+2]", "[Na+].[Cl-]", "C#N",
    "S(=O)(=O)(O)O", "P(=O)(O)(O)O", "[CH2-]", "[Si](C)(C)(C)C", "Cc1ccc2[nH]ccc2c1", "O=c1cc[nH]cc1",
])
def test_equal_on_constructs(smiles):
    fast = encoder(smiles)
    assert fast is not None
    assert fast == sf.encoder(smiles, strict=True)


@pytest.mark.parametrize("smiles", [
    "",  # empty
    "C(F)(F)(F)(F)F",  # over carbon's bonding capacity: selfies raises its constraint error
    "c1cccc1",  # kekulization fails
    "C1CC", "C(C", "C)C", "C()C", "(C)C", "C1.C1",  # hanging ring / branch, empty branch, ring across '.'
    "C=", "=CC", "C=(C)C",  # hanging bond, bond before a root atom or a branch
    "C:C", "C$C", "*C",  # ':' / '$' bonds and the wildcard are not modelled
    "C..C", "CC.", ".CC",  # empty fragments
    "C11", "C12CC12",  # ring bond to itself, ring bond between already-bonded atoms
    "[Xx]", "[C@TH1](F)(Cl)Br", "Xy",  # unknown element, chirality classes, unknown organic symbol
])
def test_declines_instead_of_guessing(smiles):
    assert encoder(smiles) is None


def test_declines_what_selfies_rejects_and_the_caller_gets_selfies_error():
    smiles = "C(F)(F)(F)(F)F"
    assert encoder(smiles) is None
    with pytest.raises(sf.EncoderError):
        sf.encoder(smiles, strict=True)


def test_follows_the_current_semantic_constraints():
    smiles = "CS(=O)(=O)C"  # S with 6 bonds: allowed by the default constraints, not by the octet rule
    assert encoder(smiles) == sf.encoder(smiles, strict=True)
    sf.set_semantic_constraints("octet_rule")
    try:
        assert encoder(smiles) is None
        with pytest.raises(sf.EncoderError):
            sf.encoder(smiles, strict=True)
    finally:
        sf.set_semantic_constraints("default")


# ------------------------------------------------------------------------------------------------ decoder

def reference_decode(selfies: str) -> str | None:
    try:
        return sf.decoder(selfies)
    except sf.DecoderError:
        return None


def test_decoder_equal_on_moses_encodings():
    sample = [encoder(s) for s in rdkit_forms(moses_test_smiles()[::200])]
    assert len(sample) > 1500 and all(s is not None for s in sample)
    differ = [s for s in sample if decoder(s) != sf.decoder(s)]
    assert not differ, differ[:3]


# valid symbols of every kind (atoms with bond, charge, H, isotope, chirality; branches; rings with stereo;
# epsilon; nop); the decoder's states then drop, cap and merge bonds in every way the grammar allows
VALID = sorted(sf.get_semantic_robust_alphabet()) + [
    "[H]", "[CH4]", "[NH4+1]", "[2H]", "[C@@H1]", "[C@H1]", "[/C]", "[\\C]", "[/N]", "[-/Ring1]", "[\\/Ring2]",
    "[nop]", "[epsilon]", "[Na+1]", "[Cl-1]", "[CH0]", "[13C]", "[Fe+2]", "[=Ring3]", "[#Ring1]", "[#Branch3]"]


def test_decoder_equal_on_random_symbol_strings():
    rng = random.Random(0)
    for _ in range(4000):
        text = "".join(rng.choice(VALID) for _ in range(rng.randint(1, 40)))
        fast = decoder(text)
        assert fast is not None, text
        assert fast == sf.decoder(text), text


@pytest.mark.parametrize("text", ["[Xx]", "[C][Og]", "[C][Branch4]", "[C", "C[C]", "[C].[C]", "[C]x[O]", 7])
def test_decoder_declines_what_it_does_not_model(text):
    assert decoder(text) is None


def test_decoder_follows_the_current_semantic_constraints():
    text = sf.encoder("CS(=O)(=O)C")  # S with 6 bonds: the octet rule caps it at 2
    assert decoder(text) == sf.decoder(text) == "CS(=O)(=O)C"
    sf.set_semantic_constraints("octet_rule")
    try:
        assert decoder(text) == sf.decoder(text)
        assert decoder(text) != "CS(=O)(=O)C"
    finally:
        sf.set_semantic_constraints("default")
    assert decoder(text) == "CS(=O)(=O)C"


def test_is_atom_symbol_is_process_atom_symbol():
    from selfies.grammar_rules import process_atom_symbol

    from biomatrix_plugin.modalities.selfies_fast import is_atom_symbol

    for symbol in VALID + ["[Xx]", "[Og]", "[CH9]", "[Branch4]", "[Ching]", "[epsilon]", "[nop]", "[C", "[=Cl]"]:
        assert is_atom_symbol(symbol) == (process_atom_symbol(symbol) is not None), symbol
