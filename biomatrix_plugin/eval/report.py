"""``biomatrix eval report``: every result in a directory next to BioMatrix-4B's published number.

A result file is the JSON that ``biomatrix eval metric ... --out FILE --task T [--variant V]`` writes
(``*.json``, or ``*.jsonl`` with one result per line). Rows are matched to ``eval/paper_results.yaml`` by
(task, variant, metric); values are shown in the paper's unit (a metric whose spec says ``unit="fraction"``
is printed ×100 where the paper prints percent). Metrics that could not run appear as "not computed" with
their reason; so does a result whose value is NaN or infinite.

A result is checked before any row is drawn: a file that is not UTF-8 or not JSON, a value that is not a
number, an unknown metric, task or variant (the message lists the valid names, closest first) or a
``report_as`` the metric does not compute is an error naming the file (and line).

Where the paper names a number differently from the metric that produces it, the result is matched under
the paper's name:

- ``report_as`` in the result (``eval metric --report-as NAME``) names the paper row explicitly, e.g. the
  ``validity`` of the strict MolOpt run as ``validity_strict``; only names on the metric spec's
  ``report_as`` are accepted;
- a ``report_as`` entry pinned by options applies by itself: ``validity_3d`` computed with ``complete=true``
  is the paper's ``validity_completeness`` (V&C);
- a ``correct_loose`` / ``correct_strict`` result also gives the run's ``validity_loose`` /
  ``validity_strict`` (valid outputs / all, from its ``n_items`` and ``n_invalid``) where the paper has
  that row and no explicit result gives it.

A result without ``variant`` of a task whose paper variants include ``default`` (``qm9_unconditional_3d``:
default and mmff) is the default variant; a task without one (smiles / selfies) needs the variant named.

Task ids are those of the paper file and those of the task suite (:mod:`biomatrix_plugin.tasks`, the default
task folder or ``$BIOMATRIX_TASKS_DIR``): a suite task or variant without a published number is a row with no
paper value (its unit from its task file's ``paper.unit``), not an error; a name in neither is.

Only results are read: files under a folder whose name starts with ``_`` (``eval run``'s ``_cache/``,
``tasks build``'s ``_engine/``) and ``predictions.jsonl[.gz]`` are run internals, not results, and are skipped.

The PNG plots, per task/metric with a published number, our value normalised by the metric's direction:
ours / paper where higher is better, paper / ours where lower is better, so 1.0 (the reference line) is
the paper's value and more is better for every bar.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.eval.registry import METRICS, close_matches
from biomatrix_plugin.eval.spec import EvalInputError
from biomatrix_plugin.io import atomic_output, atomic_write, iter_jsonl, open_text
from biomatrix_plugin.schema import load_yaml

# what `eval run` writes beside its results (per-row generations): not a results file
PREDICTIONS_PREFIX = "predictions.jsonl"

# a paper-row name -> why nothing in this package computes it (shown with --all-paper-rows)
NO_PRODUCER = {
    "validity_uniqueness": "no metric of this package computes QM9 V&U (valid and unique / all)",
    "validity_uniqueness_novelty": "no metric of this package computes QM9 V&U&N (valid, unique and novel / all)",
}
# validity of an optimisation run, derived from its correct_* result (valid outputs / all: a fraction)
DERIVED_VALIDITY = {"correct_loose": "validity_loose", "correct_strict": "validity_strict"}


def default_paper_file() -> Path:
    from biomatrix_plugin.paths import package_data

    return package_data("eval", "cards", "paper_results.yaml")


def load_paper(path: str | Path | None = None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(task, variant, metric) -> {value, unit, table, benchmark}."""
    path = Path(path) if path else default_paper_file()
    if not path.exists():
        raise EvalInputError(f"{path}: paper numbers file not found (pass --paper)")
    data = load_yaml(path)  # invalid YAML in a --paper file is one error line, not a traceback
    out = {}
    for entry in data.get("tasks", []):
        why_not = entry.get("not_computed") or {}
        for variant, metrics in entry["results"].items():
            for metric, value in metrics.items():
                out[(entry["task"], variant, metric)] = {
                    "value": float(value), "unit": entry.get("unit", "raw"), "table": entry.get("table"),
                    "benchmark": entry.get("benchmark", ""), "not_computed": why_not.get(metric),
                }
    return out


def load_aggregates(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The paper file's aggregate entries (``aggregate: {of, metric, weight}``: MoleculeQA's Total)."""
    path = Path(path) if path else default_paper_file()
    if not path.exists():
        return []
    return [dict(entry["aggregate"], task=entry["task"]) for entry in load_yaml(path).get("tasks", [])
            if entry.get("aggregate")]


def aggregate_results(results: list[dict[str, Any]], aggregates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result row per aggregate and variant its members have, from the members' results (a member
    missing or not computed makes the aggregate "not computed" with the reason, see eval.aggregates)."""
    from biomatrix_plugin.eval.aggregates import aggregate

    out = []
    for agg in aggregates:
        if not any(r.get("task") in agg["of"] and r.get("metric") == agg["metric"] for r in results):
            continue  # none of its members was run: nothing to aggregate, not a failure
        out += aggregate(results, agg["of"], agg["task"], agg["metric"], agg.get("weight", "n_items"))
    return out


def task_variants(paper: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for task, variant, _ in paper:
        out.setdefault(task, set()).add(variant)
    return out


class TaskSuite:
    """The task suite's ids and variants (task files, parsed only when a name is not in the paper file).

    ``root`` None: the default task folder (``$BIOMATRIX_TASKS_DIR`` or the shipped task files)."""

    def __init__(self, root: str | Path | None = None):
        self.root = root
        self._registry = None

    @property
    def registry(self):
        if self._registry is None:
            from biomatrix_plugin.tasks.registry import TaskRegistry

            self._registry = TaskRegistry(self.root)
        return self._registry

    def ids(self) -> list[str]:
        return self.registry.ids()

    def variants(self, task: str) -> set[str] | None:
        """The task file's variants, or None when the suite has no such task."""
        if task not in self.registry.paths():
            return None
        return set(self.registry.get(task).variants)

    def unit(self, task: str) -> str | None:
        if task not in self.registry.paths():
            return None
        return ((self.registry.get(task).data.get("paper") or {}).get("unit")) or None


def _known_variants(task: str, paper: dict, suite: TaskSuite | None) -> set[str] | None:
    """Variants of ``task`` in the paper file and in the task suite (union); None when neither knows it."""
    from_paper = task_variants(paper).get(task)
    from_suite = suite.variants(task) if suite is not None else None
    if from_paper is None and from_suite is None:
        return None
    return (from_paper or set()) | (from_suite or set())


def resolve_task(task: str | None, variant: str | None, paper: dict, where: str,
                 suite: TaskSuite | None = None) -> tuple[str, str]:
    """(task, variant) of a result as the report rows name them; an unknown task or variant is an error.

    A task is known when the paper file or the task suite (``suite``, default: the default task folder)
    names it; a suite task or variant without a published number gives rows without a paper value.
    No task: a result outside the paper's tasks, shown as ``-``. No variant: the task's ``default`` variant;
    a task without one (smiles / selfies) needs the variant named."""
    if not task:
        return "-", variant or "-"
    suite = suite if suite is not None else TaskSuite()
    variants = _known_variants(task, paper, suite)
    if variants is None:
        known = set(task_variants(paper)) | set(suite.ids())
        # "the paper's tasks are:" is the wording eval metric/report users (and tests) know; the list also
        # holds the suite's ids, which the closing words say
        raise EvalInputError(f"{where}: unknown task {task!r}; the paper's tasks are: "
                             f"{', '.join(close_matches(task, known))} (from the paper numbers file and the "
                             "task suite)")
    if not variant:
        if "default" in variants:
            return task, "default"
        raise EvalInputError(f"{where}: task {task} has the variants {', '.join(sorted(variants))}; "
                             "name one (--variant)")
    if variant not in variants:
        raise EvalInputError(f"{where}: task {task} has no variant {variant!r}; its variants are: "
                             f"{', '.join(close_matches(variant, variants))}")
    return task, variant


def check_report_as(metric: str, paper_name: str, options: dict[str, Any], where: str) -> None:
    """``paper_name`` must be a number ``metric`` (run with ``options``) really computes (its spec's report_as)."""
    spec = METRICS.get(metric)
    if spec is None:
        raise EvalInputError(f"{where}: report_as {paper_name!r} on unknown metric {metric!r}")
    problem = spec.report_as_problem(paper_name, options)
    if problem:
        raise EvalInputError(f"{where}: --report-as {paper_name}: {problem}")


def _read_result_file(path: Path) -> list[tuple[str, Any]]:
    """(where, JSON value) per result in ``path``: a ``.json`` file holds one, a ``.jsonl`` file one a line."""
    if path.suffix == ".json":
        with open_text(path) as fh:
            text = fh.read()
        try:
            return [(str(path), json.loads(text))]
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    out = []
    for number, value, error in iter_jsonl(path):
        if error:
            raise EvalInputError(f"{path}:{number}: {error}")
        out.append((f"{path}:{number}", value))
    return out


def check_result(obj: Any, where: str) -> dict[str, Any]:
    """A result as ``eval metric --out`` writes it: an object with a metric name and a number or null value."""
    if not isinstance(obj, dict) or "metric" not in obj:
        raise EvalInputError(f"{where}: not a metric result (no 'metric' field)")
    if not isinstance(obj["metric"], str):
        raise EvalInputError(f"{where}: 'metric' is {obj['metric']!r}, not a metric name")
    value = obj.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise EvalInputError(f"{where}: metric {obj['metric']}: value {value!r} is not a number")
    for key in ("task", "variant", "report_as"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise EvalInputError(f"{where}: {key!r} is {obj[key]!r}, not a name")
    return obj


def is_run_internal(path: Path, root: Path) -> bool:
    """A file of a run's internals (a ``_``-prefixed folder, the per-row predictions), not a result."""
    rel = path.relative_to(root)
    return any(part.startswith("_") for part in rel.parts[:-1]) or rel.name.startswith(PREDICTIONS_PREFIX)


def result_files(root: Path) -> list[Path]:
    """Every ``*.json`` / ``*.jsonl`` result file under ``root``, run internals left out."""
    found = sorted(root.rglob("*.json")) + sorted(root.rglob("*.jsonl"))
    return [p for p in found if p.is_file() and not is_run_internal(p, root)]


def load_results(results_dir: str | Path) -> list[dict[str, Any]]:
    root = Path(results_dir)
    if not root.is_dir():
        raise EvalInputError(f"{root}: results directory not found")
    results = []
    for path in result_files(root):
        try:
            items = _read_result_file(path)
        except InputFileError as exc:  # not UTF-8, unreadable: the same error, said as a results-file problem
            raise EvalInputError(f"results file {exc}") from None
        for where, obj in items:
            obj = check_result(obj, where)
            obj["_file"] = str(path.relative_to(root))
            obj["_where"] = where
            results.append(obj)
    return results


@dataclass
class Row:
    task: str
    variant: str
    metric: str
    ours: float | None  # in the paper's unit
    paper: float | None
    n_items: int | None
    n_invalid: int | None
    status: str
    reason: str
    higher_is_better: bool
    source: str = ""  # the producing metric when the paper names the number differently


def _spec_field(metric: str, field: str, default: Any) -> Any:
    spec = METRICS.get(metric)
    return getattr(spec, field) if spec else default


def _display(value: float | None, metric_unit: str, paper_unit: str) -> float | None:
    """The value in the paper's unit: a fraction metric is printed x100 in a percent table."""
    if value is None:
        return None
    return value * 100 if paper_unit == "percent" and metric_unit == "fraction" else value


def result_options(res: dict) -> dict[str, Any]:
    """The options a result was computed with (``options``, or for older files what ``details`` recorded)."""
    return {**(res.get("details") or {}), **(res.get("options") or {})}


def paper_metric_name(res: dict, task: str, variant: str, paper: dict) -> str:
    """The name under which a result is matched: ``report_as``; else a paper name the metric's spec maps onto
    by its options (validity_3d with complete=true is validity_completeness) where the paper has that row;
    else its metric."""
    if res.get("report_as"):
        return str(res["report_as"])
    metric = res["metric"]
    spec = METRICS.get(metric)
    options = result_options(res)
    for name, required in (spec.report_as.items() if spec else ()):
        # only a mapping pinned by options is automatic: plain validity may be loose or strict, --report-as says
        if required and (task, variant, name) in paper and spec.report_as_problem(name, options) is None:
            return name
    return metric


def _derived_validity(res: dict) -> float | None:
    n, bad = res.get("n_items"), res.get("n_invalid")
    if not isinstance(n, int) or not isinstance(bad, int) or n <= 0:
        return None
    return (n - bad) / n


def _checked_where(res: dict, paper: dict, suite: TaskSuite) -> tuple[str, str]:
    """(task, variant) of a result, after checking its metric, task, variant and report_as are real."""
    where = res.get("_where") or res.get("_file") or "result"
    if res["metric"] not in METRICS:
        raise EvalInputError(f"{where}: unknown metric {res['metric']!r}; the metrics are: "
                             f"{', '.join(close_matches(res['metric'], METRICS)[:8])}, ...")
    task, variant = resolve_task(res.get("task"), res.get("variant"), paper, where, suite)
    if res.get("report_as"):
        check_report_as(res["metric"], res["report_as"], result_options(res), where)
    return task, variant


def _value_problem(res: dict) -> str | None:
    """Why a computed result has no usable value (NaN/inf in a hand-made or foreign file), or None."""
    value = res.get("value")
    if isinstance(value, float) and not math.isfinite(value):
        return f"value is {value} in {res.get('_file', 'the result')}, not a finite number"
    return None


def build_rows(results: list[dict], paper: dict, all_paper_rows: bool = False,
               suite: TaskSuite | None = None) -> list[Row]:
    rows, seen = [], set()
    suite = suite if suite is not None else TaskSuite()
    task_unit = {task: ref["unit"] for (task, _, _), ref in paper.items()}

    def add(task: str, variant: str, metric: str, value, computed: bool, res: dict, source: str = "",
            metric_unit: str = "raw", reason: str = "") -> None:
        ref = paper.get((task, variant, metric))
        unit = ref["unit"] if ref else task_unit.get(task, "raw")
        seen.add((task, variant, metric))
        producer = res["metric"]
        rows.append(Row(task, variant, metric, _display(value, metric_unit, unit) if computed else None,
                        ref["value"] if ref else None, res.get("n_items"), res.get("n_invalid"),
                        "computed" if computed else "not computed",
                        "" if computed else (reason or res.get("reason") or "no value"),
                        _spec_field(producer, "higher_is_better", True), source))

    located = [(res, *_checked_where(res, paper, suite)) for res in results]  # every error before any row
    for _, task, _ in located:  # a suite task the paper file lacks: the unit its task file declares
        if task != "-" and task not in task_unit:
            task_unit[task] = suite.unit(task) or "raw"
    for res, task, variant in located:
        metric = paper_metric_name(res, task, variant, paper)
        problem = _value_problem(res)
        computed = res.get("status", "computed") == "computed" and res.get("value") is not None and not problem
        source = res["metric"] if metric != res["metric"] else ""
        if source and result_options(res).get("complete"):
            source += " complete=true"
        add(task, variant, metric, res.get("value"), computed, res, source,
            metric_unit=_spec_field(res["metric"], "unit", "raw"), reason=problem or "")
    for res, task, variant in located:  # after the explicit results, so that one given with --report-as wins
        derived = DERIVED_VALIDITY.get(res["metric"])
        value = _derived_validity(res)
        if derived and value is not None and (task, variant, derived) in paper and (task, variant, derived) not in seen:
            add(task, variant, derived, value, True, res, f"{res['metric']}: valid outputs / all",
                metric_unit="fraction")
    if all_paper_rows:
        for (task, variant, metric), ref in sorted(paper.items()):
            if (task, variant, metric) not in seen:
                rows.append(Row(task, variant, metric, None, ref["value"], None, None, "not computed",
                                ref.get("not_computed") or NO_PRODUCER.get(metric, "no result in the results "
                                                                                   "directory"),
                                _spec_field(metric, "higher_is_better", True)))
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4):
        return f"{value:.3g}"
    return f"{value:.4g}" if abs(value) < 10 else f"{value:.2f}"


def render_markdown(rows: list[Row], png_name: str) -> str:
    computed = sum(r.status == "computed" for r in rows)
    lines = [
        "# BioMatrix evaluation report",
        "",
        f"{computed} computed, {len(rows) - computed} not computed. Paper = BioMatrix-4B as published "
        "(tech report Tables 5-29), in the paper's unit (fractions ×100 where the paper prints percent).",
        "",
        "| task | variant | metric | ours | BioMatrix-4B (paper) | Δ (ours − paper) | n | invalid | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        arrow = "↑" if r.higher_is_better else "↓"
        delta = _fmt(r.ours - r.paper) if r.ours is not None and r.paper is not None else "—"
        status = "computed" if r.status == "computed" else f"not computed: {r.reason}"
        if r.source:
            status += f" (from {r.source})"
        lines.append(f"| {r.task} | {r.variant} | {r.metric} {arrow} | {_fmt(r.ours)} | {_fmt(r.paper)} | {delta} | "
                     f"{'' if r.n_items is None else r.n_items} | {'' if r.n_invalid is None else r.n_invalid} | "
                     f"{status.replace('|', '/')} |")
    lines += ["", f"![ours vs paper]({png_name})", ""]
    return "\n".join(lines)


def normalised(ours: float | None, paper: float | None, higher_is_better: bool) -> float | None:
    """Our value relative to the paper's, oriented so that more is better and 1.0 is the paper's value:
    ours / paper (higher is better), paper / ours (lower is better). None when there is no ratio (no value,
    a zero paper value of a higher-is-better metric); ``inf`` for a lower-is-better 0 (a perfect score)."""
    if ours is None or paper is None:
        return None
    if higher_is_better:
        return ours / paper if paper != 0 else None
    if ours == 0:
        return math.inf if paper > 0 else None
    return paper / ours


@dataclass(frozen=True)
class PlotPoint:
    label: str
    value: float  # normalised (1.0 = the paper's value)
    row: Row


def plot_points(rows: list[Row]) -> list[PlotPoint]:
    """The bars of the PNG: every computed row with a published number that gives a ratio."""
    points = []
    for r in rows:
        value = normalised(r.ours, r.paper, r.higher_is_better) if r.status == "computed" else None
        if value is not None:
            arrow = "↑" if r.higher_is_better else "↓"
            points.append(PlotPoint(f"{r.task} [{r.variant}] {r.metric} {arrow}", value, r))
    return points


def render_png(rows: list[Row], path: Path) -> list[PlotPoint]:
    """One PNG: a bar per task/metric, our value normalised by the metric's direction, a line at 1.0.
    Returns the bars drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = plot_points(rows)
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.35 * len(points) + 1.5)))
    if not points:
        ax.text(0.5, 0.5, "no computed metric with a published number to compare", ha="center", va="center")
        ax.set_axis_off()
    else:
        finite = [p.value for p in points if math.isfinite(p.value)] or [1.0]
        right = max(max(finite) * 1.25, 1.1)
        left = min(0.0, min(finite) * 1.25)
        # a lower-is-better 0 (perfect) has no finite ratio: drawn to the right edge, labelled
        drawn = [p.value if math.isfinite(p.value) else right for p in points]
        colors = ["tab:green" if p.value >= 1.0 else "tab:red" for p in points]
        y = list(range(len(points)))
        ax.barh(y, drawn, color=colors)
        ax.axvline(1.0, color="black", linewidth=1)
        for yi, (x, p) in enumerate(zip(drawn, points)):
            ratio = f"{p.value:.2f}" if math.isfinite(p.value) else "∞"
            ax.text(x, yi, f" {ratio} ({_fmt(p.row.ours)} vs {_fmt(p.row.paper)})", va="center", fontsize=7)
        ax.set_xlim(left, right * 1.15)
        ax.set_yticks(y)
        ax.set_yticklabels([p.label for p in points], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ours/paper (↑ metrics), paper/ours (↓ metrics); 1.0 = BioMatrix-4B, green = as good or better",
                      fontsize=8)
    missing = sum(r.status != "computed" for r in rows)
    no_paper = sum(r.status == "computed" and r.paper is None for r in rows)
    notes = [f"{missing} not computed"] if missing else []
    notes += [f"{no_paper} without a published number"] if no_paper else []
    ax.set_title("BioMatrix evaluation vs the paper" + (f" ({', '.join(notes)}: see report.md)" if notes else ""))
    fig.tight_layout()
    with atomic_output(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)
    return points


def write_report(results_dir: str | Path, paper_file: str | Path | None = None,
                 all_paper_rows: bool = False, tasks_dir: str | Path | None = None) -> tuple[Path, Path]:
    """``results_dir``/report.md and report.png; ``tasks_dir``: the task suite (default task folder if None)."""
    root = Path(results_dir)
    results = load_results(root)
    results += aggregate_results(results, load_aggregates(paper_file))
    rows = build_rows(results, load_paper(paper_file), all_paper_rows, TaskSuite(tasks_dir))
    md, png = root / "report.md", root / "report.png"
    render_png(rows, png)
    atomic_write(md, render_markdown(rows, png.name))
    return md, png
