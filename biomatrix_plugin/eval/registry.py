"""The metric registry: one named metric = one function + its one-line definition and options.

Every metric returns a :class:`MetricResult` with the value, how many items it saw and how many of them
were invalid/unparseable, so a score is never silently computed over fewer items than were given.
A metric that cannot run here (missing optional package, model weights, data) returns
``status="not_computed"`` with the reason instead of raising, so reports can show why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

from biomatrix_plugin.errors import BioMatrixError

InputKind = Literal["paired", "set", "set_vs_reference"]


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
    name: str
    family: str  # molecules | text | scalar | proteins
    definition: str  # one line, shown by `biomatrix eval metric --list`
    inputs: InputKind
    func: Callable[..., MetricResult]
    higher_is_better: bool = True
    needs_train: bool = False
    options: dict[str, OptionSpec] = field(default_factory=dict)

    def parse_options(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Check option names and convert ``k=v`` strings to each option's type."""
        out = {k: spec.default for k, spec in self.options.items()}
        for key, value in raw.items():
            if key not in self.options:
                allowed = ", ".join(sorted(self.options)) or "none"
                raise EvalInputError(f"metric {self.name}: unknown option {key!r} (allowed: {allowed})")
            spec = self.options[key]
            out[key] = _convert(self.name, key, value, spec)
        return out


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
            raise EvalInputError(f"metric {metric}: option {key}={value!r} is not of type {spec.type.__name__}") from exc
    if spec.choices is not None and value not in spec.choices:
        raise EvalInputError(f"metric {metric}: option {key}={value!r} not one of {', '.join(map(str, spec.choices))}")
    return value


METRICS: dict[str, MetricSpec] = {}


def register(
    name: str,
    *,
    family: str,
    definition: str,
    inputs: InputKind = "paired",
    higher_is_better: bool = True,
    needs_train: bool = False,
    options: dict[str, OptionSpec] | None = None,
):
    """Decorator: ``@register("validity", family="molecules", definition="...")``."""

    def deco(func: Callable[..., MetricResult]) -> Callable[..., MetricResult]:
        if name in METRICS:
            raise RuntimeError(f"metric {name!r} registered twice")
        METRICS[name] = MetricSpec(name, family, definition, inputs, func, higher_is_better, needs_train,
                                   dict(options or {}))
        return func

    return deco


def _load_families() -> None:
    # importing the family modules fills METRICS; kept lazy so `biomatrix --help` stays fast
    from biomatrix_plugin.eval import molecule_design, molecules, molecules3d, proteins, scalar, text  # noqa: F401


def get_metric(name: str) -> MetricSpec:
    _load_families()
    if name not in METRICS:
        raise EvalInputError(f"unknown metric {name!r}; `biomatrix eval metric --list` shows the {len(METRICS)} metrics")
    return METRICS[name]


def list_metrics() -> list[MetricSpec]:
    _load_families()
    return sorted(METRICS.values(), key=lambda s: (s.family, s.name))


def compute(
    name: str,
    predictions: list,
    references: list | None = None,
    train: list | None = None,
    **options: Any,
) -> MetricResult:
    """Score ``predictions`` with metric ``name``; checks the inputs the metric needs."""
    spec = get_metric(name)
    opts = spec.parse_options(options)
    if spec.inputs in ("paired", "set_vs_reference") and references is None:
        raise EvalInputError(f"metric {name}: needs references (--ref)")
    if spec.inputs == "paired" and len(predictions) != len(references):
        raise EvalInputError(
            f"metric {name}: {len(predictions)} predictions but {len(references)} references; "
            "paired metrics need one reference per prediction (same line count)"
        )
    if spec.inputs == "set" and references is not None:
        raise EvalInputError(f"metric {name}: scores a generated set alone; references are not used")
    if spec.needs_train and train is None:
        raise EvalInputError(f"metric {name}: needs a training set (--train)")
    kwargs: dict[str, Any] = dict(opts)
    if spec.inputs != "set":
        kwargs["references"] = references
    if spec.needs_train:
        kwargs["train"] = train
    result = spec.func(predictions, **kwargs)
    result.metric = name
    return result
