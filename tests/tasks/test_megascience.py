"""MegaScience (training only): a parquet written here in the published column layout -> instruction rows;
a missing answer or question and a control token are rejects with reasons; solutions keep their lines."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomatrix_plugin.tasks.registry import TaskRegistry
from conftest import read_jsonl
from task_testing import FIXTURES, build_fixture_tasks, rejects

ROWS = [
    {"question": "What is the SI unit of force?", "answer": "The newton.\n\nF = m a, so 1 N = 1 kg m s^-2.",
     "subject": "physics", "reference_answer": "newton", "source": "TextbookReasoning"},
    {"question": "Balance H2 + O2 -> H2O.", "answer": "2 H2 + O2 -> 2 H2O", "subject": "chemistry",
     "reference_answer": None, "source": "NaturalReasoning"},
    {"question": "", "answer": "an answer to nothing", "subject": "biology", "reference_answer": None,
     "source": "x"},
    {"question": "Name a protein.", "answer": "<|prot_aa_start|>", "subject": "biology", "reference_answer": None,
     "source": "x"},
    {"question": "What is 2 + 2?", "answer": None, "subject": "math", "reference_answer": "4", "source": "x"},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    folder = raw / "megascience" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(ROWS), folder / "train-00000-of-00001.parquet")
    out = tmp_path_factory.mktemp("built")
    build_fixture_tasks("megascience", out, raw_root=raw)
    return out


def test_task_is_training_only_in_the_merged_model():
    task = TaskRegistry().get("megascience")
    assert task.training_only and task.group == "merged_only" and task.raw_splits == {"train": ["train"]}
    assert task["sizes"] == {"train": 1253230}


def test_rows_and_rejects(built):
    train = read_jsonl(built / "megascience" / "default" / "train.jsonl")
    assert [r["output"] for r in train] == [ROWS[0]["answer"], ROWS[1]["answer"]]  # line breaks kept
    assert all(ROWS[i]["question"] in r["instruction"] + r["input"] for i, r in enumerate(train))
    reasons = rejects(built, "megascience")
    assert len(reasons) == 3
    assert any("question: empty text field" in r for r in reasons)
    assert any("control token <|prot_aa_start|>" in r for r in reasons)
    assert any("answer: empty text field" in r for r in reasons)
    manifest = json.loads((built / "megascience" / "manifest.json").read_text())
    assert manifest["records"]["train"] == \
        {"read": 5, "converted": 2, "routed": 0, "rejected": 3}
    assert not (built / "megascience" / "default" / "test.jsonl").exists()


def test_the_committed_fixture_is_rows():
    """tests/tasks/fixtures/megascience (read by test_every_task_builds) holds exactly ROWS."""
    committed = FIXTURES / "megascience" / "data" / "train-00000-of-00001.parquet"
    assert pq.read_table(committed).to_pylist() == ROWS
