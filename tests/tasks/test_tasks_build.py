"""`tasks build` through the corpus engine: a build killed mid-way and resumed gives the same bytes as an
uninterrupted one; the worker count does not change the output; --limit; a changed task file refuses to
resume; the CLI prints counts beside Table 31."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from biomatrix_plugin.cli import main
from biomatrix_plugin.corpus.build import BuildConfigError, BuildInterrupted
from biomatrix_plugin.tasks.build import BuildOptions, build_task
from biomatrix_plugin.tasks.registry import TaskRegistry

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TASK = "smolinstruct_forward_synthesis"


def _digest(out: Path, task: str = TASK) -> dict[str, str]:
    """sha256 of every finished file of a task (not the engine's own bookkeeping, not the timing)."""
    files = sorted(p for p in (out / task).rglob("*.jsonl") if "_engine" not in p.parts)
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def raw(tmp_path) -> Path:
    """The fixture with a bigger forward-synthesis train file (so a shard is killed in the middle)."""
    root = tmp_path / "raw"
    shutil.copytree(FIXTURES, root)
    path = root / "smolinstruct" / "raw" / "train" / "forward_synthesis.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines * 10) + "\n")
    return root


def _opts(raw: Path, out: Path, **kw) -> BuildOptions:
    return BuildOptions(raw_root=raw, out_dir=out, progress=False, shards=2, checkpoint_every=3, **kw)


def test_resume_after_kill_is_byte_identical(raw, tmp_path):
    task = TaskRegistry().get(TASK)
    clean = tmp_path / "clean"
    build_task(task, _opts(raw, clean))
    killed = tmp_path / "killed"
    with pytest.raises(BuildInterrupted):
        build_task(task, _opts(raw, killed, stop_after=7))
    assert not (killed / TASK / "smiles" / "train.jsonl").exists()  # nothing finished is left half-written
    manifest = build_task(task, _opts(raw, killed))
    assert _digest(killed) == _digest(clean)
    assert manifest["records"]["train"] == {"read": 40, "converted": 30, "routed": 0, "rejected": 10}
    assert manifest["rows"]["train"]["selfies"]["rows"] == 30


def test_worker_count_does_not_change_the_output(raw, tmp_path):
    task = TaskRegistry().get(TASK)
    build_task(task, _opts(raw, tmp_path / "one"))
    build_task(task, _opts(raw, tmp_path / "two", workers=2))
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


def test_a_changed_task_file_refuses_to_resume(raw, tmp_path):
    tasks_dir = tmp_path / "tasks"
    shutil.copytree(TaskRegistry().root, tasks_dir)
    out = tmp_path / "out"
    build_task(TaskRegistry(tasks_dir).get(TASK), _opts(raw, out))
    path = tasks_dir / "molecule_1d" / f"{TASK}.yaml"
    path.write_text(path.read_text().replace("Product:", "Product is:"))
    with pytest.raises(BuildConfigError, match="different"):
        build_task(TaskRegistry(tasks_dir).get(TASK), _opts(raw, out))
    build_task(TaskRegistry(tasks_dir).get(TASK), _opts(raw, out, force=True))


def test_limit_reads_the_first_records(raw, tmp_path):
    manifest = build_task(TaskRegistry().get(TASK), _opts(raw, tmp_path / "out", limit=2))
    assert manifest["records"]["train"]["read"] == 2 and manifest["records"]["test"]["read"] == 2
    assert manifest["limit"] == 2


def test_variant_selection(raw, tmp_path):
    manifest = build_task(TaskRegistry().get(TASK), _opts(raw, tmp_path / "out", variants=("selfies",)))
    assert manifest["variants"] == ["selfies"] and not (tmp_path / "out" / TASK / "smiles").exists()


def test_cli_build_list_show_check(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tasks", "build", "smolinstruct_esol", "--raw", str(raw), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "smolinstruct_esol train: 5 records read, 3 converted, 2 rejected; rows smiles 3, selfies 3 " \
           "(Table 31: 888)" in printed
    assert main(["tasks", "list", "--json", "--group", "vmix_mol1d"]) == 0
    listed = json.loads(capsys.readouterr().out)
    by_id = {t["id"]: t for t in listed}
    assert len(listed) == 41 and by_id["smolinstruct_bbbp"]["sizes"] == {"train": 1489, "test": 185}
    assert {t["group"] for t in listed} == {"vmix_mol1d"}
    assert main(["tasks", "show", "smolinstruct_s2i", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"]["path"] == "smolinstruct/raw/{split}/name_conversion-s2i.jsonl"
    assert main(["tasks", "check"]) == 0
    assert main(["tasks", "build", "nope", "--raw", str(raw), "--out", str(out)]) == 2
    assert "error: 'nope' is neither a task nor a group" in capsys.readouterr().err


def test_cli_check_reports_unknown_metric_and_bad_option(tmp_path, capsys):
    tasks_dir = tmp_path / "tasks"
    shutil.copytree(TaskRegistry().root, tasks_dir)
    path = tasks_dir / "molecule_1d" / "smolinstruct_molgen.yaml"
    text = path.read_text().replace("{name: fts, options: {notation: \"{variant}\"}}",
                                    "{name: fts, options: {fingerprint: morgan}}")
    path.write_text(text.replace("{name: validity,", "{name: validty, report_as: validity,"))
    assert main(["tasks", "--tasks-dir", str(tasks_dir), "check"]) == 2
    err = capsys.readouterr().err
    assert f"task file {path}: eval.metrics[1].options (smiles): metric fts: unknown option 'fingerprint'" in err
    assert f"task file {path}: eval.metrics[2].name: unknown metric 'validty'" in err


def test_missing_raw_files_name_the_pattern(tmp_path):
    from biomatrix_plugin.errors import BioMatrixError

    with pytest.raises(BioMatrixError, match="forward_synthesis.jsonl"):
        build_task(TaskRegistry().get(TASK), _opts(tmp_path, tmp_path / "out"))


@pytest.mark.slow  # starts a local Ray cluster (~30 s on the shared box)
def test_ray_engine_gives_the_local_bytes(raw, tmp_path):
    pytest.importorskip("ray.data")
    task = TaskRegistry().get("smolinstruct_esol")
    build_task(task, _opts(raw, tmp_path / "local"))
    build_task(task, _opts(raw, tmp_path / "ray", engine="ray", workers=2))
    assert _digest(tmp_path / "ray", task.id) == _digest(tmp_path / "local", task.id)


@pytest.mark.slow  # a real `biomatrix tasks build` process killed with SIGKILL in the middle of a shard
def test_sigkill_then_resume_is_byte_identical(raw, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    path = raw / "smolinstruct" / "raw" / "train" / "forward_synthesis.jsonl"
    path.write_text(path.read_text() * 60)  # 2,400 records: long enough to be killed mid-way
    cmd = [sys.executable, "-m", "biomatrix_plugin.cli", "tasks", "build", TASK, "--raw", str(raw), "--quiet",
           "--shards", "2"]
    subprocess.run(cmd + ["--out", str(tmp_path / "clean")], check=True, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    states = out / TASK / "_engine" / "_build" / f"{TASK}__train__train"
    deadline = time.time() + 120
    while time.time() < deadline and not any(
            '"consumed": ' in p.read_text() and '"done": false' in p.read_text() for p in states.glob("state-*.json")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / TASK / "smiles" / "train.jsonl").exists()
    assert not (states / "manifest.json").exists()  # killed before the train split was complete
    subprocess.run(cmd + ["--out", str(out)], check=True, capture_output=True)
    assert _digest(out) == _digest(tmp_path / "clean")
