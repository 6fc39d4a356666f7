"""``biomatrix eval report``: every result in a directory next to BioMatrix-4B's published number.

A result file is the JSON that ``biomatrix eval metric ... --out FILE --task T [--variant V]`` writes
(``*.json``, or ``*.jsonl`` with one result per line). Rows are matched to ``eval/paper_results.yaml`` by
(task, variant, metric); values are shown in the paper's unit (fraction metrics ×100 where the paper
prints percent). Metrics that could not run appear as "not computed" with their reason.

Where the paper names a number differently from the metric that produces it, the result is matched under
the paper's name:

- ``report_as`` in the result (``eval metric --report-as NAME``) names the paper row explicitly, e.g. the
  ``validity`` of the strict MolOpt run as ``validity_strict``;
- ``validity_3d`` computed with ``complete=true`` is the paper's ``validity_completeness`` (V&C);
- a ``correct_loose`` / ``correct_strict`` result also gives the run's ``validity_loose`` /
  ``validity_strict`` (valid outputs / all, from its ``n_items`` and ``n_invalid``) where the paper has
  that row and no explicit result gives it.

A result without ``variant`` of a task whose paper variants include ``default`` (``qm9_unconditional_3d``:
default and mmff) is the default variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from biomatrix_plugin.eval.io import iter_json_lines
from biomatrix_plugin.eval.registry import EvalInputError

# metrics whose value is a fraction in [0, 1]; the paper prints them ×100 in tables with unit: percent
FRACTION_METRICS = {
    "validity", "uniqueness", "novelty", "exact_match", "inchi_match", "formula_match", "iupac_match", "fts",
    "accuracy", "set_precision", "set_recall", "set_f1", "meteor", "bleu2", "bleu4", "rouge1", "rouge2",
    "rouge_l", "aar", "edit_sr", "edit_wsr", "custom_sr", "custom_wsr", "opt_sr", "opt_wsr", "correct_loose",
    "validity_loose", "correct_strict", "validity_strict", "validity_3d", "validity_completeness",
    "validity_uniqueness", "validity_uniqueness_novelty", "atom_stability", "mol_stability",
}
# a paper-row name -> why nothing in this package computes it (shown with --all-paper-rows)
NO_PRODUCER = {
    "validity_uniqueness": "no metric of this package computes QM9 V&U (valid and unique / all)",
    "validity_uniqueness_novelty": "no metric of this package computes QM9 V&U&N (valid, unique and novel / all)",
}
# validity of an optimisation run, derived from its correct_* result
DERIVED_VALIDITY = {"correct_loose": "validity_loose", "correct_strict": "validity_strict"}
LOWER_IS_BETTER_EXTRA = {"bond_length_mmd", "bond_angle_mmd", "dihedral_mmd", "rep", "pae"}


def default_paper_file() -> Path:
    from biomatrix_plugin.paths import package_data

    return package_data("eval", "cards", "paper_results.yaml")


def load_paper(path: str | Path | None = None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(task, variant, metric) -> {value, unit, table, benchmark}."""
    path = Path(path) if path else default_paper_file()
    if not path.exists():
        raise EvalInputError(f"{path}: paper numbers file not found (pass --paper)")
    data = yaml.safe_load(path.read_text())
    out = {}
    for entry in data.get("tasks", []):
        for variant, metrics in entry["results"].items():
            for metric, value in metrics.items():
                out[(entry["task"], variant, metric)] = {
                    "value": float(value), "unit": entry.get("unit", "raw"), "table": entry.get("table"),
                    "benchmark": entry.get("benchmark", ""),
                }
    return out


def load_results(results_dir: str | Path) -> list[dict[str, Any]]:
    root = Path(results_dir)
    if not root.is_dir():
        raise EvalInputError(f"{root}: results directory not found")
    results = []
    for path in sorted(root.rglob("*.json")) + sorted(root.rglob("*.jsonl")):
        lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        for number, obj in iter_json_lines(lines, path):
            if not isinstance(obj, dict) or "metric" not in obj:
                raise EvalInputError(f"{path}:{number}: not a metric result (no 'metric' field)")
            obj["_file"] = str(path.relative_to(root))
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


def _higher_is_better(metric: str) -> bool:
    from biomatrix_plugin.eval.registry import METRICS, _load_families

    _load_families()
    if metric in METRICS:
        return METRICS[metric].higher_is_better
    return metric not in LOWER_IS_BETTER_EXTRA


def _display(metric: str, value: float | None, unit: str) -> float | None:
    if value is None:
        return None
    return value * 100 if unit == "percent" and metric in FRACTION_METRICS else value


def paper_metric_name(res: dict, task: str, variant: str, paper: dict) -> str:
    """The name under which a result is matched: ``report_as``, else the paper's alias, else its metric."""
    if res.get("report_as"):
        return str(res["report_as"])
    metric = res["metric"]
    if metric == "validity_3d" and (res.get("details") or {}).get("complete") \
            and (task, variant, "validity_completeness") in paper:
        return "validity_completeness"
    return metric


def _derived_validity(res: dict) -> float | None:
    n, bad = res.get("n_items"), res.get("n_invalid")
    if not isinstance(n, int) or not isinstance(bad, int) or n <= 0:
        return None
    return (n - bad) / n


def build_rows(results: list[dict], paper: dict, all_paper_rows: bool = False) -> list[Row]:
    rows, seen = [], set()
    variants_by_task: dict[str, set[str]] = {}
    task_unit: dict[str, str] = {}
    for (task, variant, _), ref in paper.items():
        variants_by_task.setdefault(task, set()).add(variant)
        task_unit[task] = ref["unit"]

    def where(res: dict) -> tuple[str, str]:
        task = res.get("task") or "-"
        return task, res.get("variant") or ("default" if "default" in variants_by_task.get(task, ()) else "-")

    def add(task: str, variant: str, metric: str, value, computed: bool, res: dict, source: str = "") -> None:
        ref = paper.get((task, variant, metric))
        unit = ref["unit"] if ref else task_unit.get(task, "raw")
        seen.add((task, variant, metric))
        rows.append(Row(task, variant, metric, _display(metric, value, unit) if computed else None,
                        ref["value"] if ref else None, res.get("n_items"), res.get("n_invalid"),
                        "computed" if computed else "not computed",
                        "" if computed else (res.get("reason") or "no value"), _higher_is_better(metric), source))

    for res in results:
        task, variant = where(res)
        metric = paper_metric_name(res, task, variant, paper)
        computed = res.get("status", "computed") == "computed" and res.get("value") is not None
        source = res["metric"] if metric != res["metric"] else ""
        if source and (res.get("details") or {}).get("complete"):
            source += " complete=true"
        add(task, variant, metric, res.get("value"), computed, res, source)
    for res in results:  # after the explicit results, so that one given with --report-as wins
        task, variant = where(res)
        derived = DERIVED_VALIDITY.get(res["metric"])
        value = _derived_validity(res)
        if derived and value is not None and (task, variant, derived) in paper and (task, variant, derived) not in seen:
            add(task, variant, derived, value, True, res, f"{res['metric']}: valid outputs / all")
    if all_paper_rows:
        for (task, variant, metric), ref in sorted(paper.items()):
            if (task, variant, metric) not in seen:
                rows.append(Row(task, variant, metric, None, ref["value"], None, None, "not computed",
                                NO_PRODUCER.get(metric, "no result in the results directory"),
                                _higher_is_better(metric)))
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


def render_png(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [r for r in rows if r.ours is not None and r.paper not in (None, 0)]
    height = max(2.5, 0.35 * len(pairs) + 1.5)
    fig, ax = plt.subplots(figsize=(9, height))
    if not pairs:
        ax.text(0.5, 0.5, "no computed metric with a published number to compare", ha="center", va="center")
        ax.set_axis_off()
    else:
        labels = [f"{r.task} [{r.variant}] {r.metric}" for r in pairs]
        ratio = [100 * r.ours / r.paper for r in pairs]
        colors = ["tab:green" if (q >= 100) == r.higher_is_better else "tab:red" for q, r in zip(ratio, pairs)]
        y = range(len(pairs))
        ax.barh(list(y), ratio, color=colors)
        ax.axvline(100, color="black", linewidth=1)
        for yi, (q, r) in enumerate(zip(ratio, pairs)):
            ax.text(q, yi, f" {_fmt(r.ours)} / {_fmt(r.paper)}", va="center", fontsize=7)
        ax.set_xlim(0, max(max(ratio) * 1.25, 110))
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ours as % of BioMatrix-4B's published value (green = at least as good)")
    missing = sum(r.status != "computed" for r in rows)
    ax.set_title("BioMatrix evaluation vs the paper" + (f" ({missing} not computed: see report.md)" if missing else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(results_dir: str | Path, paper_file: str | Path | None = None,
                 all_paper_rows: bool = False) -> tuple[Path, Path]:
    root = Path(results_dir)
    rows = build_rows(load_results(root), load_paper(paper_file), all_paper_rows)
    md, png = root / "report.md", root / "report.png"
    render_png(rows, png)
    md.write_text(render_markdown(rows, png.name))
    return md, png
