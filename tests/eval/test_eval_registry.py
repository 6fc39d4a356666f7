"""Registry behaviour shared by every metric."""

from __future__ import annotations

import json
import math

import pytest

from biomatrix_plugin.eval import EvalInputError, MetricResult, compute, get_metric, list_metrics


def test_result_json_is_strict():
    out = MetricResult("x", math.inf, 3, 0).to_dict()
    assert out["value"] is None and out["details"]["non_finite_value"] == "inf"
    json.dumps(out, allow_nan=False)  # would raise on NaN/inf


def test_metric_names_unique_and_defined():
    specs = list_metrics()
    assert len({s.name for s in specs}) == len(specs)
    for spec in specs:
        assert spec.definition and "\n" not in spec.definition
        assert spec.family in {"molecules", "text", "scalar", "proteins"}


def test_input_checks():
    with pytest.raises(EvalInputError, match="unknown metric"):
        get_metric("bleurt")
    with pytest.raises(EvalInputError, match="references are not used"):
        compute("validity", ["CCO"], ["CCO"])
    with pytest.raises(EvalInputError, match="needs references"):
        compute("snn", ["CCO"])
    with pytest.raises(EvalInputError, match="not of type int"):
        compute("scaf", ["CCO"], ["CCO"], min_rings="two")
