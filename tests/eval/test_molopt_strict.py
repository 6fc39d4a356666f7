"""MolOpt-Instructions strict solubility: DrugAssist's range rule 0.5 < change < 1.5 (both ends exclusive),
checked with a stand-in solubility oracle whose values are set by hand."""

from __future__ import annotations

import pytest

from biomatrix_plugin.eval import EvalInputError, compute
from biomatrix_plugin.eval.properties import register_property

# stand-in for the ESOL predictor (DrugAssist used iDrug's): log-solubility by canonical SMILES
SOLUBILITY = {"CCO": -1.0, "CO": -0.5, "OCCO": 0.0, "CCCO": 0.5, "CC": -0.9, "CCN": 0.4, "C": -1.2,
              "OCC(O)CO": 0.2}
# changes from ethanol (-1.0): CO +0.5 (edge, out), OCCO +1.0 (in), CCCO +1.5 (edge, out), CC +0.1 (out),
# CCN +1.4 (in), C -0.2 (wrong direction)
PREDICTIONS = ["CO", "OCCO", "CCCO", "CC", "CCN", "C"]


@pytest.fixture
def solubility_oracle():
    from rdkit import Chem

    register_property("solubility", lambda mol: SOLUBILITY[Chem.MolToSmiles(mol)])
    yield
    register_property("solubility", None)


def refs(n: int, prop="solubility", direction="increase"):
    return [{"molecule": "CCO", "property": prop, "direction": direction}] * n


def test_strict_solubility_uses_the_drugassist_range(solubility_oracle):
    r = compute("correct_strict", PREDICTIONS, refs(6))
    assert r.value == pytest.approx(2 / 6)  # only +1.0 and +1.4
    assert compute("correct_loose", PREDICTIONS, refs(6)).value == pytest.approx(5 / 6)


def test_range_options_and_threshold_override(solubility_oracle):
    r = compute("correct_strict", PREDICTIONS, refs(6), esol_range_low="0", esol_range_high="2")
    assert r.value == pytest.approx(5 / 6)
    # a minimum change replaces the range: +1.5 and +1.4 exceed 1.0; with comparison=ge +1.0 counts too
    r = compute("correct_strict", PREDICTIONS, refs(6), threshold_esol="1")
    assert r.value == pytest.approx(2 / 6)
    r = compute("correct_strict", PREDICTIONS, refs(6), threshold_esol="1", comparison="ge")
    assert r.value == pytest.approx(3 / 6)
    with pytest.raises(EvalInputError, match="esol_range_low=1.5 must be below esol_range_high=0.5"):
        compute("correct_strict", ["CO"], refs(1), esol_range_low="1.5", esol_range_high="0.5")


def test_solubility_and_acceptor_jointly(solubility_oracle):
    # sol+ & acc+: glycerol gains two acceptors (> 1) and +1.2 solubility -> correct; ethylene glycol gains
    # one acceptor (not > 1) with +1.0 -> wrong; CCCO has ethanol's acceptor count and +1.5 -> wrong on both
    joint = [{"molecule": "CCO", "property": ["solubility", "acceptor"], "direction": ["increase", "increase"]}] * 3
    assert compute("correct_strict", ["OCC(O)CO", "OCCO", "CCCO"], joint).value == pytest.approx(1 / 3)
    assert compute("correct_strict", ["OCC(O)CO", "OCCO", "CCCO"], joint, comparison="ge").value == pytest.approx(2 / 3)


def test_decrease_mirrors_the_range(solubility_oracle):
    # from propanol (0.5) down to ethanol (-1.0) is a decrease by 1.5 (edge, out); to CO by 1.0 (in)
    down = [{"molecule": "CCCO", "property": "solubility", "direction": "decrease"}] * 2
    assert compute("correct_strict", ["CCO", "CO"], down).value == pytest.approx(0.5)


def test_strict_solubility_without_an_oracle_says_so():
    r = compute("correct_strict", ["OCCO"], refs(1))
    assert r.status == "not_computed" and "register_property" in r.reason


# ---------------------------------------------------------------- DrugAssist's comparisons

def test_counts_must_grow_by_more_than_the_threshold_as_drugassist_compares():
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    acc = lambda smi: Descriptors.NumHAcceptors(Chem.MolFromSmiles(smi))
    assert (acc("CCO"), acc("OCCO"), acc("OCC(O)CO")) == (1, 2, 3)  # the counts the expectations rest on
    acc_refs = [{"molecule": "CCO", "property": "acceptor", "direction": "increase"}] * 2
    assert compute("correct_strict", ["OCCO", "OCC(O)CO"], acc_refs).value == pytest.approx(0.5)
    assert compute("correct_strict", ["OCCO", "OCC(O)CO"], acc_refs, comparison="ge").value == 1.0
    with pytest.raises(EvalInputError, match="comparison='gte' must be gt or ge"):
        compute("correct_strict", ["OCCO"], acc_refs[:1], comparison="gte")


@pytest.fixture
def bbbp_oracle():
    from rdkit import Chem

    # stand-in BBBP predictor, values set by hand
    values = {"CCO": 0.95, "CCCO": 0.97, "CO": 0.5, "OCCO": 0.55, "CCN": 0.65}
    register_property("bbbp", lambda mol: values[Chem.MolToSmiles(mol)])
    yield
    register_property("bbbp", None)


def test_bbbp_threshold_and_saturation_near_the_bound(bbbp_oracle):
    # from 0.95 (above DrugAssist's 0.9 bound) to 0.97: +0.02 < 0.1, yet correct because saturated
    high = [{"molecule": "CCO", "property": "bbbp", "direction": "increase"}]
    assert compute("correct_strict", ["CCCO"], high).value == 1.0
    assert compute("correct_strict", ["CCCO"], high, saturation="false").value == 0.0
    # from 0.5: +0.05 fails the 0.1 threshold, +0.15 clears it
    low = [{"molecule": "CO", "property": "bbbp", "direction": "increase"}] * 2
    assert compute("correct_strict", ["OCCO", "CCN"], low).value == pytest.approx(0.5)
