"""MoleculeQA: four categories from one JSON/All file (category from the row or qid2category.json), options
parsed from the question or an options field, the answer read as a letter (or an option's text), and eval
run scoring the option letter; the four results aggregate to the paper's Total."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.eval.aggregates import aggregate
from biomatrix_plugin.eval.generation import Generation
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.eval.run import RunOptions, run_eval
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.build import BuildOptions, build_tasks
from biomatrix_plugin.tasks.registry import TaskRegistry

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TASKS = ("moleculeqa_structure", "moleculeqa_source", "moleculeqa_property", "moleculeqa_application")
TEST_ROWS = {"moleculeqa_structure": 3, "moleculeqa_source": 1, "moleculeqa_property": 1,
             "moleculeqa_application": 1}


def run_oracle(tasks, built: Path, tmp_path: Path) -> Path:
    """eval run with a backend answering each test prompt with its gold (in words unless the readout is text)."""
    answers = {}
    for task in tasks:
        bare = task["eval"]["readout"] == "text"
        for path in (built / task.id).glob("*/test.jsonl"):
            for row in map(json.loads, path.read_text().splitlines()):
                answers[row["prompt"]] = row["answer"] if bare else f"The answer is {row['answer']}."

    class Oracle:
        def generate(self, prompts, config):
            return [Generation([answers[m[-1]["content"]]]) for m in prompts]

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    out = tmp_path / "eval"
    run_eval(tasks, RunOptions(model=model, data_dir=built, out_dir=out, backend="oracle"), backend_factory=Oracle)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("mqa")
    manifests = build_tasks([TaskRegistry().get(t) for t in TASKS],
                            BuildOptions(raw_root=FIXTURES, out_dir=out, progress=False, shards=1))
    return out, {m["task"]: m for m in manifests}


def test_each_category_keeps_its_rows_and_rejects_the_rest_with_reasons(built):
    out, manifests = built
    for task in TASKS:
        assert manifests[task]["rows"]["test"]["smiles"]["rows"] == TEST_ROWS[task]
        assert manifests[task]["records"]["test"]["read"] == 6
    rejects = (out / "moleculeqa_structure" / "rejects.jsonl").read_text().splitlines()
    reasons = [json.loads(x)["reason"] for x in rejects]
    for why in ("is no option letter", "2 molecules", "expected A, B, C, D", "not in qid2category.json"):
        assert any(why in r for r in reasons), why
    # the other categories' rows of the shared file are routed (counted in the manifest), not rejects
    assert not any("not this task's" in r for r in reasons)
    assert manifests["moleculeqa_structure"]["records"]["test"]["routed"] > 0


def test_answers_are_letters_and_rows_round_trip(built):
    out, _ = built
    rows = [json.loads(x) for x in (out / "moleculeqa_structure" / "selfies" / "test.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in rows] == ["B", "C", "A"]  # "B", "Option C", and an options field
    assert "(A) a cycloalkane (B) an arene" in rows[2]["prompt"]
    prop = json.loads((out / "moleculeqa_property" / "smiles" / "test.jsonl").read_text())
    assert prop["answer"] == "B"  # the answer given as the option's text
    for row in rows:
        parsed = unwrap(row["prompt"], check_vocabulary=False)
        assert [s.modality for s in parsed.segments] == ["selfies"] and parsed.segments[0].ok


def test_eval_run_scores_letters_and_report_lists_the_paper(built, tmp_path):
    out, _ = built
    registry = TaskRegistry()
    res = run_oracle([registry.get(t) for t in TASKS], out, tmp_path)
    results = load_results(res)
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(results, load_paper())}
    row = rows[("moleculeqa_structure", "smiles", "accuracy")]
    assert row.ours == pytest.approx(100.0) and row.paper == pytest.approx(83.36)
    assert rows[("moleculeqa_application", "selfies", "accuracy")].paper == pytest.approx(45.58)
    total = aggregate(results, TASKS, task="moleculeqa_total", metric="accuracy")
    assert {r["variant"]: r["n_items"] for r in total} == {"selfies": 6, "smiles": 6}
    assert all(r["value"] == pytest.approx(1.0) for r in total)
