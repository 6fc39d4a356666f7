"""Stochastic composition (report §3.1): optional fields are included with a configured probability and
interchangeable components are emitted in a random order, so the model never sees one fixed schema.

Randomness comes from a per-record ``random.Random`` seeded by (build seed, dataset, input file, record
position), the input file being named by its path relative to the data root (:func:`.records.source_key`),
so an instance does not depend on how records were split into shards or which worker built them, nor on
where the data root is mounted, and same-named files in different folders get different streams.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Mapping


def record_rng(seed: int, dataset: str, source: str, position: int, root: str | None = None) -> random.Random:
    """``source`` is the input file; it is keyed on its path relative to ``root`` (the build's data root),
    or on its base name when it is not under ``root`` or no root is given, never on the absolute path, so
    the same corpus built from another mount (a clone, a scratch disk, a cluster) composes identical
    instances. str seeds go through SHA-512 in CPython: stable across processes and PYTHONHASHSEED."""
    from biomatrix_plugin.corpus.records import source_key

    return keyed_rng(seed, dataset, source_key(source, root), position)


def keyed_rng(seed: int, dataset: str, key: str, position: int) -> random.Random:
    """:func:`record_rng` for a file already named by :func:`.records.source_key` (a build names each input
    once, not once per record)."""
    return random.Random(f"{seed}|{dataset}|{key}|{position}")


@dataclass
class Component:
    key: str  # field name, used for the probability lookup and for tests
    text: str  # rendered line(s)


def include(rng: random.Random, probabilities: Mapping[str, float], key: str, default: float) -> bool:
    p = float(probabilities.get(key, default))
    return p >= 1.0 or (p > 0.0 and rng.random() < p)


def compose(rng: random.Random, components: list[Component], shuffle: bool = True, sep: str = "\n") -> str:
    """Join components in a random order (the order of ``components`` when ``shuffle`` is False)."""
    parts = list(components)
    if shuffle:
        rng.shuffle(parts)
    return sep.join(c.text for c in parts)


def sample_views(
    rng: random.Random,
    available: list[str],
    probabilities: Mapping[str, float],
    defaults: Mapping[str, float],
    minimum: int = 1,
) -> list[str]:
    """Pick the structural views to show; when the coin flips pick fewer than ``minimum``, top up with
    random available views so that every instance carries at least one representation of the entity."""
    chosen = [v for v in available if include(rng, probabilities, v, defaults.get(v, 0.5))]
    rest = [v for v in available if v not in chosen]
    while len(chosen) < minimum and rest:
        chosen.append(rest.pop(rng.randrange(len(rest))))
    return chosen


# ---------------------------------------------------------------- numbers with sensible precision

def format_sig(value: float, digits: int = 3) -> str:
    """Round to ``digits`` significant digits, never in scientific notation: 0.012345 -> '0.0123',
    12345.6 -> '12346' (integers keep all their digits), 10.0 -> '10'."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    rounded = round(value, decimals)
    if decimals == 0:
        return str(int(round(rounded)))
    # at most ``digits`` significant digits: trailing zeros would claim a precision the data lacks
    return f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")


def format_fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]  # -0.0 reads as a sign error
    return text


# concentration units from small to large; values are shown in the unit that keeps them in [1, 1000)
_CONC_UNITS = (("fM", 1e-6), ("pM", 1e-3), ("nM", 1.0), ("µM", 1e3), ("mM", 1e6), ("M", 1e9))


def format_concentration_nm(value_nm: float, digits: int = 3) -> str:
    """A concentration given in nM -> readable text, e.g. 0.25 -> '250 pM', 12500 -> '12.5 µM'."""
    if value_nm <= 0:
        return f"{format_sig(value_nm, digits)} nM"
    index = 0
    for i, (_, factor) in enumerate(_CONC_UNITS):
        if value_nm >= factor:
            index = i
    # the unit is chosen on the rounded number: 999.6 nM rounds to 1000, which reads as 1 µM
    while True:
        unit, scale = _CONC_UNITS[index]
        text = format_sig(value_nm / scale, digits)
        if index + 1 == len(_CONC_UNITS) or abs(float(text)) < 1000:
            return f"{text} {unit}"
        index += 1
