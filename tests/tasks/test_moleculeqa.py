"""MoleculeQA: four categories from one JSON/All file (category from the row or qid2category.json), options
parsed from the question or an options field, the answer read as a letter (or an option's text), and eval
run scoring the option letter; the four results aggregate to the paper's Total."""

from __future__ import annotations

import pytest

from biomatrix_plugin.eval.aggregates import aggregate
from biomatrix_plugin.eval.report import build_rows, load_paper, load_results
from biomatrix_plugin.modalities.serialization import unwrap
from conftest import read_jsonl
from task_testing import build_fixture_tasks, rejects, run_oracle_eval

TASKS = ("moleculeqa_structure", "moleculeqa_source", "moleculeqa_property", "moleculeqa_application")
TEST_ROWS = {"moleculeqa_structure": 3, "moleculeqa_source": 1, "moleculeqa_property": 1,
             "moleculeqa_application": 1}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("mqa")
    return out, build_fixture_tasks(TASKS, out)


def test_each_category_keeps_its_rows_and_rejects_the_rest_with_reasons(built):
    out, manifests = built
    for task in TASKS:
        assert manifests[task]["rows"]["test"]["smiles"]["rows"] == TEST_ROWS[task]
        assert manifests[task]["records"]["test"]["read"] == 6
    reasons = rejects(out, "moleculeqa_structure")
    for why in ("is no option letter", "2 molecules", "expected A, B, C, D", "not in qid2category.json"):
        assert any(why in r for r in reasons), why
    # the other categories' rows of the shared file are routed (counted in the manifest), not rejects
    assert not any("not this task's" in r for r in reasons)
    assert manifests["moleculeqa_structure"]["records"]["test"]["routed"] > 0


def test_answers_are_letters_and_rows_round_trip(built):
    out, _ = built
    rows = read_jsonl(out / "moleculeqa_structure" / "selfies" / "test.jsonl")
    assert [r["answer"] for r in rows] == ["B", "C", "A"]  # "B", "Option C", and an options field
    assert "(A) a cycloalkane (B) an arene" in rows[2]["prompt"]
    [prop] = read_jsonl(out / "moleculeqa_property" / "smiles" / "test.jsonl")
    assert prop["answer"] == "B"  # the answer given as the option's text
    for row in rows:
        parsed = unwrap(row["prompt"], check_vocabulary=False)
        assert [s.modality for s in parsed.segments] == ["selfies"] and parsed.segments[0].ok


def test_eval_run_scores_letters_and_report_lists_the_paper(built, tmp_path):
    out, _ = built
    res = run_oracle_eval(TASKS, out, tmp_path / "eval")
    results = load_results(res)
    rows = {(r.task, r.variant, r.metric): r for r in build_rows(results, load_paper())}
    row = rows[("moleculeqa_structure", "smiles", "accuracy")]
    assert row.ours == pytest.approx(100.0) and row.paper == pytest.approx(83.36)
    assert rows[("moleculeqa_application", "selfies", "accuracy")].paper == pytest.approx(45.58)
    total = aggregate(results, TASKS, task="moleculeqa_total", metric="accuracy")
    assert {r["variant"]: r["n_items"] for r in total} == {"selfies": 6, "smiles": 6}
    assert all(r["value"] == pytest.approx(1.0) for r in total)
