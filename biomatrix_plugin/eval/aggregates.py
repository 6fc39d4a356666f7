"""Aggregate results: one result row computed from the results of several tasks (the paper's "Total" columns).

MoleculeQA's "Total" in report Table 15 is the accuracy over all test questions, i.e. the four category
accuracies weighted by their question counts: (83.36 x 3113 + 77.96 x 1343 + 47.88 x 731 + 46.24 x 599) /
5786 = 73.78, the printed SMILES value (SELFIES: 73.24). ``weight="n_items"`` computes exactly that from
the members' ``value`` and ``n_items``; ``weight="equal"`` is the plain mean of the members.

A result row is the dict ``eval run`` writes (``metric``, ``value``, ``n_items``, ``n_invalid``, ``task``,
``variant``, ``status``). The aggregate of a variant is "not computed", with the reason, when a member is
missing, not computed, or has no item count to weigh by: a total over fewer tasks than it names would be a
different number under the same name.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from biomatrix_plugin.eval.spec import EvalInputError

WEIGHTS = ("n_items", "equal")


def _computed(row: Mapping[str, Any]) -> bool:
    value = row.get("value")
    return row.get("status", "computed") == "computed" and isinstance(value, (int, float)) \
        and not isinstance(value, bool) and math.isfinite(value)


def aggregate(results: Iterable[Mapping[str, Any]], of: Sequence[str], task: str, metric: str,
              weight: str = "n_items", variants: Sequence[str] | None = None) -> list[dict]:
    """One row per variant: ``metric`` of the tasks ``of`` combined into ``task``.

    ``variants`` None = every variant any member has a ``metric`` result for (sorted)."""
    if weight not in WEIGHTS:
        raise EvalInputError(f"aggregate {task}: weight={weight!r}; expected one of {', '.join(WEIGHTS)}")
    if not of:
        raise EvalInputError(f"aggregate {task}: names no member task")
    members: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in results:
        if row.get("metric") != metric or row.get("task") not in of or row.get("report_as"):
            continue
        key = (row["task"], str(row.get("variant", "default")))
        if key in members:
            raise EvalInputError(f"aggregate {task}: two {metric} results for {key[0]}/{key[1]}")
        members[key] = row
    chosen = sorted({v for _, v in members}) if variants is None else list(variants)
    out = []
    for variant in chosen:
        rows = [members.get((t, variant)) for t in of]
        base = {"metric": metric, "task": task, "variant": variant, "aggregate": {"of": list(of), "weight": weight}}
        problem = _problem(of, rows, weight)
        if problem:
            out.append({**base, "status": "not_computed", "value": None, "reason": problem,
                        "n_items": None, "n_invalid": None})
            continue
        n = [int(r["n_items"]) for r in rows] if weight == "n_items" else [1] * len(rows)
        value = sum(float(r["value"]) * w for r, w in zip(rows, n)) / sum(n)
        n_items = sum(int(r["n_items"]) for r in rows) if all(isinstance(r.get("n_items"), int) for r in rows) else None
        n_invalid = sum(int(r["n_invalid"]) for r in rows) if all(isinstance(r.get("n_invalid"), int)
                                                                   for r in rows) else None
        out.append({**base, "status": "computed", "value": value, "n_items": n_items, "n_invalid": n_invalid,
                    "details": {"members": {t: r["value"] for t, r in zip(of, rows)}}})
    return out


def _problem(of: Sequence[str], rows: list, weight: str) -> str | None:
    missing = [t for t, r in zip(of, rows) if r is None]
    if missing:
        return f"no result for {', '.join(missing)}"
    failed = [t for t, r in zip(of, rows) if not _computed(r)]
    if failed:
        return f"not computed for {', '.join(failed)}"
    if weight == "n_items":
        uncounted = [t for t, r in zip(of, rows) if not isinstance(r.get("n_items"), int) or r["n_items"] <= 0]
        if uncounted:
            return f"no item count to weigh by for {', '.join(uncounted)}"
    return None
