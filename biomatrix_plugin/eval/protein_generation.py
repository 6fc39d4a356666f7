"""The report's length rules for autoregressive protein generation (§7.2.2-7.2.4), as plain selections over
read-out samples. They are not metrics: a metric is then computed over what they keep.

- folding / inverse folding: of the n samples for one input, the first whose length equals the input's
  (:func:`first_length_matched`; "retain a sample whose decoded structure length matches the input ... the
  filter is strictly on length").
- co-generation and unconditional generation: of all samples, for each target length L the ``keep``
  samples whose length is closest to L (:func:`closest_to_length`; 5,000 samples, L in {100, ..., 500},
  100 kept each). Ties are broken by sample order, so the choice is deterministic.

A sample's length is its sequence length, else its code count (a read-out structure ``{"codes", ...}``).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def sample_length(sample: Any) -> int | None:
    if isinstance(sample, str):
        return len(sample) if sample else None
    if isinstance(sample, dict):
        if sample.get("codes"):
            return len(sample["codes"])
        if sample.get("sequence"):
            return len(sample["sequence"])
    return None


def first_length_matched(samples: Sequence[Any], length: int) -> Any | None:
    """The first sample of ``length`` residues, or None when none has it."""
    return next((s for s in samples if sample_length(s) == length), None)


def closest_to_length(samples: Sequence[Any], targets: Iterable[tuple[int, int]]) -> dict[int, list[Any]]:
    """target length -> the ``keep`` samples closest to it (each sample used for one target at most, targets
    served in the given order; unreadable samples are never kept)."""
    used: set[int] = set()
    out: dict[int, list[Any]] = {}
    lengths = [(i, sample_length(s)) for i, s in enumerate(samples)]
    for target, keep in targets:
        ranked = sorted((abs(n - target), i) for i, n in lengths if n is not None and i not in used)
        chosen = [i for _, i in ranked[:keep]]
        used.update(chosen)
        out[target] = [samples[i] for i in sorted(chosen)]
    return out
