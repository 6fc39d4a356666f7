"""Every shipped task builds from the fixtures in its published layout (tests/tasks/fixtures, or the data a
package ships), writes at least one row per split and variant, and its train file loads with the JSON loader
LLaMA-Factory uses (`datasets`' json builder, which refuses a column whose type changes between rows), with
the alpaca columns the dataset_info entry names. Tasks that encode with MolStrucTok skip without its
checkpoint, naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.tasks.build import BuildOptions, build_task, dataset_info_entries
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.spec import Task
from conftest import molstructok_checkpoint_path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REGISTRY = TaskRegistry()
# task files whose outputs are MolStrucTok joint tokens computed from coordinates
NEEDS_CHECKPOINT = ("qm9_", "pdbbind2020_")
# converter options sized for a fixture (a split permutation over 19 molecules, not 130,831): the rest of the
# task file is as shipped
FIXTURE_OPTIONS = {"qm9_": {"train_size": 10, "test_fraction": 0.2}}


def _as_for_fixture(task: Task) -> Task:
    for prefix, options in FIXTURE_OPTIONS.items():
        if task.id.startswith(prefix):
            data = json.loads(json.dumps(task.data))
            data["source"]["options"].update(options)
            return Task(task.id, task.path, data)
    return task


@pytest.mark.parametrize("task_id", REGISTRY.ids())
def test_task_builds_from_its_fixture_and_loads(task_id, tmp_path):
    if task_id.startswith(NEEDS_CHECKPOINT):
        molstructok_checkpoint_path()  # skips, naming the missing checkpoint
    task = _as_for_fixture(REGISTRY.get(task_id))
    out = tmp_path / "out"
    manifest = build_task(task, BuildOptions(raw_root=FIXTURES, out_dir=out, progress=False, shards=1, limit=40))
    for split, per_variant in manifest["rows"].items():
        for variant, counts in per_variant.items():
            assert counts["rows"] > 0, (task_id, split, variant, manifest["records"])
    import datasets

    for name, entry in dataset_info_entries(task, task.variants).items():
        loaded = datasets.load_dataset("json", data_files=str(out / entry["file_name"]), split="train")
        assert set(entry["columns"].values()) <= set(loaded.column_names), name
        assert all(isinstance(x, str) and x for x in loaded["instruction"]), name
        assert all(isinstance(x, str) and x for x in loaded["output"]), name
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {task.dataset_name(v) for v in task.variants}
