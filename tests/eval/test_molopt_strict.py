"""MolOpt-Instructions strict solubility: DrugAssist's range rule 0.5 < change < 1.5 (both ends exclusive),
checked with a stand-in solubility oracle whose values are set by hand."""

from __future__ import annotations

import pytest

from biomatrix_plugin.eval import EvalInputError, compute
from biomatrix_plugin.eval.properties import register_property

# stand-in for the ESOL predictor (DrugAssist used iDrug's): log-solubility by canonical SMILES
SOLUBILITY = {"CCO": -1.0, "CO": -0.5, "OCCO": 0.0, "CCCO": 0.5, "CC": -0.9, "CCN": 0.4, "C": -1.2}
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
    # a minimum change replaces the range: +1.0, +1.5 and +1.4 clear 1.0
    r = compute("correct_strict", PREDICTIONS, refs(6), threshold_esol="1")
    assert r.value == pytest.approx(3 / 6)
    with pytest.raises(EvalInputError, match="esol_range_low=1.5 must be below esol_range_high=0.5"):
        compute("correct_strict", ["CO"], refs(1), esol_range_low="1.5", esol_range_high="0.5")


def test_solubility_and_acceptor_jointly(solubility_oracle):
    # sol+ & acc+: OCCO gains one acceptor and +1.0 solubility -> correct; CCCO has the same acceptor
    # count as ethanol and +1.5 solubility -> wrong on both
    joint = [{"molecule": "CCO", "property": ["solubility", "acceptor"], "direction": ["increase", "increase"]}] * 2
    assert compute("correct_strict", ["OCCO", "CCCO"], joint).value == pytest.approx(0.5)


def test_decrease_mirrors_the_range(solubility_oracle):
    # from propanol (0.5) down to ethanol (-1.0) is a decrease by 1.5 (edge, out); to CO by 1.0 (in)
    down = [{"molecule": "CCCO", "property": "solubility", "direction": "decrease"}] * 2
    assert compute("correct_strict", ["CCO", "CO"], down).value == pytest.approx(0.5)


def test_strict_solubility_without_an_oracle_says_so():
    r = compute("correct_strict", ["OCCO"], refs(1))
    assert r.status == "not_computed" and "register_property" in r.reason
