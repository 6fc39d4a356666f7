"""The types every metric module shares: a metric's declaration (:class:`MetricSpec`), its options and its result.

This module imports no metric family, so families, the registry and the report all build on it without a cycle.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

from biomatrix_plugin.errors import BioMatrixError

InputKind = Literal["paired", "set", "set_vs_reference"]
# fraction: a share in [0, 1] (printed x100 in the paper's percent tables); percent: already x100 (0-100);
# raw: anything else (errors, distances, correlations, TM-scores, perplexities), never rescaled
Unit = Literal["fraction", "percent", "raw"]
UNITS = ("fraction", "percent", "raw")
FAMILY_PACKAGE = "biomatrix_plugin.eval"


class EvalInputError(BioMatrixError, ValueError):
    """Bad metric input (file, line count, type, option); the message names the item and the reason."""


@dataclass
class MetricResult:
    metric: str
    value: float | None
    n_items: int
    n_invalid: int
    status: Literal["computed", "not_computed"] = "computed"
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: a NaN or infinite value becomes null (strict JSON has neither)."""
        out = asdict(self)
        if isinstance(out["value"], float) and not math.isfinite(out["value"]):
            out["details"]["non_finite_value"] = repr(out["value"])
            out["value"] = None
        return out

    @classmethod
    def not_computed(cls, metric: str, reason: str, n_items: int = 0, n_invalid: int = 0, **details) -> "MetricResult":
        return cls(metric, None, n_items, n_invalid, status="not_computed", reason=reason, details=details)


@dataclass(frozen=True)
class OptionSpec:
    type: type
    default: Any
    help: str
    choices: tuple | None = None


@dataclass(frozen=True)
class MetricSpec:
    """One metric: where its code is (``impl``, ``"module:function"``) and everything known without importing it.

    ``impl``'s module is relative to ``biomatrix_plugin.eval`` unless it contains a dot (then absolute), so
    ``"molecules:validity"`` is ``biomatrix_plugin.eval.molecules.validity``. ``report_as`` maps each paper
    metric name this metric's value may be reported under to the options that make it that quantity
    (``{"validity_completeness": {"complete": True}}``: only the run with complete=true is V&C).
    """

    name: str
    impl: str
    family: str  # molecules | text | scalar | proteins
    definition: str  # one line, shown by `biomatrix eval metric --list`
    inputs: InputKind = "paired"
    unit: Unit = "raw"
    higher_is_better: bool = True
    needs_train: bool = False
    # paired metrics: "all" = each prediction against every gold of its input (SMolInstruct's several answers),
    # "first" = one reference item per row (a number, or the structured side information a design metric needs:
    # source molecule, requested property and direction, ...)
    reference: str = "all"
    options: dict[str, OptionSpec] = field(default_factory=dict)
    report_as: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def func(self) -> Callable[..., MetricResult]:
        """The metric's function, imported on first use (only its own family module is loaded)."""
        return _load(self.impl)

    def parse_options(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Check option names and convert ``k=v`` strings to each option's type."""
        out = {k: spec.default for k, spec in self.options.items()}
        for key, value in raw.items():
            if key not in self.options:
                allowed = ", ".join(sorted(self.options)) or "none"
                raise EvalInputError(f"metric {self.name}: unknown option {key!r} (allowed: {allowed})")
            out[key] = _convert(self.name, key, value, self.options[key])
        return out

    def report_as_problem(self, paper_name: str, options: dict[str, Any]) -> str | None:
        """Why this metric's result (computed with ``options``) is not the paper's ``paper_name``; None if it is."""
        if paper_name == self.name:
            return None
        if paper_name not in self.report_as:
            allowed = ", ".join(sorted(self.report_as)) or "none: it is reported under its own name only"
            return f"metric {self.name} does not compute the paper's {paper_name} (it may be reported as: {allowed})"
        wrong = {k: v for k, v in self.report_as[paper_name].items() if options.get(k) != v}
        if wrong:
            need = ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in wrong.items())
            return f"metric {self.name} is the paper's {paper_name} only with option {need}"
        return None


def _load(impl: str) -> Callable[..., MetricResult]:
    module, _, function = impl.partition(":")
    # a module name without a dot is a family of this package: loading by name keeps the registry free of
    # imports of the families (they import the registry's types, never the other way)
    full = module if "." in module else f"{FAMILY_PACKAGE}.{module}"
    return getattr(importlib.import_module(full), function)


def _convert(metric: str, key: str, value: Any, spec: OptionSpec) -> Any:
    if spec.type is bool and isinstance(value, str):
        low = value.strip().lower()
        if low not in ("1", "0", "true", "false", "yes", "no"):
            raise EvalInputError(f"metric {metric}: option {key}={value!r} is not a boolean")
        value = low in ("1", "true", "yes")
    else:
        try:
            value = spec.type(value)
        except (TypeError, ValueError) as exc:
            raise EvalInputError(f"metric {metric}: option {key}={value!r} is not of type "
                                 f"{spec.type.__name__}") from exc
    if spec.choices is not None and value not in spec.choices:
        raise EvalInputError(f"metric {metric}: option {key}={value!r} not one of {', '.join(map(str, spec.choices))}")
    return value
