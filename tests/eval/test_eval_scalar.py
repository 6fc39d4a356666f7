"""Classification / regression metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from biomatrix_plugin.eval import EvalInputError, compute


def test_rmse_mae_count_unparseable_and_nan():
    preds = ["1", "2.0", "3", "about four", "nan", ""]
    refs = ["1", "2", "5", "4", "1", "1"]
    r = compute("rmse", preds, refs)
    assert r.value == pytest.approx(math.sqrt(4 / 3))
    assert (r.n_items, r.n_invalid) == (6, 3)
    assert compute("mae", preds, refs).value == pytest.approx(2 / 3)
    # with extract=first, "about four" still has no digits; "-1.5 kcal/mol" does
    assert compute("mae", ["-1.5 kcal/mol"], ["0"], extract="first").value == pytest.approx(1.5)
    assert compute("mae", ["-1.5 kcal/mol"], ["0"]).status == "not_computed"


def test_numeric_reference_must_be_a_number():
    with pytest.raises(EvalInputError, match="reference item 2"):
        compute("rmse", ["1", "2"], ["1", "two"])


def test_correlations():
    assert compute("pearson", ["1", "2", "3"], ["2", "4", "6"]).value == pytest.approx(1.0)
    assert compute("pearson", ["1", "2", "3"], ["3", "2", "1"]).value == pytest.approx(-1.0)
    # monotone but not linear: Spearman 1, Pearson below 1
    assert compute("spearman", ["1", "2", "3", "4"], ["1", "4", "9", "16"]).value == pytest.approx(1.0)
    assert compute("pearson", ["1", "2", "3", "4"], ["1", "4", "9", "16"]).value < 0.99
    assert compute("pearson", ["1", "1", "1"], ["1", "2", "3"]).status == "not_computed"


def test_accuracy_normalisation():
    r = compute("accuracy", ["Yes", " no.", "", "maybe"], ["yes", "No", "yes", "no"])
    assert r.value == pytest.approx(2 / 4) and r.n_invalid == 1
    assert compute("accuracy", ["Yes"], ["yes"], case_sensitive="true").value == 0.0


def test_accuracy_multiple_choice_regex():
    preds = ["The answer is (B).", "C", "I am not sure", "Answer: D"]
    r = compute("accuracy", preds, ["B", "A", "C", "D"], regex=r"\b([A-D])\b")
    assert r.value == pytest.approx(2 / 4) and r.n_invalid == 1
    with pytest.raises(EvalInputError, match="not a regular expression"):
        compute("accuracy", ["A"], ["A"], regex="(")


def test_set_precision_recall_f1_per_sample():
    preds = ["a;b", "a", ""]
    refs = ["b;c", "a;b", "x"]
    # sample 1: P=1/2 R=1/2 F=1/2; sample 2: P=1 R=1/2 F=2/3; sample 3 (empty): 0/0/0
    assert compute("set_precision", preds, refs).value == pytest.approx((0.5 + 1 + 0) / 3)
    assert compute("set_recall", preds, refs).value == pytest.approx((0.5 + 0.5 + 0) / 3)
    r = compute("set_f1", preds, refs)
    assert r.value == pytest.approx((0.5 + 2 / 3 + 0) / 3) and r.n_invalid == 1
    assert compute("set_f1", [["EC 1.1.1.1", "ec 2.7.1.1"]], [["EC 2.7.1.1", "EC 1.1.1.1"]]).value == 1.0
    assert compute("set_f1", ["a, b"], ["a,b"], sep=",").value == 1.0


def test_unknown_and_badly_typed_options():
    with pytest.raises(EvalInputError, match="unknown option 'foo'"):
        compute("rmse", ["1"], ["1"], foo="1")
    with pytest.raises(EvalInputError, match="not a boolean"):
        compute("accuracy", ["a"], ["a"], case_sensitive="maybe")
