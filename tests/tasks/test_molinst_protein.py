"""Mol-Instructions protein part on its hand-written fixture (Protein-oriented_Instructions/<task>.json): the
split comes from metadata.split (the other split's rows are rejects naming it), fenced sequences are unwrapped,
rows round-trip through unwrap, and `eval run` with an oracle gives ROUGE 1.0 next to the paper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.cli import main
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.sources.molinst_protein import unfence
from conftest import read_jsonl
from task_testing import bare, build_fixture_tasks, rejects, results_by_metric, run_oracle_eval

IDS = ("molinst_catalytic_activity", "molinst_domain_motif", "molinst_general_function", "molinst_protein_function")
# the other split's rows of the one file are routed (counted in the manifest), not rejects
TRAIN_REJECTS = ["invalid character(s) '1'", "metadata.split: missing", "metadata.task is 'protein_design'"]
TEST_REJECTS = ["unbalanced ``` fence", "metadata.split: missing", "metadata.task is 'protein_design'"]
ROUTED = {"train": 3, "test": 4}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("molinst_built")
    build_fixture_tasks(IDS, out)
    return out


@pytest.mark.parametrize("task_id", IDS)
def test_split_from_metadata_and_rejects_with_reasons(built, task_id):
    manifest = json.loads((built / task_id / "manifest.json").read_text())
    assert {s: manifest["rows"][s]["default"]["rows"] for s in ("train", "test")} == {"train": 3, "test": 2}
    for split, wanted in (("train", TRAIN_REJECTS), ("test", TEST_REJECTS)):
        reasons = sorted(rejects(built, task_id, split))
        assert len(reasons) == len(wanted), reasons
        for want in set(wanted):
            assert sum(want in r for r in reasons) == wanted.count(want), (want, reasons)
    assert {s: manifest["records"][s]["routed"] for s in ROUTED} == ROUTED
    # one file, read for both splits: every row is kept by exactly one split or rejected for a reason
    assert {i["file"] for i in manifest["inputs"]} == {
        f"mol_instructions/Protein-oriented_Instructions/{task_id.removeprefix('molinst_')}.json"}


def test_answers_keep_their_lines_and_rows_round_trip(built):
    train = read_jsonl(built / "molinst_domain_motif" / "default" / "train.jsonl")
    assert train[0]["output"].endswith("These include:\n1. Protein kinase\n2. SH2")
    for task_id in IDS:
        for name in ("train", "test"):
            for row in read_jsonl(built / task_id / "default" / f"{name}.jsonl"):
                parsed = unwrap(row["instruction"] + row["input"] + (row.get("output") or row["answer"]),
                                check_vocabulary=False)
                assert not parsed.errors and [s.modality for s in parsed.segments] == ["protein"], row
                assert parsed.segments[0].value == json.loads(row["raw_input"])[0]


@pytest.mark.parametrize("value, expected", [("```\nMKV\n```", "MKV"), ("``` \nMK V\n```\n", "MK V"),
                                             ("MKV", "MKV")])
def test_unfence(value, expected):
    assert unfence(value, "input") == expected


def test_unfence_rejects_an_open_fence():
    with pytest.raises(RecordRejected, match="unbalanced"):
        unfence("```\nMKV", "input")


def test_gold_answers_score_rouge_one_and_the_report_shows_the_paper(built, tmp_path):
    out = run_oracle_eval(IDS, built, tmp_path / "eval", wrap=bare)
    found = results_by_metric(out)
    for task_id in IDS:
        for metric in ("rouge1", "rouge_l"):
            r = found[(task_id, "default", metric)]
            assert r["value"] == pytest.approx(1.0) and r["n_items"] == 2, (task_id, r)
    assert main(["eval", "report", str(out)]) == 0
    assert "| molinst_domain_motif | default | rouge_l ↑ | 100.00 | 56.22 |" in (out / "report.md").read_text()
