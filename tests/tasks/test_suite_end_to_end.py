"""The whole suite end to end on the real tiny extended model (CPU): every shipped task builds from its fixture,
`biomatrix eval run all` generates for one test row of each evaluated task/variant (each task's own decoding,
read-out and metrics; max_new_tokens capped), writes its results, and `eval report` lists every task next to
the paper. A tiny random model answers badly: the point is that every path runs, not the scores.

Tasks whose build encodes 3D molecules need the MolStrucTok checkpoint; without it they are left out, and
the test says so in its output (the rest still runs)."""

from __future__ import annotations

import json

import pytest

from biomatrix_plugin.cli import main
from biomatrix_plugin.eval.run import RunOptions, run_eval
from biomatrix_plugin.tasks.build import BuildOptions, build_task
from biomatrix_plugin.tasks.registry import TaskRegistry
from conftest import molstructok_checkpoint_path
from test_every_task_builds import FIXTURES, NEEDS_CHECKPOINT, _as_for_fixture


def _checkpoint_available() -> bool:
    try:
        molstructok_checkpoint_path()
    except pytest.skip.Exception:
        return False
    return True


@pytest.mark.slow
def test_every_evaluated_task_runs_through_eval_run_and_the_report(tiny_extended_model, tmp_path):
    registry = TaskRegistry()
    with_3d = _checkpoint_available()
    tasks = [_as_for_fixture(registry.get(t)) for t in registry.ids()
             if with_3d or not t.startswith(NEEDS_CHECKPOINT)]
    data, out = tmp_path / "data", tmp_path / "out"
    for task in tasks:
        # the fixtures are small: read whole (a --limit cut would leave shared files without a task's rows);
        # MOSES reads the real 1.6M-molecule set from the molsets wheel: its first 200 records
        limit = 200 if task["source"].get("package") else None
        build_task(task, BuildOptions(raw_root=FIXTURES, out_dir=data, progress=False, shards=1, limit=limit))
    evaluated = [t for t in tasks if not t.training_only]
    assert len(evaluated) == 84 - 8 * (not with_3d)  # 84 evaluated task files; 8 are 3D-built (QM9 x7, PDBBind)
    opts = RunOptions(model=tiny_extended_model, data_dir=data, out_dir=out, backend="hf", device="cpu", limit=1,
                      batch_size=8, max_new_tokens=4, max_samples=2)
    summaries = run_eval(evaluated, opts)
    assert {(s["task"], s["variant"]) for s in summaries} == {(t.id, v) for t in evaluated for v in t.variants}
    assert all(s["generated"] == s["prompts"] for s in summaries)
    for task in evaluated:
        for variant in task.variants:
            results = [json.loads(x) for x in (out / task.id / variant / "results.jsonl").read_text().splitlines()]
            assert [r["metric"] for r in results] == [m["name"] for m in task["eval"]["metrics"]], task.id
            assert all(r["run"]["decoding"]["max_new_tokens"] <= 4 and r["run"]["decoding"]["n"] <= 2
                       for r in results)
            assert all(r.get("status", "computed") in ("computed", "not_computed") for r in results)
    if not with_3d:
        print("left out without the MolStrucTok checkpoint: QM9 (7) and PDBBind 3D tasks")
    assert main(["eval", "report", str(out)]) == 0
    report = (out / "report.md").read_text()
    for task in evaluated:
        assert f"| {task.id} |" in report, task.id
