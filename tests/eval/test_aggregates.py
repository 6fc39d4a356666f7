"""eval.aggregates: a "Total" result computed from member results (MoleculeQA Table 15)."""

from __future__ import annotations

import pytest

from biomatrix_plugin.eval.aggregates import aggregate
from biomatrix_plugin.eval.spec import EvalInputError

MEMBERS = ("moleculeqa_structure", "moleculeqa_source", "moleculeqa_property", "moleculeqa_application")
TEST_ITEMS = (3113, 1343, 731, 599)  # report Table 31
PAPER = {"smiles": (83.36, 77.96, 47.88, 46.24, 73.78), "selfies": (83.26, 76.55, 47.20, 45.58, 73.24)}


def _rows(variant: str, values, n=TEST_ITEMS) -> list[dict]:
    return [{"metric": "accuracy", "task": t, "variant": variant, "value": v / 100, "n_items": k, "n_invalid": 1,
             "status": "computed"} for t, v, k in zip(MEMBERS, values, n)]


@pytest.mark.parametrize("variant", ["smiles", "selfies"])
def test_item_weighted_total_reproduces_the_paper(variant):
    *members, total = PAPER[variant]
    (row,) = aggregate(_rows(variant, members), MEMBERS, task="moleculeqa_total", metric="accuracy")
    assert row["status"] == "computed" and row["variant"] == variant
    # the members are printed rounded to 0.01, so the recomputed total may differ from the print by that much
    assert row["value"] * 100 == pytest.approx(total, abs=0.01)
    assert row["n_items"] == 5786 and row["n_invalid"] == 4
    # the unweighted mean is a different number: the paper's total is per question
    (plain,) = aggregate(_rows(variant, members), MEMBERS, task="moleculeqa_total", metric="accuracy",
                         weight="equal")
    assert abs(plain["value"] * 100 - total) > 5


def test_both_variants_and_other_metrics_ignored():
    rows = _rows("smiles", PAPER["smiles"][:4]) + _rows("selfies", PAPER["selfies"][:4])
    rows.append({"metric": "validity", "task": MEMBERS[0], "variant": "smiles", "value": 0.1, "n_items": 5})
    out = aggregate(rows, MEMBERS, task="moleculeqa_total", metric="accuracy")
    assert [r["variant"] for r in out] == ["selfies", "smiles"]


def test_missing_or_failed_member_is_not_computed_with_reason():
    rows = _rows("smiles", PAPER["smiles"][:4])
    (row,) = aggregate(rows[:3], MEMBERS, task="moleculeqa_total", metric="accuracy")
    assert row["status"] == "not_computed" and "moleculeqa_application" in row["reason"]
    rows[1] = {**rows[1], "status": "not_computed", "value": None}
    (row,) = aggregate(rows, MEMBERS, task="moleculeqa_total", metric="accuracy")
    assert row["value"] is None and "not computed for moleculeqa_source" in row["reason"]
    (row,) = aggregate(rows[:1], MEMBERS, task="t", metric="accuracy", variants=["selfies"])
    assert "no result" in row["reason"]


def test_bad_calls():
    with pytest.raises(EvalInputError, match="weight"):
        aggregate([], MEMBERS, task="t", metric="accuracy", weight="median")
    rows = _rows("smiles", PAPER["smiles"][:4])
    with pytest.raises(EvalInputError, match="two accuracy results"):
        aggregate(rows + rows[:1], MEMBERS, task="t", metric="accuracy")
