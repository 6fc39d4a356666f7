"""Classification and regression metrics: accuracy, per-sample label-set precision/recall/F1, RMSE, MAE,
Pearson, Spearman.

Numeric predictions are parsed strictly (the whole string must be one number, as SMolInstruct's scorer
does) or, with ``extract=first``, from the first number in the text. Anything that does not parse, NaN and
infinities are counted in ``n_invalid`` and left out of the value; the count is always reported.
References must be numbers: a reference that is not is an input error naming its line.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from biomatrix_plugin.eval.spec import EvalInputError, MetricResult

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")



def parse_number(item: Any, extract: str = "strict") -> float | None:
    if isinstance(item, bool) or item is None:
        return None
    if isinstance(item, (int, float)):
        value = float(item)
    elif isinstance(item, str):
        text = item.strip()
        if extract == "first":
            m = _NUMBER.search(text)
            text = m.group() if m else ""
        try:
            value = float(text)
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def _numeric_pairs(name: str, predictions: list, references: list, extract: str):
    preds, refs, n_bad = [], [], 0
    for i, (p, r) in enumerate(zip(predictions, references), start=1):
        ref = parse_number(r, "strict")
        if ref is None:
            raise EvalInputError(f"{name}: reference item {i} ({str(r)[:40]!r}) is not a finite number")
        pred = parse_number(p, extract)
        if pred is None:
            n_bad += 1
            continue
        preds.append(pred)
        refs.append(ref)
    return np.array(preds, dtype=np.float64), np.array(refs, dtype=np.float64), n_bad


def rmse(predictions: list, references: list, extract: str = "strict") -> MetricResult:
    p, r, bad = _numeric_pairs("rmse", predictions, references, extract)
    if not len(p):
        return MetricResult.not_computed("rmse", "no parseable numeric prediction", len(predictions), bad)
    return MetricResult("rmse", float(np.sqrt(np.mean((p - r) ** 2))), len(predictions), bad)


def mae(predictions: list, references: list, extract: str = "strict") -> MetricResult:
    p, r, bad = _numeric_pairs("mae", predictions, references, extract)
    if not len(p):
        return MetricResult.not_computed("mae", "no parseable numeric prediction", len(predictions), bad)
    return MetricResult("mae", float(np.mean(np.abs(p - r))), len(predictions), bad)


def _correlation(name: str, predictions: list, references: list, extract: str, func) -> MetricResult:
    p, r, bad = _numeric_pairs(name, predictions, references, extract)
    if len(p) < 2:
        return MetricResult.not_computed(name, "needs at least 2 parseable predictions", len(predictions), bad)
    if np.all(p == p[0]) or np.all(r == r[0]):
        return MetricResult.not_computed(name, "constant predictions or references: correlation undefined",
                                         len(predictions), bad)
    return MetricResult(name, float(func(p, r)[0]), len(predictions), bad)


def pearson(predictions: list, references: list, extract: str = "strict") -> MetricResult:
    from scipy.stats import pearsonr

    return _correlation("pearson", predictions, references, extract, pearsonr)


def spearman(predictions: list, references: list, extract: str = "strict") -> MetricResult:
    from scipy.stats import spearmanr

    return _correlation("spearman", predictions, references, extract, spearmanr)


def normalize_label(text: Any, case_sensitive: bool = False) -> str:
    s = " ".join(str(text).strip().split())
    s = s.rstrip(".")
    return s if case_sensitive else s.lower()


def accuracy(predictions: list, references: list, case_sensitive: bool = False, regex: str = "") -> MetricResult:
    try:
        pattern = re.compile(regex) if regex else None
    except re.error as exc:
        raise EvalInputError(f"accuracy: option regex={regex!r} is not a regular expression ({exc})") from exc
    hits, bad = 0, 0
    for p, r in zip(predictions, references):
        alternatives = r if isinstance(r, list) else [r]
        if p is None or (isinstance(p, str) and not p.strip()):
            bad += 1
            continue
        if pattern is not None:
            m = pattern.search(str(p))
            if m is None:
                bad += 1
                continue
            p = m.group(1) if m.groups() else m.group(0)
        pred = normalize_label(p, case_sensitive)
        hits += any(pred == normalize_label(a, case_sensitive) for a in alternatives)
    if not predictions:
        return MetricResult.not_computed("accuracy", "no predictions")
    return MetricResult("accuracy", hits / len(predictions), len(predictions), bad)




def label_set(item: Any, sep: str, case_sensitive: bool) -> set[str]:
    if item is None:
        return set()
    parts = item if isinstance(item, list) else str(item).split(sep)
    return {normalize_label(x, case_sensitive) for x in parts if str(x).strip()}


def set_prf(predictions: list, references: list, sep: str = ";", case_sensitive: bool = False):
    """Per-sample precision, recall, F1 (an empty prediction scores 0/0/0), averaged over samples."""
    ps, rs, fs, bad = [], [], [], 0
    for i, (p, r) in enumerate(zip(predictions, references), start=1):
        gold = label_set(r, sep, case_sensitive)
        if not gold:
            raise EvalInputError(f"set metrics: reference item {i} has no label")
        pred = label_set(p, sep, case_sensitive)
        if not pred:
            bad += 1
            ps.append(0.0), rs.append(0.0), fs.append(0.0)
            continue
        tp = len(pred & gold)
        prec, rec = tp / len(pred), tp / len(gold)
        ps.append(prec)
        rs.append(rec)
        fs.append(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
    return ps, rs, fs, bad


def _set_metric(name: str, which: int, predictions: list, references: list, sep: str, case_sensitive: bool):
    if not predictions:
        return MetricResult.not_computed(name, "no predictions")
    values = set_prf(predictions, references, sep, case_sensitive)
    return MetricResult(name, float(np.mean(values[which])), len(predictions), values[3])


def set_precision(predictions: list, references: list, sep: str = ";", case_sensitive: bool = False):
    return _set_metric("set_precision", 0, predictions, references, sep, case_sensitive)


def set_recall(predictions: list, references: list, sep: str = ";", case_sensitive: bool = False):
    return _set_metric("set_recall", 1, predictions, references, sep, case_sensitive)


def set_f1(predictions: list, references: list, sep: str = ";", case_sensitive: bool = False):
    return _set_metric("set_f1", 2, predictions, references, sep, case_sensitive)
