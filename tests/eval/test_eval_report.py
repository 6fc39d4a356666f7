"""`biomatrix eval report` over what `eval run` leaves in its --out folder: only results are read, the task
suite's ids are known task names, and the PNG normalises every metric by its direction."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import pytest

from biomatrix_plugin.cli import main
from biomatrix_plugin.eval.report import (
    Row,
    TaskSuite,
    build_rows,
    load_paper,
    load_results,
    normalised,
    plot_points,
    render_png,
    resolve_task,
)
from biomatrix_plugin.eval.spec import EvalInputError
from biomatrix_plugin.tasks.registry import TASKS_ENV, TaskRegistry


def _result(**kw) -> str:
    base = {"metric": "accuracy", "value": 0.8, "n_items": 10, "n_invalid": 0, "status": "computed",
            "task": "smolinstruct_bbbp", "variant": "smiles"}
    return json.dumps({**base, **kw}) + "\n"


def _run_out(root: Path) -> Path:
    """An `eval run --out` folder as the run leaves it: results, predictions, the cache, a build's internals."""
    folder = root / "smolinstruct_bbbp" / "smiles"
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text(_result())
    with gzip.open(folder / "predictions.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"id": 1, "texts": ["Yes"], "answers": ["Yes"]}) + "\n")
    (folder / "predictions.jsonl").write_text(json.dumps({"id": 1, "texts": ["Yes"]}) + "\n")  # gunzipped by hand
    cache = root / "_cache" / "smolinstruct_bbbp" / "smiles"
    cache.mkdir(parents=True)
    (cache / "all.cache").write_text(json.dumps({"key": "ab", "texts": ["Yes"]}) + "\n")
    (cache / "old.jsonl").write_text(json.dumps({"key": "cd", "texts": ["No"]}) + "\n")  # e.g. an older layout
    engine = root / "smolinstruct_bbbp" / "_engine"
    engine.mkdir()
    (engine / "manifest.json").write_text(json.dumps({"records": 3}))
    return root


def test_only_results_files_are_read(tmp_path, capsys):
    out = _run_out(tmp_path / "out")
    results = load_results(out)
    assert [r["_file"] for r in results] == ["smolinstruct_bbbp/smiles/results.jsonl"]
    assert main(["eval", "report", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert sum(line.startswith("| smolinstruct_bbbp |") for line in md.splitlines()) == 1
    # a results file in a normal folder is still read, and still checked
    (out / "extra.json").write_text('{"value": 1}')
    assert main(["eval", "report", str(out)]) == 2
    assert "extra.json: not a metric result" in capsys.readouterr().err


@pytest.fixture
def suite_dir(tmp_path, monkeypatch) -> Path:
    """A task folder with one task the paper file does not have (a copy of S2F under a new id)."""
    folder = tmp_path / "tasks" / "molecule_1d"
    folder.mkdir(parents=True)
    shipped = TaskRegistry().root / "molecule_1d"
    shutil.copy(shipped / "_smolinstruct.yaml", folder / "_smolinstruct.yaml")
    shutil.copy(shipped / "smolinstruct_s2f.yaml", folder / "our_s2f.yaml")
    monkeypatch.setenv(TASKS_ENV, str(folder.parent))
    return folder.parent


def test_a_suite_task_without_a_paper_number_is_a_row_without_paper_value(suite_dir, tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    (res / "r.jsonl").write_text(_result(metric="formula_match", value=0.5, task="our_s2f", variant="selfies")
                                 + _result())
    assert main(["eval", "report", str(res)]) == 0
    lines = (res / "report.md").read_text().splitlines()
    ours = next(line for line in lines if line.startswith("| our_s2f |"))
    cells = [c.strip() for c in ours.split("|")[1:-1]]
    # the task file's unit (percent): 0.5 shown as 50; no paper value, no delta
    assert cells[1:6] == ["selfies", "formula_match ↑", "50.00", "—", "—"]
    assert any(line.startswith("| smolinstruct_bbbp | smiles |") and "84.86" in line for line in lines)
    # a suite task's variant that it does not have is still an error
    with pytest.raises(EvalInputError, match="task our_s2f has no variant 'smile'"):
        resolve_task("our_s2f", "smile", load_paper(), "r.jsonl:1", TaskSuite(suite_dir))


def test_a_typo_is_still_an_error_listing_close_matches(suite_dir, tmp_path, capsys):
    res = tmp_path / "res"
    res.mkdir()
    (res / "r.json").write_text(_result(task="our_s2ff"))
    assert main(["eval", "report", str(res)]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'our_s2ff'; the paper's tasks are: our_s2f," in err and "and the task suite)" in err
    assert not (res / "report.md").exists()
    # eval metric --task accepts the suite's id too (the same resolver)
    pred = tmp_path / "p.txt"
    pred.write_text("C2H6O\n")
    assert main(["eval", "metric", "formula_match", "--pred", str(pred), "--ref", str(pred),
                 "--task", "our_s2f", "--variant", "smiles"]) == 0


def _row(metric, ours, paper, higher):
    return Row("t", "smiles", metric, ours, paper, 10, 0, "computed", "", higher)


def test_normalised_follows_the_metric_direction():
    assert normalised(90.0, 80.0, True) == pytest.approx(1.125)
    assert normalised(2.0, 1.0, False) == pytest.approx(0.5)  # twice the paper's RMSE: half as good
    assert normalised(0.5, 1.0, False) == pytest.approx(2.0)
    assert normalised(0.0, 1.0, False) == math.inf  # a perfect error
    assert normalised(1.0, 0.0, True) is None and normalised(None, 1.0, True) is None


def test_the_png_plots_direction_normalised_bars(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    (res / "r.jsonl").write_text(
        _result(metric="rmse", value=2.48, task="smolinstruct_esol", variant="smiles")  # paper 1.24: 0.5
        + _result(metric="accuracy", value=0.8486 * 1.1, task="smolinstruct_bbbp", variant="smiles")
        + _result(metric="meteor", value=None, status="not_computed", reason="no WordNet",
                  task="smolinstruct_molcap", variant="smiles"))
    rows = build_rows(load_results(res), load_paper())
    points = render_png(rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_metric = {p.row.metric: p.value for p in points}
    assert by_metric == {"rmse": pytest.approx(0.5), "accuracy": pytest.approx(1.1)}
    assert [p.label for p in plot_points(rows)] == ["smolinstruct_esol [smiles] rmse ↓",
                                                    "smolinstruct_bbbp [smiles] accuracy ↑"]


def test_invalid_yaml_in_a_paper_file_is_one_error_line(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    paper = tmp_path / "paper.yaml"
    paper.write_text("tasks: [\n", encoding="utf-8")
    (tmp_path / "results").mkdir()
    assert main(["eval", "report", str(tmp_path / "results"), "--paper", str(paper)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {paper}: not valid YAML") and "Traceback" not in err


def test_the_moleculeqa_total_is_aggregated_from_its_four_categories(tmp_path):
    """The generated paper file names MoleculeQA's Total as an aggregate of the four category tasks; the report
    computes it from their results weighted by question count (Table 15's rule) and puts it beside 73.78."""
    from biomatrix_plugin.eval.report import write_report

    counts = {"moleculeqa_structure": (0.8336, 3113), "moleculeqa_source": (0.7796, 1343),
              "moleculeqa_property": (0.4788, 731), "moleculeqa_application": (0.4624, 599)}
    with (tmp_path / "results.jsonl").open("w") as fh:
        for task, (value, n) in counts.items():
            fh.write(json.dumps({"metric": "accuracy", "task": task, "variant": "smiles", "value": value,
                                 "n_items": n, "n_invalid": 0, "status": "computed"}) + "\n")
    md, _ = write_report(tmp_path)
    line = next(ln for ln in md.read_text().splitlines() if ln.startswith("| moleculeqa_total | smiles |"))
    assert "| 73.78 |" in line and "73.7" in line.split("|")[4]  # ours (the paper's inputs) next to the paper
    # one category missing: the total is not computed, and says why
    lines = (tmp_path / "results.jsonl").read_text().splitlines()[:-1]
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")
    md, _ = write_report(tmp_path)
    line = next(ln for ln in md.read_text().splitlines() if ln.startswith("| moleculeqa_total | smiles |"))
    assert "not computed" in line and "moleculeqa_application" in line


def test_a_published_metric_nothing_computes_shows_the_task_files_reason(tmp_path):
    from biomatrix_plugin.eval.report import build_rows, load_paper

    rows = build_rows([], load_paper(), all_paper_rows=True)
    row = next(r for r in rows if (r.task, r.metric) == ("qm9_unconditional", "fcd_3d"))
    assert row.status == "not computed" and "3D FCD" in row.reason and row.paper == 1.012
