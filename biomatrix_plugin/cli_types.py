"""Shared argparse ``type=`` functions: option values that cannot work are refused at parse time.

``--workers 0``, ``--shards 0``, ``--checkpoint-every 0`` or ``--coverage nan`` would otherwise fail deep
inside a run (a ZeroDivisionError after output was written, a pool that never starts). Each function takes
the option's string and returns the value or raises :class:`argparse.ArgumentTypeError`, which argparse
turns into ``biomatrix: error: argument --x: <reason>`` and exit code 2. Base layer: imports no stage.

Usage::

    from biomatrix_plugin.cli_types import positive_int, unit_interval_float
    p.add_argument("--workers", type=positive_int, default=1)
    p.add_argument("--coverage", type=unit_interval_float(open_low=True), default=0.99)
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

# ASCII digits only: int() also accepts '١٢٣' (Arabic-Indic digits) and '1_000', which no user means as a count
_INT_RE = re.compile(r"[+-]?[0-9]+\Z")


def _parse_int(text: str) -> int:
    stripped = text.strip()
    if not _INT_RE.match(stripped):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (ASCII digits)")
    return int(stripped)


def _parse_finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts of workers, shards, steps, batch sizes)."""
    value = _parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds, decimals, offsets)."""
    value = _parse_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A type function accepting integers with ``low <= value <= high`` (either bound optional)."""

    def parse(text: str) -> int:
        value = _parse_int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be in [{_bound(low, '-inf')}, {_bound(high, 'inf')}], got {value}")
        return value

    parse.__name__ = f"int_range({low}, {high})"
    return parse


def finite_float(text: str) -> float:
    """Any finite float (no nan, inf)."""
    return _parse_finite(text)


def positive_float(text: str) -> float:
    """A finite float > 0 (scales, temperatures, timeouts)."""
    value = _parse_finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


def non_negative_float(text: str) -> float:
    """A finite float >= 0 (noise scales, tolerances)."""
    value = _parse_finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def unit_interval_float(text: str | None = None, *, open_low: bool = False, open_high: bool = False):
    """A float in [0, 1] (fractions, coverages, probabilities).

    Used directly (``type=unit_interval_float``) it accepts the closed interval; called with keywords
    (``type=unit_interval_float(open_low=True)``) it returns a type function for (0, 1], [0, 1) or (0, 1)."""
    if text is None:
        def parse(value_text: str) -> float:
            return _unit_interval(value_text, open_low, open_high)

        parse.__name__ = "unit_interval_float"
        return parse
    return _unit_interval(text, open_low, open_high)


def _unit_interval(text: str, open_low: bool, open_high: bool) -> float:
    value = _parse_finite(text)
    too_low = value <= 0 if open_low else value < 0
    too_high = value >= 1 if open_high else value > 1
    if too_low or too_high:
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise argparse.ArgumentTypeError(f"must be in {interval}, got {value:g}")
    return value


def _bound(value: int | None, unbounded: str) -> str:
    return unbounded if value is None else str(value)


__all__ = [
    "finite_float", "int_range", "non_negative_float", "non_negative_int", "positive_float", "positive_int",
    "unit_interval_float",
]
