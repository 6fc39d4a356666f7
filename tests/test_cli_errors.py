"""Every command fails the same way (issue 10 §4), and the shared argparse types refuse values that cannot work.

- ``biomatrix_plugin.cli_types``: each type function accepts what it should and refuses, at parse time,
  the values that used to crash a run late (``--workers 0``, ``--coverage nan``, non-ASCII digits).
"""

from __future__ import annotations

import argparse
import math

import pytest

from biomatrix_plugin import cli_types as ct


@pytest.mark.parametrize("text, expected", [("1", 1), ("42", 42), (" 7 ", 7), ("+3", 3)])
def test_positive_int_accepts(text, expected):
    assert ct.positive_int(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "", "abc", "١٢٣", "1_000", "1e3", "nan"])
def test_positive_int_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        ct.positive_int(text)


def test_non_negative_int():
    assert ct.non_negative_int("0") == 0
    assert ct.non_negative_int("12") == 12
    for bad in ("-1", "-3", "٣", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            ct.non_negative_int(bad)


def test_int_range():
    decimals = ct.int_range(0, 6)
    assert decimals("0") == 0 and decimals("6") == 6
    for bad in ("-3", "7"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 6\]"):
            decimals(bad)
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[2, inf\]"):
        ct.int_range(low=2)("1")


@pytest.mark.parametrize("func", [ct.finite_float, ct.positive_float, ct.non_negative_float, ct.unit_interval_float])
@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "abc", ""])
def test_float_types_refuse_non_finite(func, text):
    with pytest.raises(argparse.ArgumentTypeError):
        func(text)


def test_float_bounds():
    assert ct.finite_float("-2.5") == -2.5
    assert ct.positive_float("0.1") == pytest.approx(0.1)
    with pytest.raises(argparse.ArgumentTypeError):
        ct.positive_float("0")
    assert ct.non_negative_float("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError):
        ct.non_negative_float("-0.1")


def test_unit_interval_closed_and_open():
    assert ct.unit_interval_float("0") == 0.0 and ct.unit_interval_float("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 1\]"):
        ct.unit_interval_float("1.5")
    coverage = ct.unit_interval_float(open_low=True)
    assert coverage("1") == 1.0 and math.isclose(coverage("0.99"), 0.99)
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(0, 1\]"):
        coverage("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 1\)"):
        ct.unit_interval_float(open_high=True)("1")


def test_argparse_reports_the_reason_and_exits_2(capsys):
    parser = argparse.ArgumentParser(prog="biomatrix x")
    parser.add_argument("--workers", type=ct.positive_int)
    parser.add_argument("--coverage", type=ct.unit_interval_float(open_low=True))
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--workers", "0"])
    assert exc.value.code == 2
    assert "argument --workers: must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--coverage", "nan"])
    assert "argument --coverage: 'nan' is not a finite number" in capsys.readouterr().err
